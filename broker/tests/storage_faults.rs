//! Storage that fails half-way: every write path of the broker made to fail (ENOSPC, EIO, a
//! short write) through the `log::disk` seam, and a real full tmpfs. After each failure the
//! request is refused, nothing of it stays, reads go on, writes resume when the disk does,
//! and every acknowledged record is there after a clean restart and after a crash.

mod common;

use std::path::Path;

use common::*;
use ferrokafka_broker::log::disk::{self, Fault, FaultKind, WritePoint};
use ferrokafka_broker::{Broker, BrokerConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const STORAGE_ERROR: i16 = 56;

fn config_in(dir: &Path) -> BrokerConfig {
    BrokerConfig { listen: "127.0.0.1:0".into(), data_dir: dir.to_owned(), ..Default::default() }
}

fn value(i: i64) -> Vec<u8> {
    format!("value-{i:05}-{}", "x".repeat(200)).into_bytes()
}

/// One batch of `n` records whose values say their expected offsets, from `first` on.
fn records(first: i64, n: i64) -> bytes::Bytes {
    let values: Vec<Vec<u8>> = (first..first + n).map(value).collect();
    let now = ferrokafka_broker::log::now_ms();
    let recs: Vec<Rec<'_>> = values.iter().enumerate().map(|(i, v)| (None, v.as_slice(), now + i as i64)).collect();
    batch(&recs, None, Compression::None)
}

/// Every record of the partition, as (offset, value), read from the log start to its end.
async fn read_all(c: &mut TestClient, topic: &str, partition: i32) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut next = 0;
    loop {
        let (err, hw, _, recs) = fetch(c, topic, partition, next).await;
        assert_eq!(err, 0, "fetch at {next}");
        if recs.is_empty() {
            assert_eq!(next, hw, "a fetch below the high watermark returns records");
            return out;
        }
        for r in recs {
            if r.offset >= next {
                out.push((r.offset, r.value.map(|v| v.to_vec()).unwrap_or_default()));
            }
        }
        next = out.last().map_or(next, |(o, _)| o + 1);
    }
}

/// Asserts the partition holds exactly the records 0..count, each at the offset its value names.
async fn assert_log_holds(c: &mut TestClient, topic: &str, partition: i32, count: i64) {
    let all = read_all(c, topic, partition).await;
    assert_eq!(all.len() as i64, count, "records in {topic}-{partition}");
    for (i, (offset, v)) in all.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(v, &value(i as i64), "value at offset {offset}");
    }
    assert_eq!(list_offset(c, topic, partition, -1).await.1, count, "log end offset");
}

/// Produces `n` records at `first` and asserts they were acknowledged there.
async fn produce_ok(c: &mut TestClient, topic: &str, first: i64, n: i64) {
    assert_eq!(produce(c, topic, 0, records(first, n)).await, (0, first), "produce at {first}");
}

/// Checks the log after a clean restart and after a crash (the broker dropped unflushed).
async fn assert_survives_restarts(dir: &Path, broker: Broker, topic: &str, count: i64) {
    broker.shutdown().await.unwrap();
    let broker = Broker::start(config_in(dir)).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_log_holds(&mut c, topic, 0, count).await;
    produce_ok(&mut c, topic, count, 2).await;
    drop(c);
    drop(broker); // a crash: no flush, no clean-shutdown marker
    let broker = Broker::start(config_in(dir)).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_log_holds(&mut c, topic, 0, count + 2).await;
    broker.shutdown().await.unwrap();
}

/// Fails `point` on files of `topic` (matched by `file`, a path fragment) while producing,
/// then checks the refusal, the reads, the recovery and the restarts.
async fn fail_one_write_path(point: WritePoint, file: &str, kind: FaultKind, topic_configs: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, topic_configs).await, 0);
    produce_ok(&mut c, "t", 0, 3).await;
    produce_ok(&mut c, "t", 3, 3).await;

    let fragment = format!("{}/t-0/{file}", dir.path().display());
    let fault = disk::inject(Fault::new(point, fragment, kind));
    for _ in 0..3 {
        let (err, _) = produce(&mut c, "t", 0, records(6, 4)).await;
        assert_eq!(err, STORAGE_ERROR, "{point:?}: the write fails while the fault lasts");
    }
    assert!(fault.fired() > 0, "{point:?}: the fault was reached");
    assert_log_holds(&mut c, "t", 0, 6).await;
    fault.clear();

    produce_ok(&mut c, "t", 6, 4).await;
    produce_ok(&mut c, "t", 10, 1).await;
    assert_log_holds(&mut c, "t", 0, 11).await;
    drop(c);
    assert_survives_restarts(dir.path(), broker, "t", 11).await;
}

