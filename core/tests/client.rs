//! The client over TCP against the bundled broker, or — with `FERROKAFKA_TEST_BOOTSTRAP`
//! set — against any Kafka cluster (the interop suite points it at Apache Kafka): the same
//! test code for both. Every test creates its own topics under unique names.

use std::time::Duration;

use ferrokafka::consumer::Offset;
use ferrokafka::{
    Admin, ClientConfig, Consumer, Error, NewTopic, OffsetSpec, PartitionConsumer, Producer, ProducerRecord,
    RebalanceEvent, TopicPartition, TopicPartitionOffset,
};
use ferrokafka_broker::{Broker, BrokerConfig};

/// The cluster a test runs against: an in-process bundled broker, or an external one.
struct TestCluster {
    bootstrap: String,
    local: Option<(Broker, tempfile::TempDir)>,
}

impl TestCluster {
    async fn start() -> TestCluster {
        if let Ok(bootstrap) = std::env::var("FERROKAFKA_TEST_BOOTSTRAP") {
            return TestCluster { bootstrap, local: None };
        }
        let dir = tempfile::tempdir().unwrap();
        let mut config =
            BrokerConfig { listen: "127.0.0.1:0".into(), data_dir: dir.path().to_owned(), ..Default::default() };
        // As the interop suite's Apache Kafka: KIP-848 members hear of a released partition
        // within half a second, not Kafka's default five.
        config.groups.consumer_heartbeat_interval_ms = 500;
        let broker = Broker::start(config).await.unwrap();
        TestCluster { bootstrap: broker.bootstrap(), local: Some((broker, dir)) }
    }

    /// Creates a topic with a unique name starting with `prefix` and waits until every
    /// partition's leader serves it. Metadata naming a leader is not enough on Apache Kafka:
    /// a broker publishes the new metadata before its replica manager has created the
    /// partition, and in between answers Produce and ListOffsets with NOT_LEADER_OR_FOLLOWER
    /// (an acks=0 record sent then is dropped, as Kafka drops the connection).
    async fn topic(&self, prefix: &str, partitions: i32) -> String {
        self.topic_with(prefix, partitions, &[]).await
    }

