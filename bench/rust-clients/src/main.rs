//! One benchmark run, for bench/rust_clients.py:
//!
//!     bench-clients produce <ferrokafka|rdkafka> <bootstrap> <topic> <partitions> <records> <size> <acks>
//!     bench-clients consume <ferrokafka|rdkafka> <bootstrap> <topic> <partitions> <records>
//!     bench-clients e2e <ferrokafka|rdkafka> <bootstrap> <topic> <partitions> <rate> <seconds> <size>
//!
//! `consume` reads `records` records from the beginning of every partition of a topic filled
//! beforehand (the same data for both clients) and touches each value; `e2e` runs a ferrokafka
//! producer at a fixed rate (`linger.ms=0`, the same producer whichever consumer is measured)
//! and the named client's consumer in the same process, and reports each record's time from
//! `send` to the consumer holding it. See `consume` and `e2e` below.
//!
//! `produce` sends `records` values of `size` bytes round-robin over the partitions as fast as the
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

async fn run_ferrokafka(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: usize,
    size: usize,
    acks: &str,
) -> (Duration, Vec<f64>) {
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

async fn run_rdkafka(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: usize,
    size: usize,
    acks: &str,
) -> (Duration, Vec<f64>) {
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
    match args.get(1).map(String::as_str) {
        Some("produce") => produce(&args[2..]).await,
        Some("consume") => consume(&args[2..]).await,
        Some("e2e") => e2e(&args[2..]).await,
        _ => {
            eprintln!(
                "usage: bench-clients <produce|consume|e2e> <ferrokafka|rdkafka> <bootstrap> <topic> ... (see the source)"
            );
            std::process::exit(2);
        }
    }
}

async fn produce(args: &[String]) {
    let [client, bootstrap, topic, partitions, records, size, acks] = args else {
        eprintln!(
            "usage: bench-clients produce <ferrokafka|rdkafka> <bootstrap> <topic> <partitions> <records> <size> <acks>"
        );
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

/// Reads `records` records from the start of partitions 0..partitions, summing value
/// lengths. Reports the time from `assign` to the first record (connections, offset
/// lookups: librdkafka does these lazily, after `assign` returns) apart from the rate, which
/// runs from the first record to the last.
async fn consume(args: &[String]) {
    let [client, bootstrap, topic, partitions, records] = args else {
        eprintln!("usage: bench-clients consume <ferrokafka|rdkafka> <bootstrap> <topic> <partitions> <records>");
        std::process::exit(2);
    };
    let (partitions, records): (i32, usize) =
        (partitions.parse().expect("partitions"), records.parse().expect("records"));
    let (first, elapsed, bytes) = match client.as_str() {
        "ferrokafka" => {
            let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
            on_own_thread(async move {
                let mut consumer = ferrokafka::Consumer::new(
                    ferrokafka::ClientConfig::from_pairs([("bootstrap.servers", bootstrap.as_str())]).unwrap(),
                )
                .unwrap();
                let assigned = Instant::now();
                let starts = (0..partitions)
                    .map(|p| (ferrokafka::TopicPartition::new(&topic, p), ferrokafka::Offset::Beginning));
                consumer.assign(starts).await.expect("assign");
                let (mut first, mut started) = (Duration::ZERO, Instant::now());
                let mut bytes = 0;
                for i in 0..records {
                    let r = consumer
                        .poll(Duration::from_secs(30))
                        .await
                        .expect("ferrokafka poll")
                        .expect("a record within 30 s");
                    if i == 0 {
                        (first, started) = (assigned.elapsed(), Instant::now());
                    }
                    bytes += r.value.as_ref().map_or(0, |v| v.len());
                }
                (first, started.elapsed(), bytes)
            })
            .await
            .expect("ferrokafka thread")
        }
        "rdkafka" | "rdkafka-tuned" => {
            let (bootstrap, topic, tuned) = (bootstrap.clone(), topic.clone(), client == "rdkafka-tuned");
            // BaseConsumer::poll on its own thread: librdkafka's fastest path (no async layer).
            tokio::task::spawn_blocking(move || {
                use rdkafka::consumer::{BaseConsumer, Consumer};
                use rdkafka::message::Message;
                let consumer: BaseConsumer =
                    rdkafka_consumer_config(&bootstrap, tuned).create().expect("rdkafka consumer");
                let assigned = Instant::now();
                consumer.assign(&beginning(&topic, partitions)).expect("assign");
                let (mut first, mut started) = (Duration::ZERO, Instant::now());
                let mut bytes = 0;
                let mut got = 0;
                while got < records {
                    match consumer.poll(Duration::from_secs(30)) {
                        Some(Ok(m)) => {
                            if got == 0 {
                                (first, started) = (assigned.elapsed(), Instant::now());
                            }
                            bytes += m.payload().map_or(0, <[u8]>::len);
                            got += 1;
                        }
                        Some(Err(e)) => panic!("rdkafka poll: {e}"),
                        None => panic!("no record within 30 s"),
                    }
                }
                (first, started.elapsed(), bytes)
            })
            .await
            .expect("rdkafka thread")
        }
        other => panic!("unknown client {other}"),
    };
    let secs = elapsed.as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"client": client, "first_ms": first.as_secs_f64() * 1000.0, "seconds": secs, "rec_s": (records - 1) as f64 / secs, "mb_s": bytes as f64 / secs / 1e6})
    );
}

