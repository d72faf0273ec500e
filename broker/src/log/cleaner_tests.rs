//! The cleaner on a real log in a temporary directory, in the shape of Kafka's
//! LogCleanerTest and LogCleanerParameterizedIntegrationTest.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;
use crate::log::batch::BatchIter;
use crate::log::disk::{Fault, FaultKind, WritePoint};
use crate::log::{CleanupPolicy, LogConfig};

const CODECS: [Compression; 5] =
    [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];
const NOW: i64 = 1_700_000_000_000;

fn compacted() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        flush_interval_ms: -1,
        cleanup_policy: CleanupPolicy { delete: false, compact: true },
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

/// (key, value) pairs; `None` value is a tombstone.
type Kv = (Option<String>, Option<String>);

fn encode(kvs: &[Kv], codec: Compression, producer: Option<(i64, i32)>, ts: i64) -> Bytes {
    let (pid, seq) = producer.unwrap_or((-1, -1));
    let recs: Vec<Record> = kvs
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: if pid >= 0 { 0 } else { -1 },
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: if seq < 0 { -1 } else { seq + i as i32 },
            timestamp: ts + i as i64,
            key: k.as_ref().map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: v.as_ref().map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, recs.iter(), &RecordEncodeOptions { version: 2, compression: codec }).unwrap();
    buf.freeze()
}

fn kv(k: &str, v: Option<&str>) -> Kv {
    (Some(k.to_owned()), v.map(str::to_owned))
}

/// Every record of the log, (offset, key, value), and every batch header, read as a fetch would.
type Stored = (i64, Option<Bytes>, Option<Bytes>);

fn read_all(log: &PartitionLog) -> (Vec<Stored>, Vec<BatchHeader>) {
    let (mut records, mut headers) = (Vec::new(), Vec::new());
    let mut next = log.log_start_offset();
    while let Some(slice) = log.read(next, 1 << 16, true).unwrap() {
        let bytes = slice.read().unwrap();
        for item in BatchIter::new(&bytes) {
            let Ok((h, range)) = item else { break };
            let set = RecordBatchDecoder::decode(&mut bytes.slice(range)).unwrap();
            records.extend(set.records.into_iter().map(|r| (r.offset, r.key, r.value)));
            headers.push(h);
            next = h.last_offset() + 1;
        }
    }
    (records, headers)
}

/// key → (value, offset) of the latest record of each key.
fn latest(records: &[Stored]) -> BTreeMap<Bytes, (Option<Bytes>, i64)> {
    let mut m = BTreeMap::new();
    for (o, k, v) in records {
        m.insert(k.clone().unwrap(), (v.clone(), *o));
    }
    m
}

fn run(log: &Mutex<Option<PartitionLog>>, now: i64) -> io::Result<Option<CleanerStats>> {
    clean(log, &CleaningOptions::default(), &Throttle::new(f64::INFINITY), &AtomicBool::new(false), now)
}

fn with<T>(log: &Mutex<Option<PartitionLog>>, f: impl FnOnce(&mut PartitionLog) -> T) -> T {
    f(log.lock().unwrap().as_mut().unwrap())
}

/// 600 updates over 40 keys, 5 a batch, a tombstone now and then.
fn fill(log: &mut PartitionLog, codec: Compression) {
    fill_batches(log, codec, 120);
}

fn fill_batches(log: &mut PartitionLog, codec: Compression, batches: usize) {
    for b in 0..batches {
        let kvs: Vec<Kv> = (0..5)
            .map(|i| {
                let n = b * 5 + i;
                let key = format!("key-{}", (n * 7) % 40);
                let value = (n % 37 != 0).then(|| format!("value-{n}-{}", "x".repeat(n % 20)));
                (Some(key), value)
            })
            .collect();
        log.append(&encode(&kvs, codec, None, NOW + b as i64), NOW).unwrap();
    }
}

