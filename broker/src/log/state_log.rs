//! A broker-internal log of key/value records: the group and transaction coordinators keep
//! their state in one each, as Kafka keeps it in `__consumer_offsets` and
//! `__transaction_state`. It is a partition log (CRC-checked batches, torn-tail recovery, the
//! broker's flush policy) whose records are replayed in order at open; a record without a
//! value is a tombstone.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{CleanupPolicy, LogConfig, PartitionLog};
use crate::error::{Error, Result};

/// Opens the state log in `dir`: small segments so snapshots free space soon, nothing expiring
/// by time or size (the owner decides what is live), never compacted by the cleaner.
pub(crate) fn open(dir: &Path, defaults: &LogConfig, what: &str) -> Result<PartitionLog> {
    let config = LogConfig {
        segment_bytes: 16 << 20,
        retention_ms: -1,
        retention_bytes: -1,
        max_message_bytes: 16 << 20,
        cleanup_policy: CleanupPolicy::DELETE,
        ..defaults.clone()
    };
    PartitionLog::open(dir, config, super::now_ms()).map_err(Error::io(format!("opening {what} {}", dir.display())))
}

/// Calls `apply(key, value)` for every record of `log`, in order; returns how many there were.
pub(crate) fn replay(
    log: &PartitionLog,
    what: &str,
    mut apply: impl FnMut(Option<&[u8]>, Option<&[u8]>) -> Result<()>,
) -> Result<u64> {
    let mut count = 0u64;
    let mut offset = log.log_start_offset();
    while let Some(slice) = log.read(offset, 1 << 20, true)? {
        let mut buf = slice.read().map_err(Error::io(format!("reading {}", log.dir().display())))?;
        let from = offset;
        // The read may end inside a batch; that batch is read whole on the next pass.
        while buf.len() >= 12
            && buf.len() >= 12 + i32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]).max(0) as usize
        {
            let set = RecordBatchDecoder::decode(&mut buf)
                .map_err(|e| Error::Config(format!("{what}: undecodable batch: {e}")))?;
            for record in set.records.into_iter().filter(|r| r.offset >= from) {
                offset = offset.max(record.offset + 1);
                count += 1;
                apply(record.key.as_deref(), record.value.as_deref())?;
            }
        }
        if offset == from {
            break;
        }
    }
    Ok(count)
}

/// Encodes `entries` (key, value; `None` deletes the key) as one uncompressed batch.
pub(crate) fn encode(entries: impl IntoIterator<Item = (Bytes, Option<Bytes>)>, what: &str) -> Result<Bytes> {
    let now = super::now_ms();
    let records: Vec<Record> = entries
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: now,
            key: Some(key),
            value,
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .map_err(|e| Error::Config(format!("{what}: encoding a batch: {e}")))?;
    Ok(buf.freeze())
}
