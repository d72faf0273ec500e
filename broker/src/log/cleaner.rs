//! Log compaction: Kafka's `Cleaner`, for one partition's log.
//!
//! A compacted log has a clean part (already compacted, from the log start to the cleaner's
//! checkpoint) and a dirty part (written since, up to the first offset the cleaner may not pass:
//! the active segment, segments younger than `min.compaction.lag.ms`, and the last stable offset
//! once transactions exist). A cleaning maps each key of the dirty part to its last offset, then
//! recopies every segment from the log start to the end of what was mapped, keeping a record
//! iff it is the latest of its key (or past the mapped part), dropping tombstones whose batch's
//! delete horizon has passed, and keeping the header of each producer's last batch. Batches that
//! lose nothing are copied byte for byte. Small neighbouring segments are grouped into one.
//!
//! The work runs without the partition lock: sealed segments never change, and the cleaner
//! reads them through its own handles, taken (under the lock) one segment at a time so that a
//! cleaning holds a descriptor or two however long the log. The lock is also taken to
//! snapshot the segment list and for each swap. A swap is crash-safe: the cleaned segment is
//! written as `*.cleaned` files and fsynced, then one rename to `<base>.log.<end>.swap`
//! commits it (the name says which range of old segments it replaces), then the old segments
//! are removed and the swap file renamed to `<base>.log`. A start finds a leftover
//! `*.cleaned` (not committed: removed) or `*.swap` (committed: finished, its indexes
//! rebuilt) and always ends with one consistent log.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::batch::{self, BatchHeader};
use super::disk;
use super::offset_map::OffsetMap;
use super::partition_log::PartitionLog;
use super::record_filter::{self, DecodedBatch};
use super::segment::{self, LogSegment};
use super::segment_files::SegmentFiles;

/// Suffix of a committed swap file: `<base>.log.<end>.swap`.
const SWAP_SUFFIX: &str = ".swap";

/// How the cleaner works, from the broker's `log.cleaner.*` settings.
#[derive(Debug, Clone)]
pub struct CleaningOptions {
    /// Memory for the key → offset map of one cleaning (`log.cleaner.dedupe.buffer.size` / threads).
    pub dedupe_buffer_bytes: usize,
    /// Bytes read from a segment at a time.
    pub io_buffer_bytes: usize,
}

impl Default for CleaningOptions {
    fn default() -> Self {
        CleaningOptions { dedupe_buffer_bytes: 128 << 20, io_buffer_bytes: 1 << 20 }
    }
}

/// What one cleaning did, for the broker's log line and for tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanerStats {
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_read: u64,
    pub records_removed: u64,
    /// Segments replaced, and the segments that replaced them.
    pub segments_cleaned: usize,
    pub segments_written: usize,
    /// The first offset the next cleaning starts mapping from.
    pub first_dirty_offset: i64,
    pub duration: Duration,
}

impl CleanerStats {
    /// Bytes read and written per second, in MB/s (10^6 bytes).
    pub fn mb_per_sec(&self) -> f64 {
        let secs = self.duration.as_secs_f64().max(1e-9);
        (self.bytes_read + self.bytes_written) as f64 / 1e6 / secs
    }
}

/// The cleaners' shared I/O budget (`log.cleaner.io.max.bytes.per.second`): every byte read or
/// written by any cleaner thread counts, and a thread over the rate sleeps until it is not.
#[derive(Debug)]
pub struct Throttle {
    bytes_per_sec: f64,
    window: Mutex<(Instant, u64)>,
    wake: Condvar,
}

impl Throttle {
    /// At most `bytes_per_sec`; infinite (or any non-positive value) is no limit.
    pub fn new(bytes_per_sec: f64) -> Self {
        Throttle { bytes_per_sec, window: Mutex::new((Instant::now(), 0)), wake: Condvar::new() }
    }

    /// Wakes every sleeping thread (they check their cancel flag and stop).
    pub fn wake_all(&self) {
        self.wake.notify_all();
    }

    fn consume(&self, bytes: u64, cancel: &AtomicBool) {
        if !(self.bytes_per_sec.is_finite() && self.bytes_per_sec > 0.0) {
            return;
        }
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.1 += bytes;
        loop {
            let elapsed = w.0.elapsed();
            let needed = Duration::from_secs_f64(w.1 as f64 / self.bytes_per_sec);
            if needed <= elapsed || cancel.load(Ordering::Relaxed) {
                break;
            }
            w = self.wake.wait_timeout(w, needed - elapsed).unwrap_or_else(|p| p.into_inner()).0;
        }
        // A fresh window every second, so an idle spell is not saved up as a burst.
        if w.0.elapsed() > Duration::from_secs(1) {
            *w = (Instant::now(), 0);
        }
    }
}

