//! The storage layer: each partition is a directory of append-only segments.

pub mod batch;
mod cleaner;
pub mod disk;
mod index_file;
mod offset_index;
mod offset_map;
mod partition_log;
mod producer_state;
mod record_filter;
mod segment;
mod segment_files;
pub(crate) mod state_log;
mod time_index;
mod txn_index;

pub use cleaner::{CleanerStats, CleaningOptions, Throttle, clean};
pub use partition_log::{AppendOutcome, CleanCandidate, PartitionLog, ReadSlice};
pub use segment_files::SegmentFiles;
pub use txn_index::{AbortedTxn, ControlType};

/// `cleanup.policy`: what happens to old records. Both may be on (`compact,delete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Whole segments past `retention.ms` / `retention.bytes` are deleted.
    pub delete: bool,
    /// The cleaner keeps only the latest record of each key.
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: CleanupPolicy = CleanupPolicy { delete: true, compact: false };

    /// Parses Kafka's list form: `delete`, `compact`, `compact,delete` (any order, spaces allowed),
    /// or the empty list (Kafka 4.1): neither deleted nor compacted, kept forever.
    pub fn parse(value: &str) -> Option<CleanupPolicy> {
        let mut policy = CleanupPolicy { delete: false, compact: false };
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item {
                "delete" => policy.delete = true,
                "compact" => policy.compact = true,
                _ => return None,
            }
        }
        Some(policy)
    }

    /// Kafka's spelling, as DescribeConfigs reports it.
    pub fn name(&self) -> &'static str {
        match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            (false, true) => "delete",
            (false, false) => "",
        }
    }
}

/// Whether a record's timestamp is the producer's or the broker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// Settings of one partition's log: the broker defaults overridden per topic.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment past this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll a segment this old, even if not full.
    pub segment_ms: i64,
    /// `retention.ms`: delete segments whose newest record is older; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while the log exceeds this; -1 unlimited.
    pub retention_bytes: i64,
    /// `max.message.bytes`: the largest record batch accepted.
    pub max_message_bytes: usize,
    /// `flush.messages`: fsync after this many records; `u64::MAX` never by count.
    pub flush_interval_messages: u64,
    /// `flush.ms`: fsync data older than this; -1 never by time.
    pub flush_interval_ms: i64,
    /// `index.interval.bytes`: bytes between offset index entries.
    pub index_interval_bytes: u64,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `min.cleanable.dirty.ratio`: clean once the dirty part is this share of the log.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this are never compacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a record is compacted at the latest this long after it was
    /// written, whatever the dirty ratio (the active segment rolls by this age too).
    pub max_compaction_lag_ms: i64,
    /// `delete.retention.ms`: a tombstone is kept this long after the cleaning that first saw it.
    pub delete_retention_ms: i64,
}

impl LogConfig {
    /// Checks the settings that depend on each other, after every override is applied.
    pub fn validate(&self) -> crate::error::Result<()> {
        if self.min_compaction_lag_ms > self.max_compaction_lag_ms {
            return Err(crate::error::Error::InvalidConfig(format!(
                "min.compaction.lag.ms={} is larger than max.compaction.lag.ms={}",
                self.min_compaction_lag_ms, self.max_compaction_lag_ms
            )));
        }
        Ok(())
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            flush_interval_messages: u64::MAX,
            flush_interval_ms: 1000,
            index_interval_bytes: 4096,
            timestamp_type: TimestampType::CreateTime,
            cleanup_policy: CleanupPolicy::DELETE,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 24 * 3600 * 1000,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