#[test]
fn every_codec_keeps_the_latest_record_of_every_key_at_its_offset() {
    for codec in CODECS {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), compacted(), NOW).unwrap();
        fill(&mut log, codec);
        let (before, _) = read_all(&log);
        let size_before = log.size_bytes();
        let end = log.next_offset();
        let lock = Mutex::new(Some(log));
        let stats = run(&lock, NOW).unwrap().expect("a cleaning");
        assert!(stats.records_removed > 400, "{codec:?}: {stats:?}");
        with(&lock, |log| {
            let (after, headers) = read_all(log);
            assert_eq!(latest(&before), latest(&after), "{codec:?}: key → (value, offset) unchanged");
            assert!(after.windows(2).all(|w| w[0].0 < w[1].0), "order and offsets kept");
            // The active segment is not mapped: below it, each key keeps its latest record there.
            let active = log.active_base();
            let sealed: Vec<_> = before.iter().filter(|(o, _, _)| *o < active).cloned().collect();
            for (o, k, _) in after.iter().filter(|(o, _, _)| *o < active) {
                assert_eq!(
                    latest(&sealed)[k.as_ref().unwrap()].1,
                    *o,
                    "{codec:?}: only latest records below the active segment"
                );
            }
            for h in headers.iter().filter(|h| h.records_count > 0) {
                assert_eq!(h.attributes & 7, codec as i16, "{codec:?}: rewritten with its codec");
            }
            assert_eq!(log.next_offset(), end);
            assert!(log.size_bytes() < size_before / 3, "{codec:?}: {} of {size_before}", log.size_bytes());
            // A read at a removed offset starts at the next record kept.
            let removed = (0..end).find(|o| !after.iter().any(|(a, _, _)| a == o)).unwrap();
            let next = after.iter().find(|(a, _, _)| *a > removed).unwrap().0;
            let slice = log.read(removed, 1 << 16, true).unwrap().unwrap();
            let h = BatchHeader::parse(&slice.read().unwrap()).unwrap();
            assert!(h.base_offset <= next && h.last_offset() >= next);
        });
        // Cleaning again finds nothing more to remove, and the cleaned log reopens the same.
        assert_eq!(run(&lock, NOW).unwrap().map_or(0, |s| s.records_removed), 0);
        let (after, _) = with(&lock, |log| read_all(log));
        drop(lock);
        let log = PartitionLog::open(dir.path(), compacted(), NOW).unwrap();
        assert_eq!(read_all(&log).0, after, "{codec:?}: the same after a restart");
    }
}

/// With one sealed segment's file open at a time, broker-wide, a cleaning still reads every
/// segment (each opened as the cleaner comes to it), and a slice read before the cleaning,
/// whose handle was evicted and whose segment was replaced, still reads its bytes.
#[test]
fn a_cleaning_works_with_one_sealed_file_open_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let files = SegmentFiles::new(1);
    let mut log = PartitionLog::open_in(dir.path(), compacted(), NOW, &files).unwrap();
    fill(&mut log, Compression::None);
    assert!(log.segment_count() > 10);
    let (before, _) = read_all(&log);
    let held = log.read(0, 1 << 16, true).unwrap().unwrap();
    let lock = Mutex::new(Some(log));
    let stats = run(&lock, NOW).unwrap().expect("a cleaning");
    assert!(stats.records_removed > 400, "{stats:?}");
    assert!(files.open_count() <= 1);
    with(&lock, |log| assert_eq!(latest(&read_all(log).0), latest(&before)));
    assert_eq!(BatchHeader::parse(&held.read().unwrap()).unwrap().base_offset, 0);
}

#[test]
fn small_cleaned_segments_are_grouped_and_a_small_key_map_cleans_in_several_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compacted(), NOW).unwrap();
    fill(&mut log, Compression::None);
    let segments = log.segment_count();
    let (before, _) = read_all(&log);
    let lock = Mutex::new(Some(log));
    // Room for 12 keys a pass: the dirty part is mapped in pieces.
    let options =
        CleaningOptions { dedupe_buffer_bytes: 12 * super::super::offset_map::BYTES_PER_ENTRY, io_buffer_bytes: 700 };
    let mut passes = 0;
    while let Some(stats) = clean(&lock, &options, &Throttle::new(f64::INFINITY), &AtomicBool::new(false), NOW).unwrap()
    {
        passes += 1;
        if stats.first_dirty_offset == with(&lock, |l| l.active_base()) {
            break;
        }
        assert!(passes < 100);
    }
    assert!(passes > 1, "{passes}");
    with(&lock, |log| {
        let (after, _) = read_all(log);
        assert_eq!(latest(&before), latest(&after));
        assert!(log.segment_count() < segments / 3, "{} of {segments} segments", log.segment_count());
    });
}

