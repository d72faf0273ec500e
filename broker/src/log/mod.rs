//! The storage layer: each partition is a directory of append-only segments.

pub mod batch;
pub mod disk;
mod offset_index;
mod partition_log;
mod producer_state;
mod segment;
mod time_index;

pub use partition_log::{AppendOutcome, PartitionLog, ReadSlice};

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
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
