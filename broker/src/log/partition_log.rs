//! The log of one partition: ordered segments, offset assignment, reads by offset and time,
//! retention, flushing and recovery after an unclean stop.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch::{self, BatchError, BatchHeader, BatchIter};
use super::disk;
use super::producer_state::{ProducerStateTable, SequenceCheck};
use super::segment::LogSegment;
use super::{LogConfig, TimestampType};
use crate::error::{Error, Result};

const CHECKPOINT_FILE: &str = "checkpoint";
const CLEAN_SHUTDOWN_FILE: &str = ".clean-shutdown";

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    pub base_offset: i64,
    /// The broker's timestamp under LogAppendTime, else -1.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The batch had been appended before (a producer retry); nothing was written.
    pub duplicate: bool,
}

/// A byte range of a segment file to serve to a fetch, read after the partition lock is let go.
#[derive(Debug, Clone)]
pub struct ReadSlice {
    pub file: Arc<File>,
    pub position: u64,
    pub len: usize,
}

impl ReadSlice {
    pub fn read(&self) -> io::Result<bytes::Bytes> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(buf.into())
    }
}

#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    segments: BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    /// Offsets below this are known to be on stable storage.
    recovery_point: i64,
    unflushed_records: u64,
    last_flush_ms: i64,
    producers: ProducerStateTable,
}

