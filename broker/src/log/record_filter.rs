//! The records inside one stored batch, for the log cleaner and for the key check on compacted
//! topics: each record's offset, key and whether it has a value, and the batch rebuilt with only
//! some of its records.
//!
//! Kafka's cleaner keeps a partly cleaned batch's base offset, last offset delta, base sequence
//! and producer fields, so every surviving record keeps its offset and the batch still ends where
//! the producer's sequence numbers say it does. kafka-protocol's `RecordBatchEncoder` takes the
//! base offset from the first record it is given, so it cannot write such a batch; its codecs
//! (`kafka_protocol::compression`) are used as they are, and the kept records are copied as the
//! producer encoded them. Only a record's timestamp delta is rewritten, when the batch gets a
//! delete horizon (which Kafka stores as the batch's base timestamp, KIP-534).

use std::io;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use kafka_protocol::compression::{self as codec, Compressor, Decompressor};

use super::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};

/// Attribute bit 6: the base timestamp is the delete horizon (KIP-534).
pub(super) const DELETE_HORIZON_BIT: i16 = 1 << 6;
const COMPRESSION_MASK: i16 = 0x7;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// One record of a batch, as positions into the decompressed records.
#[derive(Debug, Clone)]
pub(super) struct RecordView {
    pub(super) offset: i64,
    pub(super) timestamp: i64,
    key: Option<Range<usize>>,
    pub(super) has_value: bool,
    /// The whole record, length prefix included.
    span: Range<usize>,
    /// From the attributes byte to the timestamp delta (exclusive), and from the offset delta
    /// to the end: the parts copied when the timestamp delta is rewritten.
    attributes_at: usize,
    after_timestamp: Range<usize>,
}

/// A batch's header and its records, decompressed.
#[derive(Debug)]
pub(super) struct DecodedBatch {
    pub(super) header: BatchHeader,
    records_buf: Bytes,
    pub(super) records: Vec<RecordView>,
}

fn read_varlong(buf: &[u8], pos: &mut usize) -> io::Result<i64> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let Some(&b) = buf.get(*pos) else { return Err(invalid("record truncated inside a varint")) };
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift.min(63);
        if b & 0x80 == 0 {
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    Err(invalid("varint longer than 10 bytes"))
}

fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn compression(header: &BatchHeader) -> i16 {
    header.attributes & COMPRESSION_MASK
}

fn decompress(kind: i16, section: &[u8]) -> io::Result<Bytes> {
    let mut input = Bytes::copy_from_slice(section);
    let take = |b: &mut Bytes| Ok(std::mem::take(b));
    let out = match kind {
        0 => return Ok(input),
        1 => codec::Gzip::decompress(&mut input, take),
        2 => codec::Snappy::decompress(&mut input, take),
        3 => codec::Lz4::decompress(&mut input, take),
        4 => codec::Zstd::decompress(&mut input, take),
        other => return Err(invalid(format!("unknown compression codec {other}"))),
    };
    out.map_err(|e| invalid(format!("decompressing a record batch: {e}")))
}

fn compress(kind: i16, records: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let put = |tmp: &mut BytesMut| {
        tmp.extend_from_slice(records);
        Ok(())
    };
    let done = match kind {
        0 => {
            out.extend_from_slice(records);
            return Ok(());
        }
        1 => codec::Gzip::compress(out, put),
        2 => codec::Snappy::compress(out, put),
        3 => codec::Lz4::compress(out, put),
        4 => codec::Zstd::compress(out, put),
        other => return Err(invalid(format!("unknown compression codec {other}"))),
    };
    done.map_err(|e| io::Error::other(format!("compressing a record batch: {e}")))
}

