//! Exactly-once consume-transform-produce: reads INPUT, writes each value upper-cased to
//! OUTPUT, and commits the consumed offsets in the same transaction as the output. After a
//! crash (kill -9 included) and a restart, a read_committed reader of OUTPUT sees every input
//! record exactly once.
//!
//! ```text
//! cargo run -p ferrokafka-examples --example eos_copy -- BOOTSTRAP INPUT OUTPUT [GROUP] [--until-caught-up]
//! ```
//! With `--until-caught-up` it exits once every partition of INPUT is read to its end;
//! otherwise it runs until killed. Prints `committed N` after each transaction.

use std::time::Duration;

use ferrokafka::{ClientConfig, Consumer, Offset, Producer, ProducerRecord, TopicPartitionOffset};

const T: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> ferrokafka::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let until_caught_up = std::env::args().any(|a| a == "--until-caught-up");
    let [bootstrap, input, output, rest @ ..] = args.as_slice() else {
        eprintln!("usage: eos_copy BOOTSTRAP INPUT OUTPUT [GROUP] [--until-caught-up]");
        std::process::exit(2);
    };
    let group = rest.first().map_or("eos-copy", String::as_str);
    let id = format!("{group}-copier");

    // The transactional.id is the copier's identity: a restarted copy fences its crashed
    // predecessor (whose open transaction is aborted) before it reads anything.
    let producer = Producer::new(ClientConfig::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("transactional.id", id.as_str()),
    ])?)?;
    producer.init_transactions(T).await?;
    let mut consumer = Consumer::new(ClientConfig::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group),
        // Static membership: the restarted copy takes the crashed one's place at once.
        ("group.instance.id", id.as_str()),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
        ("isolation.level", "read_committed"),
    ])?)?;
    consumer.subscribe(&[input.as_str()])?;

    let mut committed = 0;
    loop {
        let batch = consumer.poll_batch(10, Duration::from_secs(1)).await?;
        if batch.is_empty() {
            if until_caught_up && caught_up(&consumer).await? {
                break;
            }
            continue;
        }
        producer.begin_transaction()?;
        let mut deliveries = Vec::with_capacity(batch.len());
        for r in &batch {
            let value = r.value.as_deref().unwrap_or_default().to_ascii_uppercase();
            let mut out = ProducerRecord::new(output.as_str()).value(value);
            out.key = r.key.clone();
            deliveries.push(producer.send(out).await?);
        }
        let positions: Vec<TopicPartitionOffset> = consumer
            .assignment()
            .into_iter()
            .filter_map(|tp| consumer.position(&tp.topic, tp.partition).map(|o| tp.with_offset(o)))
            .collect();
        let group = consumer.group_metadata().expect("a group.id is set");
        let outcome = match producer.send_offsets_to_transaction(&positions, &group, T).await {
            Ok(()) => producer.commit_transaction(T).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                committed += batch.len();
                println!("committed {committed}");
            }
            Err(e) if e.txn_requires_abort() => {
                // Abort, rewind to what the group has committed, and process it again.
                eprintln!("transaction aborted: {e}");
                producer.abort_transaction(T).await?;
                for tp in consumer.assignment() {
                    consumer.seek(&tp.topic, tp.partition, Offset::Committed).await?;
                }
            }
            Err(e) => return Err(e),
        }
        drop(deliveries);
    }
    consumer.close().await?;
    Ok(())
}

/// Whether every assigned partition is read to its end.
async fn caught_up(consumer: &Consumer) -> ferrokafka::Result<bool> {
    let held = consumer.assignment();
    if held.is_empty() {
        return Ok(false);
    }
    for tp in held {
        let (_, high) = consumer.watermarks(&tp.topic, tp.partition).await?;
        if consumer.position(&tp.topic, tp.partition).is_none_or(|o| o < high) {
            return Ok(false);
        }
    }
    Ok(true)
}
