//! The transaction coordinator's log: one record per change of a transactional id's state
//! (key: the id, value: its [`TxnMeta`] as JSON), in a partition log of its own, as Kafka
//! keeps them in `__transaction_state`. Replaying it gives the latest state of each id;
//! compaction appends a snapshot and drops what came before.

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;

use super::coordinator::TxnMeta;
use crate::error::{Error, Result};
use crate::log::{LogConfig, PartitionLog, state_log};

/// Inside the data dir; topic directories are always `name-N`, so this cannot collide.
pub(crate) const STORE_DIR: &str = ".txn-coordinator";
/// Records per batch when writing a snapshot.
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
        let log = state_log::open(&data_dir.join(STORE_DIR), defaults, "transaction coordinator log")?;
        let mut txns = HashMap::new();
        let written = state_log::replay(&log, "transaction coordinator log", |key, value| {
            let key = key.ok_or_else(|| corrupt("record without a key".into()))?;
            let id = String::from_utf8(key.to_vec()).map_err(|e| corrupt(format!("bad key: {e}")))?;
            match value {
                Some(v) => {
                    txns.insert(id, serde_json::from_slice(v).map_err(|e| corrupt(format!("bad value: {e}")))?);
                }
                None => {
                    txns.remove(&id);
                }
            }
            Ok(())
        })?;
        Ok((TxnStore { log, written }, txns))
    }

    pub(crate) fn write(&mut self, id: &str, meta: &TxnMeta) -> Result<()> {
        let batch = encode(&[(id, meta)])?;
        self.log.append(&batch, crate::log::now_ms())?;
        self.written += 1;
        Ok(())
    }

    /// Deletes `id` (a tombstone).
    pub(crate) fn remove(&mut self, id: &str) -> Result<()> {
        let batch = state_log::encode([(Bytes::copy_from_slice(id.as_bytes()), None)], "transaction coordinator log")?;
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
    let mut records = Vec::with_capacity(entries.len());
    for (id, meta) in entries {
        let value = serde_json::to_vec(meta).map_err(|e| corrupt(format!("encoding: {e}")))?;
        records.push((Bytes::copy_from_slice(id.as_bytes()), Some(Bytes::from(value))));
    }
    state_log::encode(records, "transaction coordinator log")
}