/// A sealed segment as the cleaner saw it. Its `id` tells whether the segment at `base` is
/// still this one when its file is taken or a cleaned copy is swapped in.
#[derive(Debug, Clone)]
pub(super) struct SegmentRef {
    pub(super) base: i64,
    pub(super) id: u64,
    pub(super) next_offset: i64,
    pub(super) size: u64,
}

/// What the cleaner took from the log under the lock.
#[derive(Debug)]
pub(super) struct CleanJob {
    pub(super) dir: std::path::PathBuf,
    pub(super) now_ms: i64,
    pub(super) segment_bytes: u64,
    pub(super) index_interval_bytes: u64,
    pub(super) delete_retention_ms: i64,
    /// Every sealed segment, in order (the active segment is never cleaned).
    pub(super) segments: Vec<SegmentRef>,
    /// The log's file cache, which the cleaned segments join once swapped in.
    pub(super) files: Arc<SegmentFiles>,
    pub(super) first_dirty: i64,
    /// The first offset the cleaner must not pass (a segment base).
    pub(super) upper_bound: i64,
    /// The last offset of each producer's last batch known to the log's producer state.
    pub(super) producer_last: HashMap<i64, i64>,
    /// The aborted transactions of the log, whose records the cleaner removes.
    pub(super) aborted: Vec<super::AbortedTxn>,
}

fn cancelled() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "cleaning cancelled")
}

/// Reads the batches of one segment in order, a large block at a time.
struct BatchReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    buf_at: u64,
    chunk: usize,
    read: u64,
}

impl<'a> BatchReader<'a> {
    fn new(file: &'a File, seg: &SegmentRef, chunk: usize) -> Self {
        BatchReader { file, pos: 0, end: seg.size, buf: Vec::new(), buf_at: 0, chunk, read: 0 }
    }

    fn fill(&mut self, at: u64, need: usize) -> io::Result<()> {
        let have = self.buf_at <= at && at + need as u64 <= self.buf_at + self.buf.len() as u64;
        if have {
            return Ok(());
        }
        let len = (self.end - at).min(need.max(self.chunk) as u64) as usize;
        // What the buffer already holds from `at` on moves to the front and is not read again.
        let buf_end = self.buf_at + self.buf.len() as u64;
        let kept = if self.buf_at <= at && at < buf_end { (buf_end - at) as usize } else { 0 };
        self.buf.drain(..self.buf.len() - kept);
        self.buf.resize(len, 0);
        self.file.read_exact_at(&mut self.buf[kept..], at + kept as u64)?;
        self.buf_at = at;
        self.read += (len - kept) as u64;
        Ok(())
    }

    /// The next batch: its header and bytes. A stored batch that does not parse ends the
    /// cleaning with an error (the segment was checked when the log was opened).
    fn next_batch(&mut self) -> io::Result<Option<(BatchHeader, &[u8])>> {
        if self.pos + batch::HEADER_LEN as u64 > self.end {
            return Ok(None);
        }
        self.fill(self.pos, batch::HEADER_LEN)?;
        let at = (self.pos - self.buf_at) as usize;
        let header = BatchHeader::parse(&self.buf[at..])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("stored batch at {}: {e}", self.pos)))?;
        let len = header.total_len();
        if self.pos + len as u64 > self.end {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "stored batch runs past the segment end"));
        }
        self.fill(self.pos, len)?;
        let at = (self.pos - self.buf_at) as usize;
        self.pos += len as u64;
        Ok(Some((header, &self.buf[at..at + len])))
    }
}

/// What to write for one batch.
enum Kept {
    Original,
    Rebuilt(Vec<u8>),
    Dropped,
}

/// The decisions of one cleaning, shared by every batch it recopies.
struct Filter<'a> {
    map: &'a OffsetMap,
    producer_last: &'a HashMap<i64, i64>,
    aborted: &'a [super::AbortedTxn],
    now_ms: i64,
    delete_retention_ms: i64,
    /// The earliest delete horizon of a batch that still holds tombstones.
    next_expiry: Option<i64>,
}

