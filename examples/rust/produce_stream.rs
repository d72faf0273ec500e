//! Produces COUNT records (values "0".."COUNT-1", round robin over the topic's partitions)
//! with acks=all and idempotence, at about RATE records/s, printing `acked VALUE PARTITION
//! OFFSET` for each acknowledgement and `failed VALUE ERROR` for a record that failed for
//! good. The interop suite kills brokers while it runs. Exits 1 if any record failed.
//!
//! Usage: produce_stream BOOTSTRAP TOPIC COUNT RATE

use std::io::Write;
use std::time::{Duration, Instant};

use ferrokafka::{ClientConfig, Producer, ProducerRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, topic, count, rate] = args.as_slice() else {
        return Err("usage: produce_stream BOOTSTRAP TOPIC COUNT RATE".into());
    };
    let (count, rate): (usize, f64) = (count.parse()?, rate.parse()?);
    let producer = Producer::new(ClientConfig::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("acks", "all"),
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
        ("partitioner", "round_robin"),
        ("delivery.timeout.ms", "120000"),
    ])?)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        let mut failed = 0usize;
        while let Some((i, delivery)) = rx.recv().await {
            let result: ferrokafka::Result<ferrokafka::RecordMetadata> =
                match tokio::time::timeout(Duration::from_secs(180), delivery).await {
                    Ok(r) => r,
                    Err(_) => Err(ferrokafka::Error::Timeout { what: format!("record {i}"), ms: 180_000 }),
                };
            // Locked per line: the lock guard must not live across an await.
            let mut out = std::io::stdout().lock();
            match result {
                Ok(m) => writeln!(out, "acked {i} {} {}", m.partition, m.offset).ok(),
                Err(e) => {
                    failed += 1;
                    writeln!(out, "failed {i} {e}").ok()
                }
            };
            out.flush().ok();
        }
        failed
    });
    let started = Instant::now();
    for i in 0..count {
        // Pace to RATE records/s.
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let delivery = producer.send(ProducerRecord::new(topic.as_str()).value(i.to_string())).await?;
        tx.send((i, delivery))?;
    }
    drop(tx);
    producer.flush().await?;
    let failed = printer.await?;
    eprintln!("{}", format_args!("{:?}", producer.stats()));
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
