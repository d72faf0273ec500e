//! What a partition's log holds open: its active segment's `.log` only, index files only while
//! a flush writes them, sealed segments' files only in the shared cache and only once read.

use super::*;
use crate::log::batch::tests::sample_batch;
use crate::log::disk::{Fault, FaultKind, WritePoint};

/// Descriptors this process holds open on files in `dir`.
fn open_in(dir: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

fn len_of(path: PathBuf) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// 20 sealed segments of one 3-record batch each (timestamps 0..20), and an empty active one.
fn twenty_sealed(dir: &Path, files: &Arc<SegmentFiles>) -> PartitionLog {
    let mut log = PartitionLog::open_in(dir, LogConfig::default(), 1, files).unwrap();
    for i in 0..20 {
        log.append(&sample_batch(3, i, -1, -1), 1).unwrap();
        log.roll_for_test(1).unwrap();
    }
    assert_eq!(log.segment_count(), 21);
    log
}

/// The active segment keeps its log open and nothing else; a sealed segment holds no
/// descriptor until it is read, and reads keep at most the cache's cap open. Its indexes
/// answer from memory, after a restart too.
#[test]
fn sealed_segments_hold_no_descriptor_until_read_and_then_at_most_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();
    let files = SegmentFiles::new(5);
    let mut log = twenty_sealed(&dir, &files);
    assert_eq!(open_in(&dir), 1, "the active segment's log only");

    let first = log.read(0, 1 << 20, true).unwrap().expect("offset 0 is in the first sealed segment");
    assert_eq!(open_in(&dir), 2);
    for offset in (0..60).step_by(3) {
        let slice = log.read(offset, 1 << 20, false).unwrap().expect("a sealed segment's batch");
        let header = BatchHeader::parse(&slice.read().unwrap()).unwrap();
        assert_eq!(header.base_offset, offset);
        assert!(open_in(&dir) <= 1 + 5 + 1, "{} open after reading offset {offset}", open_in(&dir));
    }
    assert_eq!(files.open_count(), 5);
    // The first segment's handle was evicted from the cache, but the slice keeps it open.
    assert_eq!(open_in(&dir), 1 + 5 + 1);
    assert_eq!(BatchHeader::parse(&first.read().unwrap()).unwrap().base_offset, 0);
    drop(first);
    assert_eq!(open_in(&dir), 1 + 5);

    // Timestamp lookups open what they read, through the same cache.
    let (slice, header) = log.find_timestamp(7).unwrap().expect("a batch at timestamp 7");
    assert_eq!((header.base_offset, header.max_timestamp), (21, 7));
    drop(slice);
    assert_eq!(files.open_count(), 5);

    log.close().unwrap();
    drop(log);
    assert_eq!(open_in(&dir), 0, "a dropped log's cached files close with it");
    assert_eq!(files.open_count(), 0);

    let mut log = PartitionLog::open_in(&dir, LogConfig::default(), 1, &files).unwrap();
    assert_eq!(open_in(&dir), 1, "a start leaves every sealed segment closed");
    let slice = log.read(31, 1 << 20, true).unwrap().expect("offset 31 is in a sealed segment");
    assert_eq!(BatchHeader::parse(&slice.read().unwrap()).unwrap().base_offset, 30);
    drop(slice);
    log.append(&sample_batch(3, 99, -1, -1), 1).unwrap();
    assert_eq!(log.next_offset(), 63);
    assert_eq!(open_in(&dir), 2);
}

/// Retention and DeleteRecords remove sealed segments whether their files are open or not,
/// and what they held open is closed.
#[test]
fn deleting_sealed_segments_closes_their_cached_files() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();
    let files = SegmentFiles::new(100);
    let mut log = twenty_sealed(&dir, &files);
    for offset in (0..60).step_by(3) {
        log.read(offset, 1 << 20, true).unwrap().unwrap();
    }
    assert_eq!(files.open_count(), 20);
    assert_eq!(log.delete_records_before(30).unwrap(), 30);
    assert_eq!(files.open_count(), 10);
    assert_eq!(open_in(&dir), 1 + 10);
    log.set_config(LogConfig { retention_ms: 10, ..LogConfig::default() });
    assert_eq!(log.enforce_retention(1_000).unwrap(), 10);
    assert_eq!(files.open_count(), 0);
    assert_eq!(open_in(&dir), 1);
    assert!(log.read(0, 1 << 20, true).is_err(), "below the log start");
}

