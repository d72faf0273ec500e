//! One ferrokafka group member, speaking the same line protocol as the interop suite's
//! librdkafka member (tests/interop/python/group_member.py), so both can share a group in a
//! test and either can be killed.
//!
//! Usage: group_member BOOTSTRAP GROUP TOPIC NAME ASSIGNOR [INSTANCE_ID]
//! ASSIGNOR: range, roundrobin, cooperative-sticky, or `consumer` for group.protocol=consumer
//! (KIP-848: the broker assigns).
//! Prints one JSON object per line: assigned / revoked / lost (with the partitions changed and
//! all held), record (before its commit), commit_failed, closed. SIGTERM closes the consumer.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka::{ClientConfig, Consumer, RebalanceEvent, TopicPartition};

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn emit(line: String) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn partitions(list: &[TopicPartition]) -> String {
    let ps: Vec<String> = list.iter().map(|tp| tp.partition.to_string()).collect();
    format!("[{}]", ps.join(", "))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, group, topic, name, assignor, rest @ ..] = args.as_slice() else {
        return Err("usage: group_member BOOTSTRAP GROUP TOPIC NAME ASSIGNOR [INSTANCE_ID]".into());
    };
    let mut config = ClientConfig::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("client.id", name.as_str()),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
    ])?;
    if assignor == "consumer" {
        // KIP-848: the broker assigns, and its group.consumer.* settings time the session.
        config.set("group.protocol", "consumer")?;
    } else {
        config.set("partition.assignment.strategy", assignor.as_str())?;
        config.set("session.timeout.ms", "6000")?;
        config.set("heartbeat.interval.ms", "500")?;
    }
    if let Some(instance) = rest.first() {
        config.set("group.instance.id", instance.as_str())?;
    }
    let mut consumer = Consumer::new(config)?;
    let held: Arc<Mutex<BTreeSet<TopicPartition>>> = Arc::default();
    let h = Arc::clone(&held);
    consumer.on_rebalance(move |event| {
        let mut held = h.lock().unwrap_or_else(|p| p.into_inner());
        let (kind, tps) = match event {
            RebalanceEvent::Assigned(tps) => {
                held.extend(tps.iter().cloned());
                ("assigned", tps)
            }
            RebalanceEvent::Revoked(tps) | RebalanceEvent::Lost(tps) => {
                for tp in tps {
                    held.remove(tp);
                }
                (if matches!(event, RebalanceEvent::Lost(_)) { "lost" } else { "revoked" }, tps)
            }
        };
        let all: Vec<TopicPartition> = held.iter().cloned().collect();
        emit(format!(r#"{{"event": "{kind}", "partitions": {}, "all": {}}}"#, partitions(tps), partitions(&all)));
    });
    consumer.subscribe(&[topic.as_str()])?;

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let record = tokio::select! {
            _ = term.recv() => break,
            r = consumer.poll(Duration::from_millis(200)) => match r {
                Ok(r) => r,
                // A broker going away mid-poll: say so and carry on, as an application would.
                Err(e) if e.is_retriable() => {
                    emit(format!(r#"{{"event": "error", "error": {}}}"#, json_str(&e.to_string())));
                    continue;
                }
                Err(e) => return Err(e.into()),
            },
        };
        let Some(r) = record else { continue };
        let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned();
        // Report (process), then commit: at least once, as the librdkafka member does.
        emit(format!(
            r#"{{"event": "record", "partition": {}, "offset": {}, "value": {}}}"#,
            r.partition,
            r.offset,
            json_str(&value)
        ));
        if let Err(e) = consumer.commit().await {
            emit(format!(
                r#"{{"event": "commit_failed", "partition": {}, "offset": {}, "error": {}}}"#,
                r.partition,
                r.offset,
                json_str(&e.to_string())
            ));
        }
    }
    consumer.close().await?;
    emit(r#"{"event": "closed"}"#.to_owned());
    Ok(())
}
