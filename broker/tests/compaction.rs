//! Log compaction over the wire: a compacted topic read from the beginning holds the latest
//! value of every key at the offset its produce was acknowledged with, whatever the codec;
//! records without a key are refused; switching a live topic to `compact` takes effect.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use ferrokafka_broker::BrokerConfig;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const INVALID_RECORD: i16 = 87;
const CODECS: [Compression; 5] =
    [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

fn quick_cleaner(config: &mut BrokerConfig) {
    config.cleaner.backoff_ms = 20;
}

/// (offset, key, value or None for a tombstone).
type Stored = (i64, Vec<u8>, Option<Vec<u8>>);

/// Every record from the log start.
async fn read_all(c: &mut TestClient, topic: &str) -> Vec<Stored> {
    let mut out: Vec<Stored> = Vec::new();
    let mut next = 0;
    loop {
        let (err, hw, start, recs) = fetch(c, topic, 0, next.max(0)).await;
        assert_eq!(err, 0, "fetch at {next}");
        next = next.max(start);
        let fresh: Vec<_> = recs.into_iter().filter(|r| r.offset >= next).collect();
        if fresh.is_empty() {
            // Batches emptied by the cleaner carry no record: the high watermark says we are done.
            if next >= hw {
                return out;
            }
            next += 1;
            continue;
        }
        for r in fresh {
            next = r.offset + 1;
            out.push((r.offset, r.key.map(|k| k.to_vec()).unwrap_or_default(), r.value.map(|v| v.to_vec())));
        }
    }
}

fn latest(records: &[Stored]) -> BTreeMap<Vec<u8>, (Option<Vec<u8>>, i64)> {
    records.iter().map(|(o, k, v)| (k.clone(), (v.clone(), *o))).collect()
}

/// Polls the topic until it holds at most `max_records`, or fails after 30 s.
async fn await_compacted(c: &mut TestClient, topic: &str, max_records: usize) -> Vec<Stored> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = read_all(c, topic).await;
        if all.len() <= max_records {
            return all;
        }
        assert!(Instant::now() < deadline, "{topic} still holds {} records", all.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn produce_kv(c: &mut TestClient, topic: &str, key: &str, value: Option<&str>, codec: Compression) -> (i16, i64) {
    let now = ferrokafka_broker::log::now_ms();
    let mut records = batch(&[(Some(key.as_bytes()), value.unwrap_or("").as_bytes(), now)], None, codec);
    if value.is_none() {
        records = tombstone(key, codec);
    }
    produce(c, topic, 0, records).await
}

fn tombstone(key: &str, codec: Compression) -> bytes::Bytes {
    use kafka_protocol::records::*;
    let rec = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: ferrokafka_broker::log::now_ms(),
        key: Some(bytes::Bytes::copy_from_slice(key.as_bytes())),
        value: None,
        headers: Default::default(),
    };
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, [&rec], &RecordEncodeOptions { version: 2, compression: codec }).unwrap();
    buf.freeze()
}

#[tokio::test]
async fn a_compacted_topic_keeps_the_latest_value_of_each_key_at_its_acknowledged_offset() {
    let (broker, _dir) = start_broker(quick_cleaner).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    let configs = [("cleanup.policy", "compact"), ("segment.bytes", "1024"), ("min.cleanable.dirty.ratio", "0.01")];
    assert_eq!(create_topic(&mut c, "t", 1, &configs).await, 0);
    let mut acked = BTreeMap::new();
    for i in 0..400 {
        let key = format!("key-{}", i % 10);
        let value = (i % 53 != 52).then(|| format!("value-{i}"));
        let (err, offset) = produce_kv(&mut c, "t", &key, value.as_deref(), CODECS[i % 5]).await;
        assert_eq!(err, 0);
        acked.insert(key.into_bytes(), (value.map(String::into_bytes), offset));
    }
    // A 1 KiB active segment holds at most a dozen of these records; the rest is compacted.
    let all = await_compacted(&mut c, "t", 10 + 16).await;
    assert_eq!(latest(&all), acked, "every key's latest value (or tombstone) at its acknowledged offset");
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(list_offset(&mut c, "t", 0, -1).await.1, 400, "offsets never change");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_compacted_topic_refuses_records_without_a_key() {
    let (broker, _dir) = start_broker(quick_cleaner).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[("cleanup.policy", "compact,delete")]).await, 0);
    for codec in CODECS {
        let keyless = batch(&[(Some(b"k"), b"v", 1), (None, b"v", 1)], None, codec);
        assert_eq!(produce(&mut c, "t", 0, keyless).await.0, INVALID_RECORD, "{codec:?}");
    }
    assert_eq!(produce_kv(&mut c, "t", "k", Some("v"), Compression::Zstd).await, (0, 0));
    broker.shutdown().await.unwrap();
}

