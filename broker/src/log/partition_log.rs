//! The log of one partition: ordered segments, offset assignment, reads by offset and time,
//! retention, flushing and recovery after an unclean stop.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch::{self, BatchError, BatchHeader, BatchIter};
use super::cleaner::{self, CleanJob, SegmentRef};
use super::disk;
use super::producer_state::{ProducerStateTable, SequenceCheck};
use super::record_filter;
use super::segment::LogSegment;
use super::segment_files::SegmentFiles;
use super::txn_index::{AbortedTxn, ControlType, TxnIndex};
use super::{LogConfig, TimestampType};
use crate::error::{Error, Result};

const CHECKPOINT_FILE: &str = "checkpoint";
const CLEAN_SHUTDOWN_FILE: &str = ".clean-shutdown";
/// The cleaner's first dirty offset (Kafka keeps one such file per data directory).
const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
/// Present (durably, before the first transactional batch is written) in a log that has held
/// a transactional batch: only such logs are replayed on open to rebuild their transactions.
const TRANSACTIONAL_MARKER: &str = "transactional";
/// The transaction index as of the last roll or clean close, with the offset it was taken at.
const TXN_SNAPSHOT_FILE: &str = "txn-index-snapshot";
/// The producer state as of the active segment's base, written at each roll: a start
/// replays the active segment on top of it (older segments need not be read).
const PRODUCER_SNAPSHOT_FILE: &str = "producer-state-snapshot";
/// Sealed segments' files a log opened with [`PartitionLog::open`] keeps open at once: such a
/// log (a broker-internal state log, a test) has a cache of its own, and reads its older
/// segments mostly once, at its start.
const OWN_OPEN_FILES: usize = 16;

