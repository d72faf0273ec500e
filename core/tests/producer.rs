//! Producer queue limits, statistics and sticky partitioning against the bundled broker.

use std::collections::BTreeSet;

use ferrokafka::{ClientConfig, Error, Producer, ProducerRecord};
use ferrokafka_broker::{AllocGuard, Broker, BrokerConfig};

#[global_allocator]
static ALLOC: AllocGuard = AllocGuard;

async fn broker() -> (Broker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig { listen: "127.0.0.1:0".into(), data_dir: dir.path().to_owned(), num_partitions: 4, ..Default::default() };
    (Broker::start(config).await.unwrap(), dir)
}

#[tokio::test]
async fn a_full_queue_fails_fast_or_after_max_block_ms_and_stats_count_what_was_sent() {
    let (broker, _dir) = broker().await;
    let config = ClientConfig::from_pairs([
        ("bootstrap.servers", broker.bootstrap().as_str()),
        ("queue.buffering.max.messages", "10"),
        ("linger.ms", "60000"), // nothing leaves until flush
        ("max.block.ms", "50"),
    ])
    .unwrap();
    let producer = Producer::new(config).unwrap();
    let mut deliveries = Vec::new();
    for i in 0..10 {
        deliveries.push(producer.try_send(ProducerRecord::new("q").partition(0).value(format!("{i}"))).await.unwrap());
    }
    let full = producer.try_send(ProducerRecord::new("q").partition(0).value("x")).await.unwrap_err();
    assert!(matches!(full, Error::QueueFull(_)), "{full}");
    let started = std::time::Instant::now();
    let blocked = producer.send(ProducerRecord::new("q").partition(0).value("y")).await.unwrap_err();
    assert!(matches!(blocked, Error::QueueFull(_)), "{blocked}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(50), "send waited max.block.ms first");
    assert_eq!(producer.stats().queued_records, 10);

    producer.flush().await.unwrap();
    for d in deliveries {
        d.await.unwrap();
    }
    let stats = producer.stats();
    assert_eq!((stats.records_sent, stats.batches_sent, stats.queued_records, stats.failed_records), (10, 1, 0, 0));
    assert!(stats.bytes_sent > 0 && stats.requests >= 1 && stats.max_request_latency_us > 0, "{stats:?}");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn unkeyed_records_fill_one_partition_at_a_time() {
    let (broker, _dir) = broker().await;
    let config = ClientConfig::from_pairs([("bootstrap.servers", broker.bootstrap().as_str()), ("batch.size", "2000")]).unwrap();
    let producer = Producer::new(config).unwrap();
    let mut partitions = Vec::new();
    for i in 0..100 {
        let meta = producer.send_and_wait(ProducerRecord::new("sticky").value(format!("{i:0>80}"))).await.unwrap();
        partitions.push(meta.partition);
    }
    // ~100-byte records and 2000-byte stickiness: runs of about 20 on one partition.
    let switches = partitions.windows(2).filter(|w| w[0] != w[1]).count();
    assert!((3..=8).contains(&switches), "{switches} switches in {partitions:?}");
    assert!(partitions.iter().collect::<BTreeSet<_>>().len() > 1, "it does move on");
    broker.shutdown().await.unwrap();
}
