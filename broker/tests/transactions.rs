//! Transactions over TCP (KIP-98, KIP-447): markers, the last stable offset, read_committed
//! fetches and their aborted lists, fencing, timeouts, transactional offsets, and restarts.

mod common;

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use common::*;
use ferrokafka_broker::log::disk::{self, Fault, FaultKind, WritePoint};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

const NONE: i16 = 0;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const INVALID_RECORD: i16 = 87;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;
const PRODUCER_FENCED: i16 = 90;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// A transactional (or, with `control`, a control) batch as a producer would encode it.
fn txn_batch(values: &[&str], pid: i64, epoch: i16, seq: i32, control: bool) -> Bytes {
    let recs: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: true,
            control,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: seq + i as i32,
            timestamp: 1000,
            key: Some(Bytes::from_static(&[0, 0, 0, 1])),
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        recs.iter(),
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .unwrap();
    buf.freeze()
}

async fn init_txn(c: &mut TestClient, tid: &str, timeout_ms: i32) -> (i16, i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(tid))))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let resp = c.send(&req, 4).await;
    (resp.error_code, resp.producer_id.0, resp.producer_epoch)
}

async fn add_partition(c: &mut TestClient, tid: &str, pid: i64, epoch: i16, topic: &str, partition: i32) -> i16 {
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(tid)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![partition]),
        ]);
    let resp = c.send(&req, 3).await;
    resp.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

async fn end_txn(c: &mut TestClient, tid: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(tid)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    c.send(&req, 3).await.error_code
}

/// One partition's read_committed (or read_uncommitted) fetch.
struct Fetched {
    error: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    aborted: Vec<(i64, i64)>,
    records: Vec<Record>,
}

impl Fetched {
    /// The values a read_committed client keeps: no control records, nothing of an aborted
    /// transaction (from its first offset to its producer's next control record).
    fn committed_values(&self) -> Vec<String> {
        let mut aborting: Vec<i64> = Vec::new();
        let mut out = Vec::new();
        for r in &self.records {
            if self.aborted.iter().any(|&(pid, first)| pid == r.producer_id && first == r.offset) {
                aborting.push(r.producer_id);
            }
            if r.control {
                aborting.retain(|&p| p != r.producer_id);
                continue;
            }
            if !aborting.contains(&r.producer_id) {
                out.push(String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap());
            }
        }
        out
    }
}

async fn fetch_isolated(c: &mut TestClient, topic: &str, offset: i64, committed: bool, max_wait_ms: i32) -> Fetched {
    fetch_partition(c, (topic, 0), offset, committed, max_wait_ms).await
}

async fn fetch_partition(
    c: &mut TestClient,
    (topic, partition): (&str, i32),
    offset: i64,
    committed: bool,
    max_wait_ms: i32,
) -> Fetched {
    let req = fetch_request(topic, partition, offset, max_wait_ms, 1).with_isolation_level(i8::from(committed));
    let resp = c.send(&req, 12).await;
    let p = &resp.responses[0].partitions[0];
    Fetched {
        error: p.error_code,
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        aborted: p
            .aborted_transactions
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|a| (a.producer_id.0, a.first_offset))
            .collect(),
        records: decode_records(p.records.clone().unwrap_or_default()),
    }
}

async fn latest(c: &mut TestClient, topic: &str, committed: bool) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(i8::from(committed))
        .with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default().with_name(TopicName(s(topic))).with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1),
            ]),
        ]);
    let resp = c.send(&req, 7).await;
    resp.topics[0].partitions[0].offset
}

/// One transaction of `values` on `topic`-0, ended with `commit`.
async fn transaction(c: &mut TestClient, tid: &str, ids: (i64, i16), seq: i32, values: &[&str], commit: bool) {
    let (pid, epoch) = ids;
    assert_eq!(add_partition(c, tid, pid, epoch, "t", 0).await, NONE);
    let (code, _) = produce(c, "t", 0, txn_batch(values, pid, epoch, seq, false)).await;
    assert_eq!(code, NONE);
    assert_eq!(end_txn(c, tid, pid, epoch, commit).await, NONE);
}

async fn setup(addr: SocketAddr) -> TestClient {
    let mut c = TestClient::connect(addr).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[]).await, NONE);
    c
}