/// How much a compacted log wants cleaning, for the cleaner to pick the dirtiest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanCandidate {
    /// Dirty bytes over the bytes of the log the cleaner may touch.
    pub dirty_ratio: f64,
    pub dirty_bytes: u64,
    /// `max.compaction.lag.ms` has passed for the oldest dirty record, or a tombstone's delete
    /// horizon has: clean whatever the ratio.
    pub overdue: bool,
}

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
    /// Where sealed segments' files are opened and kept open: shared by the broker's logs.
    files: Arc<SegmentFiles>,
    log_start_offset: i64,
    /// Offsets below this are known to be on stable storage.
    recovery_point: i64,
    unflushed_records: u64,
    last_flush_ms: i64,
    producers: ProducerStateTable,
    /// Open and aborted transactions, for the last stable offset and read_committed fetches.
    txns: TxnIndex,
    /// Whether `TRANSACTIONAL_MARKER` exists.
    transactional: bool,
    /// The cleaner's checkpoint: offsets below it have been compacted.
    first_dirty_offset: i64,
    /// The earliest delete horizon of the tombstones the last cleaning kept.
    next_tombstone_expiry: Option<i64>,
    /// A committed swap whose tidying failed: `(base, end, old segment bases)`, finished
    /// before the log's segments change again.
    pending_swap: Option<(i64, i64, Vec<i64>)>,
    /// A new segment file whose directory entry is not on stable storage yet: the next sync
    /// makes it so, or a power loss could take the file (and what was acknowledged in it).
    dir_unsynced: bool,
    /// An fsync failed: Linux may have dropped the pages it could not write, so a later
    /// successful fsync proves nothing about them. The recovery point no longer moves and no
    /// clean-shutdown marker is written until the next start, which then verifies the log.
    sync_failed: bool,
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
    /// Opens (or creates) the log in `dir`, recovering it if the last stop was not clean, with
    /// a cache of sealed segments' files of its own.
    pub fn open(dir: &Path, config: LogConfig, now_ms: i64) -> io::Result<Self> {
        Self::open_in(dir, config, now_ms, &SegmentFiles::new(OWN_OPEN_FILES))
    }

    /// As [`PartitionLog::open`], keeping sealed segments' files open in `files`, which the
    /// broker shares between its logs to cap how many are open at once.
    pub fn open_in(dir: &Path, config: LogConfig, now_ms: i64, files: &Arc<SegmentFiles>) -> io::Result<Self> {
        if !dir.exists() {
            disk::create_dir_all(dir)?;
            // The partition's own entry in the data dir, durable before anything is written in it.
            if let Some(parent) = dir.parent() {
                disk::sync_dir(parent)?;
            }
        }
        cleaner::recover_interrupted(dir)?;
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

        // Producer state: the snapshot taken at the last roll, if it is whole and its offset
        // still begins a segment, plus every batch from there; without one, the active
        // segment's (and any verified segment's) batches.
        let snapshot = std::fs::read_to_string(dir.join(PRODUCER_SNAPSHOT_FILE))
            .ok()
            .and_then(|t| ProducerStateTable::from_snapshot(&t))
            .filter(|(offset, _)| bases.contains(offset));
        let replay_from = snapshot.as_ref().map(|(offset, _)| *offset);
        let mut producers = snapshot.map(|(_, table)| table).unwrap_or_default();
        let mut segments = BTreeMap::new();
        let last_index = bases.len().saturating_sub(1);
        let mut cut_at: Option<usize> = None;
        for (i, &base) in bases.iter().enumerate() {
            // A segment past the last recovery point may hold a torn write: read it whole and
            // check every CRC. The active segment is walked to rebuild producer state.
            let next_base = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            let verify = !clean && next_base > recovery_point;
            let record_producers = match replay_from {
                Some(from) => base >= from,
                None => i == last_index || verify,
            };
            let (mut seg, outcome) = LogSegment::open(
                dir,
                base,
                config.index_interval_bytes,
                config.max_message_bytes,
                verify,
                now_ms,
                files,
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
            if outcome.truncated {
                segments.insert(base, seg);
                cut_at = Some(i + 1);
                break;
            }
            // Every segment but the last is sealed as soon as it is checked, so a partition
            // never holds more than a file or two open, however many segments it has. Indexes
            // rebuilt by recovery are written here.
            if i != last_index {
                seg.seal()?;
            }
            segments.insert(base, seg);
        }
        if let Some(first_dropped) = cut_at {
            // Nothing after a torn batch can be trusted to follow it in order.
            for &base in &bases[first_dropped..] {
                super::segment::remove_files(dir, base)?;
            }
        }
        if replay_from.is_some_and(|from| !segments.contains_key(&from)) {
            // A torn segment before the snapshot's offset was cut, with everything after it:
            // the snapshot counts batches that are gone. Start again from what is left.
            producers = ProducerStateTable::default();
            if let Some(last) = segments.values().next_back() {
                last.headers_from(0, |_, h, _| {
                    producers.record(h, h.max_timestamp);
                    true
                })?;
            }
        }
        if segments.is_empty() {
            let base = log_start_offset.max(0);
            segments.insert(base, LogSegment::create(dir, base, config.index_interval_bytes, now_ms, files)?);
        }
        let first_base = *segments.keys().next().expect("one segment");
        log_start_offset = log_start_offset.max(first_base);
        let mut log = PartitionLog {
            dir: dir.to_owned(),
            config,
            segments,
            files: Arc::clone(files),
            log_start_offset,
            recovery_point: 0,
            unflushed_records: 0,
            last_flush_ms: now_ms,
            producers,
            txns: TxnIndex::default(),
            transactional: dir.join(TRANSACTIONAL_MARKER).exists(),
            first_dirty_offset: std::fs::read_to_string(dir.join(CLEANER_CHECKPOINT_FILE))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0),
            next_tombstone_expiry: None,
            pending_swap: None,
            dir_unsynced: true,
            sync_failed: false,
        };
        log_start_offset = log.log_start_offset.min(log.next_offset());
        log.log_start_offset = log_start_offset;
        log.recovery_point = log.next_offset();
        if log.transactional {
            log.load_txns()?;
        }
        // The marker goes before anything is appended, durably: a marker that came back after a
        // power loss would make the next unclean stop look clean.
        match std::fs::remove_file(&clean_marker) {
            Ok(()) => disk::sync_dir(dir)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // Best effort: a broker restarted on a full disk still serves what it has.
        if let Err(e) = log.write_checkpoint() {
            tracing::warn!(dir = %dir.display(), error = %e, "writing the recovery checkpoint failed");
        }
        Ok(log)
    }

    /// The transaction index: the last snapshot (from a roll or a clean close) and the batches
    /// after its offset. Everything below that offset was synced before the snapshot was
    /// written, so recovery cuts below it only if the disk lost synced data; then, or without
    /// a whole snapshot, the whole log is replayed and a new snapshot written at once, so that
    /// the stale one is never believed once the log grows past it again.
    fn load_txns(&mut self) -> io::Result<()> {
        let snapshot = std::fs::read_to_string(self.dir.join(TXN_SNAPSHOT_FILE))
            .ok()
            .and_then(|t| TxnIndex::from_snapshot(&t))
            .filter(|(offset, _)| *offset <= self.next_offset());
        let usable = snapshot.is_some();
        let (from, txns) = snapshot.unwrap_or((i64::MIN, TxnIndex::default()));
        self.txns = txns;
        self.replay_txns(from)?;
        self.txns.trim(self.log_start_offset);
        if !usable {
            self.write_txn_snapshot(self.next_offset(), true);
        }
        Ok(())
    }

    /// Records every batch from `from` on in the transaction index, reading each marker's
    /// type from its batch: the log is the record of its transactions.
    fn replay_txns(&mut self, from: i64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut txns = std::mem::take(&mut self.txns);
        let mut failed = None;
        let walked = self.headers_from(from, |pos, h, file| {
            let control = if h.is_control() {
                let mut bytes = vec![0u8; h.total_len()];
                if let Err(e) = file.read_exact_at(&mut bytes, pos) {
                    failed = Some(e);
                    return false;
                }
                batch::control_type(&bytes)
            } else {
                None
            };
            txns.record(h, control);
            true
        });
        self.txns = txns;
        match failed {
            Some(e) => Err(e),
            None => walked,
        }
    }

    /// Writes the transaction index as of `offset` (every batch below it recorded). On
    /// failure the previous snapshot stays, which is still right for the batches after its
    /// own offset, unless `replaces_stale`: then it goes, and the next start replays.
    fn write_txn_snapshot(&self, offset: i64, replaces_stale: bool) {
        let path = self.dir.join(TXN_SNAPSHOT_FILE);
        if let Err(e) = disk::replace_file(&path, self.txns.snapshot(offset).as_bytes(), true) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "writing the transaction index snapshot failed");
            if replaces_stale {
                if let Err(e) = std::fs::remove_file(&path) {
                    if e.kind() != io::ErrorKind::NotFound {
                        tracing::warn!(dir = %self.dir.display(), error = %e, "removing a stale transaction index snapshot failed");
                    }
                }
            }
        }
    }

    fn active(&self) -> &LogSegment {
        self.segments.values().next_back().expect("a log always has a segment")
    }

    /// The base offset of the segment appends go to, which the cleaner never touches.
    #[cfg(test)]
    pub(super) fn active_base(&self) -> i64 {
        self.active().base_offset()
    }

    #[cfg(test)]
    pub(super) fn roll_for_test(&mut self, now_ms: i64) -> io::Result<()> {
        if self.active().is_empty() { Ok(()) } else { self.roll(now_ms) }
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
            if header.is_control() {
                return Err(Error::InvalidRecord("control batches are written by the broker only".to_owned()));
            }
            if header.is_transactional() && !header.has_producer_id() {
                return Err(Error::InvalidRecord("a transactional batch needs a producer id".to_owned()));
            }
            if self.config.cleanup_policy.compact {
                let keyed = record_filter::all_records_have_keys(&records[range.clone()])
                    .map_err(|e| Error::InvalidRecord(e.to_string()))?;
                if !keyed {
                    return Err(Error::InvalidRecord(
                        "a compacted topic cannot accept a record without a key".to_owned(),
                    ));
                }
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

        if !self.transactional && batches.iter().any(|(h, _)| h.is_transactional()) {
            self.mark_transactional()?;
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
        let written = written.and_then(|()| if due { self.sync() } else { Ok(()) });
        if let Err(e) = written {
            // Nothing of a failed request stays: the next append starts where this one did,
            // and a reader never sees its bytes (reads stop at the recorded size).
            self.active_mut().rollback(mark);
            return Err(self.io_error("appending to the log")(e));
        }
        for (header, _) in &batches {
            self.producers.record(header, header.max_timestamp);
            self.txns.record(header, None);
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

    /// Records, durably, that this log holds transactions, before the first is written: a log
    /// without the marker is not replayed on open.
    fn mark_transactional(&mut self) -> Result<()> {
        disk::replace_file(&self.dir.join(TRANSACTIONAL_MARKER), b"", true)
            .map_err(self.io_error("marking the log transactional"))?;
        self.transactional = true;
        Ok(())
    }

    /// The producers this partition remembers: (producer id, epoch, last sequence, last
    /// timestamp, first offset of its open transaction or -1), for DescribeProducers.
    pub fn active_producers(&self) -> Vec<(i64, i16, i32, i64, i64)> {
        let txn_start = |pid| self.txns.ongoing_first_offset(pid).unwrap_or(-1);
        self.producers.describe().map(|(pid, epoch, seq, ts)| (pid, epoch, seq, ts, txn_start(pid))).collect()
    }

    /// Whether `producer_id` has a transaction open in this partition.
    /// `producer.id.expiration.ms`: forgets idempotent producers idle that long here (never
    /// one with a transaction open here); returns how many.
    pub fn expire_producers(&mut self, now_ms: i64, max_age_ms: i64) -> usize {
        let txns = &self.txns;
        self.producers.expire(now_ms, max_age_ms, |pid| txns.is_ongoing(pid))
    }

    pub fn has_ongoing_txn(&self, producer_id: i64) -> bool {
        self.txns.is_ongoing(producer_id)
    }

    /// Ends `producer_id`'s transaction here with a commit or abort marker. Nothing is written
    /// when it has none open here (a marker written again after a restart, or a partition
    /// added to a transaction but never written to). Returns the marker's offset, if written.
    pub fn append_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        kind: ControlType,
        now_ms: i64,
    ) -> Result<Option<i64>> {
        if !self.txns.is_ongoing(producer_id) {
            return Ok(None);
        }
        let bytes = batch::control_batch(producer_id, epoch, kind, now_ms);
        let mut header = BatchHeader::parse(&bytes).map_err(Error::InvalidBatch)?;
        self.maybe_roll(bytes.len() as u64, now_ms).map_err(self.io_error("rolling a new segment"))?;
        let offset = self.next_offset();
        header.base_offset = offset;
        let mark = self.active().mark();
        let due = self.unflushed_records + 1 >= self.config.flush_interval_messages;
        let written = self.active_mut().append(&header, &bytes);
        let written = written.and_then(|()| if due { self.active_mut().flush() } else { Ok(()) });
        if let Err(e) = written {
            self.active_mut().rollback(mark);
            return Err(self.io_error("appending a transaction marker to the log")(e));
        }
        self.txns.record(&header, Some(kind));
        self.unflushed_records += 1;
        if due {
            self.flushed(now_ms);
        }
        Ok(Some(offset))
    }

    /// The aborted transactions a read_committed fetch from `from` needs to drop records.
    pub fn aborted_transactions(&self, from: i64) -> Vec<AbortedTxn> {
        self.txns.aborted_between(from, self.last_stable_offset())
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
        // A compacted log rolls by max.compaction.lag.ms too: the cleaner never reads the active segment.
        let roll_ms = match self.config.cleanup_policy.compact {
            true => self.config.segment_ms.min(self.config.max_compaction_lag_ms),
            false => self.config.segment_ms,
        };
        let old = now_ms - active.created_ms() > roll_ms;
        if active.is_empty() || !(full || old) {
            return Ok(());
        }
        self.roll(now_ms)
    }

    /// Seals the active segment and starts a new one at the log end.
    fn roll(&mut self, now_ms: i64) -> io::Result<()> {
        let base = self.active().next_offset();
        let interval = self.config.index_interval_bytes;
        // The closed segment will never change again: make it durable before moving on.
        self.sync()?;
        self.segments.insert(base, LogSegment::create(&self.dir, base, interval, now_ms, &self.files)?);
        // Synced just above: its file can close.
        if let Some((_, sealed)) = self.segments.range_mut(..base).next_back() {
            sealed.seal()?;
        }
        self.dir_unsynced = true;
        if let Err(e) = self.sync_dir() {
            // The next sync tries again; until then the new segment is only in the page cache.
            tracing::warn!(dir = %self.dir.display(), error = %e, "syncing the directory of a new segment failed");
        }
        // Every batch so far is below `base`. Without this file a start knows only the
        // producers of the active segment, and a retry of a batch just before the roll
        // would be written twice.
        let path = self.dir.join(PRODUCER_SNAPSHOT_FILE);
        if let Err(e) = disk::replace_file(&path, self.producers.snapshot(base).as_bytes(), true) {
            // The next start falls back to replaying the active segment.
            tracing::warn!(dir = %self.dir.display(), error = %e, "writing the producer state snapshot failed");
        }
        // Likewise for transactions: a start replays from here, not from the log's start.
        if self.transactional {
            self.write_txn_snapshot(base, false);
        }
        Ok(())
    }

    /// Forces the active segment (and, after a roll, the directory naming it) to stable
    /// storage. A failure is remembered: see `sync_failed`.
    fn sync(&mut self) -> io::Result<()> {
        let result = self.sync_dir().and_then(|()| self.active_mut().flush());
        if result.is_err() {
            self.sync_failed = true;
        }
        result
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        if self.dir_unsynced {
            disk::sync_dir(&self.dir)?;
            self.dir_unsynced = false;
        }
        Ok(())
    }

    /// The bytes to serve a fetch at `offset`: batches from the one holding `offset`, up to
    /// `max_bytes` (the last may be cut there). With `whole_first_batch`, the first batch is
    /// served whole even if larger, so a consumer always progresses. `Ok(None)` at the log end
    /// or when nothing fits; an error when the offset is out of range.
    pub fn read(&self, offset: i64, max_bytes: usize, whole_first_batch: bool) -> Result<Option<ReadSlice>> {
        self.read_below(offset, max_bytes, whole_first_batch, self.next_offset())
    }

    /// As [`PartitionLog::read`], for a read_committed fetch: nothing at or past the last
    /// stable offset is served.
    pub fn read_committed(&self, offset: i64, max_bytes: usize, whole_first_batch: bool) -> Result<Option<ReadSlice>> {
        self.read_below(offset, max_bytes, whole_first_batch, self.last_stable_offset())
    }

    /// Reads as `read` does, serving nothing at or past `upper`, which is a batch boundary.
    fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        whole_first_batch: bool,
        upper: i64,
    ) -> Result<Option<ReadSlice>> {
        let end = self.next_offset();
        if offset < self.log_start_offset || offset > end {
            return Err(Error::OffsetOutOfRange { offset, log_start: self.log_start_offset, log_end: end });
        }
        if offset >= upper {
            return Ok(None);
        }
        for (_, seg) in self.segments.range(..=offset).next_back().into_iter().chain(self.segments.range(offset + 1..))
        {
            if offset >= seg.next_offset() {
                continue;
            }
            let file = seg.file()?;
            if let Some((pos, first)) = seg.position_in(&file, offset)? {
                let stop = match upper < seg.next_offset() {
                    true => seg.position_in(&file, upper)?.map_or(seg.size(), |(p, _)| p),
                    false => seg.size(),
                };
                let available = stop.saturating_sub(pos) as usize;
                let limit = if whole_first_batch { max_bytes.max(first.total_len()) } else { max_bytes };
                let len = available.min(limit);
                return Ok((len > 0).then_some(ReadSlice { file, position: pos, len }));
            }
        }
        Ok(None)
    }

    /// Headers of the batches from the one holding `offset` on, across segments, until `f`
    /// says stop; `f` gets each batch's file too. Used by timestamp lookups and to replay
    /// transactions.
    fn headers_from(&self, offset: i64, mut f: impl FnMut(u64, &BatchHeader, &Arc<File>) -> bool) -> io::Result<()> {
        let mut go_on = true;
        for (_, seg) in self.segments.range(..=offset).next_back().into_iter().chain(self.segments.range(offset + 1..))
        {
            if !go_on {
                break;
            }
            let Some((pos, _)) = seg.position_of(offset)? else { continue };
            seg.headers_from(pos, |p, h, file| {
                go_on = f(p, h, file);
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
        self.headers_from(start, |pos, h, file| {
            if h.max_timestamp >= timestamp && h.last_offset() >= self.log_start_offset {
                found = Some((ReadSlice { file: Arc::clone(file), position: pos, len: h.total_len() }, *h));
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
            // Recorded (durably: an acknowledged deletion must not come back after a power
            // loss) before anything changes, so a failure leaves the log as it was.
            self.write_checkpoint_at(target, true)?;
            self.log_start_offset = target;
            self.drop_segments_below_start()?;
            self.txns.trim(self.log_start_offset);
        }
        Ok(self.log_start_offset)
    }

    fn drop_segments_below_start(&mut self) -> io::Result<()> {
        self.finish_pending_swap()?;
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
            let fresh = LogSegment::create(&self.dir, start, interval, super::now_ms(), &self.files)?;
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
        if !self.config.cleanup_policy.delete {
            return Ok(0);
        }
        self.finish_pending_swap()?;
        let mut deleted = 0;
        let mut total = self.size_bytes() as i64;
        while self.segments.len() > 1 {
            let first = self.segments.values().next().expect("len > 1");
            let too_old = self.config.retention_ms >= 0
                && first.max_timestamp() >= 0
                && now_ms - first.max_timestamp() > self.config.retention_ms;
            let too_big =
                self.config.retention_bytes >= 0 && total - first.size() as i64 >= self.config.retention_bytes;
            // A sealed segment the cleaner emptied holds nothing to keep.
            if !(too_old || too_big || first.is_empty()) {
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
            self.txns.trim(self.log_start_offset);
            self.write_checkpoint_at(self.log_start_offset, true)?;
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
        self.sync()?;
        self.flushed(now_ms);
        Ok(())
    }

    /// Records that everything appended so far is on stable storage.
    fn flushed(&mut self, now_ms: i64) {
        self.unflushed_records = 0;
        self.last_flush_ms = now_ms;
        if self.sync_failed {
            return;
        }
        self.recovery_point = self.next_offset();
        // The checkpoint only spares work at the next recovery: losing it loses nothing.
        if let Err(e) = self.write_checkpoint() {
            tracing::warn!(dir = %self.dir.display(), error = %e, "writing the recovery checkpoint failed");
        }
    }

    /// The recovery checkpoint, as a hint: losing it only costs work at the next recovery.
    fn write_checkpoint(&self) -> io::Result<()> {
        self.write_checkpoint_at(self.log_start_offset, false)
    }

    fn write_checkpoint_at(&self, log_start_offset: i64, durable: bool) -> io::Result<()> {
        let text = format!("{} {}\n", log_start_offset, self.recovery_point);
        disk::replace_file(&self.dir.join(CHECKPOINT_FILE), text.as_bytes(), durable)
    }

    /// Flushes everything and marks the stop as clean. The next open still checks each
    /// segment's tail, but need not verify whole segments. A log whose fsync ever failed is
    /// not marked: the next start verifies it.
    pub fn close(&mut self) -> io::Result<()> {
        self.flush(super::now_ms())?;
        if self.sync_failed {
            return Err(io::Error::other("an fsync failed earlier: the next start verifies this log"));
        }
        if self.transactional {
            self.write_txn_snapshot(self.next_offset(), false);
        }
        disk::create_marker(&self.dir.join(CLEAN_SHUTDOWN_FILE))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The first offset of the earliest transaction still open here, else the log end: what
    /// read_committed consumers may read up to, and what the cleaner never passes, so it never
    /// removes records of a transaction that may still abort.
    pub fn last_stable_offset(&self) -> i64 {
        self.txns.last_stable_offset(self.next_offset())
    }

    /// The dirty range the cleaner may clean now: from its checkpoint to the first offset it
    /// may not pass (the active segment, a segment younger than `min.compaction.lag.ms`, the
    /// last stable offset). The end is always a segment base.
    fn cleanable_range(&self, now_ms: i64) -> (i64, i64) {
        let active_base = self.active().base_offset();
        let mut upper = active_base.min(self.last_stable_offset());
        let lag = self.config.min_compaction_lag_ms;
        if lag > 0 {
            if let Some(young) = self
                .segments
                .values()
                .find(|s| s.base_offset() < upper && s.max_timestamp() > now_ms.saturating_sub(lag))
            {
                upper = young.base_offset();
            }
        }
        let first_base = self.segments.keys().next().copied().unwrap_or(0);
        let mut first_dirty = self.first_dirty_offset.max(self.log_start_offset).max(first_base);
        if first_dirty > self.next_offset() {
            // The log was emptied and refilled since: start over.
            first_dirty = self.log_start_offset;
        }
        (first_dirty.min(upper), upper)
    }

    /// Whether this log wants cleaning now, and how badly. `None` if it is not compacted or
    /// has nothing the cleaner may clean.
    pub fn clean_candidate(&self, now_ms: i64) -> Option<CleanCandidate> {
        if !self.config.cleanup_policy.compact {
            return None;
        }
        let (first_dirty, upper) = self.cleanable_range(now_ms);
        let (mut clean, mut dirty) = (0u64, 0u64);
        let mut first_dirty_segment = None;
        for s in self.segments.values().filter(|s| s.base_offset() < upper) {
            if s.next_offset() <= first_dirty {
                clean += s.size();
            } else {
                dirty += s.size();
                first_dirty_segment.get_or_insert(s);
            }
        }
        let dirty_ratio = if dirty == 0 { 0.0 } else { dirty as f64 / (clean + dirty) as f64 };
        let max_lag = self.config.max_compaction_lag_ms;
        let lagging = max_lag < i64::MAX
            && first_dirty_segment.is_some_and(|s| {
                matches!(s.position_of(first_dirty), Ok(Some((_, h))) if h.max_timestamp < now_ms.saturating_sub(max_lag))
            });
        let tombstones_due = self.next_tombstone_expiry.is_some_and(|t| t <= now_ms);
        let overdue = (dirty > 0 && lagging) || tombstones_due;
        let ready = (dirty > 0 && dirty_ratio > self.config.min_cleanable_dirty_ratio) || overdue;
        ready.then_some(CleanCandidate { dirty_ratio, dirty_bytes: dirty, overdue })
    }

    /// What a cleaning needs, taken under the partition lock: `None` if there is nothing to do.
    pub(super) fn begin_cleaning(&mut self, now_ms: i64) -> io::Result<Option<CleanJob>> {
        if !self.config.cleanup_policy.compact {
            return Ok(None);
        }
        self.finish_pending_swap()?;
        let (first_dirty, upper_bound) = self.cleanable_range(now_ms);
        let active_base = self.active().base_offset();
        let segments: Vec<SegmentRef> = self
            .segments
            .values()
            .filter(|s| s.base_offset() < active_base)
            .map(|s| SegmentRef { base: s.base_offset(), id: s.id(), next_offset: s.next_offset(), size: s.size() })
            .collect();
        if segments.first().is_none_or(|s| s.base >= upper_bound) {
            self.next_tombstone_expiry = None;
            return Ok(None);
        }
        Ok(Some(CleanJob {
            dir: self.dir.clone(),
            now_ms,
            segment_bytes: self.config.segment_bytes,
            index_interval_bytes: self.config.index_interval_bytes,
            delete_retention_ms: self.config.delete_retention_ms,
            segments,
            files: Arc::clone(&self.files),
            first_dirty,
            upper_bound,
            producer_last: self.producers.last_offsets().collect(),
            aborted: self.txns.aborted_between(self.log_start_offset, upper_bound),
        }))
    }

    /// The file of the sealed segment the cleaner saw as `segment`, for it to read without the
    /// lock; `None` if that segment is gone (retention, DeleteRecords or a swap removed it).
    pub(super) fn sealed_file(&self, segment: &SegmentRef) -> io::Result<Option<Arc<File>>> {
        match self.segments.get(&segment.base) {
            Some(s) if s.id() == segment.id => s.file().map(Some),
            _ => Ok(None),
        }
    }

    /// Swaps a cleaned segment in for the segments of `group`, if they are all still there as
    /// the cleaner read them (retention or DeleteRecords may have removed some meanwhile:
    /// then nothing changes and `false` comes back). Fetches reading the old segments keep
    /// reading them through their handles.
    pub(super) fn swap_cleaned(&mut self, group: &[SegmentRef], mut cleaned: LogSegment) -> io::Result<bool> {
        let unchanged =
            group.iter().all(|g| self.segments.get(&g.base).is_some_and(|s| s.id() == g.id && s.size() == g.size));
        let (Some(first), Some(last)) = (group.first(), group.last()) else { return Ok(false) };
        // The segment after the group bounds the range the swap replaces; the active segment
        // always follows, so a group is never the last.
        let end = self.segments.range(last.base + 1..).next().map(|(&b, _)| b);
        let (true, Some(end)) = (unchanged, end) else { return Ok(false) };
        let base = first.base;
        let swap = cleaner::swap_path(&self.dir, base, end);
        disk::rename(cleaned.log_path(), &swap)?;
        // Committed: a start finishes whatever of the tidying below does not happen.
        let old_bases: Vec<i64> = group.iter().map(|g| g.base).collect();
        for b in &old_bases {
            self.segments.remove(b);
        }
        cleaned.drop_suffix();
        // Until the swap is finished `<base>.log` is still the old segment's file: a sealed
        // segment's file is opened by name, so this one is the swap file until then.
        cleaned.set_log_path(swap);
        if let Err(e) = cleaned.seal() {
            // Its indexes were written when it was flushed; it keeps its handle open.
            tracing::warn!(dir = %self.dir.display(), segment = base, error = %e, "sealing a cleaned segment failed; it keeps its file open");
        }
        self.segments.insert(base, cleaned);
        match cleaner::finish_swap(&self.dir, base, end, &old_bases) {
            Ok(()) => self.swap_finished(base),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), segment = base, error = %e, "finishing a cleaned segment's swap failed; retried before the log changes again");
                self.pending_swap = Some((base, end, old_bases));
            }
        }
        Ok(true)
    }

    fn finish_pending_swap(&mut self) -> io::Result<()> {
        if let Some((base, end, old)) = self.pending_swap.take() {
            if let Err(e) = cleaner::finish_swap(&self.dir, base, end, &old) {
                self.pending_swap = Some((base, end, old));
                return Err(e);
            }
            self.swap_finished(base);
        }
        Ok(())
    }

    /// The swap file of the cleaned segment at `base` is now its `.log`.
    fn swap_finished(&mut self, base: i64) {
        if let Some(seg) = self.segments.get_mut(&base) {
            seg.set_log_path(self.dir.join(format!("{}.log", super::segment::file_stem(base))));
        }
    }

    /// Records a finished cleaning: offsets below `clean_end` are compacted.
    pub(super) fn finish_cleaning(&mut self, clean_end: i64, next_tombstone_expiry: Option<i64>) {
        self.first_dirty_offset = clean_end;
        self.next_tombstone_expiry = next_tombstone_expiry;
        // Losing the checkpoint costs only a cleaning that finds nothing to remove.
        let path = self.dir.join(CLEANER_CHECKPOINT_FILE);
        if let Err(e) = disk::replace_file(&path, format!("{clean_end}\n").as_bytes(), false) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "writing the cleaner checkpoint failed");
        }
    }

    /// The number of segments, for tests and logs.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

#[cfg(test)]
#[path = "descriptor_tests.rs"]
mod descriptor_tests;

#[cfg(test)]
mod txn_tests {
    use super::*;
    use crate::log::batch::tests::{sample_batch, set_epoch, set_transactional};

    fn txn_data(pid: i64, seq: i32) -> Vec<u8> {
        let mut b = sample_batch(2, 1, pid, seq);
        set_transactional(&mut b);
        b
    }

    /// An aborted transaction and an open one, the log closed cleanly or not, then reopened:
    /// from the snapshot or by replay, the same index.
    #[test]
    fn the_transaction_index_survives_clean_and_unclean_stops() {
        for clean in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let mut log = PartitionLog::open(dir.path(), LogConfig::default(), 1).unwrap();
            log.append(&txn_data(7, 0), 1).unwrap();
            log.append_marker(7, 0, ControlType::Abort, 1).unwrap();
            log.append(&txn_data(8, 0), 1).unwrap();
            assert_eq!((log.last_stable_offset(), log.next_offset()), (3, 5));
            if clean {
                log.close().unwrap();
                assert!(dir.path().join(TXN_SNAPSHOT_FILE).exists());
            }
            drop(log);
            let mut log = PartitionLog::open(dir.path(), LogConfig::default(), 1).unwrap();
            assert_eq!(log.last_stable_offset(), 3, "clean: {clean}");
            let aborted = log.aborted_transactions(0);
            assert_eq!(aborted, vec![AbortedTxn { producer_id: 7, first_offset: 0, last_offset: 2 }]);
            assert_eq!(log.append_marker(8, 0, ControlType::Commit, 1).unwrap(), Some(5));
            assert_eq!(log.append_marker(8, 0, ControlType::Commit, 1).unwrap(), None, "nothing open any more");
            assert_eq!(log.last_stable_offset(), 6);
        }
    }

    #[test]
    fn a_snapshot_past_the_log_end_is_not_used_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), LogConfig::default(), 1).unwrap();
        log.append(&txn_data(7, 0), 1).unwrap();
        log.close().unwrap();
        drop(log);
        // A snapshot that says nothing is open, taken past the log's end (as after a cut
        // below it): not believed, and rewritten so it is not believed later either.
        let empty = TxnIndex::default().snapshot(99);
        std::fs::write(dir.path().join(TXN_SNAPSHOT_FILE), empty).unwrap();
        let log = PartitionLog::open(dir.path(), LogConfig::default(), 1).unwrap();
        assert_eq!(log.last_stable_offset(), 0, "replayed: the transaction is still open");
        let text = std::fs::read_to_string(dir.path().join(TXN_SNAPSHOT_FILE)).unwrap();
        assert_eq!(TxnIndex::from_snapshot(&text).map(|(offset, _)| offset), Some(2), "a fresh snapshot at the end");
    }

    /// A roll writes the index as of the new segment's base; a start (clean or not) loads it
    /// and replays only what follows, so a long log's older segments are not read again.
    #[test]
    fn a_start_replays_transactions_only_after_the_last_rolls_snapshot() {
        for clean in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let mut log = PartitionLog::open(dir.path(), LogConfig::default(), 1).unwrap();
            log.append(&txn_data(7, 0), 1).unwrap();
            log.append_marker(7, 0, ControlType::Abort, 1).unwrap();
            log.append(&txn_data(8, 0), 1).unwrap();
            log.roll_for_test(1).unwrap();
            let text = std::fs::read_to_string(dir.path().join(TXN_SNAPSHOT_FILE)).unwrap();
            let (offset, _) = TxnIndex::from_snapshot(&text).unwrap();
            assert_eq!(offset, 5, "taken at the new segment's base");
            // After the roll: 8's transaction commits, 9 opens one.
            log.append_marker(8, 0, ControlType::Commit, 1).unwrap();
            log.append(&txn_data(9, 0), 1).unwrap();
            if clean {
                log.close().unwrap();
            }
            drop(log);
            let log = PartitionLog::open(dir.path(), LogConfig::default(), 1).unwrap();
            assert_eq!(log.last_stable_offset(), 6, "clean: {clean}: 9's transaction holds the LSO");
            let aborted = log.aborted_transactions(0);
            assert_eq!(aborted, vec![AbortedTxn { producer_id: 7, first_offset: 0, last_offset: 2 }]);
            drop(log);

            // Proof that the first segment is not read again: a snapshot at the active
            // segment's base that forgets the abort is believed.
            let mut forgetful = TxnIndex::default();
            forgetful.record(&BatchHeader::parse(&txn_data(8, 0)).unwrap(), None);
            let mut lied = forgetful.snapshot(5);
            lied = lied.replace("ongoing 8 0", "ongoing 8 3");
            std::fs::write(dir.path().join(TXN_SNAPSHOT_FILE), lied).unwrap();
            let log = PartitionLog::open(dir.path(), LogConfig::default(), 1).unwrap();
            assert!(log.aborted_transactions(0).is_empty(), "clean: {clean}: replayed from the snapshot only");
            assert_eq!(log.last_stable_offset(), 6);
        }
    }

    /// An idempotent producer's last batches, some before a roll: after a restart (clean or
    /// not) a retry of any of them is still recognised, and an older epoch still fenced.
    #[test]
    fn producer_state_survives_rolls_and_restarts() {
        use crate::log::producer_state::SequenceCheck;
        for clean in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let mut log = PartitionLog::open(dir.path(), LogConfig::default(), 1).unwrap();
            let mut batches = Vec::new();
            for i in 0..5 {
                let mut b = sample_batch(2, 1, 9, i * 2);
                set_epoch(&mut b, 3);
                log.append(&b, 1).unwrap();
                batches.push(b);
                if i % 2 == 1 {
                    log.roll_for_test(1).unwrap();
                }
            }
            if clean {
                log.close().unwrap();
            }
            drop(log);
            let mut log = PartitionLog::open(dir.path(), LogConfig::default(), 1).unwrap();
            for (i, b) in batches.iter().enumerate() {
                let header = batch::BatchHeader::parse(b).unwrap();
                assert!(
                    matches!(log.producers.check(&header), SequenceCheck::Duplicate { base_offset, .. } if base_offset == i as i64 * 2),
                    "batch {i} (clean: {clean})"
                );
            }
            let mut zombie = sample_batch(2, 1, 9, 10);
            set_epoch(&mut zombie, 2);
            assert!(log.append(&zombie, 1).is_err(), "an older epoch is fenced (clean: {clean})");
            let before = log.next_offset();
            log.append(&batches[0], 1).unwrap();
            assert_eq!(log.next_offset(), before, "a retry is not written again (clean: {clean})");
        }
    }

    #[test]
    fn client_control_batches_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), LogConfig::default(), 1).unwrap();
        let marker = batch::control_batch(7, 0, ControlType::Commit, 1);
        assert!(matches!(log.append(&marker, 1), Err(Error::InvalidRecord(_))));
        assert_eq!(log.next_offset(), 0);
    }
}