    /// Like [`topic`](Self::topic), with topic configs.
    async fn topic_with(&self, prefix: &str, partitions: i32, configs: &[(&str, &str)]) -> String {
        let name = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
        let admin = Admin::new(config(&self.bootstrap, &[])).unwrap();
        let topic = configs.iter().fold(NewTopic::new(&name, partitions), |t, (k, v)| t.config(*k, *v));
        let created = admin.create_topics(&[topic]).await.unwrap();
        created[0].1.as_ref().unwrap();
        admin.wait_for_topic(&name, Duration::from_secs(30)).await.unwrap();
        let tps: Vec<TopicPartition> = (0..partitions).map(|p| TopicPartition::new(&name, p)).collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while let Err(e) = admin.list_offsets(&tps, OffsetSpec::Latest).await {
            assert!(e.is_retriable() && tokio::time::Instant::now() < deadline, "topic {name} not served: {e}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        name
    }

    /// Waits until a partition's log end offset reaches `end` (records sent without
    /// acknowledgement have landed).
    async fn wait_for_log_end(&self, topic: &str, partition: i32, end: i64) {
        let admin = Admin::new(config(&self.bootstrap, &[])).unwrap();
        let tp = [TopicPartition::new(topic, partition)];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let at = admin.list_offsets(&tp, OffsetSpec::Latest).await.unwrap()[0].1;
            if at >= end {
                assert_eq!(at, end, "{topic}-{partition}");
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{topic}-{partition} ends at {at}, not {end}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        if let Some((broker, _dir)) = self.local {
            broker.shutdown().await.unwrap();
        }
    }
}

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::from_pairs([("bootstrap.servers", bootstrap)]).unwrap();
    for (k, v) in extra {
        c.set(k, *v).unwrap();
    }
    c
}

async fn read_all(bootstrap: &str, topic: &str, partitions: i32, expected: usize) -> Vec<ferrokafka::ConsumerRecord> {
    let mut consumer = PartitionConsumer::new(config(bootstrap, &[])).unwrap();
    consumer.assign((0..partitions).map(|p| (TopicPartition::new(topic, p), Offset::Beginning))).await.unwrap();
    let mut out = Vec::new();
    while out.len() < expected {
        match consumer.poll(Duration::from_secs(10)).await.unwrap() {
            Some(r) => out.push(r),
            None => break,
        }
    }
    out
}

#[tokio::test]
async fn produces_with_every_codec_and_reads_everything_back() {
    let cluster = TestCluster::start().await;
    let bs = cluster.bootstrap.clone();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = cluster.topic(&format!("codec-{codec}"), 3).await;
        let producer = Producer::new(config(&bs, &[("compression.type", codec), ("linger.ms", "2")])).unwrap();
        let mut deliveries = Vec::new();
        for i in 0..300 {
            let rec = ProducerRecord::new(&topic)
                .key(format!("key-{}", i % 17))
                .value(format!("value-{i}"))
                .header("n", i.to_string())
                .timestamp(1_000_000 + i);
            deliveries.push(producer.send(rec).await.unwrap());
        }
        producer.flush().await.unwrap();
        let mut metas = Vec::new();
        for d in deliveries {
            metas.push(d.await.unwrap());
        }
        let records = read_all(&bs, &topic, 3, 300).await;
        assert_eq!(records.len(), 300, "{codec}");
        for m in &metas {
            let r = records.iter().find(|r| r.partition == m.partition && r.offset == m.offset).unwrap();
            let i: i64 = m.timestamp - 1_000_000;
            assert_eq!(r.value.as_deref(), Some(format!("value-{i}").as_bytes()));
            assert_eq!(r.key.as_deref(), Some(format!("key-{}", i % 17).as_bytes()));
            assert_eq!(r.headers, vec![("n".to_owned(), Some(i.to_string().into()))]);
            assert_eq!(r.timestamp, m.timestamp);
            // Keyed records land where the Java client would put them.
            assert_eq!(r.partition as usize, ferrokafka::partitioner::murmur2_partition(r.key.as_deref().unwrap(), 3));
        }
        // Per partition, offsets follow send order.
        for p in 0..3 {
            let sent: Vec<i64> = metas.iter().filter(|m| m.partition == p).map(|m| m.timestamp).collect();
            let read: Vec<i64> = records.iter().filter(|r| r.partition == p).map(|r| r.timestamp).collect();
            assert_eq!(sent, read, "{codec} partition {p} order");
        }
    }
    cluster.stop().await;
}

#[tokio::test]
async fn idempotent_batches_pipelined_five_deep_keep_send_order() {
    let cluster = TestCluster::start().await;
    let bs = cluster.bootstrap.clone();
    let topic = cluster.topic("pipelined", 1).await;
    // Small batches, all queued before the sender runs: many batches of one partition ready
    // at once, so up to 5 go out together.
    let producer = Producer::new(config(&bs, &[("batch.size", "1000"), ("linger.ms", "0")])).unwrap();
    const N: usize = 2000;
    let mut deliveries = Vec::with_capacity(N);
    for i in 0..N {
        deliveries
            .push(producer.send(ProducerRecord::new(&topic).partition(0).value(format!("{i:0>90}"))).await.unwrap());
    }
    producer.flush().await.unwrap();
    let mut offsets = Vec::with_capacity(N);
    for d in deliveries {
        offsets.push(d.await.unwrap().offset);
    }
    assert_eq!(offsets, (0..N as i64).collect::<Vec<_>>(), "acknowledged at consecutive offsets, in send order");
    let stats = producer.stats();
    assert_eq!(stats.max_partition_batches_in_flight, 5, "{stats:?}");
    let values: Vec<usize> = read_all(&bs, &topic, 1, N)
        .await
        .iter()
        .map(|r| std::str::from_utf8(r.value.as_deref().unwrap()).unwrap().parse().unwrap())
        .collect();
    assert_eq!(values, (0..N).collect::<Vec<_>>(), "each record once, in send order");
    cluster.stop().await;
}

#[tokio::test]
async fn a_batch_refused_for_good_makes_the_idempotent_producer_bump_its_epoch_and_go_on() {
    let cluster = TestCluster::start().await;
    let bs = cluster.bootstrap.clone();
    // The broker refuses batches over 1000 bytes; the client's own limit lets them through.
    let topic = cluster.topic_with("refused", 1, &[("max.message.bytes", "1000")]).await;
    let producer =
        Producer::new(config(&bs, &[("linger.ms", "0"), ("batch.size", "500"), ("retry.backoff.ms", "10")])).unwrap();
    let small = |i: usize| ProducerRecord::new(&topic).partition(0).value(format!("{i:03}"));
    for i in 0..5 {
        assert_eq!(producer.send_and_wait(small(i)).await.unwrap().offset, i as i64);
    }
    let before = producer.stats();
    // This batch took the next sequence numbers and will never be written: a gap the broker
    // would refuse every later batch behind.
    let err =
        producer.send_and_wait(ProducerRecord::new(&topic).partition(0).value(vec![b'x'; 2000])).await.unwrap_err();
    assert_eq!(err.kafka_code(), Some(kafka_protocol::ResponseError::MessageTooLarge), "{err}");
    // Pipelined, so batches wait while the epoch is bumped and are numbered under the new one.
    let mut deliveries = Vec::new();
    for i in 5..100 {
        deliveries.push(producer.send(small(i)).await.unwrap());
    }
    producer.flush().await.unwrap();
    for (i, d) in (5..).zip(deliveries) {
        assert_eq!(d.await.unwrap().offset, i, "delivered after the refusal, in order");
    }
    let after = producer.stats();
    assert_eq!((after.epoch_bumps, after.failed_records), (1, 1), "{after:?}");
    if cluster.local.is_some() {
        assert_eq!(
            (after.producer_id, after.producer_epoch),
            (before.producer_id, before.producer_epoch + 1),
            "KIP-360 bump"
        );
    } else {
        // Apache Kafka answers an idempotent producer's (no transactional.id) InitProducerId
        // with a new id at epoch 0 even when it names its current one; that resets just as well.
        assert_ne!((after.producer_id, after.producer_epoch), (before.producer_id, before.producer_epoch), "{after:?}");
    }
    let values: Vec<usize> = read_all(&bs, &topic, 1, 100)
        .await
        .iter()
        .map(|r| std::str::from_utf8(r.value.as_deref().unwrap()).unwrap().parse().unwrap())
        .collect();
    assert_eq!(values, (0..100).collect::<Vec<_>>(), "every acknowledged record once, in order; the refused one never");
    cluster.stop().await;
}

#[tokio::test]
async fn acks_variants_and_explicit_partitions() {
    let cluster = TestCluster::start().await;
    let bs = cluster.bootstrap.clone();
    let topic = cluster.topic("acks", 2).await;
    for (n, acks) in ["0", "1", "all"].into_iter().enumerate() {
        let producer = Producer::new(config(&bs, &[("acks", acks), ("delivery.timeout.ms", "10000")])).unwrap();
        let meta =
            producer.send_and_wait(ProducerRecord::new(&topic).partition(1).value(acks.to_owned())).await.unwrap();
        assert_eq!(meta.partition, 1);
        if acks == "0" {
            assert_eq!(meta.offset, -1, "acks=0 learns no offset");
        } else {
            assert_eq!(meta.offset, n as i64);
        }
        // Each producer has its own connection, and a broker orders requests per connection
        // only: the next record goes once this one is in the log.
        cluster.wait_for_log_end(&topic, 1, n as i64 + 1).await;
    }
    let records = read_all(&bs, &topic, 2, 3).await;
    assert_eq!(records.iter().map(|r| r.value.clone().unwrap()).collect::<Vec<_>>(), vec!["0", "1", "all"]);
    cluster.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_typed_error() {
    let cluster = TestCluster::start().await;
    let bs = cluster.bootstrap.clone();
    let topic = cluster.topic("big", 1).await;
    let producer = Producer::new(config(&bs, &[("message.max.bytes", "1000")])).unwrap();
    let err = producer.send(ProducerRecord::new(&topic).value(vec![0u8; 5000])).await.unwrap_err();
    assert!(matches!(err, Error::MessageTooLarge { max: 1000, .. }), "{err}");
    let err = producer.send(ProducerRecord::new(&topic).partition(9).value("x")).await.unwrap_err();
    assert!(matches!(err, Error::UnknownTopicOrPartition(_)), "{err}");
    let err = ClientConfig::from_pairs([("bootstrap.servers", bs.as_str()), ("lingr.ms", "1")]).unwrap_err();
    assert!(err.to_string().contains("lingr.ms"));
    let err = Producer::new(config(&bs, &[("acks", "1"), ("enable.idempotence", "true")])).unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
    cluster.stop().await;
    // No broker there: a typed connection error, not a hang or a panic.
    let nothing = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let producer = Producer::new(config(&nothing, &[("socket.connection.setup.timeout.ms", "2000")])).unwrap();
    let err = producer.send(ProducerRecord::new("gone").value("x")).await.unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err}");
}

/// Runs a group consumer on its own task until told to stop, reporting what it reads and
/// its rebalance events.
fn spawn_member(
    bootstrap: &str,
    group: &str,
    topic: &str,
    strategy: &str,
    name: &'static str,
    tx: tokio::sync::mpsc::UnboundedSender<(&'static str, Event)>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut cfg =
        config(bootstrap, &[("group.id", group), ("auto.offset.reset", "earliest"), ("enable.auto.commit", "false")]);
    // `consumer`: KIP-848, where the broker assigns and sets the session's timings.
    let settings: &[(&str, &str)] = match strategy {
        "consumer" => &[("group.protocol", "consumer")],
        _ => &[
            ("partition.assignment.strategy", strategy),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "200"),
        ],
    };
    for (k, v) in settings {
        cfg.set(k, *v).unwrap();
    }
    let topic = topic.to_owned();
    tokio::spawn(async move {
        let mut consumer = Consumer::new(cfg).unwrap();
        let events = tx.clone();
        consumer.on_rebalance(move |e| {
            let _ = events.send((name, Event::Rebalance(e.clone())));
        });
        consumer.subscribe(&[&topic]).unwrap();
        while !*stop.borrow() {
            tokio::select! {
                r = consumer.poll(Duration::from_millis(200)) => {
                    if let Some(r) = r.unwrap() {
                        let _ = tx.send((name, Event::Record(r.partition, String::from_utf8(r.value.unwrap().to_vec()).unwrap())));
                        consumer.commit().await.unwrap();
                    }
                }
                _ = stop.changed() => {}
            }
        }
        consumer.close().await.unwrap();
    })
}

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<(&'static str, Event)>) -> (&'static str, Event) {
    tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("group events keep coming").unwrap()
}

#[derive(Debug, Clone)]
enum Event {
    Record(i32, String),
    Rebalance(RebalanceEvent),
}

async fn group_shares_partitions_and_hands_over_on_close(strategy: &str) {
    let cluster = TestCluster::start().await;
    let bs = cluster.bootstrap.clone();
    let topic = cluster.topic(&format!("grp-{strategy}"), 4).await;
    let group = format!("g-{}", uuid::Uuid::new_v4().simple());
    let producer = Producer::new(config(&bs, &[])).unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_a, stop_rx_a) = tokio::sync::watch::channel(false);
    let (stop_b, stop_rx_b) = tokio::sync::watch::channel(false);
    let a = spawn_member(&bs, &group, &topic, strategy, "a", tx.clone(), stop_rx_a);
    let b = spawn_member(&bs, &group, &topic, strategy, "b", tx.clone(), stop_rx_b);