impl Filter<'_> {
    fn filter(&mut self, header: &BatchHeader, bytes: &[u8], stats: &mut CleanerStats) -> io::Result<Kept> {
        // Records of an aborted transaction go at once, as in Kafka; a producer's last batch
        // stays, emptied, for its sequence numbers.
        let aborted = header.is_transactional()
            && !header.is_control()
            && self.aborted.iter().any(|a| {
                a.producer_id == header.producer_id
                    && a.first_offset <= header.base_offset
                    && header.base_offset <= a.last_offset
            });
        if aborted {
            stats.records_read += header.records_count.max(0) as u64;
            stats.records_removed += header.records_count.max(0) as u64;
            let last_of_producer = self.producer_last.get(&header.producer_id) == Some(&header.last_offset());
            return Ok(match last_of_producer {
                true => Kept::Rebuilt(record_filter::empty_batch(bytes, header)?),
                false => Kept::Dropped,
            });
        }
        // Other transactional batches are kept whole, markers included, and their keys are not
        // mapped: an aborted record must never supersede a committed one. Kafka also removes
        // markers after delete.retention.ms; this cleaner keeps them, compacting less, never wrongly.
        if header.is_transactional() || header.base_offset > self.map.latest_offset() {
            stats.records_read += header.records_count.max(0) as u64;
            return Ok(Kept::Original);
        }
        let decoded = DecodedBatch::decode(bytes)?;
        stats.records_read += decoded.records.len() as u64;
        let horizon = decoded.delete_horizon();
        let retain_deletes = horizon.is_none_or(|h| self.now_ms < h);
        let keep: Vec<bool> = decoded
            .records
            .iter()
            .map(|r| {
                if r.offset > self.map.latest_offset() {
                    return true;
                }
                // Records without a key (written before the topic was compacted) go, as in Kafka.
                let Some(key) = decoded.key(r) else { return false };
                let latest = self.map.get(key).is_none_or(|o| r.offset >= o);
                latest && (r.has_value || retain_deletes)
            })
            .collect();
        let kept = keep.iter().filter(|k| **k).count();
        stats.records_removed += (decoded.records.len() - kept) as u64;
        let last_of_producer =
            header.has_producer_id() && self.producer_last.get(&header.producer_id) == Some(&header.last_offset());
        if kept == 0 {
            return Ok(match (last_of_producer, decoded.records.is_empty()) {
                (true, true) => Kept::Original,
                (true, false) => Kept::Rebuilt(record_filter::empty_batch(bytes, header)?),
                (false, _) => Kept::Dropped,
            });
        }
        let tombstones = decoded.records.iter().zip(&keep).any(|(r, k)| *k && !r.has_value);
        let new_horizon =
            (tombstones && horizon.is_none()).then(|| self.now_ms.saturating_add(self.delete_retention_ms));
        if tombstones {
            let h = horizon.or(new_horizon).unwrap_or(i64::MAX);
            self.next_expiry = Some(self.next_expiry.map_or(h, |e| e.min(h)));
        }
        if kept == decoded.records.len() && new_horizon.is_none() {
            return Ok(Kept::Original);
        }
        Ok(Kept::Rebuilt(decoded.rebuild(&keep, new_horizon, bytes)?))
    }
}

/// Groups consecutive segments to clean into one output segment each: the inputs of a group
/// together stay within `segment.bytes` and 4 GiB of file positions, and its offsets within
/// the index's 32-bit relative offsets.
fn group_segments(segments: &[SegmentRef], max_bytes: u64) -> Vec<std::ops::Range<usize>> {
    let max_bytes = max_bytes.min(u32::MAX as u64);
    let mut groups = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let mut end = start + 1;
        let mut size = segments[start].size;
        while end < segments.len()
            && size + segments[end].size <= max_bytes
            && segments[end].next_offset - 1 - segments[start].base <= i32::MAX as i64
        {
            size += segments[end].size;
            end += 1;
        }
        groups.push(start..end);
        start = end;
    }
    groups
}

