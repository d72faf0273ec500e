//! Producer queue limits, statistics and sticky partitioning against the bundled broker.

use std::collections::{BTreeMap, BTreeSet};

use ferrokafka::{ClientConfig, Error, Producer, ProducerRecord, TopicPartition};
use ferrokafka_broker::{Broker, BrokerConfig};

async fn broker() -> (Broker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_owned(),
        num_partitions: 4,
        ..Default::default()
    };
    (Broker::start(config).await.unwrap(), dir)
}

/// A producer that sends nothing until flushed.
fn lingering_producer(broker: &Broker) -> Producer {
    let config =
        ClientConfig::from_pairs([("bootstrap.servers", broker.bootstrap().as_str()), ("linger.ms", "60000")]).unwrap();
    Producer::new(config).unwrap()
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
    let config =
        ClientConfig::from_pairs([("bootstrap.servers", broker.bootstrap().as_str()), ("batch.size", "2000")]).unwrap();
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

#[tokio::test] // current-thread: nothing else runs between the flush's first poll and its drop
async fn a_dropped_flush_does_not_switch_off_linger() {
    let (broker, _dir) = broker().await;
    let config = ClientConfig::from_pairs([
        ("bootstrap.servers", broker.bootstrap().as_str()),
        ("linger.ms", "900000"), // the maximum: only a full batch or a flush sends anything
        ("batch.size", "1000"),
    ])
    .unwrap();
    let producer = Producer::new(config).unwrap();
    let r0 = producer.send(ProducerRecord::new("lg").partition(0).value("r0")).await.unwrap();
    // Poll the flush once (it starts), then drop it unfinished, with no await in between so
    // the sender cannot run while it is in progress.
    let mut flush = Box::pin(producer.flush());
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(flush.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "the flush was still waiting for r0 when dropped");
    drop(flush);

    let a = producer.send(ProducerRecord::new("lg").partition(0).value("a")).await.unwrap();
    // A full batch on partition 1 makes the sender drain; under linger, partition 0's open
    // batch stays open, so r0, a and c leave together at the final flush.
    let b = producer.send(ProducerRecord::new("lg").partition(1).value(vec![b'b'; 1200])).await.unwrap();
    b.await.unwrap();
    let c = producer.send(ProducerRecord::new("lg").partition(0).value("c")).await.unwrap();
    producer.flush().await.unwrap();
    let offsets = [r0.await.unwrap().offset, a.await.unwrap().offset, c.await.unwrap().offset];
    assert_eq!(offsets, [0, 1, 2]);
    let stats = producer.stats();
    assert_eq!((stats.batches_sent, stats.records_sent), (2, 4), "one batch per partition: {stats:?}");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn purge_drops_what_was_not_sent_and_the_producer_goes_on() {
    let (broker, _dir) = broker().await;
    let producer = lingering_producer(&broker);
    let mut deliveries = Vec::new();
    for i in 0..10 {
        deliveries
            .push(producer.send(ProducerRecord::new("purged").partition(i % 2).value(format!("{i}"))).await.unwrap());
    }
    assert_eq!(producer.purge(), 10);
    assert_eq!(producer.in_flight(), 0);
    for d in deliveries {
        assert!(matches!(d.await, Err(Error::Purged)));
    }
    producer.flush().await.unwrap(); // nothing left to wait for
    let kept = producer.send(ProducerRecord::new("purged").partition(0).value("after")).await.unwrap();
    producer.flush().await.unwrap();
    assert_eq!(kept.await.unwrap().offset, 0, "the purged records were never written");
    assert_eq!(producer.stats().failed_records, 10);
    broker.shutdown().await.unwrap();
}

/// A topic the cluster does not know yet is looked up again until max.block.ms: one created
/// while a send waits is written to; one that never appears is an error naming it.
#[tokio::test]
async fn a_send_waits_up_to_max_block_ms_for_a_topic_to_appear() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_owned(),
        auto_create_topics: false,
        ..Default::default()
    };
    let broker = Broker::start(config).await.unwrap();
    let bs = broker.bootstrap();
    let producer = Producer::new(
        ClientConfig::from_pairs([
            ("bootstrap.servers", bs.as_str()),
            ("max.block.ms", "5000"),
            ("retry.backoff.ms", "20"),
        ])
        .unwrap(),
    )
    .unwrap();
    let admin =
        ferrokafka::Admin::new(ClientConfig::from_pairs([("bootstrap.servers", bs.as_str())]).unwrap()).unwrap();
    // The topic appears 200 ms after the send started: its first lookups find nothing (a
    // send that did not look again would fail within milliseconds).
    let create = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        admin.create_topics(&[ferrokafka::NewTopic::new("late", 1)]).await.unwrap();
    };
    let send = producer.send_and_wait(ProducerRecord::new("late").value("v"));
    let ((), sent) = tokio::join!(create, send);
    assert_eq!(sent.unwrap().offset, 0);

    let quick = Producer::new(
        ClientConfig::from_pairs([
            ("bootstrap.servers", bs.as_str()),
            ("max.block.ms", "300"),
            ("retry.backoff.ms", "20"),
        ])
        .unwrap(),
    )
    .unwrap();
    let started = tokio::time::Instant::now();
    let e = quick.send(ProducerRecord::new("never").value("v")).await.unwrap_err();
    assert_eq!(e.kafka_code(), Some(kafka_protocol::ResponseError::UnknownTopicOrPartition), "{e}");
    assert!(e.to_string().contains("never"), "{e}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(300), "looked up again until max.block.ms");
    broker.shutdown().await.unwrap();
}