#[tokio::test]
async fn an_aborted_then_a_committed_transaction_read_committed_sees_only_the_commit() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = setup(broker.local_addr()).await;
    let (code, pid, epoch) = init_txn(&mut c, "tx", 60_000).await;
    assert_eq!(code, NONE);
    transaction(&mut c, "tx", (pid, epoch), 0, &["a1", "a2"], false).await;
    transaction(&mut c, "tx", (pid, epoch), 2, &["c1"], true).await;

    // 0-1 aborted data, 2 abort marker, 3 committed data, 4 commit marker.
    let rc = fetch_isolated(&mut c, "t", 0, true, 0).await;
    assert_eq!((rc.error, rc.high_watermark, rc.last_stable_offset), (NONE, 5, 5));
    assert_eq!(rc.aborted, vec![(pid, 0)]);
    assert_eq!(rc.committed_values(), vec!["c1"]);
    // Past the aborted transaction, its entry is not needed any more.
    assert!(fetch_isolated(&mut c, "t", 3, true, 0).await.aborted.is_empty());

    // read_uncommitted: everything, no aborted list, the true LSO; the decoder hands control
    // records back flagged, with Kafka's key (version 0, type 0 abort / 1 commit).
    let ru = fetch_isolated(&mut c, "t", 0, false, 0).await;
    assert_eq!((ru.last_stable_offset, ru.aborted.len()), (5, 0));
    let controls: Vec<_> = ru.records.iter().filter(|r| r.control).map(|r| r.key.clone().unwrap().to_vec()).collect();
    assert_eq!(controls, vec![vec![0, 0, 0, 0], vec![0, 0, 0, 1]]);
    let data: Vec<_> = ru.records.iter().filter(|r| !r.control).map(|r| r.offset).collect();
    assert_eq!(data, vec![0, 1, 3]);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_open_transaction_holds_the_last_stable_offset() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = setup(broker.local_addr()).await;
    let (_, pid, epoch) = init_txn(&mut c, "tx", 60_000).await;
    assert_eq!(produce(&mut c, "t", 0, batch(&[(None, b"plain", 1)], None, Compression::None)).await.0, NONE);
    assert_eq!(add_partition(&mut c, "tx", pid, epoch, "t", 0).await, NONE);
    assert_eq!(produce(&mut c, "t", 0, txn_batch(&["open"], pid, epoch, 0, false)).await.0, NONE);
    assert_eq!(produce(&mut c, "t", 0, batch(&[(None, b"after", 1)], None, Compression::None)).await.0, NONE);

    let rc = fetch_isolated(&mut c, "t", 0, true, 0).await;
    assert_eq!((rc.high_watermark, rc.last_stable_offset), (3, 1));
    assert_eq!(rc.committed_values(), vec!["plain"]);
    assert!(fetch_isolated(&mut c, "t", 1, true, 0).await.records.is_empty());
    assert_eq!((latest(&mut c, "t", true).await, latest(&mut c, "t", false).await), (1, 3));

    // A read_committed fetch waiting at the LSO is woken by the commit.
    let addr = broker.local_addr();
    let waiting = tokio::spawn(async move {
        let mut w = TestClient::connect(addr).await;
        fetch_isolated(&mut w, "t", 1, true, 10_000).await
    });
    assert_eq!(end_txn(&mut c, "tx", pid, epoch, true).await, NONE);
    let woken = waiting.await.unwrap();
    assert_eq!(woken.last_stable_offset, 4);
    assert_eq!(woken.committed_values(), vec!["open", "after"]);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_second_init_fences_the_first_producer_and_aborts_its_transaction() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = setup(broker.local_addr()).await;
    let (_, pid, epoch) = init_txn(&mut c, "tx", 60_000).await;
    assert_eq!(add_partition(&mut c, "tx", pid, epoch, "t", 0).await, NONE);
    assert_eq!(produce(&mut c, "t", 0, txn_batch(&["zombie"], pid, epoch, 0, false)).await.0, NONE);

    let (code, pid2, epoch2) = init_txn(&mut c, "tx", 60_000).await;
    // As in Kafka: one bump fences the old producer and aborts its transaction, the next is
    // the new producer's.
    assert_eq!((code, pid2, epoch2), (NONE, pid, epoch + 2), "same id, a newer epoch");
    let rc = fetch_isolated(&mut c, "t", 0, true, 0).await;
    assert_eq!((rc.last_stable_offset, rc.high_watermark), (2, 2), "the open transaction was aborted");
    assert_eq!(rc.aborted, vec![(pid, 0)]);
    assert!(rc.committed_values().is_empty());

    // The old epoch is fenced everywhere.
    assert_eq!(produce(&mut c, "t", 0, txn_batch(&["late"], pid, epoch, 1, false)).await.0, INVALID_PRODUCER_EPOCH);
    assert_eq!(end_txn(&mut c, "tx", pid, epoch, true).await, PRODUCER_FENCED);
    assert_eq!(add_partition(&mut c, "tx", pid, epoch, "t", 0).await, PRODUCER_FENCED);
    // The new one works.
    transaction(&mut c, "tx", (pid2, epoch2), 0, &["fresh"], true).await;
    assert_eq!(fetch_isolated(&mut c, "t", 0, true, 0).await.committed_values(), vec!["fresh"]);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn batches_outside_a_transaction_and_client_control_batches_are_refused() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = setup(broker.local_addr()).await;
    let (code, _, _) = init_txn(&mut c, "tx", 900_001).await;
    assert_eq!(code, INVALID_TRANSACTION_TIMEOUT, "above transaction.max.timeout.ms");
    let (_, pid, epoch) = init_txn(&mut c, "tx", 60_000).await;
    assert_eq!(produce(&mut c, "t", 0, txn_batch(&["x"], pid, epoch, 0, false)).await.0, INVALID_TXN_STATE);
    assert_eq!(produce(&mut c, "t", 0, txn_batch(&["x"], pid, epoch, 0, true)).await.0, INVALID_RECORD);
    assert_eq!(produce(&mut c, "t", 0, txn_batch(&["x"], 12345, 0, 0, false)).await.0, INVALID_TXN_STATE);
    assert_eq!(end_txn(&mut c, "tx", pid, epoch, true).await, INVALID_TXN_STATE, "nothing to commit");
    assert_eq!(add_partition(&mut c, "tx", pid, epoch, "t", 0).await, NONE);
    let from_the_future = txn_batch(&["x"], pid, epoch + 1, 0, false);
    assert_eq!(produce(&mut c, "t", 0, from_the_future).await.0, INVALID_PRODUCER_EPOCH);
    assert_eq!(end_txn(&mut c, "tx", pid, epoch + 1, true).await, PRODUCER_FENCED, "not its epoch");
    assert_eq!(fetch_isolated(&mut c, "t", 0, false, 0).await.high_watermark, 0, "nothing was written");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let (broker, _dir) = start_broker(|config| {
        config.transactions.abort_check_interval_ms = 20;
    })
    .await;
    let mut c = setup(broker.local_addr()).await;
    let (_, pid, epoch) = init_txn(&mut c, "tx", 100).await;
    assert_eq!(add_partition(&mut c, "tx", pid, epoch, "t", 0).await, NONE);
    assert_eq!(produce(&mut c, "t", 0, txn_batch(&["slow"], pid, epoch, 0, false)).await.0, NONE);
    // The abort marker wakes a read_committed fetch waiting at the LSO.
    let rc = fetch_isolated(&mut c, "t", 0, true, 10_000).await;
    assert_eq!((rc.last_stable_offset, rc.high_watermark), (2, 2));
    assert_eq!(rc.aborted, vec![(pid, 0)]);
    assert_eq!(end_txn(&mut c, "tx", pid, epoch, true).await, PRODUCER_FENCED);
    broker.shutdown().await.unwrap();
}