/// Cleans the log behind `lock` once, if it is compacted, as of `now_ms` (which decides
/// `min.compaction.lag.ms` and the tombstones' delete horizons). `None` when there was nothing
/// to do, or the log changed under the cleaning (it is tried again later).
pub fn clean(
    lock: &Mutex<Option<PartitionLog>>,
    options: &CleaningOptions,
    throttle: &Throttle,
    cancel: &AtomicBool,
    now_ms: i64,
) -> io::Result<Option<CleanerStats>> {
    let started = Instant::now();
    let with_log = |f: &mut dyn FnMut(&mut PartitionLog) -> io::Result<()>| -> io::Result<()> {
        let mut guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(log) => f(log),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "the log was deleted")),
        }
    };
    let mut job = None;
    with_log(&mut |log| {
        job = log.begin_cleaning(now_ms)?;
        Ok(())
    })?;
    let Some(job) = job else { return Ok(None) };
    let mut stats = CleanerStats::default();
    // A segment's file, if the segment is still in the log: `None` means the log changed
    // under the cleaning, which then stops and is tried again later.
    let file_of = |seg: &SegmentRef| -> io::Result<Option<Arc<File>>> {
        let mut file = None;
        with_log(&mut |log| {
            file = log.sealed_file(seg)?;
            Ok(())
        })?;
        Ok(file)
    };

    // Pass 1: the key map over the dirty part, and every producer's last batch.
    let mut map = OffsetMap::new(options.dedupe_buffer_bytes);
    map.mapped_through(job.first_dirty - 1);
    let mut producer_last = job.producer_last.clone();
    let mut map_full = false;
    for seg in &job.segments {
        let Some(file) = file_of(seg)? else { return Ok(None) };
        let mut reader = BatchReader::new(&file, seg, options.io_buffer_bytes);
        while let Some((header, bytes)) = reader.next_batch()? {
            if cancel.load(Ordering::Relaxed) {
                return Err(cancelled());
            }
            if header.has_producer_id() {
                let e = producer_last.entry(header.producer_id).or_insert(i64::MIN);
                *e = (*e).max(header.last_offset());
            }
            let dirty = header.last_offset() >= job.first_dirty && header.base_offset < job.upper_bound;
            if !dirty || map_full || header.is_transactional() {
                continue;
            }
            let decoded = DecodedBatch::decode(bytes)?;
            if map.len() > 0 && map.would_overflow(decoded.records.len()) {
                // The rest is cleaned next time, from here.
                map_full = true;
                continue;
            }
            for r in &decoded.records {
                if let Some(key) = decoded.key(r) {
                    map.put(key, r.offset);
                }
            }
            map.mapped_through(header.last_offset());
        }
        stats.bytes_read += reader.read;
        throttle.consume(reader.read, cancel);
        if cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
    }
    let clean_end = (map.latest_offset() + 1).clamp(job.first_dirty, job.upper_bound);

    // Pass 2: recopy every segment up to the end of what was mapped, a group at a time.
    let to_clean: Vec<SegmentRef> = job.segments.iter().filter(|s| s.base < clean_end).cloned().collect();
    let mut filter = Filter {
        map: &map,
        producer_last: &producer_last,
        aborted: &job.aborted,
        now_ms: job.now_ms,
        delete_retention_ms: job.delete_retention_ms,
        next_expiry: None,
    };
    for group in group_segments(&to_clean, job.segment_bytes) {
        let group = &to_clean[group];
        let base = group[0].base;
        let written = clean_group(&job, group, &file_of, &mut filter, options, throttle, cancel, &mut stats);
        let (cleaned, changed) = match written {
            Ok(Some(w)) => w,
            Ok(None) => {
                // A segment of the group went meanwhile.
                let _ = segment::remove_cleaned_files(&job.dir, base);
                return Ok(None);
            }
            Err(e) => {
                let _ = segment::remove_cleaned_files(&job.dir, base);
                return Err(e);
            }
        };
        if !changed && group.len() == 1 {
            let _ = segment::remove_cleaned_files(&job.dir, base);
            continue;
        }
        let mut swapped = false;
        let mut cleaned = Some(cleaned);
        let result = with_log(&mut |log| {
            swapped = log.swap_cleaned(group, cleaned.take().expect("swapped once"))?;
            Ok(())
        });
        if let Err(e) = result {
            let _ = segment::remove_cleaned_files(&job.dir, base);
            return Err(e);
        }
        if !swapped {
            // Retention or DeleteRecords removed some of these segments meanwhile.
            let _ = segment::remove_cleaned_files(&job.dir, base);
            return Ok(None);
        }
        stats.segments_cleaned += group.len();
        stats.segments_written += 1;
    }
    let next_expiry = filter.next_expiry;
    with_log(&mut |log| {
        log.finish_cleaning(clean_end, next_expiry);
        Ok(())
    })?;
    stats.first_dirty_offset = clean_end;
    stats.duration = started.elapsed();
    Ok(Some(stats))
}