impl DecodedBatch {
    /// Decodes the records of the one batch `bytes` holds (already checked when appended).
    pub(super) fn decode(bytes: &[u8]) -> io::Result<DecodedBatch> {
        let header = BatchHeader::parse(bytes).map_err(|e| invalid(e.to_string()))?;
        let section = bytes.get(HEADER_LEN..header.total_len()).ok_or_else(|| invalid("record batch truncated"))?;
        let records_buf = decompress(compression(&header), section)?;
        let buf = &records_buf[..];
        let count = usize::try_from(header.records_count).unwrap_or(0);
        // Each record takes at least 7 bytes: the count never sizes more than the bytes hold.
        let mut records = Vec::with_capacity(count.min(buf.len() / 7));
        let mut pos = 0usize;
        for _ in 0..count {
            let start = pos;
            let len = usize::try_from(read_varlong(buf, &mut pos)?).map_err(|_| invalid("negative record length"))?;
            let end = pos.checked_add(len).filter(|&e| e <= buf.len()).ok_or_else(|| invalid("record truncated"))?;
            let body = &buf[..end];
            let attributes_at = pos;
            pos += 1;
            let timestamp_delta = read_varlong(body, &mut pos)?;
            let after_ts = pos;
            let offset_delta = read_varlong(body, &mut pos)?;
            let key_len = read_varlong(body, &mut pos)?;
            let key = match key_len {
                -1 => None,
                n => match usize::try_from(n).ok().and_then(|n| pos.checked_add(n)).filter(|&e| e <= end) {
                    Some(key_end) => {
                        let r = pos..key_end;
                        pos = key_end;
                        Some(r)
                    }
                    None => return Err(invalid("bad record key length")),
                },
            };
            let value_len = read_varlong(body, &mut pos)?;
            let value_fits = usize::try_from(value_len).ok().and_then(|n| pos.checked_add(n)).is_some_and(|e| e <= end);
            if value_len < -1 || (value_len >= 0 && !value_fits) {
                return Err(invalid("bad record value length"));
            }
            records.push(RecordView {
                offset: header.base_offset.saturating_add(offset_delta),
                timestamp: header.base_timestamp.saturating_add(timestamp_delta),
                key,
                has_value: value_len >= 0,
                span: start..end,
                attributes_at,
                after_timestamp: after_ts..end,
            });
            pos = end;
        }
        Ok(DecodedBatch { header, records_buf, records })
    }

    pub(super) fn key(&self, record: &RecordView) -> Option<&[u8]> {
        record.key.clone().map(|r| &self.records_buf[r])
    }

    /// The delete horizon this batch carries, if any.
    pub(super) fn delete_horizon(&self) -> Option<i64> {
        (self.header.attributes & DELETE_HORIZON_BIT != 0).then_some(self.header.base_timestamp)
    }

