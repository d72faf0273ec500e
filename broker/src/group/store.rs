//! Durable group state: committed offsets and group metadata as key/value records in a log of
//! the broker's own, the way Kafka keeps them in its compacted `__consumer_offsets` topic.
//!
//! The log reuses the partition log (CRC-checked batches, torn-tail recovery, the broker's
//! fsync policy). A record with no value is a tombstone. Compaction appends a snapshot of the
//! live state and then drops everything before it: a crash in between leaves the old records
//! followed by the same values again, which replays to the same state.

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::log::{LogConfig, PartitionLog, state_log};

/// Where the log lives inside the data dir. Topic directories are always `name-N`, so a
/// name without that suffix cannot collide with a topic.
pub(crate) const STORE_DIR: &str = ".group-coordinator";

/// Records per batch when writing a snapshot.
const SNAPSHOT_BATCH: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum StoreKey {
    Offset { group: String, topic: String, partition: i32 },
    Group { group: String },
}

/// One committed offset, as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OffsetValue {
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: Option<String>,
    pub(crate) commit_timestamp_ms: i64,
    /// Set by OffsetCommit v2-4 `retention_time_ms`; otherwise the group's retention applies.
    pub(crate) expire_timestamp_ms: Option<i64>,
}

/// A group as of its last stable generation (or its last emptying).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupValue {
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) generation: i32,
    pub(crate) leader: Option<String>,
    /// Wall-clock time of the last state change; offsets of an empty group expire from it.
    pub(crate) state_timestamp_ms: i64,
    pub(crate) members: Vec<MemberValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MemberValue {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout_ms: i32,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) protocols: Vec<(String, Vec<u8>)>,
    pub(crate) assignment: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StoreValue {
    Offset(OffsetValue),
    Group(GroupValue),
}

/// What the log held when it was opened.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub(crate) groups: HashMap<String, GroupValue>,
    pub(crate) offsets: HashMap<String, HashMap<(String, i32), OffsetValue>>,
}

#[derive(Debug)]
pub(crate) struct GroupStore {
    log: PartitionLog,
    /// Records appended since the last snapshot (or open), to decide when to compact.
    written: u64,
}

fn corrupt(what: String) -> Error {
    Error::Config(format!("group coordinator log: {what}"))
}

impl GroupStore {
    /// Opens the log under `data_dir` and replays it.
    pub(crate) fn open(data_dir: &Path, defaults: &LogConfig) -> Result<(GroupStore, Recovered)> {
        let log = state_log::open(&data_dir.join(STORE_DIR), defaults, "group coordinator log")?;
        let mut recovered = Recovered::default();
        let written = state_log::replay(&log, "group coordinator log", |k, v| apply(&mut recovered, k, v))?;
        Ok((GroupStore { log, written }, recovered))
    }

    /// Appends `entries` (a `None` value deletes the key) in one batch.
    pub(crate) fn write(&mut self, entries: &[(StoreKey, Option<StoreValue>)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let batch = encode(entries)?;
        self.log.append(&batch, crate::log::now_ms())?;
        self.written += entries.len() as u64;
        Ok(())
    }

    /// Whether enough has been overwritten since the last snapshot to make one worthwhile.
    pub(crate) fn wants_compaction(&self, live: usize) -> bool {
        self.written > 10_000 && self.written > 4 * live as u64
    }

    /// Writes the live state as a snapshot and drops the records before it.
    pub(crate) fn compact(&mut self, live: Vec<(StoreKey, StoreValue)>) -> Result<()> {
        let start = self.log.next_offset();
        let count = live.len();
        let entries: Vec<(StoreKey, Option<StoreValue>)> = live.into_iter().map(|(k, v)| (k, Some(v))).collect();
        for chunk in entries.chunks(SNAPSHOT_BATCH) {
            let batch = encode(chunk)?;
            self.log.append(&batch, crate::log::now_ms())?;
        }
        self.log.flush(crate::log::now_ms())?;
        self.log.delete_records_before(start)?;
        self.written = count as u64;
        Ok(())
    }

    pub(crate) fn flush_if_due(&mut self, now_ms: i64) -> Result<()> {
        Ok(self.log.flush_if_due(now_ms)?)
    }

    pub(crate) fn close(&mut self) -> Result<()> {
        Ok(self.log.close()?)
    }
}

fn apply(state: &mut Recovered, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<()> {
    let key = key.ok_or_else(|| corrupt("record without a key".into()))?;
    let key: StoreKey = serde_json::from_slice(key).map_err(|e| corrupt(format!("bad key: {e}")))?;
    let bad_value = |e: serde_json::Error| corrupt(format!("bad value: {e}"));
    match key {
        StoreKey::Offset { group, topic, partition } => {
            let offsets = state.offsets.entry(group.clone()).or_default();
            match value {
                Some(v) => {
                    offsets.insert((topic, partition), serde_json::from_slice(v).map_err(bad_value)?);
                }
                None => {
                    offsets.remove(&(topic, partition));
                    if offsets.is_empty() {
                        state.offsets.remove(&group);
                    }
                }
            }
        }
        StoreKey::Group { group } => match value {
            Some(v) => {
                state.groups.insert(group, serde_json::from_slice(v).map_err(bad_value)?);
            }
            None => {
                state.groups.remove(&group);
            }
        },
    }
    Ok(())
}

fn encode(entries: &[(StoreKey, Option<StoreValue>)]) -> Result<Bytes> {
    let json = |r: serde_json::Result<Vec<u8>>| r.map(Bytes::from).map_err(|e| corrupt(format!("encoding: {e}")));
    let mut records = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let value = match value {
            None => None,
            Some(StoreValue::Offset(v)) => Some(json(serde_json::to_vec(v))?),
            Some(StoreValue::Group(v)) => Some(json(serde_json::to_vec(v))?),
        };
        records.push((json(serde_json::to_vec(key))?, value));
    }
    state_log::encode(records, "group coordinator log")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(o: i64) -> StoreValue {
        StoreValue::Offset(OffsetValue {
            offset: o,
            leader_epoch: -1,
            metadata: Some(format!("m{o}")),
            commit_timestamp_ms: 1,
            expire_timestamp_ms: None,
        })
    }

    fn key(p: i32) -> StoreKey {
        StoreKey::Offset { group: "g".into(), topic: "t".into(), partition: p }
    }

    #[test]
    fn replays_writes_tombstones_and_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig::default();
        {
            let (mut store, rec) = GroupStore::open(dir.path(), &cfg).unwrap();
            assert!(rec.offsets.is_empty());
            store.write(&[(key(0), Some(offset(5))), (key(1), Some(offset(7)))]).unwrap();
            store.write(&[(key(0), Some(offset(9))), (key(1), None)]).unwrap();
            store.close().unwrap();
        }
        let (mut store, rec) = GroupStore::open(dir.path(), &cfg).unwrap();
        let g = &rec.offsets["g"];
        assert_eq!(g.len(), 1);
        assert_eq!(g[&("t".to_string(), 0)].offset, 9);
        assert_eq!(g[&("t".to_string(), 0)].metadata.as_deref(), Some("m9"));

        store.compact(vec![(key(0), offset(9))]).unwrap();
        store.write(&[(key(2), Some(offset(3)))]).unwrap();
        store.close().unwrap();
        drop(store);
        let (_, rec) = GroupStore::open(dir.path(), &cfg).unwrap();
        let g = &rec.offsets["g"];
        assert_eq!(g.len(), 2);
        assert_eq!(g[&("t".to_string(), 0)].offset, 9);
        assert_eq!(g[&("t".to_string(), 2)].offset, 3);
    }
}