async fn fetch_offset(c: &mut TestClient, group: &str) -> i64 {
    let (code, offset) = fetch_offset_as(c, group, false).await;
    assert_eq!(code, NONE);
    offset
}

/// OffsetFetch of `group`'s offset for t-0: (error, offset).
async fn fetch_offset_as(c: &mut TestClient, group: &str, require_stable: bool) -> (i16, i64) {
    let req = OffsetFetchRequest::default().with_require_stable(require_stable).with_groups(vec![
        offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(GroupId(s(group))).with_topics(Some(
            vec![
                offset_fetch_request::OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![0]),
            ],
        )),
    ]);
    let resp = c.send(&req, 8).await;
    let p = &resp.groups[0].topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

async fn txn_offsets(c: &mut TestClient, tid: &str, pid: i64, epoch: i16, group: &str, offset: i64) -> (i16, i16) {
    let add = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(s(tid)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_group_id(GroupId(s(group)));
    let added = c.send(&add, 3).await.error_code;
    let commit = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(tid)))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_generation_id(-1)
        .with_member_id(s(""))
        .with_topics(vec![
            txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(-1),
                ]),
        ]);
    let resp = c.send(&commit, 3).await;
    (added, resp.topics[0].partitions[0].error_code)
}

#[tokio::test]
async fn transactional_offsets_are_visible_only_once_committed() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = setup(broker.local_addr()).await;
    let (_, pid, epoch) = init_txn(&mut c, "tx", 60_000).await;
    assert_eq!(txn_offsets(&mut c, "tx", pid, epoch, "g", 7).await, (NONE, NONE));
    assert_eq!(fetch_offset(&mut c, "g").await, -1, "pending until the commit");
    assert_eq!(fetch_offset_as(&mut c, "g", true).await, (UNSTABLE_OFFSET_COMMIT, -1), "KIP-447");
    assert_eq!(end_txn(&mut c, "tx", pid, epoch, false).await, NONE);
    assert_eq!(fetch_offset(&mut c, "g").await, -1, "dropped by the abort");
    assert_eq!(txn_offsets(&mut c, "tx", pid, epoch, "g", 9).await, (NONE, NONE));
    assert_eq!(end_txn(&mut c, "tx", pid, epoch, true).await, NONE);
    assert_eq!(fetch_offset(&mut c, "g").await, 9);
    assert_eq!(fetch_offset_as(&mut c, "g", true).await, (NONE, 9));
    broker.shutdown().await.unwrap();
}