/// `tuned`: `fetch.queue.backoff.ms=0`. By default librdkafka stops fetching a partition
/// whose queue holds `queued.min.messages` and then waits that backoff (1 s) before fetching
/// it again, even once the application has drained the queue.
fn rdkafka_consumer_config(bootstrap: &str, tuned: bool) -> rdkafka::config::ClientConfig {
    let mut c = rdkafka::config::ClientConfig::new();
    // librdkafka wants a group.id even to assign; nothing is committed.
    c.set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-unused")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    if tuned {
        c.set("fetch.queue.backoff.ms", "0");
    }
    c
}

fn beginning(topic: &str, partitions: i32) -> rdkafka::TopicPartitionList {
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning).expect("partition offset");
    }
    tpl
}

/// A ferrokafka producer sends `rate` records/s for `seconds` (values carry the send time,
/// microseconds from a clock both sides share); the consumer under test, reading from the
/// beginning of the (empty) topic, notes when it holds each one. The first second is
/// warm-up (connections, first fetches) and not counted.
async fn e2e(args: &[String]) {
    let [client, bootstrap, topic, partitions, rate, seconds, size] = args else {
        eprintln!(
            "usage: bench-clients e2e <ferrokafka|rdkafka> <bootstrap> <topic> <partitions> <rate> <seconds> <size>"
        );
        std::process::exit(2);
    };
    let (partitions, rate, seconds, size): (i32, u64, u64, usize) = (
        partitions.parse().expect("partitions"),
        rate.parse().expect("rate"),
        seconds.parse().expect("seconds"),
        size.parse().expect("size"),
    );
    let records = (rate * seconds) as usize;
    let clock = Instant::now();
    let micros = move || clock.elapsed().as_micros() as u64;
    let stamp = |v: &[u8]| u64::from_be_bytes(v[..8].try_into().expect("stamped value"));

    // The consumer first, so it is reading when the first record goes out.
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let consumer = match client.as_str() {
        "ferrokafka" => {
            let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
            on_own_thread(async move {
                let mut consumer = ferrokafka::Consumer::new(
                    ferrokafka::ClientConfig::from_pairs([("bootstrap.servers", bootstrap.as_str())]).unwrap(),
                )
                .unwrap();
                let starts = (0..partitions)
                    .map(|p| (ferrokafka::TopicPartition::new(&topic, p), ferrokafka::Offset::Beginning));
                consumer.assign(starts).await.expect("assign");
                let _ = ready_tx.send(());
                let mut latencies = Vec::with_capacity(records);
                while latencies.len() < records {
                    let r = consumer
                        .poll(Duration::from_secs(30))
                        .await
                        .expect("ferrokafka poll")
                        .expect("a record within 30 s");
                    let sent = stamp(r.value.as_deref().expect("value"));
                    latencies.push((sent, micros() - sent));
                }
                latencies
            })
        }
        "rdkafka" => {
            let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
            tokio::task::spawn_blocking(move || {
                use rdkafka::consumer::{BaseConsumer, Consumer};
                use rdkafka::message::Message;
                let consumer: BaseConsumer =
                    rdkafka_consumer_config(&bootstrap, false).create().expect("rdkafka consumer");
                consumer.assign(&beginning(&topic, partitions)).expect("assign");
                let _ = ready_tx.send(());
                let mut latencies = Vec::with_capacity(records);
                while latencies.len() < records {
                    match consumer.poll(Duration::from_secs(30)) {
                        Some(Ok(m)) => {
                            let sent = stamp(m.payload().expect("value"));
                            latencies.push((sent, micros() - sent));
                        }
                        Some(Err(e)) => panic!("rdkafka poll: {e}"),
                        None => panic!("no record within 30 s"),
                    }
                }
                latencies
            })
        }
        other => panic!("unknown client {other}"),
    };
    ready_rx.await.expect("consumer ready");

    use ferrokafka::{ClientConfig, Producer, ProducerRecord};
    let producer = Producer::new(
        ClientConfig::from_pairs([("bootstrap.servers", bootstrap.as_str()), ("linger.ms", "0")]).unwrap(),
    )
    .unwrap();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..records {
        ticker.tick().await;
        let mut value = vec![b'x'; size.max(8)];
        value[..8].copy_from_slice(&micros().to_be_bytes());
        drop(
            producer
                .send(ProducerRecord::new(topic).value(value).partition(i as i32 % partitions))
                .await
                .expect("send"),
        );
    }
    producer.flush().await.expect("flush");
    let samples = consumer.await.expect("consumer task");
    let warm_up = 1_000_000;
    let mut latencies: Vec<f64> =
        samples.iter().filter(|(sent, _)| *sent >= warm_up).map(|(_, l)| *l as f64 / 1000.0).collect();
    latencies.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({
            "client": client,
            "samples": latencies.len(),
            "p50_ms": percentile(&latencies, 0.50),
            "p99_ms": percentile(&latencies, 0.99),
            "max_ms": latencies.last().copied().unwrap_or(f64::NAN),
        })
    );
}

/// Runs a consumer on a thread with a current-thread runtime of its own, as librdkafka's
/// consumer has threads of its own: in `e2e` the producer's tasks then do not share its
/// scheduler, and both consumers have the same shape.
fn on_own_thread<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("consumer runtime").block_on(work)
    })
}