/// The report queue drained by a thread outside the runtime, as the C and Python bindings do:
/// every record reported once, each partition's reports in send order at rising offsets,
/// handed over in chunks, and counted as pending until taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_reports_come_once_each_in_offset_order_per_partition() {
    let (broker, _dir) = broker().await;
    let config = ClientConfig::from_pairs([
        ("bootstrap.servers", broker.bootstrap().as_str()),
        ("enable.idempotence", "true"),
        ("linger.ms", "0"),
        // Small batches: several of a partition in flight at once, settled by tasks that race.
        ("batch.size", "1000"),
    ])
    .unwrap();
    let producer = Producer::new(config).unwrap();
    const N: u64 = 12_000;
    const PARTITIONS: u64 = 4;
    let reports = producer.clone();
    let drained = std::thread::spawn(move || {
        let mut got = Vec::with_capacity(N as usize);
        let mut chunks = 0;
        while (got.len() as u64) < N {
            let chunk = reports.delivery_reports().poll(500, std::time::Duration::from_secs(10));
            assert!(!chunk.is_empty() && chunk.len() <= 500, "a chunk of 1 to 500: {}", chunk.len());
            got.extend(chunk);
            chunks += 1;
        }
        (got, chunks)
    });
    for i in 0..N {
        let rec = ProducerRecord::new("reported").partition((i % PARTITIONS) as i32).value(format!("{i:0>60}"));
        producer.send_with_report(rec, i).await.unwrap();
    }
    let (got, chunks) = tokio::task::spawn_blocking(move || drained.join().unwrap()).await.unwrap();
    assert!(chunks < N as usize, "taken in chunks, not one by one: {chunks} takes");
    let mut seen = vec![false; N as usize];
    let mut last: BTreeMap<i32, (u64, i64)> = BTreeMap::new();
    for r in &got {
        let delivered = r.result.as_ref().expect("delivered");
        assert_eq!((&*r.topic, r.partition), ("reported", (r.token % PARTITIONS) as i32));
        assert!(!std::mem::replace(&mut seen[r.token as usize], true), "record {} reported once", r.token);
        if let Some(&(token, offset)) = last.get(&r.partition) {
            assert!(
                r.token > token && delivered.offset > offset,
                "partition {}: {r:?} after {token}@{offset}",
                r.partition
            );
        }
        last.insert(r.partition, (r.token, delivered.offset));
    }
    let reports = producer.delivery_reports();
    assert_eq!((reports.pending(), reports.len()), (0, 0));
    assert!(reports.poll(10, std::time::Duration::from_millis(20)).is_empty(), "nothing more");
    assert!(producer.stats().max_partition_batches_in_flight > 1, "batches were pipelined: {:?}", producer.stats());
    broker.shutdown().await.unwrap();
}

/// Reports awaited by a task; pending counts a record from its send until its report is
/// taken; purged records are reported too; futures and reports mix on one producer.
#[tokio::test]
async fn delivery_reports_are_pending_until_taken_and_awaitable() {
    let (broker, _dir) = broker().await;
    let producer = lingering_producer(&broker);
    let reports = producer.delivery_reports();
    for i in 0..5 {
        producer.send_with_report(ProducerRecord::new("awaited").partition(0).value("v"), i).await.unwrap();
    }
    let future = producer.send(ProducerRecord::new("awaited").partition(0).value("f")).await.unwrap();
    assert_eq!((reports.pending(), reports.len(), producer.in_flight()), (5, 0, 6));
    // recv waits for the flush's reports, and is cancel-safe: one dropped took nothing.
    assert!(tokio::time::timeout(std::time::Duration::from_millis(20), reports.recv(10)).await.is_err());
    let (first, flushed) = tokio::join!(reports.recv(3), producer.flush());
    flushed.unwrap();
    assert_eq!(future.await.unwrap().offset, 5, "a future in the same batch");
    let rest = reports.recv(10).await;
    let offsets: Vec<i64> = first.iter().chain(&rest).map(|r| r.result.as_ref().unwrap().offset).collect();
    let tokens: Vec<u64> = first.iter().chain(&rest).map(|r| r.token).collect();
    assert_eq!((first.len(), offsets, tokens), (3, vec![0, 1, 2, 3, 4], vec![0, 1, 2, 3, 4]));
    assert_eq!((reports.pending(), producer.in_flight()), (0, 0));

    producer.send_with_report(ProducerRecord::new("awaited").partition(1).value("p"), 9).await.unwrap();
    assert_eq!(producer.purge(), 1);
    let purged = reports.poll(10, std::time::Duration::ZERO);
    assert_eq!(purged.len(), 1);
    assert!(matches!(purged[0].result, Err(Error::Purged)) && purged[0].token == 9, "{purged:?}");
    assert_eq!(reports.pending(), 0);
    broker.shutdown().await.unwrap();
}

