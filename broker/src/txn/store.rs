//! The transaction coordinator's log: one record per change of a transactional id's state
//! (key: the id, value: its [`TxnMeta`] as JSON), in a partition log of its own, as Kafka
//! keeps them in `__transaction_state`. Replaying it gives the latest state of each id;
//! compaction appends a snapshot and drops what came before.

use std::collections::HashMap;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::coordinator::TxnMeta;
use crate::error::{Error, Result};
use crate::log::{LogConfig, PartitionLog};

/// Inside the data dir; topic directories are always `name-N`, so this cannot collide.
pub(crate) const STORE_DIR: &str = ".txn-coordinator";
const SNAPSHOT_BATCH: usize = 500;

#[derive(Debug)]
pub(crate) struct TxnStore {
    log: PartitionLog,
    written: u64,
}

fn corrupt(what: String) -> Error {
    Error::Config(format!("transaction coordinator log: {what}"))
}

impl TxnStore {
    pub(crate) fn open(data_dir: &Path, defaults: &LogConfig) -> Result<(TxnStore, HashMap<String, TxnMeta>)> {
        let dir = data_dir.join(STORE_DIR);
        let config = LogConfig {
            segment_bytes: 16 << 20,
            retention_ms: -1,
            retention_bytes: -1,
            max_message_bytes: 16 << 20,
            cleanup_policy: crate::log::CleanupPolicy::DELETE,
            ..defaults.clone()
        };
        let log = PartitionLog::open(&dir, config, crate::log::now_ms())
            .map_err(Error::io(format!("opening transaction coordinator log {}", dir.display())))?;
        let mut txns = HashMap::new();
        let mut written = 0u64;
        let mut offset = log.log_start_offset();
        while let Some(slice) = log.read(offset, 1 << 20, true)? {
            let mut buf = slice.read().map_err(Error::io(format!("reading {}", dir.display())))?;
            let from = offset;
            // The read may end inside a batch; that batch is read whole on the next pass.
            while buf.len() >= 12
                && buf.len() >= 12 + i32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]).max(0) as usize
            {
                let set =
                    RecordBatchDecoder::decode(&mut buf).map_err(|e| corrupt(format!("undecodable batch: {e}")))?;
                for record in set.records.into_iter().filter(|r| r.offset >= from) {
                    offset = offset.max(record.offset + 1);
                    written += 1;
                    let key = record.key.ok_or_else(|| corrupt("record without a key".into()))?;
                    let id = String::from_utf8(key.to_vec()).map_err(|e| corrupt(format!("bad key: {e}")))?;
                    match record.value {
                        Some(v) => {
                            let meta = serde_json::from_slice(&v).map_err(|e| corrupt(format!("bad value: {e}")))?;
                            txns.insert(id, meta);
                        }
                        None => {
                            txns.remove(&id);
                        }
                    }
                }
            }
            if offset == from {
                break;
            }
        }
        Ok((TxnStore { log, written }, txns))
    }

    pub(crate) fn write(&mut self, id: &str, meta: &TxnMeta) -> Result<()> {
        let batch = encode(&[(id, meta)])?;
        self.log.append(&batch, crate::log::now_ms())?;
        self.written += 1;
        Ok(())
    }

    pub(crate) fn wants_compaction(&self, live: usize) -> bool {
        self.written > 10_000 && self.written > 4 * live as u64
    }

    /// Writes the live state as a snapshot, durably, and drops the records before it.
    pub(crate) fn compact(&mut self, live: &HashMap<String, TxnMeta>) -> Result<()> {
        let start = self.log.next_offset();
        let entries: Vec<(&str, &TxnMeta)> = live.iter().map(|(k, v)| (k.as_str(), v)).collect();
        for chunk in entries.chunks(SNAPSHOT_BATCH) {
            self.log.append(&encode(chunk)?, crate::log::now_ms())?;
        }
        self.log.flush(crate::log::now_ms())?;
        self.log.delete_records_before(start)?;
        self.written = live.len() as u64;
        Ok(())
    }

    pub(crate) fn flush_if_due(&mut self, now_ms: i64) -> Result<()> {
        Ok(self.log.flush_if_due(now_ms)?)
    }

    pub(crate) fn close(&mut self) -> Result<()> {
        Ok(self.log.close()?)
    }
}

fn encode(entries: &[(&str, &TxnMeta)]) -> Result<Bytes> {
    let now = crate::log::now_ms();
    let mut records = Vec::with_capacity(entries.len());
    for (i, (id, meta)) in entries.iter().enumerate() {
        let value = serde_json::to_vec(meta).map_err(|e| corrupt(format!("encoding: {e}")))?;
        records.push(Record {
            transactional: false,
            control: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: now,
            key: Some(Bytes::copy_from_slice(id.as_bytes())),
            value: Some(value.into()),
            headers: Default::default(),
            delete_horizon: false,
        });
    }
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .map_err(|e| corrupt(format!("encoding batch: {e}")))?;
    Ok(buf.freeze())
}