    let mut owned: std::collections::HashMap<&str, std::collections::BTreeSet<TopicPartition>> = Default::default();
    let mut values: Vec<(&str, String)> = Vec::new();
    // Until both hold two partitions each, disjointly.
    loop {
        let (who, e) = next(&mut rx).await;
        match e {
            Event::Rebalance(RebalanceEvent::Assigned(tps)) => owned.entry(who).or_default().extend(tps),
            Event::Rebalance(RebalanceEvent::Revoked(tps) | RebalanceEvent::Lost(tps)) => {
                for tp in tps {
                    owned.entry(who).or_default().remove(&tp);
                }
            }
            Event::Record(_, v) => values.push((who, v)),
        }
        let (oa, ob) = (owned.get("a").cloned().unwrap_or_default(), owned.get("b").cloned().unwrap_or_default());
        if oa.len() == 2 && ob.len() == 2 && oa.is_disjoint(&ob) {
            break;
        }
    }
    for i in 0..200 {
        producer.send(ProducerRecord::new(&topic).partition(i % 4).value(format!("v{i}"))).await.unwrap();
    }
    producer.flush().await.unwrap();
    while values.iter().filter(|(_, v)| v.starts_with('v')).count() < 200 {
        let (who, e) = next(&mut rx).await;
        if let Event::Record(p, v) = e {
            assert!(owned[who].contains(&TopicPartition::new(&topic, p)), "{who} read partition {p} it does not hold");
            values.push((who, v));
        }
    }
    let read: std::collections::BTreeSet<&str> =
        values.iter().map(|(_, v)| v.as_str()).filter(|v| v.starts_with('v')).collect();
    assert_eq!(read.len(), 200, "every record once");
    assert!(values.iter().any(|(w, _)| *w == "a") && values.iter().any(|(w, _)| *w == "b"));