/// The sender is a task: without a runtime to spawn it on, creating a producer is an error,
/// not a panic; inside Runtime::enter it works.
#[test]
fn a_producer_made_outside_a_runtime_is_an_error() {
    let config = ClientConfig::from_pairs([("bootstrap.servers", "127.0.0.1:1")]).unwrap();
    let e = Producer::new(config.clone()).unwrap_err();
    assert!(matches!(e, Error::NoRuntime("Producer::new")), "{e}");
    assert_eq!(e.code(), ferrokafka::error::codes::FAIL);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _entered = rt.enter();
    Producer::new(config).unwrap();
}

// The bindings drain reports from threads of their own and (Node) from tasks on any worker.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<ferrokafka::DeliveryReports>();
    send_sync::<ferrokafka::DeliveryReport>();
};
#[allow(dead_code)]
fn recv_is_send(reports: &ferrokafka::DeliveryReports) -> impl Send + '_ {
    reports.recv(1)
}

#[tokio::test]
async fn per_send_options_share_one_producer_and_never_share_a_batch() {
    use ferrokafka::Compression;
    let (broker, _dir) = broker().await;
    let bs = broker.bootstrap();
    let plain = Producer::new(
        ClientConfig::from_pairs([
            ("bootstrap.servers", bs.as_str()),
            ("enable.idempotence", "false"),
            ("acks", "all"),
            ("linger.ms", "60000"),
        ])
        .unwrap(),
    )
    .unwrap();
    let flavours = [
        ferrokafka::SendOptions::default(),
        ferrokafka::SendOptions { acks: Some(1), compression: Some(Compression::Gzip), request_timeout_ms: None },
        ferrokafka::SendOptions {
            acks: Some(-1),
            compression: Some(Compression::Zstd),
            request_timeout_ms: Some(5000),
        },
        ferrokafka::SendOptions { acks: Some(0), compression: None, request_timeout_ms: None },
    ];
    // Interleaved on one partition: every record keeps its place, whatever batch it went in.
    let mut deliveries = Vec::new();
    for i in 0..40 {
        let rec = ProducerRecord::new("options").partition(0).value(format!("v{i}")).options(flavours[i % 4]);
        deliveries.push(plain.send(rec).await.unwrap());
    }
    plain.flush().await.unwrap();
    for (i, d) in deliveries.into_iter().enumerate() {
        let meta = d.await.unwrap();
        if i % 4 != 3 {
            assert_eq!(meta.offset, i as i64, "acks=0 records are not told their offset; the others are");
        }
    }
    assert_eq!(plain.stats().batches_sent, 40, "a batch per change of options: {:?}", plain.stats());

    let consumer =
        ferrokafka::PartitionConsumer::new(ClientConfig::from_pairs([("bootstrap.servers", bs.as_str())]).unwrap());
    let mut consumer = consumer.unwrap();
    consumer.assign([(TopicPartition::new("options", 0), ferrokafka::Offset::Beginning)]).await.unwrap();
    let mut values = Vec::new();
    while values.len() < 40 {
        let r = consumer.poll(std::time::Duration::from_secs(10)).await.unwrap().expect("all 40 arrive");
        values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
    }
    assert_eq!(values, (0..40).map(|i| format!("v{i}")).collect::<Vec<_>>());

    // An idempotent producer sends with acks=all only: anything else is refused, naming acks.
    let idempotent = Producer::new(ClientConfig::from_pairs([("bootstrap.servers", bs.as_str())]).unwrap()).unwrap();
    let acks1 = ferrokafka::SendOptions { acks: Some(1), ..Default::default() };
    match idempotent.send(ProducerRecord::new("options").value("x").options(acks1)).await {
        Err(Error::Config { key, .. }) => assert_eq!(key, "acks"),
        other => panic!("acks=1 on an idempotent producer: {other:?}"),
    }
    broker.shutdown().await.unwrap();
}
