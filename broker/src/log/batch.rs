//! The record batch v2 header: the only part of a batch the broker reads.
//!
//! Batches are stored and served exactly as producers sent them; the broker validates the
//! framing and CRC once on append and rewrites only the base offset (and, under log-append
//! time, the max timestamp), so records are never decoded and re-encoded.

use std::fmt;

/// Bytes from the start of a batch to the end of its fixed header.
pub const HEADER_LEN: usize = 61;
/// `base_offset` (8) + `batch_length` (4): the part outside `batch_length`.
pub const LOG_OVERHEAD: usize = 12;

const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
/// The CRC covers everything from the attributes to the end of the batch.
const CRC_START: usize = 21;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const BASE_TIMESTAMP_OFFSET: usize = 27;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;
const RECORDS_COUNT_OFFSET: usize = 57;

const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;

/// Why a batch was refused. Each maps to the Kafka error code a real broker answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// Fewer bytes than a header, or a length field pointing past the data.
    Truncated { needed: usize, available: usize },
    /// Only magic 2 (record batch v2) is accepted.
    UnsupportedMagic(i8),
    /// `batch_length` smaller than a header or larger than the limit.
    InvalidLength(i32),
    /// Stored CRC differs from the computed one.
    CorruptCrc { stored: u32, computed: u32 },
    /// `last_offset_delta` and `records_count` disagree.
    InvalidRecordCount { count: i32, last_offset_delta: i32 },
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Truncated { needed, available } => {
                write!(f, "record batch truncated: needs {needed} bytes, {available} available")
            }
            BatchError::UnsupportedMagic(m) => {
                write!(f, "record batch magic {m} is not supported (only magic 2)")
            }
            BatchError::InvalidLength(l) => write!(f, "record batch length {l} is invalid"),
            BatchError::CorruptCrc { stored, computed } => {
                write!(f, "record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            BatchError::InvalidRecordCount { count, last_offset_delta } => {
                write!(f, "record batch holds {count} records but its last offset delta is {last_offset_delta}")
            }
        }
    }
}

impl std::error::Error for BatchError {}

/// The fixed header of one record batch, read from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Bytes after the `batch_length` field.
    pub batch_length: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

impl BatchHeader {
    /// Reads the header at the start of `buf`, checking only that the fixed header is present
    /// and well formed. `buf` may hold more than one batch.
    pub fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < HEADER_LEN {
            return Err(BatchError::Truncated { needed: HEADER_LEN, available: buf.len() });
        }
        let magic = buf[MAGIC_OFFSET] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        let batch_length = be_i32(buf, 8);
        if (batch_length as i64) < (HEADER_LEN - LOG_OVERHEAD) as i64 {
            return Err(BatchError::InvalidLength(batch_length));
        }
        let header = BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length,
            magic,
            crc: u32::from_be_bytes(buf[CRC_OFFSET..CRC_OFFSET + 4].try_into().expect("4 bytes")),
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_OFFSET),
            base_timestamp: be_i64(buf, BASE_TIMESTAMP_OFFSET),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(buf, PRODUCER_ID_OFFSET),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH_OFFSET),
            base_sequence: be_i32(buf, BASE_SEQUENCE_OFFSET),
            records_count: be_i32(buf, RECORDS_COUNT_OFFSET),
        };
        if header.last_offset_delta < 0
            || header.records_count < 0
            || (header.records_count > 0 && (header.last_offset_delta as i64) + 1 < header.records_count as i64)
        {
            return Err(BatchError::InvalidRecordCount {
                count: header.records_count,
                last_offset_delta: header.last_offset_delta,
            });
        }
        Ok(header)
    }

    /// Total bytes of this batch on the wire and on disk.
    pub fn total_len(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// The offset of the last record. Saturates rather than overflowing on a corrupt header.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(self.last_offset_delta as i64)
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_BIT != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// Whether the producer asked for idempotent delivery of this batch.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// Sequence number of the last record, wrapping at `i32::MAX` as producers do.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        if last > i32::MAX as i64 { (last - i32::MAX as i64 - 1) as i32 } else { last as i32 }
    }
}

/// Computes the CRC32C of a whole batch (`buf` holds exactly one batch).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_START..])
}

