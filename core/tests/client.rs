//! The client against the bundled broker over TCP.

use std::time::Duration;

use ferrokafka::consumer::Offset;
use ferrokafka::{ClientConfig, Error, PartitionConsumer, Producer, ProducerRecord};
use ferrokafka_broker::{AllocGuard, Broker, BrokerConfig};

#[global_allocator]
static ALLOC: AllocGuard = AllocGuard;

async fn broker(partitions: i32) -> (Broker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::default();
    config.listen = "127.0.0.1:0".into();
    config.data_dir = dir.path().to_owned();
    config.num_partitions = partitions;
    (Broker::start(config).await.unwrap(), dir)
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
    consumer.assign((0..partitions).map(|p| (topic.to_owned(), p, Offset::Beginning))).await.unwrap();
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
    let (broker, _dir) = broker(3).await;
    let bs = broker.bootstrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
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
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn acks_variants_and_explicit_partitions() {
    let (broker, _dir) = broker(2).await;
    let bs = broker.bootstrap();
    for acks in ["0", "1", "all"] {
        let producer = Producer::new(config(&bs, &[("acks", acks)])).unwrap();
        let meta = producer.send_and_wait(ProducerRecord::new("acks").partition(1).value(acks.to_owned())).await.unwrap();
        assert_eq!(meta.partition, 1);
        if acks == "0" {
            assert_eq!(meta.offset, -1, "acks=0 learns no offset");
        } else {
            assert!(meta.offset >= 0);
        }
    }
    let records = read_all(&bs, "acks", 2, 3).await;
    assert_eq!(records.iter().map(|r| r.value.clone().unwrap()).collect::<Vec<_>>(), vec!["0", "1", "all"]);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_a_typed_error() {
    let (broker, _dir) = broker(1).await;
    let bs = broker.bootstrap();
    let producer = Producer::new(config(&bs, &[("message.max.bytes", "1000")])).unwrap();
    let err = producer.send(ProducerRecord::new("big").value(vec![0u8; 5000])).await.unwrap_err();
    assert!(matches!(err, Error::MessageTooLarge { max: 1000, .. }), "{err}");
    let err = producer.send(ProducerRecord::new("big").partition(9).value("x")).await.unwrap_err();
    assert!(matches!(err, Error::UnknownTopicOrPartition(_)), "{err}");
    let err = ClientConfig::from_pairs([("bootstrap.servers", bs.as_str()), ("lingr.ms", "1")]).unwrap_err();
    assert!(err.to_string().contains("lingr.ms"));
    let err = Producer::new(config(&bs, &[("acks", "1"), ("enable.idempotence", "true")])).unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
    broker.shutdown().await.unwrap();
    // The broker is gone: a typed connection error, not a hang or a panic.
    let producer = Producer::new(config(&bs, &[("socket.connection.setup.timeout.ms", "2000")])).unwrap();
    let err = producer.send(ProducerRecord::new("gone").value("x")).await.unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err}");
}