#[tokio::test]
async fn a_short_append_is_cut_back_and_writes_resume_at_the_next_offset() {
    fail_one_write_path(WritePoint::Append, "", FaultKind::ShortWrite { bytes: 100 }, &[]).await;
}

#[tokio::test]
async fn an_append_failing_with_eio_leaves_nothing() {
    fail_one_write_path(WritePoint::Append, "", FaultKind::Io, &[]).await;
}

// Index entries are written when the segment is flushed, not as they are made: with
// flush.messages=1 every produce flushes, so a failing index write fails that produce.

#[tokio::test]
async fn a_failing_offset_index_append_rolls_back_the_batch() {
    fail_one_write_path(
        WritePoint::IndexAppend,
        "00000000000000000000.index",
        FaultKind::NoSpace,
        &[("index.interval.bytes", "1"), ("flush.messages", "1")],
    )
    .await;
}

#[tokio::test]
async fn a_failing_time_index_append_rolls_back_the_batch() {
    fail_one_write_path(
        WritePoint::IndexAppend,
        "00000000000000000000.timeindex",
        FaultKind::NoSpace,
        &[("flush.messages", "1")],
    )
    .await;
}

/// Without flush.messages, a failing index write surfaces at a periodic flush, after the
/// records were acknowledged: the flush fails, and nothing acknowledged is lost or rolled back.
#[tokio::test]
async fn a_failing_index_write_at_a_periodic_flush_keeps_every_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig {
        log: ferrokafka_broker::log::LogConfig { flush_interval_ms: 10, ..Default::default() },
        ..config_in(dir.path())
    };
    let broker = Broker::start(config).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[("index.interval.bytes", "1")]).await, 0);
    let fragment = format!("{}/t-0/00000000000000000000.index", dir.path().display());
    let fault = disk::inject(Fault::new(WritePoint::IndexAppend, fragment, FaultKind::NoSpace));
    produce_ok(&mut c, "t", 0, 3).await;
    produce_ok(&mut c, "t", 3, 3).await;
    // Each flush tick (10 ms) tries again while the fault lasts.
    let failed_twice = async {
        while fault.fired() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), failed_twice)
        .await
        .expect("periodic flushes reach the index");
    assert_log_holds(&mut c, "t", 0, 6).await;
    fault.clear();
    produce_ok(&mut c, "t", 6, 4).await;
    assert_log_holds(&mut c, "t", 0, 10).await;
    drop(c);
    assert_survives_restarts(dir.path(), broker, "t", 10).await;
}

#[tokio::test]
async fn a_segment_that_cannot_be_created_refuses_the_roll_and_leaves_no_file() {
    // Each produce of 3+ records fills a segment, so the next one rolls.
    fail_one_write_path(WritePoint::SegmentCreate, "", FaultKind::NoSpace, &[("segment.bytes", "1000")]).await;
}

#[tokio::test]
async fn a_failed_fsync_under_flush_messages_1_is_not_acknowledged() {
    fail_one_write_path(WritePoint::Sync, "", FaultKind::Io, &[("flush.messages", "1")]).await;
}

#[tokio::test]
async fn a_rollback_that_cannot_cut_the_file_refuses_writes_until_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[]).await, 0);
    produce_ok(&mut c, "t", 0, 3).await;
    let under = format!("{}/t-0/", dir.path().display());
    let short = disk::inject(Fault::new(WritePoint::Append, &under, FaultKind::ShortWrite { bytes: 150 }).times(1));
    let no_cut = disk::inject(Fault::new(WritePoint::Truncate, &under, FaultKind::Io));
    assert_eq!(produce(&mut c, "t", 0, records(3, 2)).await.0, STORAGE_ERROR);
    assert_eq!(short.fired(), 1);
    // The partial batch is still in the file, but never served, and nothing lands after it.
    assert_eq!(produce(&mut c, "t", 0, records(3, 2)).await.0, STORAGE_ERROR);
    assert_log_holds(&mut c, "t", 0, 3).await;
    no_cut.clear();
    produce_ok(&mut c, "t", 3, 2).await;
    assert_log_holds(&mut c, "t", 0, 5).await;
    drop(c);
    assert_survives_restarts(dir.path(), broker, "t", 5).await;
}