    // b leaves cleanly: a takes all four partitions without waiting for a session timeout.
    stop_b.send(true).unwrap();
    b.await.unwrap();
    loop {
        let (who, e) = next(&mut rx).await;
        if let (who @ "a", Event::Rebalance(RebalanceEvent::Assigned(tps))) = (who, &e) {
            owned.entry(who).or_default().extend(tps.iter().cloned());
        }
        if let ("a", Event::Rebalance(RebalanceEvent::Revoked(tps))) = (who, &e) {
            for tp in tps {
                owned.entry("a").or_default().remove(tp);
            }
        }
        if owned["a"].len() == 4 {
            break;
        }
    }
    producer.send_and_wait(ProducerRecord::new(&topic).partition(3).value("after")).await.unwrap();
    loop {
        let (who, e) = next(&mut rx).await;
        if let Event::Record(3, v) = e {
            assert_eq!((who, v.as_str()), ("a", "after"), "only the new record: the rest was committed");
            break;
        }
    }
    stop_a.send(true).unwrap();
    a.await.unwrap();
    cluster.stop().await;
}

#[tokio::test]
async fn eager_group_shares_partitions_and_hands_over_on_close() {
    group_shares_partitions_and_hands_over_on_close("range").await;
}

#[tokio::test]
async fn cooperative_group_shares_partitions_and_hands_over_on_close() {
    group_shares_partitions_and_hands_over_on_close("cooperative-sticky").await;
}