/// Checks the header, that the whole batch is present and that its CRC matches.
pub fn validate(batch: &[u8], max_batch_bytes: usize) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(batch)?;
    let total = header.total_len();
    if total > max_batch_bytes.max(HEADER_LEN) && total > batch.len() {
        return Err(BatchError::Truncated { needed: total, available: batch.len() });
    }
    if batch.len() < total {
        return Err(BatchError::Truncated { needed: total, available: batch.len() });
    }
    let computed = compute_crc(&batch[..total]);
    if computed != header.crc {
        return Err(BatchError::CorruptCrc { stored: header.crc, computed });
    }
    Ok(header)
}

/// Stamps the offset the log assigns to this batch's first record. The base offset lies
/// outside the CRC, so the CRC stays valid.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Under `log.message.timestamp.type=LogAppendTime` the broker owns the timestamp: set the
/// type bit and max timestamp, then re-seal the CRC.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attrs = be_i16(batch, ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// A transaction marker as the broker writes it: one control record whose key is (version 0,
/// type: 0 abort, 1 commit) and whose value is Kafka's EndTransactionMarker (version 0,
/// coordinator epoch 0), with the producer's id and epoch and the transactional and control
/// bits set. Its base offset is stamped on append.
pub fn control_batch(producer_id: i64, epoch: i16, kind: super::txn_index::ControlType, now_ms: i64) -> Vec<u8> {
    let kind: u8 = match kind {
        super::txn_index::ControlType::Abort => 0,
        super::txn_index::ControlType::Commit => 1,
    };
    // attributes, timestamp delta 0, offset delta 0, key length 4 (zigzag 8), key,
    // value length 6 (zigzag 12), value, no headers.
    let record = [0u8, 0, 0, 8, 0, 0, 0, kind, 12, 0, 0, 0, 0, 0, 0, 0];
    let mut b = Vec::with_capacity(HEADER_LEN + 1 + record.len());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + 1 + record.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes()); // CRC, sealed below
    b.extend_from_slice(&(TRANSACTIONAL_BIT | CONTROL_BIT).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    b.extend_from_slice(&now_ms.to_be_bytes());
    b.extend_from_slice(&now_ms.to_be_bytes());
    b.extend_from_slice(&producer_id.to_be_bytes());
    b.extend_from_slice(&epoch.to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // markers carry no sequence
    b.extend_from_slice(&1i32.to_be_bytes());
    b.push((record.len() as u8) << 1);
    b.extend_from_slice(&record);
    let crc = compute_crc(&b);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// The type of the control batch in `batch` (whole, uncompressed, as the broker writes them),
/// `None` if it is not one or cannot be read.
pub fn control_type(batch: &[u8]) -> Option<super::txn_index::ControlType> {
    let header = BatchHeader::parse(batch).ok()?;
    if !header.is_control() || header.attributes & 0x7 != 0 || header.records_count < 1 {
        return None;
    }
    let mut pos = HEADER_LEN;
    let varint = |pos: &mut usize| -> Option<i64> {
        let (mut value, mut shift) = (0u64, 0u32);
        loop {
            let byte = *batch.get(*pos)?;
            *pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
    };
    varint(&mut pos)?; // record length
    pos += 1; // attributes
    varint(&mut pos)?; // timestamp delta
    varint(&mut pos)?; // offset delta
    if varint(&mut pos)? < 4 {
        return None;
    }
    let key = batch.get(pos..pos + 4)?;
    match i16::from_be_bytes([key[2], key[3]]) {
        0 => Some(super::txn_index::ControlType::Abort),
        1 => Some(super::txn_index::ControlType::Commit),
        _ => None,
    }
}

/// Walks the batches in a buffer of back-to-back batches, yielding each batch's header and
/// its byte range. Stops with an error at the first batch that is malformed or incomplete.
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter { buf, pos: 0 }
    }
}

impl Iterator for BatchIter<'_> {
    type Item = Result<(BatchHeader, std::ops::Range<usize>), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        let item = BatchHeader::parse(rest).and_then(|h| {
            let len = h.total_len();
            if rest.len() < len {
                Err(BatchError::Truncated { needed: len, available: rest.len() })
            } else {
                Ok((h, self.pos..self.pos + len))
            }
        });
        match &item {
            Ok((_, range)) => self.pos = range.end,
            Err(_) => self.pos = self.buf.len(),
        }
        Some(item)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal valid batch with `count` empty-bodied records, for storage tests.
    pub(crate) fn sample_batch(count: i32, base_ts: i64, pid: i64, seq: i32) -> Vec<u8> {
        let mut records = Vec::new();
        for i in 0..count {
            // attributes, timestamp delta 0, offset delta, null key, 1-byte value, no headers
            let rec = [0, 0, zigzag(i), 1, 2, b'x', 0];
            records.push(zigzag(rec.len() as i32));
            records.extend_from_slice(&rec);
        }
        let mut b = Vec::new();
        b.extend_from_slice(&0i64.to_be_bytes());
        let batch_length = (HEADER_LEN - LOG_OVERHEAD + records.len()) as i32;
        b.extend_from_slice(&batch_length.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes()); // leader epoch
        b.push(2);
        b.extend_from_slice(&0u32.to_be_bytes()); // crc placeholder
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&(count - 1).max(0).to_be_bytes());
        b.extend_from_slice(&base_ts.to_be_bytes());
        b.extend_from_slice(&base_ts.to_be_bytes());
        b.extend_from_slice(&pid.to_be_bytes());
        b.extend_from_slice(&(if pid >= 0 { 0i16 } else { -1i16 }).to_be_bytes());
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&count.to_be_bytes());
        b.extend_from_slice(&records);
        let crc = compute_crc(&b);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// Sets the transactional bit of a [`sample_batch`] and re-seals its CRC.
    pub(crate) fn set_transactional(b: &mut [u8]) {
        let attrs = be_i16(b, ATTRIBUTES_OFFSET) | TRANSACTIONAL_BIT;
        b[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
        let crc = compute_crc(b);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    }

    /// Sets the producer epoch of a [`sample_batch`] and re-seals its CRC.
    pub(crate) fn set_epoch(b: &mut [u8], epoch: i16) {
        b[PRODUCER_EPOCH_OFFSET..PRODUCER_EPOCH_OFFSET + 2].copy_from_slice(&epoch.to_be_bytes());
        let crc = compute_crc(b);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    }

    #[test]
    fn control_batches_round_trip_their_type() {
        use crate::log::txn_index::ControlType;
        for kind in [ControlType::Abort, ControlType::Commit] {
            let b = control_batch(7, 3, kind, 1000);
            let h = validate(&b, 1 << 20).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!((h.producer_id, h.producer_epoch, h.records_count), (7, 3, 1));
            assert_eq!(control_type(&b), Some(kind));
        }
        assert_eq!(control_type(&sample_batch(1, 0, -1, -1)), None);
    }

    fn zigzag(v: i32) -> u8 {
        (((v << 1) ^ (v >> 31)) as u32) as u8
    }

    #[test]
    fn parses_and_validates_a_batch() {
        let b = sample_batch(3, 1000, -1, -1);
        let h = validate(&b, 1 << 20).unwrap();
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.total_len(), b.len());
    }

    #[test]
    fn rejects_corrupt_crc_and_truncation() {
        let mut b = sample_batch(2, 1000, -1, -1);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(matches!(validate(&b, 1 << 20), Err(BatchError::CorruptCrc { .. })));
        let b = sample_batch(2, 1000, -1, -1);
        assert!(matches!(validate(&b[..b.len() - 1], 1 << 20), Err(BatchError::Truncated { .. })));
        assert!(matches!(validate(&b[..10], 1 << 20), Err(BatchError::Truncated { .. })));
    }

    #[test]
    fn base_offset_rewrite_keeps_crc_valid() {
        let mut b = sample_batch(2, 1000, -1, -1);
        set_base_offset(&mut b, 42);
        let h = validate(&b, 1 << 20).unwrap();
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.last_offset(), 43);
        set_log_append_time(&mut b, 5555);
        let h = validate(&b, 1 << 20).unwrap();
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 5555);
    }

    #[test]
    fn sequence_wraps() {
        let mut b = sample_batch(3, 0, 7, i32::MAX - 1);
        set_base_offset(&mut b, 0);
        let h = BatchHeader::parse(&b).unwrap();
        assert_eq!(h.last_sequence(), 0);
    }

    #[test]
    fn extreme_header_fields_are_refused_or_saturate_without_panicking() {
        let mut b = sample_batch(1, 0, -1, -1);
        b[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        b[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        let h = BatchHeader::parse(&b).unwrap();
        assert_eq!(h.last_offset(), i32::MAX as i64);
        set_base_offset(&mut b, i64::MAX - 1);
        assert_eq!(BatchHeader::parse(&b).unwrap().last_offset(), i64::MAX);
    }

    #[test]
    fn iterates_back_to_back_batches() {
        let mut buf = sample_batch(1, 0, -1, -1);
        buf.extend(sample_batch(2, 0, -1, -1));
        let items: Vec<_> = BatchIter::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].1.end, buf.len());
    }
}
