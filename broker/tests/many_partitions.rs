//! Ten thousand partitions of several segments each, under an open-file limit of 20,000: a
//! partition holds one descriptor (its active segment's log), and older segments' files are
//! opened only when read, at most the broker's cap of them at once.
//!
//! A test binary of its own, so that the descriptors it counts are this broker's alone, and so
//! that its partitions do not eat into the budget of brokers other tests start.

mod common;

use std::path::Path;
use std::time::Instant;

use common::*;
use ferrokafka_broker::{Broker, BrokerConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const TOPICS: i32 = 10;
const PARTITIONS_PER_TOPIC: i32 = 1_000;
/// Produce rounds: each batch fills a segment (segment.bytes=100), so every partition ends
/// with this many segments, all but the last sealed.
const ROUNDS: i64 = 3;
/// The open-file limit the issue asks 10,000 partitions to run within.
const LIMIT: u64 = 20_000;

/// Sets this process's soft open-file limit to `LIMIT`; false if the hard limit is lower.
#[allow(unsafe_code)]
fn set_open_file_limit() -> bool {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read or write the one struct they are given a
    // valid, exclusive pointer to.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 || limit.rlim_max < LIMIT {
            return false;
        }
        limit.rlim_cur = LIMIT;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
    }
}

/// Free bytes and free inodes of the file system holding `path`.
#[allow(unsafe_code)]
fn room(path: &str) -> Option<(u64, u64)> {
    let c_path = std::ffi::CString::new(path).ok()?;
    // SAFETY: statvfs writes only the struct it is given; zeroed is a valid value for it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and an exclusive pointer to that struct.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64 * st.f_frsize as u64, st.f_favail as u64))
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn topic(t: i32) -> String {
    format!("many-{t}")
}

fn value(t: i32, p: i32, round: i64) -> Vec<u8> {
    format!("{t}/{p}/{round}").into_bytes()
}

/// Round `round` of every partition of topic `t`: one single-record batch each.
async fn produce_round(c: &mut TestClient, t: i32, round: i64) {
    // Recent timestamps: retention (7 days by default) must not remove what the test reads.
    let now = ferrokafka_broker::log::now_ms();
    let partitions: Vec<_> = (0..PARTITIONS_PER_TOPIC)
        .map(|p| {
            let records = batch(&[(None, &value(t, p, round), now)], None, Compression::None);
            produce_request::PartitionProduceData::default().with_index(p).with_records(Some(records))
        })
        .collect();
    let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(30_000).with_topic_data(vec![
        produce_request::TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic(t))))
            .with_partition_data(partitions),
    ]);
    let resp = c.send(&req, 9).await;
    let answers = &resp.responses[0].partition_responses;
    assert_eq!(answers.len(), PARTITIONS_PER_TOPIC as usize);
    for a in answers {
        assert_eq!((a.error_code, a.base_offset), (0, round), "{}-{} round {round}", topic(t), a.index);
    }
}

/// Fetches offset `round` of every partition of topic `t` and checks it is that round's record.
async fn fetch_round(c: &mut TestClient, t: i32, round: i64) {
    let partitions: Vec<_> = (0..PARTITIONS_PER_TOPIC)
        .map(|p| {
            fetch_request::FetchPartition::default()
                .with_partition(p)
                .with_fetch_offset(round)
                .with_partition_max_bytes(1 << 10)
                .with_log_start_offset(-1)
        })
        .collect();
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(50 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic(t))))
                .with_partitions(partitions),
        ]);
    let resp = c.send(&req, 12).await;
    let answers = &resp.responses[0].partitions;
    assert_eq!(answers.len(), PARTITIONS_PER_TOPIC as usize);
    for a in answers {
        let p = a.partition_index;
        assert_eq!((a.error_code, a.high_watermark), (0, ROUNDS), "{}-{p}", topic(t));
        let records = decode_records(a.records.clone().unwrap_or_default());
        let first = records.first().unwrap_or_else(|| panic!("{}-{p}: a record at {round}", topic(t)));
        assert_eq!(first.offset, round);
        assert_eq!(first.value.as_deref(), Some(value(t, p, round).as_slice()), "{}-{p} at {round}", topic(t));
    }
}