/// KIP-848 (`group.protocol=consumer`): the broker assigns; a partition moves only after its
/// holder has revoked it.
#[tokio::test]
async fn consumer_protocol_group_shares_partitions_and_hands_over_on_close() {
    group_shares_partitions_and_hands_over_on_close("consumer").await;
}

/// Offsets by record time: the first record at or after a time, none past the newest, and
/// reading from a time.
#[tokio::test]
async fn offsets_for_times_and_starting_at_a_time() {
    let cluster = TestCluster::start().await;
    let bs = cluster.bootstrap.clone();
    let topic = cluster.topic("times", 1).await;
    let producer = Producer::new(config(&bs, &[])).unwrap();
    // Recent times: a record from 1970 would be past the topic's retention.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    for (i, value) in ["a", "b", "c"].into_iter().enumerate() {
        let at = now - 3000 + 1000 * i as i64;
        producer.send_and_wait(ProducerRecord::new(&topic).partition(0).timestamp(at).value(value)).await.unwrap();
    }
    let mut consumer = Consumer::new(config(&bs, &[])).unwrap();
    let tp = TopicPartition::new(&topic, 0);
    let asks =
        [(tp.clone(), now - 3500), (tp.clone(), now - 2500), (tp.clone(), now - 1000), (tp.clone(), now + 60_000)];
    let found: Vec<Option<i64>> =
        consumer.offsets_for_times(&asks).await.unwrap().into_iter().map(|(_, o)| o).collect();
    assert_eq!(found, [Some(0), Some(1), Some(2), None]);
    assert!(consumer.offsets_for_times(&[(tp.clone(), -5)]).await.is_err(), "a time before 1970 is refused");

    consumer.assign([(tp, Offset::Timestamp(now - 1500))]).await.unwrap();
    let first = consumer.poll(Duration::from_secs(10)).await.unwrap().expect("a record");
    assert_eq!((first.offset, first.value.as_deref(), first.timestamp), (2, Some(&b"c"[..]), now - 1000));
    consumer.seek(&topic, 0, Offset::Timestamp(now + 60_000)).await.unwrap();
    assert_eq!(consumer.position(&topic, 0), Some(3), "past the newest record: the log end");
    cluster.stop().await;
}

#[tokio::test]
async fn committed_offsets_and_metadata_round_trip() {
    let cluster = TestCluster::start().await;
    let bs = cluster.bootstrap.clone();
    let c = cluster.topic("c", 2).await;
    let producer = Producer::new(config(&bs, &[])).unwrap();
    producer.send_and_wait(ProducerRecord::new(&c).partition(1).value("x")).await.unwrap();
    let group = format!("manual-{}", uuid::Uuid::new_v4().simple());
    let consumer = Consumer::new(config(&bs, &[("group.id", group.as_str())])).unwrap();
    consumer.commit_offsets(&[TopicPartitionOffset::new(&c, 1, 1).with_metadata("note")]).await.unwrap();
    let (p0, p1) = (TopicPartition::new(&c, 0), TopicPartition::new(&c, 1));
    let got = consumer.committed(&[p0.clone(), p1.clone()]).await.unwrap();
    assert_eq!(got, vec![(p0, None), (p1, Some((1, "note".into())))]);
    let bad =
        Consumer::new(config(&bs, &[("group.id", "x"), ("partition.assignment.strategy", "range,cooperative-sticky")]));
    assert!(matches!(bad, Err(Error::Config { .. })), "eager and cooperative assignors do not mix");
    cluster.stop().await;
}