async fn set_topic_config(c: &mut TestClient, topic: &str, key: &str, value: &str) -> i16 {
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.into()))
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(StrBytes::from_string(key.into()))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_string(value.into()))),
            ]),
    ]);
    c.send(&req, 1).await.responses[0].error_code
}

async fn topic_config(c: &mut TestClient, topic: &str, key: &str) -> String {
    let req = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.into()))
            .with_configuration_keys(None),
    ]);
    let resp = c.send(&req, 4).await;
    let found = resp.results[0].configs.iter().find(|e| e.name.as_str() == key).expect("reported");
    found.value.as_ref().map(|v| v.to_string()).unwrap_or_default()
}

#[tokio::test]
async fn switching_a_live_topic_to_compact_takes_effect() {
    let (broker, _dir) = start_broker(quick_cleaner).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[("segment.bytes", "1024")]).await, 0);
    let mut acked = BTreeMap::new();
    for i in 0..100 {
        let key = format!("key-{}", i % 5);
        let (err, offset) = produce_kv(&mut c, "t", &key, Some(&format!("v{i}")), Compression::Lz4).await;
        assert_eq!(err, 0);
        acked.insert(key.into_bytes(), (Some(format!("v{i}").into_bytes()), offset));
    }
    // Under `delete` nothing is compacted, however dirty.
    assert_eq!(set_topic_config(&mut c, "t", "min.cleanable.dirty.ratio", "0.01").await, 0);
    assert_eq!(read_all(&mut c, "t").await.len(), 100);
    assert_eq!(set_topic_config(&mut c, "t", "cleanup.policy", "compact").await, 0);
    assert_eq!(topic_config(&mut c, "t", "cleanup.policy").await, "compact");
    assert_eq!(topic_config(&mut c, "t", "min.cleanable.dirty.ratio").await, "0.01");
    let keyless = batch(&[(None, b"v", 1)], None, Compression::None);
    assert_eq!(produce(&mut c, "t", 0, keyless).await.0, INVALID_RECORD);
    let all = await_compacted(&mut c, "t", 5 + 16).await;
    assert_eq!(latest(&all), acked);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn compaction_settings_are_checked() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_ne!(create_topic(&mut c, "a", 1, &[("cleanup.policy", "shred")]).await, 0);
    assert_ne!(create_topic(&mut c, "b", 1, &[("min.cleanable.dirty.ratio", "1.5")]).await, 0);
    let lags = [("min.compaction.lag.ms", "1000"), ("max.compaction.lag.ms", "10")];
    assert_ne!(create_topic(&mut c, "c", 1, &lags).await, 0);
    assert_eq!(create_topic(&mut c, "d", 1, &[("cleanup.policy", "delete, compact")]).await, 0);
    // Reported as Kafka reports a list: its items trimmed, in their order.
    assert_eq!(topic_config(&mut c, "d", "cleanup.policy").await, "delete,compact");
    let mut config = BrokerConfig::default();
    assert!(config.set("log.cleanup.policy", "compact").is_ok());
    assert!(config.set("log.cleaner.threads", "0").is_err());
    assert!(config.set("log.cleaner.min.cleanable.ratio", "0.2").is_ok());
    assert_eq!(config.log.min_cleanable_dirty_ratio, 0.2);
    assert!(config.set("log.cleaner.io.max.bytes.per.second", "-1").is_err());
    assert!(config.set("log.cleaner.io.buffer.load.factor", "0.9").is_err(), "not honoured, so not accepted");
    broker.shutdown().await.unwrap();
}
