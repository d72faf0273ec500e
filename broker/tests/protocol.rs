//! The broker's Kafka protocol surface, driven over TCP with raw requests.

mod common;

use std::time::Duration;

use common::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const PRODUCER_FENCED: i16 = 90;
const INVALID_REQUEST: i16 = 42;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_CONFIG: i16 = 40;
const UNSUPPORTED_VERSION: i16 = 35;

#[tokio::test]
async fn api_versions_answers_newer_versions_in_v0_shape() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    let resp = c.send(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(resp.error_code, 0);
    let produce = resp.api_keys.iter().find(|k| k.api_key == ApiKey::Produce as i16).unwrap();
    assert_eq!((produce.min_version, produce.max_version), (0, 13));
    let fetch = resp.api_keys.iter().find(|k| k.api_key == ApiKey::Fetch as i16).unwrap();
    assert!(fetch.min_version <= 4 && fetch.max_version >= 4, "librdkafka needs Fetch v4 for message format v2");

    // A client probing with a version we lack gets a v0 reply naming our range.
    let frame = c.encode(&ApiVersionsRequest::default(), 3);
    let mut raw = frame.to_vec();
    raw[6..8].copy_from_slice(&99i16.to_be_bytes());
    c.send_raw(&raw).await;
    let mut body = c.read_frame().await.expect("a reply, not a close");
    use kafka_protocol::protocol::Decodable;
    let _header = ResponseHeader::decode(&mut body, 0).unwrap();
    let v0 = ApiVersionsResponse::decode(&mut body, 0).unwrap();
    assert_eq!(v0.error_code, UNSUPPORTED_VERSION);
    assert!(v0.api_keys.iter().any(|k| k.api_key == ApiKey::ApiVersions as i16 && k.max_version == 4));
    broker.shutdown().await.unwrap();
}

