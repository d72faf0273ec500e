//! The main job in one program: start the bundled broker on a temporary data directory,
//! produce records through the ferrokafka producer, read them back with a consumer group,
//! commit, look at the group with the admin client, and say what happened.

use std::time::{Duration, Instant};

use ferrokafka::admin::OffsetSpec;
use ferrokafka::{Admin, ClientConfig, Consumer, Producer, ProducerRecord, TopicPartition};
use ferrokafka_broker::{Broker, BrokerConfig};

const TOPIC: &str = "demo-events";
const PARTITIONS: i32 = 3;
const RECORDS: usize = 100_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = tempfile::tempdir()?;
    let broker_config = BrokerConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: data_dir.path().to_owned(),
        num_partitions: PARTITIONS,
        ..Default::default()
    };
    let started = Instant::now();
    let broker = Broker::start(broker_config).await?;
    println!(
        "broker     listening on {} (data in {}), ready in {:?}",
        broker.bootstrap(),
        data_dir.path().display(),
        started.elapsed()
    );

    let producer = Producer::new(ClientConfig::from_pairs([
        ("bootstrap.servers", broker.bootstrap().as_str()),
        ("linger.ms", "5"),
        ("compression.type", "lz4"),
    ])?)?;
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let record = ProducerRecord::new(TOPIC)
            .key(format!("user-{}", i % 1000))
            .value(format!("{{\"event\":{i},\"kind\":\"click\"}}"))
            .header("source", "demo");
        deliveries.push(producer.send(record).await?);
    }
    producer.flush().await?;
    let mut per_partition = [0usize; PARTITIONS as usize];
    for d in deliveries {
        per_partition[d.await?.partition as usize] += 1;
    }
    let took = started.elapsed();
    println!(
        "produced   {RECORDS} records (acks=all, idempotent, lz4) in {took:?}: {:.0} records/s; per partition {per_partition:?}",
        RECORDS as f64 / took.as_secs_f64()
    );

    let bootstrap = broker.bootstrap();
    let mut consumer = Consumer::new(ClientConfig::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", "demo-readers"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
    ])?)?;
    consumer.subscribe(&[TOPIC])?;
    let started = Instant::now();
    let mut read = 0usize;
    let mut first = None;
    while read < RECORDS {
        let Some(record) = consumer.poll(Duration::from_secs(10)).await? else { break };
        first.get_or_insert(record.clone());
        read += 1;
    }
    consumer.commit().await?;
    let took = started.elapsed();
    println!(
        "consumed   {read} records through group demo-readers in {took:?} (join included): {:.0} records/s, committed",
        read as f64 / took.as_secs_f64()
    );
    if let Some(r) = first {
        println!(
            "first one  {}-{}@{} key={} value={} headers={:?}",
            r.topic,
            r.partition,
            r.offset,
            String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()),
            String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()),
            r.headers
                .iter()
                .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v.as_deref().unwrap_or_default()).into_owned()))
                .collect::<Vec<_>>()
        );
    }
    let admin = Admin::new(ClientConfig::from_pairs([("bootstrap.servers", bootstrap.as_str())])?)?;
    let group = admin.describe_groups(&["demo-readers"]).await?.remove(0);
    println!(
        "group      {}: {}, {} member(s), assignor {}, holding {:?}",
        group.group_id,
        group.state,
        group.members.len(),
        group.protocol,
        group.members.iter().flat_map(|m| m.assignment.iter().map(|tp| tp.partition)).collect::<Vec<_>>()
    );
    let committed = admin.list_group_offsets("demo-readers").await?;
    let tps: Vec<TopicPartition> = (0..PARTITIONS).map(|p| TopicPartition::new(TOPIC, p)).collect();
    let ends = admin.list_offsets(&tps, OffsetSpec::Latest).await?;
    for ((tp, end), c) in ends.iter().zip(&committed) {
        println!("partition  {tp}: log end {end}, committed {}, lag {}", c.offset, end - c.offset);
    }
    consumer.close().await?;
    broker.shutdown().await?;
    if read != RECORDS {
        return Err(format!("read {read} of {RECORDS} records").into());
    }
    println!("done       broker shut down cleanly");
    Ok(())
}