fn read_checkpoint(dir: &Path) -> (i64, i64) {
    let text = std::fs::read_to_string(dir.join(CHECKPOINT_FILE)).unwrap_or_default();
    let mut it = text.split_whitespace().map(|s| s.parse::<i64>().ok());
    match (it.next().flatten(), it.next().flatten()) {
        (Some(start), Some(recovery)) => (start, recovery),
        _ => (0, 0),
    }
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`, recovering it if the last stop was not clean.
    pub fn open(dir: &Path, config: LogConfig, now_ms: i64) -> io::Result<Self> {
        disk::create_dir_all(dir)?;
        let clean_marker = dir.join(CLEAN_SHUTDOWN_FILE);
        let clean = clean_marker.exists();
        let (mut log_start_offset, recovery_point) = read_checkpoint(dir);

        let mut bases: Vec<i64> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".log")?.parse::<i64>().ok()
            })
            .collect();
        bases.sort_unstable();

        let mut producers = ProducerStateTable::default();
        let mut segments = BTreeMap::new();
        let last_index = bases.len().saturating_sub(1);
        let mut cut_at: Option<usize> = None;
        for (i, &base) in bases.iter().enumerate() {
            // A segment past the last recovery point may hold a torn write: read it whole and
            // check every CRC. The active segment is walked to rebuild producer state.
            let next_base = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            let verify = !clean && next_base > recovery_point;
            let record_producers = i == last_index || verify;
            let (seg, outcome) = LogSegment::open(
                dir,
                base,
                config.index_interval_bytes,
                config.max_message_bytes,
                verify,
                now_ms,
                |h| {
                    if record_producers {
                        producers.record(h, h.max_timestamp);
                    }
                },
            )?;
            if outcome.truncated {
                tracing::warn!(
                    dir = %dir.display(),
                    segment = base,
                    valid_bytes = outcome.valid_len,
                    "recovery truncated a torn or corrupt tail"
                );
            }
            segments.insert(base, seg);
            if outcome.truncated {
                cut_at = Some(i + 1);
                break;
            }
        }
        if let Some(first_dropped) = cut_at {
            // Nothing after a torn batch can be trusted to follow it in order.
            for &base in &bases[first_dropped..] {
                super::segment::remove_files(dir, base)?;
            }
        }
        if segments.is_empty() {
            let base = log_start_offset.max(0);
            segments.insert(base, LogSegment::create(dir, base, config.index_interval_bytes, now_ms)?);
        }
        let first_base = *segments.keys().next().expect("one segment");
        log_start_offset = log_start_offset.max(first_base);
        let mut log = PartitionLog {
            dir: dir.to_owned(),
            config,
            segments,
            log_start_offset,
            recovery_point: 0,
            unflushed_records: 0,
            last_flush_ms: now_ms,
            producers,
        };
        log_start_offset = log.log_start_offset.min(log.next_offset());
        log.log_start_offset = log_start_offset;
        log.recovery_point = log.next_offset();
        let _ = std::fs::remove_file(&clean_marker);
        // Best effort: a broker restarted on a full disk still serves what it has.
        if let Err(e) = log.write_checkpoint() {
            tracing::warn!(dir = %dir.display(), error = %e, "writing the recovery checkpoint failed");
        }
        Ok(log)
    }

    fn active(&self) -> &LogSegment {
        self.segments.values().next_back().expect("a log always has a segment")
    }

    fn active_mut(&mut self) -> &mut LogSegment {
        self.segments.values_mut().next_back().expect("a log always has a segment")
    }

    /// The offset the next record will get (the log end offset; on a single node also the
    /// high watermark: every appended batch is fully written before it is visible).
    pub fn next_offset(&self) -> i64 {
        self.active().next_offset()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size()).sum()
    }

    /// Validates, sequences and appends the batches in `records` (as a producer sent them).
    /// The base offset is spliced in as the bytes are written, so the request buffer is
    /// written as is; only LogAppendTime, which re-seals the CRC, copies a batch.
    pub fn append(&mut self, records: &[u8], now_ms: i64) -> Result<AppendOutcome> {
        // Check everything before writing anything, so a request is appended whole or not at all.
        let mut batches: Vec<(BatchHeader, std::ops::Range<usize>)> = Vec::with_capacity(1);
        for item in BatchIter::new(records) {
            let (header, range) = item.map_err(Error::InvalidBatch)?;
            if range.len() > self.config.max_message_bytes {
                return Err(Error::BatchTooLarge { size: range.len(), max: self.config.max_message_bytes });
            }
            let computed = batch::compute_crc(&records[range.clone()]);
            if computed != header.crc {
                return Err(Error::CorruptBatch(BatchError::CorruptCrc { stored: header.crc, computed }));
            }
            if header.records_count == 0 {
                return Err(Error::InvalidBatch(BatchError::InvalidRecordCount {
                    count: 0,
                    last_offset_delta: header.last_offset_delta,
                }));
            }
            if header.is_transactional() || header.is_control() {
                return Err(Error::TransactionsUnsupported);
            }
            batches.push((header, range));
        }
        if batches.is_empty() {
            return Err(Error::EmptyProduce);
        }
        for (header, _) in &batches {
            match self.producers.check(header) {
                SequenceCheck::Append => {}
                SequenceCheck::Duplicate { base_offset, timestamp } => {
                    if batches.len() == 1 {
                        let log_append_time = match self.config.timestamp_type {
                            TimestampType::LogAppendTime => timestamp,
                            TimestampType::CreateTime => -1,
                        };
                        return Ok(AppendOutcome {
                            base_offset,
                            log_append_time,
                            log_start_offset: self.log_start_offset,
                            duplicate: true,
                        });
                    }
                    return Err(Error::OutOfOrderSequence { expected: -1, got: header.base_sequence });
                }
                SequenceCheck::OutOfOrder { expected, got } => {
                    return Err(Error::OutOfOrderSequence { expected, got });
                }
                SequenceCheck::FencedEpoch { current, got } => {
                    return Err(Error::InvalidProducerEpoch { current, got });
                }
            }
        }

        let total: usize = batches.iter().map(|(_, r)| r.len()).sum();
        self.maybe_roll(total as u64, now_ms).map_err(self.io_error("rolling a new segment"))?;
        let base_offset = self.next_offset();
        let log_append = self.config.timestamp_type == TimestampType::LogAppendTime;
        let mark = self.active().mark();
        let written = self.write_batches(records, &mut batches, base_offset, log_append, now_ms);
        let record_count: u64 = batches.iter().map(|(h, _)| h.records_count as u64).sum();
        let due = self.unflushed_records + record_count >= self.config.flush_interval_messages;
        // With flush.messages due, the append is acknowledged only once on stable storage.
        let written = written.and_then(|()| if due { self.active_mut().flush() } else { Ok(()) });
        if let Err(e) = written {
            // Nothing of a failed request stays: the next append starts where this one did,
            // and a reader never sees its bytes (reads stop at the recorded size).
            self.active_mut().rollback(mark);
            return Err(self.io_error("appending to the log")(e));
        }
        for (header, _) in &batches {
            self.producers.record(header, header.max_timestamp);
        }
        self.unflushed_records += record_count;
        if due {
            self.flushed(now_ms);
        }
        Ok(AppendOutcome {
            base_offset,
            log_append_time: if log_append { now_ms } else { -1 },
            log_start_offset: self.log_start_offset,
            duplicate: false,
        })
    }

    /// Writes the checked batches at `base_offset` on, stamping each header in `batches` with
    /// the offsets (and timestamp) it was written with.
    fn write_batches(
        &mut self,
        records: &[u8],
        batches: &mut [(BatchHeader, std::ops::Range<usize>)],
        base_offset: i64,
        log_append: bool,
        now_ms: i64,
    ) -> io::Result<()> {
        let mut next = base_offset;
        for (header, range) in batches.iter_mut() {
            header.base_offset = next;
            let bytes = &records[range.clone()];
            if log_append {
                let mut copy = bytes.to_vec();
                batch::set_base_offset(&mut copy, next);
                batch::set_log_append_time(&mut copy, now_ms);
                header.max_timestamp = now_ms;
                self.active_mut().append(header, &copy)?;
            } else {
                self.active_mut().append(header, bytes)?;
            }
            next = header.last_offset() + 1;
        }
        Ok(())
    }

    fn io_error(&self, what: &str) -> impl FnOnce(io::Error) -> Error + use<> {
        Error::io(format!("{what} {}", self.dir.display()))
    }

    fn maybe_roll(&mut self, incoming: u64, now_ms: i64) -> io::Result<()> {
        let active = self.active();
        let full = active.size() + incoming > self.config.segment_bytes;
        let old = now_ms - active.created_ms() > self.config.segment_ms;
        if active.is_empty() || !(full || old) {
            return Ok(());
        }
        let base = active.next_offset();
        let interval = self.config.index_interval_bytes;
        // The closed segment will never change again: make it durable before moving on.
        self.active_mut().flush()?;
        self.segments.insert(base, LogSegment::create(&self.dir, base, interval, now_ms)?);
        Ok(())
    }

    /// The bytes to serve a fetch at `offset`: batches from the one holding `offset`, up to
    /// `max_bytes` (the last may be cut there). With `whole_first_batch`, the first batch is
    /// served whole even if larger, so a consumer always progresses. `Ok(None)` at the log end
    /// or when nothing fits; an error when the offset is out of range.
    pub fn read(&self, offset: i64, max_bytes: usize, whole_first_batch: bool) -> Result<Option<ReadSlice>> {
        let end = self.next_offset();
        if offset < self.log_start_offset || offset > end {
            return Err(Error::OffsetOutOfRange { offset, log_start: self.log_start_offset, log_end: end });
        }
        if offset == end {
            return Ok(None);
        }
        for (_, seg) in self.segments.range(..=offset).next_back().into_iter().chain(self.segments.range(offset + 1..))
        {
            if let Some((pos, first)) = seg.position_of(offset)? {
                let available = (seg.size() - pos) as usize;
                let limit = if whole_first_batch { max_bytes.max(first.total_len()) } else { max_bytes };
                let len = available.min(limit);
                return Ok((len > 0).then(|| ReadSlice { file: Arc::clone(seg.file()), position: pos, len }));
            }
        }
        Ok(None)
    }

    /// Headers of the batches from the one holding `offset` on, across segments, until `f`
    /// says stop. Used by timestamp lookups.
    fn headers_from(&self, offset: i64, mut f: impl FnMut(u64, &BatchHeader, &LogSegment) -> bool) -> io::Result<()> {
        let mut go_on = true;
        for (_, seg) in self.segments.range(..=offset).next_back().into_iter().chain(self.segments.range(offset + 1..))
        {
            if !go_on {
                break;
            }
            let Some((pos, _)) = seg.position_of(offset)? else { continue };
            seg.headers_from(pos, |p, h| {
                go_on = f(p, h, seg);
                go_on
            })?;
        }
        Ok(())
    }

    /// The first batch that may hold a record with timestamp >= `timestamp`: its position and
    /// file, for the caller to find the exact record in (outside the lock).
    pub fn find_timestamp(&self, timestamp: i64) -> io::Result<Option<(ReadSlice, BatchHeader)>> {
        let Some(start) = self
            .segments
            .values()
            .find(|s| s.max_timestamp() >= timestamp)
            .map(|s| s.time_lookup(timestamp).max(self.log_start_offset))
        else {
            return Ok(None);
        };
        let mut found = None;
        self.headers_from(start, |pos, h, seg| {
            if h.max_timestamp >= timestamp && h.last_offset() >= self.log_start_offset {
                found = Some((ReadSlice { file: Arc::clone(seg.file()), position: pos, len: h.total_len() }, *h));
                return false;
            }
            true
        })?;
        Ok(found)
    }

    /// The largest record timestamp in the log, if it holds any record.
    pub fn max_timestamp(&self) -> Result<Option<i64>> {
        Ok(self.segments.values().map(|s| s.max_timestamp()).filter(|&t| t >= 0).max())
    }

    /// Moves the log start to `offset` (DeleteRecords); whole segments below it are removed.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        let end = self.next_offset();
        let target = if offset == -1 { end } else { offset };
        if target < 0 || target > end {
            return Err(Error::OffsetOutOfRange { offset, log_start: self.log_start_offset, log_end: end });
        }
        if target > self.log_start_offset {
            self.log_start_offset = target;
            self.drop_segments_below_start()?;
            self.write_checkpoint()?;
        }
        Ok(self.log_start_offset)
    }

    fn drop_segments_below_start(&mut self) -> io::Result<()> {
        while self.segments.len() > 1 {
            let (&base, first) = self.segments.iter().next().expect("len > 1");
            if first.next_offset() > self.log_start_offset {
                break;
            }
            let _ = first;
            let seg = self.segments.remove(&base).expect("present");
            seg.delete()?;
        }
        if self.segments.len() == 1 && self.active().next_offset() <= self.log_start_offset && !self.active().is_empty()
        {
            // Everything was deleted: start a fresh empty segment at the new start.
            // The new segment exists before the old one goes, so the log always has one.
            let start = self.log_start_offset;
            let interval = self.config.index_interval_bytes;
            let fresh = LogSegment::create(&self.dir, start, interval, super::now_ms())?;
            let old_base = *self.segments.keys().next().expect("one");
            let old = self.segments.remove(&old_base).expect("present");
            self.segments.insert(start, fresh);
            old.delete()?;
        }
        Ok(())
    }

    /// Deletes whole segments past `retention.ms` or beyond `retention.bytes`. The active
    /// segment is never deleted. Returns how many segments went.
    pub fn enforce_retention(&mut self, now_ms: i64) -> io::Result<usize> {
        let mut deleted = 0;
        let mut total = self.size_bytes() as i64;
        while self.segments.len() > 1 {
            let first = self.segments.values().next().expect("len > 1");
            let too_old = self.config.retention_ms >= 0
                && first.max_timestamp() >= 0
                && now_ms - first.max_timestamp() > self.config.retention_ms;
            let too_big =
                self.config.retention_bytes >= 0 && total - first.size() as i64 >= self.config.retention_bytes;
            if !(too_old || too_big) {
                break;
            }
            total -= first.size() as i64;
            let base = first.base_offset();
            let seg = self.segments.remove(&base).expect("present");
            let next_start = self.segments.keys().next().copied().expect("one left");
            self.log_start_offset = self.log_start_offset.max(next_start);
            seg.delete()?;
            deleted += 1;
        }
        if deleted > 0 {
            self.write_checkpoint()?;
        }
        Ok(deleted)
    }

    /// Flushes if `flush.ms` has passed since the last flush and there is something to flush.
    pub fn flush_if_due(&mut self, now_ms: i64) -> io::Result<()> {
        if self.config.flush_interval_ms >= 0
            && self.unflushed_records > 0
            && now_ms - self.last_flush_ms >= self.config.flush_interval_ms
        {
            self.flush(now_ms)?;
        }
        Ok(())
    }

    /// Forces the active segment to stable storage and moves the recovery point to the end.
    pub fn flush(&mut self, now_ms: i64) -> io::Result<()> {
        self.active_mut().flush()?;
        self.flushed(now_ms);
        Ok(())
    }

    /// Records that everything appended so far is on stable storage.
    fn flushed(&mut self, now_ms: i64) {
        self.unflushed_records = 0;
        self.last_flush_ms = now_ms;
        self.recovery_point = self.next_offset();
        // The checkpoint only spares work at the next recovery: losing it loses nothing.
        if let Err(e) = self.write_checkpoint() {
            tracing::warn!(dir = %self.dir.display(), error = %e, "writing the recovery checkpoint failed");
        }
    }

    fn write_checkpoint(&self) -> io::Result<()> {
        let text = format!("{} {}\n", self.log_start_offset, self.recovery_point);
        disk::replace_file(&self.dir.join(CHECKPOINT_FILE), text.as_bytes(), false)
    }

    /// Flushes everything and marks the stop as clean. The next open still checks each
    /// segment's tail, but need not verify whole segments.
    pub fn close(&mut self) -> io::Result<()> {
        self.flush(super::now_ms())?;
        disk::create_marker(&self.dir.join(CLEAN_SHUTDOWN_FILE))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