#[test]
fn tombstones_stay_delete_retention_ms_after_cleaning_then_go() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig { delete_retention_ms: 60_000, ..compacted() };
    let mut log = PartitionLog::open(dir.path(), cfg, NOW).unwrap();
    log.append(&encode(&[kv("a", Some("1")), kv("b", Some("1"))], Compression::Lz4, None, NOW), NOW).unwrap();
    log.append(&encode(&[kv("a", None), kv("c", Some("1"))], Compression::Lz4, None, NOW), NOW).unwrap();
    log.roll_for_test(NOW).unwrap();
    log.append(&encode(&[kv("d", Some("1"))], Compression::None, None, NOW), NOW).unwrap();
    let lock = Mutex::new(Some(log));
    run(&lock, NOW).unwrap().unwrap();
    let keys = |lock: &Mutex<Option<PartitionLog>>| {
        with(lock, |l| read_all(l).0.into_iter().map(|(o, k, v)| (o, k.unwrap(), v.is_some())).collect::<Vec<_>>())
    };
    assert_eq!(
        keys(&lock),
        vec![(1, "b".into(), true), (2, "a".into(), false), (3, "c".into(), true), (4, "d".into(), true)],
        "the tombstone stays, with its horizon"
    );
    with(&lock, |l| assert!(l.clean_candidate(NOW + 59_000).is_none()));
    assert!(with(&lock, |l| l.clean_candidate(NOW + 60_001)).is_some_and(|c| c.overdue), "due once the horizon passed");
    run(&lock, NOW + 59_000).unwrap();
    assert_eq!(keys(&lock).len(), 4, "not yet");
    run(&lock, NOW + 60_001).unwrap().unwrap();
    assert_eq!(keys(&lock), vec![(1, "b".into(), true), (3, "c".into(), true), (4, "d".into(), true)]);
}

#[test]
fn compact_delete_applies_both() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        cleanup_policy: CleanupPolicy { delete: true, compact: true },
        retention_ms: 3_600_000,
        ..compacted()
    };
    let mut log = PartitionLog::open(dir.path(), cfg.clone(), NOW).unwrap();
    // Old records (two hours back) in the first segments, fresh ones after.
    for i in 0..40 {
        let ts = if i < 20 { NOW - 7_200_000 } else { NOW };
        log.append(&encode(&[kv(&format!("k{}", i % 10), Some(&"v".repeat(80)))], Compression::None, None, ts), NOW)
            .unwrap();
    }
    let (before, _) = read_all(&log);
    let lock = Mutex::new(Some(log));
    run(&lock, NOW).unwrap().unwrap();
    with(&lock, |log| {
        let (after, _) = read_all(log);
        assert_eq!(latest(&before), latest(&after));
        assert!(log.enforce_retention(NOW).unwrap() > 0, "retention applies to a compacted log too");
        assert!(log.log_start_offset() > 0);
        let compact_only = LogConfig { cleanup_policy: CleanupPolicy { delete: false, compact: true }, ..cfg };
        log.set_config(compact_only);
        assert_eq!(log.enforce_retention(NOW + 1_000_000_000).unwrap(), 0, "compact alone never deletes by age");
    });
}

#[test]
fn the_last_batch_of_each_producer_survives_as_an_empty_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compacted(), NOW).unwrap();
    log.append(&encode(&[kv("a", Some("1")), kv("b", Some("1"))], Compression::Gzip, Some((7, 0)), NOW), NOW).unwrap();
    log.append(&encode(&[kv("a", Some("1"))], Compression::Gzip, Some((8, 0)), NOW), NOW).unwrap();
    log.append(&encode(&[kv("a", Some("2")), kv("b", Some("2"))], Compression::Gzip, Some((8, 1)), NOW), NOW).unwrap();
    log.roll_for_test(NOW).unwrap();
    log.append(&encode(&[kv("z", Some("1"))], Compression::None, None, NOW), NOW).unwrap();
    let lock = Mutex::new(Some(log));
    run(&lock, NOW).unwrap().unwrap();
    with(&lock, |log| {
        let (records, headers) = read_all(log);
        assert_eq!(records.iter().map(|r| r.0).collect::<Vec<_>>(), vec![3, 4, 5]);
        let summary: Vec<_> =
            headers.iter().map(|h| (h.producer_id, h.base_offset, h.last_offset(), h.records_count)).collect();
        // Producer 7's only batch lost both records: its header stays, for its sequence numbers.
        // Producer 8's first batch is not its last: it goes.
        assert_eq!(summary, vec![(7, 0, 1, 0), (8, 3, 4, 2), (-1, 5, 5, 1)]);
    });
}