/// Writes the cleaned copy of `group` as `*.cleaned` files, fsynced. Returns it and whether
/// anything changed; `None` when a segment of the group is gone from the log (`file_of`).
#[allow(clippy::too_many_arguments)]
fn clean_group(
    job: &CleanJob,
    group: &[SegmentRef],
    file_of: &dyn Fn(&SegmentRef) -> io::Result<Option<Arc<File>>>,
    filter: &mut Filter<'_>,
    options: &CleaningOptions,
    throttle: &Throttle,
    cancel: &AtomicBool,
    stats: &mut CleanerStats,
) -> io::Result<Option<(LogSegment, bool)>> {
    let mut out = LogSegment::create_cleaned(&job.dir, group[0].base, job.index_interval_bytes, &job.files)?;
    let mut changed = false;
    for seg in group {
        let Some(file) = file_of(seg)? else { return Ok(None) };
        let mut reader = BatchReader::new(&file, seg, options.io_buffer_bytes);
        let mut written = 0u64;
        while let Some((header, bytes)) = reader.next_batch()? {
            if cancel.load(Ordering::Relaxed) {
                return Err(cancelled());
            }
            match filter.filter(&header, bytes, stats)? {
                Kept::Original => {
                    out.append(&header, bytes)?;
                    written += bytes.len() as u64;
                }
                Kept::Rebuilt(new) => {
                    let h = BatchHeader::parse(&new).map_err(|e| io::Error::other(e.to_string()))?;
                    out.append(&h, &new)?;
                    written += new.len() as u64;
                    changed = true;
                }
                Kept::Dropped => changed = true,
            }
        }
        stats.bytes_read += reader.read;
        stats.bytes_written += written;
        throttle.consume(reader.read + written, cancel);
        if cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
    }
    out.flush()?;
    Ok(Some((out, changed)))
}

/// The name of the swap file that commits a cleaned segment at `base` replacing the segments
/// with bases in `[base, end)`.
pub(super) fn swap_path(dir: &Path, base: i64, end: i64) -> std::path::PathBuf {
    dir.join(format!("{}.log.{}{SWAP_SUFFIX}", segment::file_stem(base), segment::file_stem(end)))
}

fn parse_swap_name(name: &str) -> Option<(i64, i64)> {
    let rest = name.strip_suffix(SWAP_SUFFIX)?;
    let (base, end) = rest.split_once(".log.")?;
    Some((base.parse().ok()?, end.parse().ok()?))
}

/// Finishes a committed swap: the old segments of `[base, end)` go, the cleaned indexes (if
/// still there) take the segment's index names, and the swap file becomes `<base>.log`.
/// Idempotent: a start repeats it after a crash at any step.
pub(super) fn finish_swap(dir: &Path, base: i64, end: i64, old_bases: &[i64]) -> io::Result<()> {
    // The commit must be on disk before anything it replaces goes.
    disk::sync_dir(dir)?;
    for &b in old_bases.iter().filter(|&&b| b > base && b < end) {
        segment::remove_files(dir, b)?;
    }
    let stem = segment::file_stem(base);
    for ext in ["index", "timeindex"] {
        let cleaned = dir.join(format!("{stem}.{ext}{}", segment::CLEANED_SUFFIX));
        let target = dir.join(format!("{stem}.{ext}"));
        if cleaned.exists() {
            disk::rename(&cleaned, &target)?;
        } else {
            // Not knowing which log they index, the start rebuilds them.
            disk::remove_file(&target)?;
        }
    }
    disk::rename(&swap_path(dir, base, end), &dir.join(format!("{stem}.log")))?;
    disk::sync_dir(dir)
}

/// Run before a log is opened: removes a cleaning's uncommitted files and finishes its
/// committed swaps. A finished swap's indexes are removed, so the open rebuilds them.
pub(super) fn recover_interrupted(dir: &Path) -> io::Result<()> {
    let names: Vec<String> =
        std::fs::read_dir(dir)?.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect();
    let mut swaps: Vec<(i64, i64)> = names.iter().filter_map(|n| parse_swap_name(n)).collect();
    if swaps.is_empty() && !names.iter().any(|n| n.ends_with(segment::CLEANED_SUFFIX)) {
        return Ok(());
    }
    for name in names.iter().filter(|n| n.ends_with(segment::CLEANED_SUFFIX)) {
        disk::remove_file(&dir.join(name))?;
    }
    let bases: Vec<i64> = names.iter().filter_map(|n| n.strip_suffix(".log")?.parse().ok()).collect();
    swaps.sort_unstable();
    for (base, end) in swaps {
        tracing::warn!(dir = %dir.display(), segment = base, "finishing a cleaned segment's swap interrupted by a crash");
        finish_swap(dir, base, end, &bases)?;
    }
    disk::sync_dir(dir)
}

#[cfg(test)]
#[path = "cleaner_tests.rs"]
mod tests;

#[cfg(test)]
mod names {
    use super::*;

    #[test]
    fn swap_names_round_trip() {
        let p = swap_path(Path::new("/d"), 5, 1234);
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, "00000000000000000005.log.00000000000000001234.swap");
        assert_eq!(parse_swap_name(name), Some((5, 1234)));
        assert_eq!(parse_swap_name("00000000000000000005.log"), None);
    }
}