/// Produce v13 names topics by id (KIP-516): records land in the topic the id names, the
/// answer carries the id, and an unknown id is UNKNOWN_TOPIC_ID.
#[tokio::test]
async fn produce_v13_names_topics_by_id() {
    let (broker, _dir) = start_broker(|c| c.num_partitions = 1).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    let req = MetadataRequest::default().with_allow_auto_topic_creation(true).with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("by-id")))),
    ]));
    let id = c.send(&req, 13).await.topics[0].topic_id;
    assert!(!id.is_nil());
    for (topic_id, want_code, want_offset) in [(id, 0, 0), (id, 0, 1), (uuid::Uuid::from_u128(7), 100, -1)] {
        let mut req = common::produce_request("", 0, common::batch(&[(None, b"v", 1)], None, Compression::None), -1);
        req.topic_data[0].topic_id = topic_id;
        let resp = c.send(&req, 13).await;
        assert_eq!(resp.responses[0].topic_id, topic_id);
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (want_code, want_offset), "{topic_id}");
    }
    let fetched = c.send(&common::fetch_request("by-id", 0, 0, 0, 1), 12).await;
    assert_eq!(fetched.responses[0].partitions[0].high_watermark, 2);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn metadata_auto_creates_and_reports_this_node_as_leader() {
    let (broker, _dir) = start_broker(|c| c.num_partitions = 3).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    let req = MetadataRequest::default().with_allow_auto_topic_creation(true).with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_static_str("auto")))),
    ]));
    let resp = c.send(&req, 12).await;
    assert_eq!(resp.brokers.len(), 1);
    assert_eq!(resp.brokers[0].port as u16, broker.local_addr().port());
    let t = &resp.topics[0];
    assert_eq!(t.error_code, 0);
    assert_eq!(t.partitions.len(), 3);
    assert!(t.partitions.iter().all(|p| p.leader_id == resp.brokers[0].node_id));
    assert!(!t.topic_id.is_nil());

    let no_create = MetadataRequest::default().with_allow_auto_topic_creation(false).with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("absent")))),
    ]));
    assert_eq!(c.send(&no_create, 12).await.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn produce_then_fetch_returns_records_with_their_offsets() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 2, &[]).await, 0);
    for codec in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let (err, _) = produce(&mut c, "t", 1, batch(&[(Some(b"k"), b"v1", 10), (None, b"v2", 11)], None, codec)).await;
        assert_eq!(err, 0, "{codec:?}");
    }
    let (err, hw, start, records) = fetch(&mut c, "t", 1, 0).await;
    assert_eq!((err, hw, start), (0, 10, 0));
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..10).collect::<Vec<_>>());
    assert_eq!(records[0].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(records[9].value.as_deref(), Some(&b"v2"[..]));
    assert_eq!(records[9].timestamp, 11);
    // Fetching from the middle returns whole batches from the one holding that offset.
    let (_, _, _, mid) = fetch(&mut c, "t", 1, 5).await;
    assert!(mid.first().unwrap().offset <= 5 && mid.iter().any(|r| r.offset == 5));
    assert_eq!(mid.last().unwrap().offset, 9);
    // Partition 0 is untouched.
    assert_eq!(fetch(&mut c, "t", 0, 0).await.1, 0);
    // Unknown partition and topic.
    assert_eq!(
        produce(&mut c, "t", 7, batch(&[(None, b"x", 1)], None, Compression::None)).await.0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        produce(&mut c, "nope", 0, batch(&[(None, b"x", 1)], None, Compression::None)).await.0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn acks_zero_gets_no_response_but_is_appended() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    create_topic(&mut c, "a0", 1, &[]).await;
    let frame = c.encode(&produce_request("a0", 0, batch(&[(None, b"x", 1)], None, Compression::None), 0), 9);
    c.send_raw(&frame).await;
    // The next response on this connection answers the next request, not the acks=0 one.
    let (err, hw, _, _) = fetch(&mut c, "a0", 0, 0).await;
    assert_eq!((err, hw), (0, 1));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn waiting_fetch_wakes_when_data_arrives() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let addr = broker.local_addr();
    let mut c = TestClient::connect(addr).await;
    create_topic(&mut c, "w", 1, &[]).await;
    let waiting = tokio::spawn(async move {
        let mut f = TestClient::connect(addr).await;
        // Far longer than the test's own deadline: only an append can end this wait in time.
        f.send(&fetch_request("w", 0, 0, 60_000, 1), 12).await
    });
    // Let the fetch reach the broker and park before producing.
    tokio::task::yield_now().await;
    let (err, _) = produce(&mut c, "w", 0, batch(&[(None, b"wake", 1)], None, Compression::None)).await;
    assert_eq!(err, 0);
    let resp = tokio::time::timeout(Duration::from_secs(20), waiting).await.expect("fetch woke up").unwrap();
    let records = decode_records(resp.responses[0].partitions[0].records.clone().unwrap());
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].value.as_deref(), Some(&b"wake"[..]));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn idempotent_retries_are_not_appended_twice_and_gaps_are_refused() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    create_topic(&mut c, "idem", 1, &[]).await;
    let (pid, epoch) = init_producer_id(&mut c).await;
    let (pid2, _) = init_producer_id(&mut c).await;
    assert_ne!(pid, pid2, "each producer gets its own id");

    let b0 = batch(&[(None, b"a", 1), (None, b"b", 1)], Some((pid, epoch, 0)), Compression::None);
    assert_eq!(produce(&mut c, "idem", 0, b0.clone()).await, (0, 0));
    let b1 = batch(&[(None, b"c", 1)], Some((pid, epoch, 2)), Compression::None);
    assert_eq!(produce(&mut c, "idem", 0, b1.clone()).await, (0, 2));
    // Retries of both batches: acknowledged with their original offsets, not re-appended.
    assert_eq!(produce(&mut c, "idem", 0, b0).await, (0, 0));
    assert_eq!(produce(&mut c, "idem", 0, b1).await, (0, 2));
    assert_eq!(fetch(&mut c, "idem", 0, 0).await.1, 3, "log end unchanged by retries");
    // A gap in sequence numbers.
    let gap = batch(&[(None, b"d", 1)], Some((pid, epoch, 5)), Compression::None);
    assert_eq!(produce(&mut c, "idem", 0, gap).await.0, OUT_OF_ORDER_SEQUENCE_NUMBER);
    // An epoch bump (KIP-360) restarts sequences at 0; the old epoch is then fenced.
    let bumped = c
        .send(
            &InitProducerIdRequest::default()
                .with_transaction_timeout_ms(60000)
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
            4,
        )
        .await;
    assert_eq!((bumped.error_code, bumped.producer_id.0, bumped.producer_epoch), (0, pid, epoch + 1));
    let fresh = batch(&[(None, b"e", 1)], Some((pid, epoch + 1, 0)), Compression::None);
    assert_eq!(produce(&mut c, "idem", 0, fresh).await, (0, 3));
    let zombie = batch(&[(None, b"z", 1)], Some((pid, epoch, 3)), Compression::None);
    assert_eq!(produce(&mut c, "idem", 0, zombie).await.0, INVALID_PRODUCER_EPOCH);
    broker.shutdown().await.unwrap();
}

async fn init_with(c: &mut TestClient, pid: i64, epoch: i16, version: i16) -> (i16, i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60000)
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch);
    let resp = c.send(&req, version).await;
    (resp.error_code, resp.producer_id.0, resp.producer_epoch)
}