#[test]
fn the_active_segment_and_young_segments_are_never_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig { min_compaction_lag_ms: 60_000, ..compacted() };
    let mut log = PartitionLog::open(dir.path(), cfg, NOW).unwrap();
    for i in 0..10 {
        log.append(&encode(&[kv("a", Some(&format!("{i}")))], Compression::None, None, NOW - 120_000), NOW).unwrap();
        log.roll_for_test(NOW).unwrap();
    }
    for i in 0..10 {
        log.append(&encode(&[kv("a", Some(&format!("young{i}")))], Compression::None, None, NOW), NOW).unwrap();
        log.roll_for_test(NOW).unwrap();
    }
    let lock = Mutex::new(Some(log));
    run(&lock, NOW).unwrap().unwrap();
    with(&lock, |log| {
        let offsets: Vec<i64> = read_all(log).0.iter().map(|r| r.0).collect();
        assert_eq!(offsets, (9..20).collect::<Vec<_>>(), "the old part keeps its latest only; young records all stay");
    });
}

#[test]
fn a_compacted_log_refuses_records_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compacted(), NOW).unwrap();
    let keyless = encode(&[kv("a", Some("1")), (None, Some("2".into()))], Compression::Snappy, None, NOW);
    assert!(matches!(log.append(&keyless, NOW), Err(crate::error::Error::InvalidRecord(_))));
    log.set_config(LogConfig { cleanup_policy: CleanupPolicy::DELETE, ..compacted() });
    log.append(&keyless, NOW).unwrap();
}

/// Appends `fill` and seals it, and returns what a reader must find after any crash.
fn crash_fixture(dir: &Path) -> (BTreeMap<Bytes, (Option<Bytes>, i64)>, i64) {
    let mut log = PartitionLog::open(dir, compacted(), NOW).unwrap();
    fill_batches(&mut log, Compression::Zstd, 30);
    log.roll_for_test(NOW).unwrap();
    let (records, _) = read_all(&log);
    let end = log.next_offset();
    log.close().unwrap();
    (latest(&records), end)
}

/// A directory on tmpfs when there is one: these tests fsync hundreds of times.
fn fast_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).unwrap()
}

#[test]
fn a_kill_at_any_write_of_a_cleaning_leaves_a_log_with_every_latest_value() {
    let mut crash_points = 0;
    for writes_before_kill in 0.. {
        let dir = fast_tempdir();
        let (expected, end) = crash_fixture(dir.path());
        let lock = Mutex::new(Some(PartitionLog::open(dir.path(), compacted(), NOW).unwrap()));
        // Every write after the first `writes_before_kill` fails: the files stay as a SIGKILL
        // at that point leaves them (the cleaner's own clean-up fails too).
        let kill = disk::inject(
            Fault::new(WritePoint::Any, dir.path().to_str().unwrap(), FaultKind::Io).skip(writes_before_kill),
        );
        let outcome = run(&lock, NOW);
        let killed = kill.fired() > 0;
        drop(lock);
        drop(kill);
        let log = PartitionLog::open(dir.path(), compacted(), NOW).unwrap();
        let (records, _) = read_all(&log);
        assert_eq!(latest(&records), expected, "killed after {writes_before_kill} writes ({outcome:?})");
        assert_eq!(log.next_offset(), end);
        let leftovers: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // The next cleaning finishes the job.
        let lock = Mutex::new(Some(log));
        run(&lock, NOW).unwrap();
        with(&lock, |log| {
            let (records, _) = read_all(log);
            assert_eq!(latest(&records), expected);
            assert_eq!(records.len(), expected.len() + records.iter().filter(|r| r.0 >= log.active_base()).count());
        });
        if !killed {
            assert!(outcome.unwrap().is_some());
            break;
        }
        crash_points += 1;
    }
    assert!(crash_points > 10, "{crash_points}");
}