/// Committed, aborted and open transactions, then a restart (clean or not): the committed
/// view is the same, and the open transaction is never exposed: it times out and is aborted.
async fn restart_keeps_the_committed_view(clean: bool) {
    let dir = tempfile::tempdir().unwrap();
    let configure = |config: &mut ferrokafka_broker::BrokerConfig| {
        config.listen = "127.0.0.1:0".into();
        config.data_dir = dir.path().to_owned();
        config.transactions.abort_check_interval_ms = 20;
    };
    let mut config = ferrokafka_broker::BrokerConfig::default();
    configure(&mut config);
    let broker = ferrokafka_broker::Broker::start(config).await.unwrap();
    let mut c = setup(broker.local_addr()).await;
    let (_, pid, epoch) = init_txn(&mut c, "tx", 60_000).await;
    transaction(&mut c, "tx", (pid, epoch), 0, &["a"], false).await;
    transaction(&mut c, "tx", (pid, epoch), 1, &["b"], true).await;
    let (_, open_pid, open_epoch) = init_txn(&mut c, "open", 1_000).await;
    assert_eq!(add_partition(&mut c, "open", open_pid, open_epoch, "t", 0).await, NONE);
    assert_eq!(produce(&mut c, "t", 0, txn_batch(&["unfinished"], open_pid, open_epoch, 0, false)).await.0, NONE);
    let before = fetch_isolated(&mut c, "t", 0, true, 0).await;
    assert_eq!((before.last_stable_offset, before.committed_values()), (4, vec!["b".to_owned()]));
    drop(c);
    if clean {
        broker.shutdown().await.unwrap();
    } else {
        drop(broker);
    }

    let mut config = ferrokafka_broker::BrokerConfig::default();
    configure(&mut config);
    let broker = ferrokafka_broker::Broker::start(config).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    let after = fetch_isolated(&mut c, "t", 0, true, 0).await;
    assert_eq!(after.aborted, vec![(pid, 0)]);
    assert_eq!(after.committed_values(), vec!["b"]);
    assert!(after.last_stable_offset <= 4, "the unfinished transaction is not exposed");
    // Its timeout passes: the coordinator, restored from its log, aborts it.
    let aborted = fetch_isolated(&mut c, "t", 4, true, 10_000).await;
    assert_eq!((aborted.last_stable_offset, aborted.high_watermark), (6, 6));
    assert_eq!(fetch_isolated(&mut c, "t", 0, true, 0).await.committed_values(), vec!["b"]);
    // The coordinator kept the producer id: the next init bumps its epoch.
    assert_eq!(init_txn(&mut c, "tx", 60_000).await, (NONE, pid, epoch + 1));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_clean_restart_keeps_the_committed_view() {
    restart_keeps_the_committed_view(true).await;
}

#[tokio::test]
async fn a_restart_without_shutdown_keeps_the_committed_view() {
    restart_keeps_the_committed_view(false).await;
}

#[tokio::test]
async fn a_decided_commit_whose_markers_failed_completes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || ferrokafka_broker::BrokerConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_owned(),
        ..Default::default()
    };
    let broker = ferrokafka_broker::Broker::start(config()).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 2, &[]).await, NONE);
    let (_, pid, epoch) = init_txn(&mut c, "tx", 60_000).await;
    for p in 0..2 {
        assert_eq!(add_partition(&mut c, "tx", pid, epoch, "t", p).await, NONE);
        let (code, _) = produce(&mut c, "t", p, txn_batch(&[&format!("v{p}")], pid, epoch, 0, false)).await;
        assert_eq!(code, NONE);
    }
    assert_eq!(txn_offsets(&mut c, "tx", pid, epoch, "g", 5).await, (NONE, NONE));

    // The marker for t-1 cannot be written: the commit is decided, and answered as such.
    let fault = disk::inject(Fault::new(WritePoint::Append, format!("{}/t-1/", dir.path().display()), FaultKind::Io));
    assert_eq!(end_txn(&mut c, "tx", pid, epoch, true).await, NONE);
    assert!(fault.fired() > 0);
    assert_eq!(fetch_partition(&mut c, ("t", 0), 0, true, 0).await.committed_values(), vec!["v0"]);
    let held = fetch_partition(&mut c, ("t", 1), 0, true, 0).await;
    assert_eq!((held.last_stable_offset, held.records.len()), (0, 0), "t-1 waits for its marker");
    // The next transaction of this id waits for the end of this one.
    assert_eq!(add_partition(&mut c, "tx", pid, epoch, "t", 0).await, 51, "CONCURRENT_TRANSACTIONS");
    drop(c);
    drop(broker);
    fault.clear();

    let broker = ferrokafka_broker::Broker::start(config()).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    // The restarted coordinator finishes the commit: the marker wakes this fetch.
    let done = fetch_partition(&mut c, ("t", 1), 0, true, 10_000).await;
    assert_eq!((done.last_stable_offset, done.committed_values()), (2, vec!["v1".to_owned()]));
    assert_eq!(fetch_partition(&mut c, ("t", 0), 0, true, 0).await.high_watermark, 2, "no second marker on t-0");
    assert_eq!(fetch_offset(&mut c, "g").await, 5);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn kip_664_tooling_describes_lists_and_shows_producers() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = setup(broker.local_addr()).await;
    let (_, pid, epoch) = init_txn(&mut c, "tx", 60_000).await;
    assert_eq!(add_partition(&mut c, "tx", pid, epoch, "t", 0).await, NONE);
    assert_eq!(produce(&mut c, "t", 0, txn_batch(&["a", "b"], pid, epoch, 0, false)).await.0, NONE);

    let describe = |ids: &[&str]| {
        DescribeTransactionsRequest::default()
            .with_transactional_ids(ids.iter().map(|i| TransactionalId(s(i))).collect())
    };
    let resp = c.send(&describe(&["tx", "nobody"]), 0).await;
    let tx = &resp.transaction_states[0];
    assert_eq!((tx.error_code, tx.transaction_state.as_str(), tx.producer_id.0), (NONE, "Ongoing", pid));
    assert_eq!((tx.topics[0].topic.0.as_str(), tx.topics[0].partitions.clone()), ("t", vec![0]));
    assert!(tx.transaction_start_time_ms > 0);
    assert_eq!(resp.transaction_states[1].error_code, 105, "TRANSACTIONAL_ID_NOT_FOUND");

    let list = ListTransactionsRequest::default().with_state_filters(vec![s("Ongoing"), s("Bogus")]);
    let resp = c.send(&list, 1).await;
    let listed: Vec<_> =
        resp.transaction_states.iter().map(|t| (t.transactional_id.0.to_string(), t.producer_id.0)).collect();
    assert_eq!(listed, vec![("tx".to_owned(), pid)]);
    assert_eq!(resp.unknown_state_filters, vec![s("Bogus")]);
    // v2: ids filtered by a regular expression matching the whole id.
    for (pattern, want) in [("t.", 1), ("t", 0), ("x|tx", 1), ("", 1)] {
        let resp = c.send(&ListTransactionsRequest::default().with_transactional_id_pattern(Some(s(pattern))), 2).await;
        assert_eq!((resp.error_code, resp.transaction_states.len()), (NONE, want), "{pattern:?}");
    }
    let bad = ListTransactionsRequest::default().with_transactional_id_pattern(Some(s("(")));
    assert_eq!(c.send(&bad, 2).await.error_code, 128, "INVALID_REGULAR_EXPRESSION");

    let producers = DescribeProducersRequest::default().with_topics(vec![
        describe_producers_request::TopicRequest::default()
            .with_name(TopicName(s("t")))
            .with_partition_indexes(vec![0, 9]),
    ]);
    let resp = c.send(&producers, 0).await;
    let p0 = &resp.topics[0].partitions[0];
    let state = &p0.active_producers[0];
    assert_eq!((state.producer_id.0, state.last_sequence, state.current_txn_start_offset), (pid, 1, 0));
    assert_eq!(resp.topics[0].partitions[1].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");

    assert_eq!(end_txn(&mut c, "tx", pid, epoch, true).await, NONE);
    let resp = c.send(&describe(&["tx"]), 0).await;
    assert_eq!(resp.transaction_states[0].transaction_state.as_str(), "CompleteCommit");
    let resp = c.send(&list, 1).await;
    assert!(resp.transaction_states.is_empty(), "no longer ongoing");
    let resp = c.send(&producers, 0).await;
    assert_eq!(resp.topics[0].partitions[0].active_producers[0].current_txn_start_offset, -1);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_idle_transactional_id_expires_and_comes_back_with_a_new_producer_id() {
    let (broker, _dir) = start_broker(|config| {
        config.transactions.abort_check_interval_ms = 20;
        config.transactions.id_expiration_ms = 200;
    })
    .await;
    let mut c = setup(broker.local_addr()).await;
    let (_, pid, epoch) = init_txn(&mut c, "tx", 60_000).await;
    assert_eq!(add_partition(&mut c, "tx", pid, epoch, "t", 0).await, NONE);
    let describe = DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(s("tx"))]);
    assert_eq!(end_txn(&mut c, "tx", pid, epoch, true).await, NONE);
    // Nothing announces the expiry: look until it has happened (20 ms checks, 200 ms expiry).
    let mut found = NONE;
    for _ in 0..250 {
        found = c.send(&describe, 0).await.transaction_states[0].error_code;
        if found != NONE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(found, 105, "TRANSACTIONAL_ID_NOT_FOUND once expired");
    let (code, new_pid, new_epoch) = init_txn(&mut c, "tx", 60_000).await;
    assert_eq!(code, NONE);
    assert!(new_pid != pid && new_epoch == 0, "a new producer id");
    broker.shutdown().await.unwrap();
}