#[tokio::test]
async fn a_failing_checkpoint_does_not_fail_appends() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[("flush.messages", "1")]).await, 0);
    let fault = disk::inject(Fault::new(
        WritePoint::Metadata,
        format!("{}/t-0/checkpoint", dir.path().display()),
        FaultKind::NoSpace,
    ));
    produce_ok(&mut c, "t", 0, 3).await;
    assert!(fault.fired() > 0);
    drop(fault);
    drop(c);
    assert_survives_restarts(dir.path(), broker, "t", 3).await;
}

fn topic_dirs(dir: &Path, topic: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.strip_prefix(topic).and_then(|rest| rest.strip_prefix('-')).is_some())
        .collect()
}

async fn topic_listed(c: &mut TestClient, topic: &str) -> bool {
    let md = c.send(&MetadataRequest::default().with_topics(None), 12).await;
    md.topics.iter().any(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
}

#[tokio::test]
async fn topic_creation_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;

    // A partition directory that cannot be made, half-way through.
    let fault =
        disk::inject(Fault::new(WritePoint::CreateDir, format!("{}/big-7", dir.path().display()), FaultKind::NoSpace));
    assert_eq!(create_topic(&mut c, "big", 10, &[]).await, STORAGE_ERROR);
    assert_eq!(fault.fired(), 1);
    fault.clear();
    assert!(topic_dirs(dir.path(), "big").is_empty(), "left behind: {:?}", topic_dirs(dir.path(), "big"));
    assert!(!topic_listed(&mut c, "big").await);

    // topics.json that cannot be written.
    let fault = disk::inject(Fault::new(WritePoint::Metadata, "topics.json", FaultKind::Io));
    let code = create_topic(&mut c, "big", 4, &[]).await;
    fault.clear();
    assert_eq!(code, STORAGE_ERROR);
    assert!(topic_dirs(dir.path(), "big").is_empty());
    assert!(!topic_listed(&mut c, "big").await);

    // And with the disk back, the same topic is made whole.
    assert_eq!(create_topic(&mut c, "big", 10, &[]).await, 0);
    assert_eq!(topic_dirs(dir.path(), "big").len(), 10);
    broker.shutdown().await.unwrap();
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert!(topic_listed(&mut c, "big").await);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn too_many_partitions_are_refused_up_front_with_nothing_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    for validate_only in [true, false] {
        let req =
            CreateTopicsRequest::default().with_timeout_ms(5000).with_validate_only(validate_only).with_topics(vec![
                create_topics_request::CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("huge")))
                    .with_num_partitions(100_000)
                    .with_replication_factor(1),
            ]);
        let resp = c.send(&req, 7).await;
        let t = &resp.topics[0];
        assert_eq!(t.error_code, 37, "INVALID_PARTITIONS (validate_only={validate_only})");
        let msg = t.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
        assert!(msg.contains("file descriptors"), "{msg}");
    }
    assert!(topic_dirs(dir.path(), "huge").is_empty());
    assert!(!topic_listed(&mut c, "huge").await);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn topic_names_colliding_in_metrics_are_refused() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "a.b", 1, &[]).await, 0);
    assert_eq!(create_topic(&mut c, "a_b", 1, &[]).await, 17, "INVALID_TOPIC_EXCEPTION");
    assert_eq!(create_topic(&mut c, "a.b", 1, &[]).await, 36, "TOPIC_ALREADY_EXISTS");
    broker.shutdown().await.unwrap();
}

fn commit_request(group: &str, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default().with_group_id(GroupId(StrBytes::from_string(group.into()))).with_topics(vec![
        offset_commit_request::OffsetCommitRequestTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![
                offset_commit_request::OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset),
            ]),
    ])
}

async fn committed(c: &mut TestClient, group: &str) -> i64 {
    let req = OffsetFetchRequest::default().with_group_id(GroupId(StrBytes::from_string(group.into()))).with_topics(
        Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partition_indexes(vec![0]),
        ]),
    );
    c.send(&req, 5).await.topics[0].partitions[0].committed_offset
}