#[test]
fn a_failed_swap_step_in_a_running_broker_keeps_the_log_whole() {
    // Paths under the log's directory: the first group's cleaned files, its swap file, and
    // (for Remove) the old segments.
    let first = "00000000000000000000";
    // The last sealed segment holds latest values, so its cleaned copy is written to.
    let last = {
        let dir = tempfile::tempdir().unwrap();
        crash_fixture(dir.path());
        let mut bases: Vec<i64> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".log")?.parse().ok())
            .collect();
        bases.sort_unstable();
        segment::file_stem(bases[bases.len() - 2])
    };
    for (point, fragment) in [
        (WritePoint::Rename, format!("{first}.log.cleaned")),
        (WritePoint::Rename, format!("{first}.log.0")),
        (WritePoint::Rename, format!("{first}.index.cleaned")),
        (WritePoint::Remove, String::new()),
        (WritePoint::Sync, format!("{last}.log.cleaned")),
        (WritePoint::SegmentCreate, format!("{first}.timeindex.cleaned")),
        (WritePoint::Append, format!("{last}.log.cleaned")),
        (WritePoint::IndexAppend, format!("{last}.index.cleaned")),
    ] {
        let dir = fast_tempdir();
        let (expected, _) = crash_fixture(dir.path());
        let lock = Mutex::new(Some(PartitionLog::open(dir.path(), compacted(), NOW).unwrap()));
        let target = format!("{}/{fragment}", dir.path().display());
        let fault = disk::inject(Fault::new(point, target, FaultKind::Io).times(1));
        let first = run(&lock, NOW);
        assert!(fault.fired() > 0, "{point:?} {fragment}: {first:?}");
        drop(fault);
        with(&lock, |log| assert_eq!(latest(&read_all(log).0), expected, "{point:?} {fragment}: {first:?}"));
        // Retried, the cleaning completes, and a restart sees the same log.
        run(&lock, NOW).unwrap();
        let (records, _) = with(&lock, |log| read_all(log));
        assert_eq!(latest(&records), expected);
        drop(lock);
        let log = PartitionLog::open(dir.path(), compacted(), NOW).unwrap();
        assert_eq!(read_all(&log).0, records, "{point:?} {fragment}");
    }
}

#[test]
fn max_compaction_lag_makes_a_log_due_whatever_its_dirty_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig { min_cleanable_dirty_ratio: 0.99, max_compaction_lag_ms: 60_000, ..compacted() };
    let mut log = PartitionLog::open(dir.path(), cfg, NOW).unwrap();
    log.append(&encode(&[kv("a", Some("1")), kv("b", Some("1"))], Compression::None, None, NOW), NOW).unwrap();
    log.roll_for_test(NOW).unwrap();
    log.append(&encode(&[kv("a", Some("2"))], Compression::None, None, NOW), NOW).unwrap();
    log.roll_for_test(NOW).unwrap();
    let lock = Mutex::new(Some(log));
    run(&lock, NOW).unwrap().unwrap();
    with(&lock, |log| {
        log.append(&encode(&[kv("b", Some("2"))], Compression::None, None, NOW), NOW).unwrap();
        log.roll_for_test(NOW).unwrap();
        assert!(log.clean_candidate(NOW).is_none(), "a little dirty, not yet due");
        let due = log.clean_candidate(NOW + 60_001).expect("due by max.compaction.lag.ms");
        assert!(due.overdue && due.dirty_ratio < 0.99, "{due:?}");
    });
}

/// Kafka's LogCleanerTest: aborted records go at once, committed transactional records and
/// markers stay, and an aborted value never supersedes a committed one.
#[test]
fn aborted_records_are_removed_and_never_supersede_committed_ones() {
    use crate::log::ControlType;
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compacted(), NOW).unwrap();
    let txn = |kvs: &[Kv], pid: i64, seq: i32| {
        let mut b = encode(kvs, Compression::None, Some((pid, seq)), NOW).to_vec();
        crate::log::batch::tests::set_transactional(&mut b);
        b
    };
    log.append(&encode(&[kv("k1", Some("a0"))], Compression::None, None, NOW), NOW).unwrap(); // 0
    log.append(&txn(&[kv("k1", Some("aborted")), kv("k2", Some("aborted"))], 7, 0), NOW).unwrap(); // 1-2
    log.append_marker(7, 0, ControlType::Abort, NOW).unwrap(); // 3
    log.append(&txn(&[kv("k2", Some("committed"))], 8, 0), NOW).unwrap(); // 4
    log.append_marker(8, 0, ControlType::Commit, NOW).unwrap(); // 5
    log.append(&encode(&[kv("k3", Some("c"))], Compression::None, None, NOW), NOW).unwrap(); // 6
    log.roll_for_test(NOW).unwrap();
    log.append(&encode(&[kv("k4", Some("d"))], Compression::None, None, NOW), NOW).unwrap();
    let lock = Mutex::new(Some(log));
    run(&lock, NOW).unwrap().expect("a cleaning");
    let (records, _) = with(&lock, |log| read_all(log));
    let offsets: Vec<i64> = records.iter().map(|r| r.0).collect();
    assert_eq!(offsets, vec![0, 3, 4, 5, 6, 7], "the aborted batch (1-2) is gone, markers stay");
    assert_eq!(records[0].2.as_deref(), Some(&b"a0"[..]), "k1's committed value survives the aborted one");
    with(&lock, |log| assert_eq!(log.last_stable_offset(), log.next_offset()));
}