    /// The batch with only the records whose `keep` is true, in the same codec, with the same
    /// base offset, last offset delta, producer fields and sequence. With `set_horizon`, a batch
    /// without a delete horizon gets that one.
    pub(super) fn rebuild(&self, keep: &[bool], set_horizon: Option<i64>, original: &[u8]) -> io::Result<Vec<u8>> {
        let h = &self.header;
        let new_horizon = set_horizon.filter(|_| self.delete_horizon().is_none());
        let base_timestamp = new_horizon.unwrap_or(h.base_timestamp);
        let mut records = Vec::with_capacity(self.records_buf.len());
        let mut body = Vec::new();
        let mut kept = 0i32;
        let mut max_timestamp = -1i64;
        for (r, _) in self.records.iter().zip(keep).filter(|(_, k)| **k) {
            kept += 1;
            max_timestamp = max_timestamp.max(r.timestamp);
            if new_horizon.is_none() {
                records.extend_from_slice(&self.records_buf[r.span.clone()]);
                continue;
            }
            body.clear();
            body.push(self.records_buf[r.attributes_at]);
            put_varlong(&mut body, r.timestamp.wrapping_sub(base_timestamp));
            body.extend_from_slice(&self.records_buf[r.after_timestamp.clone()]);
            put_varlong(&mut records, body.len() as i64);
            records.extend_from_slice(&body);
        }
        if h.is_log_append_time() {
            max_timestamp = h.max_timestamp;
        }
        let mut attributes = h.attributes;
        if new_horizon.is_some() {
            attributes |= DELETE_HORIZON_BIT;
        }
        let mut out = Vec::with_capacity(HEADER_LEN + records.len());
        out.extend_from_slice(&original[..HEADER_LEN]);
        out[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
        out[27..35].copy_from_slice(&base_timestamp.to_be_bytes());
        out[35..43].copy_from_slice(&max_timestamp.to_be_bytes());
        out[57..61].copy_from_slice(&kept.to_be_bytes());
        compress(compression(h), &records, &mut out)?;
        seal(&mut out)?;
        Ok(out)
    }
}

/// A batch header with no records: what Kafka keeps of a producer's last batch when cleaning
/// removed all its records, so that the producer's sequence numbers survive (uncompressed, as
/// Kafka writes it).
pub(super) fn empty_batch(original: &[u8], header: &BatchHeader) -> io::Result<Vec<u8>> {
    let mut out = original.get(..HEADER_LEN).ok_or_else(|| invalid("record batch truncated"))?.to_vec();
    let attributes = header.attributes & !COMPRESSION_MASK & !DELETE_HORIZON_BIT;
    out[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    out[27..35].copy_from_slice(&header.max_timestamp.to_be_bytes());
    out[57..61].copy_from_slice(&0i32.to_be_bytes());
    seal(&mut out)?;
    Ok(out)
}

/// Writes the batch length and CRC of a batch built in `out`.
fn seal(out: &mut [u8]) -> io::Result<()> {
    let length = i32::try_from(out.len() - LOG_OVERHEAD).map_err(|_| io::Error::other("record batch too large"))?;
    out[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = batch::compute_crc(out);
    out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Whether every record of the batches in `records` (as a producer sent them) has a key: a
/// compacted topic refuses records without one, as Kafka does.
pub(super) fn all_records_have_keys(batch: &[u8]) -> io::Result<bool> {
    let decoded = DecodedBatch::decode(batch)?;
    Ok(decoded.records.iter().all(|r| r.key.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    fn encode(compression: Compression, values: &[(Option<&str>, Option<&str>)]) -> Vec<u8> {
        let recs: Vec<Record> = values
            .iter()
            .enumerate()
            .map(|(i, (k, v))| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: 7,
                producer_epoch: 0,
                timestamp_type: TimestampType::Creation,
                offset: 100 + i as i64,
                sequence: 40 + i as i32,
                timestamp: 1000 + 10 * i as i64,
                key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
                value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                headers: [("h".into(), Some(Bytes::from_static(b"x")))].into_iter().collect(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(&mut buf, recs.iter(), &RecordEncodeOptions { version: 2, compression }).unwrap();
        buf.to_vec()
    }

    #[test]
    fn rebuilt_batches_keep_offsets_sequences_and_codec() {
        for compression in
            [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd]
        {
            let raw = encode(compression, &[(Some("a"), Some("1")), (Some("b"), None), (Some("a"), Some("3"))]);
            let d = DecodedBatch::decode(&raw).unwrap();
            assert_eq!(d.records.len(), 3);
            assert_eq!(d.key(&d.records[1]), Some(&b"b"[..]));
            assert!(!d.records[1].has_value);
            for horizon in [None, Some(99_999)] {
                let out = d.rebuild(&[false, true, false], horizon, &raw).unwrap();
                let h = batch::validate(&out, 1 << 20).unwrap();
                assert_eq!((h.base_offset, h.last_offset(), h.base_sequence, h.records_count), (100, 102, 40, 1));
                assert_eq!(h.producer_id, 7);
                assert_eq!(h.attributes & COMPRESSION_MASK, compression as i16, "{compression:?}");
                assert_eq!(h.attributes & DELETE_HORIZON_BIT != 0, horizon.is_some());
                let set = RecordBatchDecoder::decode(&mut Bytes::from(out)).unwrap();
                let r = &set.records[0];
                assert_eq!((r.offset, r.sequence, r.timestamp), (101, 41, 1010), "{compression:?} {horizon:?}");
                assert_eq!(r.key.as_deref(), Some(&b"b"[..]));
                assert_eq!(r.value, None);
                assert_eq!(r.headers.len(), 1);
            }
            let empty = empty_batch(&raw, &d.header).unwrap();
            let h = batch::validate(&empty, 1 << 20).unwrap();
            assert_eq!((h.base_offset, h.last_offset(), h.records_count, h.base_sequence), (100, 102, 0, 40));
        }
    }

    #[test]
    fn keyless_records_are_found_and_garbage_is_an_error_not_a_panic() {
        let raw = encode(Compression::Lz4, &[(Some("a"), Some("1")), (None, Some("2"))]);
        assert!(!all_records_have_keys(&raw).unwrap());
        assert!(all_records_have_keys(&encode(Compression::None, &[(Some("a"), None)])).unwrap());
        let mut bad = encode(Compression::None, &[(Some("a"), Some("1"))]);
        let n = bad.len();
        bad[HEADER_LEN] = 0x7e; // a record length past the end
        bad.truncate(n);
        assert!(DecodedBatch::decode(&bad).is_err());
        for cut in 0..raw.len() {
            let _ = DecodedBatch::decode(&raw[..cut]);
        }
    }
}