#[tokio::test]
async fn an_epoch_bump_needs_the_current_epoch_and_fences_the_old_one_on_every_partition() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    create_topic(&mut c, "bump", 2, &[]).await;
    let (pid, epoch) = init_producer_id(&mut c).await;
    let old = |seq, v: &'static [u8]| batch(&[(None, v, 1)], Some((pid, epoch, seq)), Compression::None);
    assert_eq!(produce(&mut c, "bump", 0, old(0, b"a")).await, (0, 0));

    assert_eq!(init_with(&mut c, pid, epoch, 4).await, (0, pid, epoch + 1), "the current epoch is bumped");
    assert_eq!(init_with(&mut c, pid, epoch, 4).await, (0, pid, epoch + 1), "a retried bump gets the same answer");
    assert_eq!(init_with(&mut c, pid, -1, 4).await.0, INVALID_REQUEST, "an id without an epoch");

    // The old epoch is refused on partition 0, which the new epoch has not written to yet, and
    // on partition 1, which it never wrote to at all; the new epoch starts again at 0.
    assert_eq!(produce(&mut c, "bump", 0, old(1, b"b")).await.0, INVALID_PRODUCER_EPOCH);
    assert_eq!(produce(&mut c, "bump", 1, old(0, b"c")).await.0, INVALID_PRODUCER_EPOCH);
    let new = |seq, v: &'static [u8]| batch(&[(None, v, 1)], Some((pid, epoch + 1, seq)), Compression::None);
    assert_eq!(
        produce(&mut c, "bump", 0, new(1, b"d")).await.0,
        OUT_OF_ORDER_SEQUENCE_NUMBER,
        "a new epoch starts at 0"
    );
    assert_eq!(produce(&mut c, "bump", 0, new(0, b"e")).await, (0, 1));
    assert_eq!(produce(&mut c, "bump", 1, new(0, b"f")).await, (0, 0));
    assert_eq!(produce(&mut c, "bump", 0, old(1, b"g")).await.0, INVALID_PRODUCER_EPOCH);
    assert_eq!(fetch(&mut c, "bump", 0, 0).await.1, 2, "only a and e were written to partition 0");

    // A bump from the second epoch moves on again; the first epoch is now stale.
    assert_eq!(init_with(&mut c, pid, epoch + 1, 4).await, (0, pid, epoch + 2));
    assert_eq!(init_with(&mut c, pid, epoch, 4).await.0, PRODUCER_FENCED, "an epoch older than the current one");
    assert_eq!(init_with(&mut c, pid, epoch, 3).await.0, INVALID_PRODUCER_EPOCH, "v3 predates PRODUCER_FENCED");
    // A newer epoch than the broker knows (a client that bumped it locally, as Java's
    // idempotent producer does) is taken as current.
    assert_eq!(init_with(&mut c, pid, epoch + 7, 4).await, (0, pid, epoch + 8));
    // An id this broker never handed out gets a new id rather than a bump.
    let (code, other, other_epoch) = init_with(&mut c, pid + 500, 3, 4).await;
    assert_eq!(code, 0);
    assert!(other != pid + 500 && other != pid && other_epoch == 0, "{other}/{other_epoch}");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn list_offsets_by_time_finds_the_first_record_at_or_after() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    create_topic(&mut c, "time", 1, &[]).await;
    produce(
        &mut c,
        "time",
        0,
        batch(&[(None, b"a", 1000), (None, b"b", 1500), (None, b"c", 2000)], None, Compression::Lz4),
    )
    .await;
    produce(&mut c, "time", 0, batch(&[(None, b"d", 3000), (None, b"e", 4000)], None, Compression::None)).await;
    assert_eq!(list_offset(&mut c, "time", 0, 1200).await, (0, 1, 1500));
    assert_eq!(list_offset(&mut c, "time", 0, 2000).await, (0, 2, 2000));
    assert_eq!(list_offset(&mut c, "time", 0, 2500).await, (0, 3, 3000));
    assert_eq!(list_offset(&mut c, "time", 0, 0).await, (0, 0, 1000));
    assert_eq!(list_offset(&mut c, "time", 0, 9999).await, (0, -1, -1), "nothing that late");
    assert_eq!(list_offset(&mut c, "time", 0, -2).await.1, 0, "earliest");
    assert_eq!(list_offset(&mut c, "time", 0, -1).await.1, 5, "latest");
    assert_eq!(list_offset(&mut c, "time", 0, -3).await, (0, 4, 4000), "max timestamp: that record's offset");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn topic_admin_errors_are_kafkas() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "adm", 2, &[("retention.ms", "1000")]).await, 0);
    assert_eq!(create_topic(&mut c, "adm", 2, &[]).await, TOPIC_ALREADY_EXISTS);
    assert_eq!(create_topic(&mut c, "bad/name", 1, &[]).await, INVALID_TOPIC_EXCEPTION);
    assert_eq!(create_topic(&mut c, "neg", -5, &[]).await, INVALID_PARTITIONS);
    assert_eq!(create_topic(&mut c, "zero", 0, &[]).await, INVALID_PARTITIONS);
    assert_eq!(create_topic(&mut c, "cfg", 1, &[("retention.mz", "1")]).await, INVALID_CONFIG);
    let rf3 = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("rf3")))
            .with_num_partitions(1)
            .with_replication_factor(3),
    ]);
    assert_eq!(c.send(&rf3, 7).await.topics[0].error_code, INVALID_REPLICATION_FACTOR);

    // Grow, describe, delete.
    let grow = CreatePartitionsRequest::default().with_topics(vec![
        create_partitions_request::CreatePartitionsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("adm")))
            .with_count(5),
    ]);
    assert_eq!(c.send(&grow, 3).await.results[0].error_code, 0);
    let shrink = CreatePartitionsRequest::default().with_topics(vec![
        create_partitions_request::CreatePartitionsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("adm")))
            .with_count(3),
    ]);
    assert_eq!(c.send(&shrink, 3).await.results[0].error_code, INVALID_PARTITIONS);
    let describe = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("adm"))
            .with_configuration_keys(None),
    ]);
    let configs = c.send(&describe, 4).await;
    let retention = configs.results[0].configs.iter().find(|c| c.name.as_str() == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("1000"));
    assert_eq!(retention.config_source, 1, "a topic override");
    let max_bytes = configs.results[0].configs.iter().find(|c| c.name.as_str() == "max.message.bytes").unwrap();
    assert_eq!(max_bytes.value.as_deref(), Some("1048588"));

    let md = c.send(&MetadataRequest::default().with_topics(None), 12).await;
    assert_eq!(md.topics.iter().find(|t| t.name.as_ref().unwrap().0.as_str() == "adm").unwrap().partitions.len(), 5);
    let del = DeleteTopicsRequest::default().with_topic_names(vec![TopicName(StrBytes::from_static_str("adm"))]);
    assert_eq!(c.send(&del, 5).await.responses[0].error_code, 0);
    assert_eq!(c.send(&del, 5).await.responses[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    let md = c.send(&MetadataRequest::default().with_topics(None), 12).await;
    assert!(md.topics.iter().all(|t| t.name.as_ref().unwrap().0.as_str() != "adm"));
    // A topic re-created under the same name starts empty.
    assert_eq!(create_topic(&mut c, "adm", 1, &[]).await, 0);
    assert_eq!(fetch(&mut c, "adm", 0, 0).await.1, 0);
    let cluster = c.send(&DescribeClusterRequest::default(), 1).await;
    assert_eq!(cluster.brokers.len(), 1);
    broker.shutdown().await.unwrap();
}

/// DescribeLogDirs (what `kafka-log-dirs.sh` asks): the data directory with each partition's
/// log size, and the file system's totals.
#[tokio::test]
async fn describe_log_dirs_gives_each_partitions_size() {
    let (broker, dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "sized", 2, &[]).await, 0);
    assert_eq!(create_topic(&mut c, "other", 1, &[]).await, 0);
    let records = batch(&[(None, &[7u8; 1000], 1), (None, &[8u8; 1000], 2)], None, Compression::None);
    let batch_len = records.len() as i64;
    assert_eq!(produce(&mut c, "sized", 1, records).await.0, 0);

    let all: DescribeLogDirsResponse = c.send(&DescribeLogDirsRequest::default().with_topics(None), 4).await;
    assert_eq!((all.error_code, all.results.len()), (0, 1));
    let result = &all.results[0];
    assert_eq!(result.error_code, 0);
    assert_eq!(std::path::Path::new(result.log_dir.as_str()), std::path::absolute(dir.path()).unwrap());
    assert!(result.total_bytes > 0 && result.usable_bytes > 0 && result.usable_bytes <= result.total_bytes);
    let sizes = |resp: &DescribeLogDirsResponse| -> Vec<(String, i32, i64)> {
        let mut out: Vec<_> = resp.results[0]
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), p.partition_index, p.partition_size)))
            .collect();
        out.sort();
        out
    };
    assert_eq!(
        sizes(&all),
        [("other".into(), 0, 0), ("sized".into(), 0, 0), ("sized".into(), 1, batch_len)],
        "the log holds the batch as it was sent"
    );

    // Asked for some: only those, and topics the broker does not have are left out.
    let some = DescribeLogDirsRequest::default().with_topics(Some(vec![
        describe_log_dirs_request::DescribableLogDirTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("sized")))
            .with_partitions(vec![1]),
        describe_log_dirs_request::DescribableLogDirTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("missing")))
            .with_partitions(vec![0]),
    ]));
    let resp: DescribeLogDirsResponse = c.send(&some, 1).await;
    assert_eq!(sizes(&resp), [("sized".into(), 1, batch_len)]);
    broker.shutdown().await.unwrap();
}