/// Index entries stay in memory until the segment is flushed; the files are then written
/// whole, and a crash before that loses only what recovery rebuilds.
#[test]
fn index_entries_reach_their_files_at_flushes_and_a_crash_before_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();
    let config = LogConfig { index_interval_bytes: 1, flush_interval_ms: -1, ..LogConfig::default() };
    let index = dir.join(format!("{}.index", super::super::segment::file_stem(0)));
    let time_index = dir.join(format!("{}.timeindex", super::super::segment::file_stem(0)));
    let mut log = PartitionLog::open(&dir, config.clone(), 1).unwrap();
    for i in 0..10 {
        log.append(&sample_batch(2, 100 + i, -1, -1), 1).unwrap();
    }
    assert_eq!((len_of(index.clone()), len_of(time_index.clone())), (0, 0), "nothing written before a flush");
    assert_eq!(open_in(&dir), 1);
    log.flush(1).unwrap();
    assert_eq!((len_of(index.clone()), len_of(time_index.clone())), (10 * 8, 10 * 12));
    assert_eq!(open_in(&dir), 1, "written, fsynced and closed");
    for i in 10..20 {
        log.append(&sample_batch(2, 100 + i, -1, -1), 1).unwrap();
    }
    // A crash: the last ten batches' entries were never written.
    drop(log);
    assert_eq!(len_of(index.clone()), 10 * 8);
    let log = PartitionLog::open(&dir, config.clone(), 1).unwrap();
    for offset in 0..40 {
        let slice = log.read(offset, 1, true).unwrap().unwrap();
        let header = BatchHeader::parse(&slice.read().unwrap()).unwrap();
        assert_eq!(header.base_offset, offset / 2 * 2);
    }
    assert_eq!(log.find_timestamp(115).unwrap().unwrap().1.base_offset, 30);
    drop(log);
    // Re-indexed after the crash, the files are whole at the next clean stop.
    let mut log = PartitionLog::open(&dir, config, 1).unwrap();
    log.close().unwrap();
    assert_eq!((len_of(index), len_of(time_index)), (20 * 8, 20 * 12));
}

/// An index file missing its last entries (written by an older broker, cut by hand) is
/// trusted as a prefix and the batches after it indexed again on a clean start. Without
/// that, a new entry made after the start could hide a larger timestamp in the gap.
#[test]
fn a_clean_start_indexes_the_batches_after_an_index_files_last_entry() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { index_interval_bytes: 1, ..LogConfig::default() };
    let mut log = PartitionLog::open(dir.path(), config.clone(), 1).unwrap();
    log.append(&sample_batch(1, 100, -1, -1), 1).unwrap();
    log.append(&sample_batch(1, 500, -1, -1), 1).unwrap();
    log.close().unwrap();
    drop(log);
    let time_index = dir.path().join(format!("{}.timeindex", super::super::segment::file_stem(0)));
    std::fs::OpenOptions::new().write(true).open(&time_index).unwrap().set_len(12).unwrap();
    let mut log = PartitionLog::open(dir.path(), config, 1).unwrap();
    log.append(&sample_batch(1, 200, -1, -1), 1).unwrap();
    let (_, found) = log.find_timestamp(300).unwrap().unwrap();
    assert_eq!(found.base_offset, 1, "the batch at timestamp 500 is the first at or after 300");
}

/// A flush whose index write fails fails the append it was for (flush.messages=1): the batch
/// is rolled back in memory and in the files, and the next append writes every entry again.
#[test]
fn a_failed_index_write_at_a_flush_rolls_the_append_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { index_interval_bytes: 1, flush_interval_messages: 1, ..LogConfig::default() };
    let mut log = PartitionLog::open(dir.path(), config.clone(), 1).unwrap();
    log.append(&sample_batch(2, 100, -1, -1), 1).unwrap();
    let stem = super::super::segment::file_stem(0);
    for file in [format!("{stem}.index"), format!("{stem}.timeindex")] {
        let fault = crate::log::disk::inject(Fault::new(
            WritePoint::IndexAppend,
            dir.path().join(&file).to_str().unwrap(),
            FaultKind::NoSpace,
        ));
        assert!(log.append(&sample_batch(2, 200, -1, -1), 1).is_err(), "{file}");
        assert_eq!(fault.fired(), 1);
        drop(fault);
        assert_eq!(log.next_offset(), 2, "{file}: rolled back");
        assert_eq!(len_of(dir.path().join(format!("{stem}.log"))), log.size_bytes());
        assert_eq!(len_of(dir.path().join(format!("{stem}.index"))), 8, "{file}");
        assert_eq!(len_of(dir.path().join(format!("{stem}.timeindex"))), 12, "{file}");
    }
    log.append(&sample_batch(2, 300, -1, -1), 1).unwrap();
    assert_eq!(len_of(dir.path().join(format!("{stem}.index"))), 16);
    assert_eq!(len_of(dir.path().join(format!("{stem}.timeindex"))), 24);
    drop(log);
    let log = PartitionLog::open(dir.path(), config, 1).unwrap();
    assert_eq!(log.find_timestamp(250).unwrap().unwrap().1.base_offset, 2);
}