/// `producer.id.expiration.ms`: a partition forgets an idempotent producer whose last batch
/// is older than that (it drops out of DescribeProducers, and its next batch is taken at any
/// sequence, as a new producer's), and keeps one that wrote recently.
#[tokio::test]
async fn idle_idempotent_producers_expire_from_a_partition() {
    const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    let (broker, _dir) = start_broker(|config| config.producer_id_expiration_check_interval_ms = 20).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "idem", 1, &[]).await, NONE);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let two_days_ago = now - 2 * 86_400_000;
    let ((old, old_epoch), (recent, recent_epoch)) = (init_producer_id(&mut c).await, init_producer_id(&mut c).await);
    let records = |ts| [(None, &b"v"[..], ts), (None, &b"v"[..], ts)];
    let sent = batch(&records(two_days_ago), Some((old, old_epoch, 0)), Compression::None);
    assert_eq!(produce(&mut c, "idem", 0, sent).await.0, NONE);
    let sent = batch(&records(now), Some((recent, recent_epoch, 0)), Compression::None);
    assert_eq!(produce(&mut c, "idem", 0, sent).await.0, NONE);

    let describe = DescribeProducersRequest::default().with_topics(vec![
        describe_producers_request::TopicRequest::default()
            .with_name(TopicName(s("idem")))
            .with_partition_indexes(vec![0]),
    ]);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let resp = c.send(&describe, 0).await;
        let ids: Vec<i64> = resp.topics[0].partitions[0].active_producers.iter().map(|p| p.producer_id.0).collect();
        if ids == [recent] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still listed: {ids:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A gap in sequence numbers: new to the partition for the forgotten one, refused for the other.
    let gap = batch(&records(now), Some((old, old_epoch, 7)), Compression::None);
    assert_eq!(produce(&mut c, "idem", 0, gap).await.0, NONE);
    let gap = batch(&records(now), Some((recent, recent_epoch, 7)), Compression::None);
    assert_eq!(produce(&mut c, "idem", 0, gap).await.0, OUT_OF_ORDER_SEQUENCE_NUMBER);
    broker.shutdown().await.unwrap();
}