#[tokio::test]
async fn a_failing_group_coordinator_store_refuses_the_commit_and_keeps_the_last_one() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[]).await, 0);
    let code = |r: OffsetCommitResponse| r.topics[0].partitions[0].error_code;
    assert_eq!(code(c.send(&commit_request("g", 5), 2).await), 0);

    let store = format!("{}/.group-coordinator/", dir.path().display());
    let fault = disk::inject(Fault::new(WritePoint::Append, store, FaultKind::ShortWrite { bytes: 30 }));
    assert_ne!(code(c.send(&commit_request("g", 9), 2).await), 0, "a commit that is not stored is refused");
    assert_eq!(committed(&mut c, "g").await, 5);
    fault.clear();
    assert_eq!(code(c.send(&commit_request("g", 12), 2).await), 0);
    assert_eq!(committed(&mut c, "g").await, 12);

    drop(broker); // crash
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(committed(&mut c, "g").await, 12);
    assert_eq!(code(c.send(&commit_request("g", 13), 2).await), 0);
    broker.shutdown().await.unwrap();
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(committed(&mut c, "g").await, 13);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_on_a_full_disk_succeeds_and_the_next_start_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[]).await, 0);
    produce_ok(&mut c, "t", 0, 5).await;
    drop(c);
    let under = dir.path().display().to_string();
    let full: Vec<_> = [WritePoint::Sync, WritePoint::Metadata, WritePoint::Append]
        .into_iter()
        .map(|p| disk::inject(Fault::new(p, under.clone(), FaultKind::NoSpace)))
        .collect();
    broker.shutdown().await.expect("shutdown saves what it can and succeeds");
    drop(full);
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_log_holds(&mut c, "t", 0, 5).await;
    broker.shutdown().await.unwrap();
}

/// The same story on a real filesystem that fills up: a 4 MiB tmpfs (needs root; skipped
/// with a message elsewhere).
#[tokio::test]
async fn a_real_full_tmpfs_refuses_writes_keeps_reads_and_recovers_when_space_returns() {
    let mount = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(mount.path())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(mount.path());
    let dir = mount.path().join("data");
    let broker = Broker::start(config_in(&dir)).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[]).await, 0);
    // ~300 KB batches until the disk is full.
    let mut acked = 0i64;
    let refused = loop {
        let (err, base) = produce(&mut c, "t", 0, records(acked, 1200)).await;
        if err != 0 {
            break err;
        }
        assert_eq!(base, acked);
        acked += 1200;
        assert!(acked < 100_000, "a 4 MiB disk fills up");
    };
    assert_eq!(refused, STORAGE_ERROR);
    assert!(acked > 0);
    assert_log_holds(&mut c, "t", 0, acked).await;
    let grown = std::process::Command::new("mount").args(["-o", "remount,size=64m"]).arg(mount.path()).status();
    assert!(grown.is_ok_and(|s| s.success()));
    produce_ok(&mut c, "t", acked, 1200).await;
    acked += 1200;
    assert_log_holds(&mut c, "t", 0, acked).await;
    drop(c);
    assert_survives_restarts(&dir, broker, "t", acked).await;
}

#[tokio::test]
async fn a_log_whose_fsync_failed_is_not_marked_clean_and_is_verified_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[("flush.messages", "1")]).await, 0);
    produce_ok(&mut c, "t", 0, 2).await;
    let fault =
        disk::inject(Fault::new(WritePoint::Sync, format!("{}/t-0/", dir.path().display()), FaultKind::Io).times(1));
    assert_eq!(produce(&mut c, "t", 0, records(2, 2)).await.0, STORAGE_ERROR);
    assert_eq!(fault.fired(), 1);
    // A later fsync succeeds, but pages the failed one could not write may be gone: no
    // clean-shutdown marker for this log.
    produce_ok(&mut c, "t", 2, 2).await;
    drop(c);
    broker.shutdown().await.unwrap();
    assert!(!dir.path().join("t-0/.clean-shutdown").exists(), "an fsync failed: not marked clean");
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_log_holds(&mut c, "t", 0, 4).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn delete_records_that_cannot_be_recorded_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[]).await, 0);
    produce_ok(&mut c, "t", 0, 5).await;
    let delete = |offset: i64| {
        DeleteRecordsRequest::default().with_timeout_ms(5000).with_topics(vec![
            delete_records_request::DeleteRecordsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(offset),
                ]),
        ])
    };
    let fault = disk::inject(Fault::new(
        WritePoint::Metadata,
        format!("{}/t-0/checkpoint", dir.path().display()),
        FaultKind::NoSpace,
    ));
    let resp = c.send(&delete(3), 2).await;
    assert_eq!(resp.topics[0].partitions[0].error_code, STORAGE_ERROR);
    assert_eq!(list_offset(&mut c, "t", 0, -2).await.1, 0, "the log start did not move");
    assert_log_holds(&mut c, "t", 0, 5).await;
    fault.clear();
    let resp = c.send(&delete(3), 2).await;
    assert_eq!((resp.topics[0].partitions[0].error_code, resp.topics[0].partitions[0].low_watermark), (0, 3));
    drop(c);
    drop(broker); // a crash: the new log start was recorded before it was answered
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(list_offset(&mut c, "t", 0, -2).await.1, 3);
    broker.shutdown().await.unwrap();
}