/// Fetches every record of every partition, oldest first (the sealed segments, then the
/// active ones), and returns the most descriptors seen open after each round.
async fn fetch_everything(c: &mut TestClient) -> usize {
    let mut most = 0;
    for round in 0..ROUNDS {
        for t in 0..TOPICS {
            fetch_round(c, t, round).await;
        }
        most = most.max(open_descriptors());
    }
    most
}

fn config_in(dir: &Path) -> BrokerConfig {
    BrokerConfig { listen: "127.0.0.1:0".into(), data_dir: dir.to_owned(), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_partitions_of_several_segments_run_within_20000_descriptors() {
    if !set_open_file_limit() {
        eprintln!("skipped: the hard open-file limit is below {LIMIT}");
        return;
    }
    let started = Instant::now();
    let before = open_descriptors();
    // On tmpfs where there is one with room: the test counts descriptors, and 30,000 rolls and
    // 10,000 partition creations each fsync; on a real disk that is minutes of waiting on
    // fsync. About 100,000 small files take a few hundred MiB of tmpfs pages, more than a
    // container's default 64 MiB /dev/shm: then the ordinary temp dir.
    let shm = "/dev/shm";
    let roomy = room(shm).is_some_and(|(bytes, inodes)| bytes >= 2 << 30 && inodes >= 500_000);
    let dir = if roomy { tempfile::tempdir_in(shm).unwrap() } else { tempfile::tempdir().unwrap() };
    let partitions = (TOPICS * PARTITIONS_PER_TOPIC) as usize;
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    for t in 0..TOPICS {
        let configs = [("segment.bytes", "100")];
        assert_eq!(create_topic(&mut c, &topic(t), PARTITIONS_PER_TOPIC, &configs).await, 0, "{}", topic(t));
    }
    let created = open_descriptors();
    for round in 0..ROUNDS {
        for t in 0..TOPICS {
            produce_round(&mut c, t, round).await;
        }
    }
    let produced = open_descriptors();
    let segments = std::fs::read_dir(dir.path().join("many-0-0"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".log"))
        .count();
    assert_eq!(segments, ROUNDS as usize, "each round rolled a new segment");
    let fetched = fetch_everything(&mut c).await;
    let first_run = started.elapsed();

    drop(c);
    broker.shutdown().await.unwrap();
    let stopped = open_descriptors();
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let restarted = open_descriptors();
    let mut c = TestClient::connect(broker.local_addr()).await;
    let fetched_again = fetch_everything(&mut c).await;
    drop(c);
    broker.shutdown().await.unwrap();

    eprintln!(
        "{partitions} partitions × {ROUNDS} segments: descriptors open before {before}, created {created}, \
         produced {produced}, fetched {fetched}, stopped {stopped}, restarted {restarted}, fetched again \
         {fetched_again}; first run {first_run:?}, in all {:?}",
        started.elapsed()
    );
    // One descriptor per partition, plus the sealed-segment cache (an eighth of the limit).
    let cache = (LIMIT / 8) as usize;
    let slack = 200;
    assert!(created <= before + partitions + slack, "after creating: {created}");
    assert!(produced <= before + partitions + slack, "after producing (sealed segments closed): {produced}");
    assert!(restarted <= before + partitions + slack, "after a restart (sealed segments closed): {restarted}");
    for (when, open) in [("fetching", fetched), ("fetching after a restart", fetched_again)] {
        assert!(open <= before + partitions + cache + slack, "{when}: {open}");
        assert!((open as u64) < LIMIT * 3 / 4, "{when}: {open} of {LIMIT}");
    }
    assert!(stopped <= before + slack, "after shutdown: {stopped}");
}
