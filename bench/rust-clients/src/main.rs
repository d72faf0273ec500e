//! One producer run, for bench/rust_clients.py:
//!
//!     bench-clients <ferrokafka|rdkafka> <bootstrap> <topic> <partitions> <records> <size> <acks>
//!
//! Sends `records` values of `size` bytes round-robin over the partitions as fast as the
//! producer takes them, then waits for every delivery. Prints one JSON line: the time from the
//! first send to the last delivery, and each record's latency from `send` to the moment its
//! delivery is observed (deliveries are collected in send order by one task, the same way for
//! both clients). Settings common to both: acks as given, idempotence with acks=all,
//! linger.ms=5, batch.size=1000000 (librdkafka's default), a queue of 1,000,000 records.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run_ferrokafka(bootstrap: &str, topic: &str, partitions: i32, records: usize, size: usize, acks: &str) -> (Duration, Vec<f64>) {
    use ferrokafka::{ClientConfig, Producer, ProducerRecord};
    let idempotent = if acks == "all" { "true" } else { "false" };
    let config = ClientConfig::from_pairs([
        ("bootstrap.servers", bootstrap),
        ("acks", acks),
        ("enable.idempotence", idempotent),
        ("linger.ms", "5"),
        ("batch.size", "1000000"),
        ("queue.buffering.max.messages", "1000000"),
        ("queue.buffering.max.kbytes", "2097151"),
    ])
    .expect("ferrokafka config");
    let producer = Producer::new(config).expect("ferrokafka producer");
    let value = bytes::Bytes::from(vec![b'x'; size]);
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, ferrokafka::DeliveryFuture)>();
    let collector = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(records);
        while let Some((sent, delivery)) = rx.recv().await {
            delivery.await.expect("ferrokafka delivery");
            latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
        latencies
    });
    let started = Instant::now();
    for i in 0..records {
        let record = ProducerRecord::new(topic).value(value.clone()).partition(i as i32 % partitions);
        let sent = Instant::now();
        let delivery = producer.send(record).await.expect("ferrokafka send");
        let _ = tx.send((sent, delivery));
    }
    drop(tx);
    let latencies = collector.await.expect("collector");
    (started.elapsed(), latencies)
}

async fn run_rdkafka(bootstrap: &str, topic: &str, partitions: i32, records: usize, size: usize, acks: &str) -> (Duration, Vec<f64>) {
    use rdkafka::config::ClientConfig;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
    let idempotent = if acks == "all" { "true" } else { "false" };
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("enable.idempotence", idempotent)
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "2097151")
        .create()
        .expect("rdkafka producer");
    let value = vec![b'x'; size];
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, rdkafka::producer::DeliveryFuture)>();
    let collector = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(records);
        while let Some((sent, delivery)) = rx.recv().await {
            delivery.await.expect("rdkafka delivery cancelled").expect("rdkafka delivery");
            latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
        latencies
    });
    let started = Instant::now();
    for i in 0..records {
        let sent = Instant::now();
        let mut record = FutureRecord::<(), [u8]>::to(topic).payload(&value).partition(i as i32 % partitions);
        let delivery = loop {
            match producer.send_result(record) {
                Ok(d) => break d,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((e, _)) => panic!("rdkafka send: {e}"),
            }
        };
        let _ = tx.send((sent, delivery));
    }
    drop(tx);
    let latencies = collector.await.expect("collector");
    producer.flush(Duration::from_secs(60)).expect("rdkafka flush");
    (started.elapsed(), latencies)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, client, bootstrap, topic, partitions, records, size, acks] = args.as_slice() else {
        eprintln!("usage: bench-clients <ferrokafka|rdkafka> <bootstrap> <topic> <partitions> <records> <size> <acks>");
        std::process::exit(2);
    };
    let (partitions, records, size): (i32, usize, usize) =
        (partitions.parse().expect("partitions"), records.parse().expect("records"), size.parse().expect("size"));
    let (elapsed, mut latencies) = match client.as_str() {
        "ferrokafka" => run_ferrokafka(bootstrap, topic, partitions, records, size, acks).await,
        "rdkafka" => run_rdkafka(bootstrap, topic, partitions, records, size, acks).await,
        other => panic!("unknown client {other}"),
    };
    assert_eq!(latencies.len(), records, "every record delivered");
    latencies.sort_by(f64::total_cmp);
    let secs = elapsed.as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "client": client,
            "seconds": secs,
            "rec_s": records as f64 / secs,
            "mb_s": (records * size) as f64 / secs / 1e6,
            "p50_ms": percentile(&latencies, 0.50),
            "p99_ms": percentile(&latencies, 0.99),
        })
    );
}
