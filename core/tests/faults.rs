//! Faults injected between the client and the bundled broker: a proxy that cuts every
//! connection while batches are in flight (up to 5 per partition, with idempotence), one that
//! stalls until batches fail for good, and one that answers a Produce with
//! UNKNOWN_PRODUCER_ID; after the last two the idempotent producer bumps its epoch (KIP-360).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferrokafka::consumer::Offset;
use ferrokafka::{ClientConfig, PartitionConsumer, Producer, ProducerRecord, TopicPartition};
use ferrokafka_broker::{Broker, BrokerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Forwards connections to `target` until `cut` changes, then drops them all (the clients
/// see their connections reset) and keeps accepting new ones.
async fn proxy(listener: TcpListener, target: std::net::SocketAddr, cut: watch::Receiver<u64>, cuts: Arc<AtomicUsize>) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else { return };
        let mut cut = cut.clone();
        let cuts = Arc::clone(&cuts);
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(target).await else { return };
            cut.borrow_and_update();
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = cut.changed() => { cuts.fetch_add(1, Ordering::Relaxed); }
            }
        });
    }
}

/// A broker behind a proxy listening on `listener`: clients learn the proxy's address from
/// metadata, so every connection goes through it.
async fn broker_behind(listener: &TcpListener, num_partitions: i32) -> (Broker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(BrokerConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_owned(),
        advertised_listener: Some(listener.local_addr().unwrap().to_string()),
        num_partitions,
        ..Default::default()
    })
    .await
    .unwrap();
    (broker, dir)
}

/// An idempotent acks=all producer's settings, through the proxy on `listener`.
fn idempotent_config(listener: &TcpListener, extra: &[(&str, &str)]) -> ClientConfig {
    let bootstrap = listener.local_addr().unwrap().to_string();
    let mut config = ClientConfig::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("enable.idempotence", "true"),
        ("acks", "all"),
        ("linger.ms", "1"),
        ("retry.backoff.ms", "10"),
    ])
    .unwrap();
    for (k, v) in extra {
        config.set(k, *v).unwrap();
    }
    config
}

#[tokio::test]
async fn idempotent_producer_loses_and_duplicates_nothing_when_connections_drop() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (broker, _dir) = broker_behind(&listener, 3).await;
    let config = idempotent_config(&listener, &[("batch.size", "4000")]);
    let (cut_tx, cut_rx) = watch::channel(0u64);
    let cuts = Arc::new(AtomicUsize::new(0));
    tokio::spawn(proxy(listener, broker.local_addr(), cut_rx, Arc::clone(&cuts)));

    let producer = Producer::new(config.clone()).unwrap();
    const N: usize = 6000;
    for i in 0..N {
        let rec = ProducerRecord::new("drops").partition((i % 3) as i32).value(format!("{i:06}"));
        producer.send_with_report(rec, i as u64).await.unwrap();
        if i % 500 == 250 {
            // Cut every connection while the earlier batches are still in flight.
            cut_tx.send_modify(|n| *n += 1);
        }
    }
    while producer.in_flight() > 0 && cuts.load(Ordering::Relaxed) < 20 {
        cut_tx.send_modify(|n| *n += 1);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut acked = BTreeMap::new();
    // Batches retried after a drop settle after later ones; the reports still come in each
    // partition's send order, at rising offsets.
    let mut last: BTreeMap<i32, (usize, i64)> = BTreeMap::new();
    while acked.len() < N {
        for r in producer.delivery_reports().recv(N).await {
            let (i, offset) =
                (r.token as usize, r.result.expect("every record is acknowledged despite the drops").offset);
            if let Some(&(before, at)) = last.get(&r.partition) {
                assert!(
                    i > before && offset > at,
                    "partition {}: {i}@{offset} reported after {before}@{at}",
                    r.partition
                );
            }
            last.insert(r.partition, (i, offset));
            assert!(acked.insert((r.partition, offset), i).is_none(), "{i}: one report per offset");
        }
    }
    let stats = producer.stats();
    assert!(cuts.load(Ordering::Relaxed) > 0, "connections were cut");
    assert!(stats.retries > 0, "some batch was in flight when its connection dropped: {stats:?}");
    // max.in.flight.requests.per.connection defaults to 5: order held with batches pipelined.
    assert!(
        (2..=5).contains(&stats.max_partition_batches_in_flight),
        "several batches of a partition in flight: {stats:?}"
    );

    let mut consumer = PartitionConsumer::new(config).unwrap();
    consumer.assign((0..3).map(|p| (TopicPartition::new("drops", p), Offset::Beginning))).await.unwrap();
    let mut read: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    let mut total = 0;
    while total < N {
        let r = consumer.poll(Duration::from_secs(10)).await.unwrap().expect("all records are readable");
        let i: usize = std::str::from_utf8(r.value.as_deref().unwrap()).unwrap().parse().unwrap();
        assert_eq!(acked.get(&(r.partition, r.offset)), Some(&i), "the acknowledged offset holds the record");
        read.entry(r.partition).or_default().push(i);
        total += 1;
    }
    assert!(consumer.poll(Duration::from_millis(300)).await.unwrap().is_none(), "no duplicates beyond the {N} records");
    for (p, values) in &read {
        let expected: Vec<usize> = (0..N).filter(|i| (i % 3) as i32 == *p).collect();
        assert_eq!(values, &expected, "partition {p}: every record once, in send order");
    }
    broker.shutdown().await.unwrap();
}

/// Forwards connections to `target` while `stalled` is false. Once it is set, a connection
/// forwards no more responses, and no more requests either if `lose_requests` (what is not
/// forwarded is read and dropped, as by a network that lost it); when it is cleared again that
/// connection is closed: the client sees requests go unanswered, then a reset, and reconnects.
async fn stalling_proxy(
    listener: TcpListener,
    target: std::net::SocketAddr,
    stalled: watch::Receiver<bool>,
    lose_requests: bool,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else { return };
        let stalled = stalled.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(target).await else { return };
            let (client_rx, client_tx) = client.into_split();
            let (server_rx, server_tx) = server.into_split();
            // Either direction ending ends both: the halves are dropped together.
            let requests_stall = if lose_requests { stalled.clone() } else { watch::channel(false).1 };
            tokio::select! {
                _ = pipe(client_rx, server_tx, requests_stall) => {}
                _ = pipe(server_rx, client_tx, stalled.clone()) => {}
                // Closed when a stall ends even if no response was due during it.
                _ = async { stalled.clone().wait_for(|s| *s).await.ok(); stalled.clone().wait_for(|s| !*s).await.ok(); } => {}
            }
        });
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Checked per read, after the read: bytes sent once the stall began never get through.
        if *stalled.borrow() {
            // Dropping the rest of a request would leave the stream misframed: swallow
            // everything until the stall ends, then close.
            loop {
                tokio::select! {
                    r = from.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { return },
                    _ = stalled.wait_for(|s| !*s) => return,
                }
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_batch_that_times_out_unanswered_makes_the_producer_bump_its_epoch_and_go_on() {
    // The batches never reach the broker.
    stall_then_go_on(true).await;
}

#[tokio::test]
async fn a_batch_written_but_never_acknowledged_is_written_once_and_the_producer_goes_on() {
    // The batches reach the broker (and their retries, answered as duplicates), the answers do
    // not; maybe the epoch bump's first InitProducerId too, whose answer the retried one repeats.
    stall_then_go_on(false).await;
}

async fn stall_then_go_on(lose_requests: bool) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (broker, _dir) = broker_behind(&listener, 1).await;
    let config = idempotent_config(&listener, &[("request.timeout.ms", "200"), ("delivery.timeout.ms", "800")]);
    let (stall, stalled) = watch::channel(false);
    tokio::spawn(stalling_proxy(listener, broker.local_addr(), stalled, lose_requests));

    let producer = Producer::new(config.clone()).unwrap();
    let send =
        |phase: &'static str, i: usize| ProducerRecord::new("stalls").partition(0).value(format!("{phase}-{i:03}"));

    // Under the first epoch: acknowledged, so the broker expects the next sequence after them.
    let mut in_log = BTreeMap::new();
    for i in 0..20 {
        let meta = producer.send_and_wait(send("before", i)).await.unwrap();
        in_log.insert(meta.offset, format!("before-{i:03}"));
    }
    let first = producer.stats();
    assert!(first.producer_id >= 0 && first.epoch_bumps == 0, "{first:?}");

    // Nothing comes back: the first batch sent gets its sequence numbers, goes unanswered and
    // fails for good at delivery.timeout.ms. Unwritten, it leaves a gap the broker would
    // refuse every later batch behind; written, it must not be written again.
    stall.send(true).unwrap();
    let mut lost = Vec::new();
    for i in 0..10 {
        lost.push(producer.send(send("lost", i)).await.unwrap());
    }
    let mut lost = lost.into_iter();
    let err = lost.next().unwrap().await.expect_err("nothing came back through the stalled proxy");
    assert!(err.is_retriable(), "failed for lack of an answer: {err}");
    let mut outcomes = vec![Err(err)];
    stall.send(false).unwrap();

    // The same producer goes on under a new epoch, with sequences from 0 again.
    let mut after = Vec::new();
    for i in 0..30 {
        after.push(producer.send(send("after", i)).await.unwrap());
    }
    // The other lost records: failed for want of an answer too if they were on the wire with
    // the first, or (held back, then renumbered under the new epoch) delivered.
    for d in lost {
        outcomes.push(d.await);
    }
    let mut failed = 0;
    let mut lost_written = Vec::new();
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(meta) => {
                in_log.insert(meta.offset, format!("lost-{i:03}"));
            }
            Err(e) => {
                assert!(e.is_retriable(), "failed for lack of an answer: {e}");
                failed += 1;
                // Every request got through, only the answers were lost: written once.
                if !lose_requests {
                    lost_written.push(format!("lost-{i:03}"));
                }
            }
        }
    }
    for (i, d) in after.into_iter().enumerate() {
        let meta = d.await.expect("records sent after the failure are delivered");
        assert!(in_log.insert(meta.offset, format!("after-{i:03}")).is_none(), "a fresh offset");
    }
    let stats = producer.stats();
    assert_eq!(stats.epoch_bumps, 1, "{stats:?}");
    assert_eq!((stats.producer_id, stats.producer_epoch), (first.producer_id, first.producer_epoch + 1), "{stats:?}");
    assert_eq!(stats.failed_records, failed, "{stats:?}");

    // The log holds every acknowledged record once, at its acknowledged offset, the failed
    // ones once if the broker got them and never otherwise, in send order, and nothing else.
    let mut consumer = PartitionConsumer::new(config).unwrap();
    consumer.assign([(TopicPartition::new("stalls", 0), Offset::Beginning)]).await.unwrap();
    let mut read = BTreeMap::new();
    while read.len() < in_log.len() + lost_written.len() {
        let r = consumer.poll(Duration::from_secs(10)).await.unwrap().expect("all written records are readable");
        read.insert(r.offset, String::from_utf8(r.value.unwrap().to_vec()).unwrap());
    }
    assert!(consumer.poll(Duration::from_millis(300)).await.unwrap().is_none(), "nothing beyond the records written");
    for (offset, value) in &in_log {
        assert_eq!(read.get(offset), Some(value), "the acknowledged offset holds the record");
    }
    let mut expected: Vec<String> = in_log.into_values().chain(lost_written).collect();
    let order = |v: &String| (["before", "lost", "after"].iter().position(|p| v.starts_with(p)), v.clone());
    expected.sort_by_key(order);
    assert_eq!(read.into_values().collect::<Vec<_>>(), expected, "each record once, in send order");
    broker.shutdown().await.unwrap();
}

/// Forwards whole request and response frames between a client and `target`. While
/// `refuse_next_produce` holds a count above 0, each Produce request is not forwarded but
/// answered here with UNKNOWN_PRODUCER_ID on every partition, as a broker that lost the
/// producer's state (KIP-360) answers.
async fn unknown_producer_proxy(listener: TcpListener, target: std::net::SocketAddr, refuse: Arc<AtomicUsize>) {
    loop {
        let Ok((client, _)) = listener.accept().await else { return };
        let refuse = Arc::clone(&refuse);
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(target).await else { return };
            let (mut client_rx, client_tx) = client.into_split();
            let (mut server_rx, mut server_tx) = server.into_split();
            // One writer to the client: forwarded responses and made-up ones never interleave.
            let (to_client, mut frames) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
            let writer = async move {
                use tokio::io::AsyncWriteExt;
                let mut client_tx = client_tx;
                while let Some(f) = frames.recv().await {
                    if client_tx.write_all(&f).await.is_err() {
                        return;
                    }
                }
            };
            let responses = {
                let to_client = to_client.clone();
                async move {
                    while let Some(f) = read_frame(&mut server_rx).await {
                        if to_client.send(f).is_err() {
                            return;
                        }
                    }
                }
            };
            let requests = async move {
                use tokio::io::AsyncWriteExt;
                while let Some(f) = read_frame(&mut client_rx).await {
                    let is_produce = i16::from_be_bytes([f[4], f[5]]) == 0;
                    if is_produce
                        && refuse.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
                    {
                        if to_client.send(unknown_producer_answer(&f)).is_err() {
                            return;
                        }
                    } else if server_tx.write_all(&f).await.is_err() {
                        return;
                    }
                }
            };
            tokio::select! {
                _ = writer => {}
                _ = responses => {}
                _ = requests => {}
            }
        });
    }
}

/// One length-prefixed frame, prefix included.
async fn read_frame(from: &mut tokio::net::tcp::OwnedReadHalf) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut len = [0u8; 4];
    from.read_exact(&mut len).await.ok()?;
    let mut frame = len.to_vec();
    frame.resize(4 + i32::from_be_bytes(len) as usize, 0);
    from.read_exact(&mut frame[4..]).await.ok()?;
    Some(frame)
}

/// The response to a Produce request frame: UNKNOWN_PRODUCER_ID for each partition in it.
fn unknown_producer_answer(frame: &[u8]) -> Vec<u8> {
    use kafka_protocol::ResponseError;
    use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
    use kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader};
    use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};
    let version = i16::from_be_bytes([frame[6], frame[7]]);
    let mut body = bytes::Bytes::copy_from_slice(&frame[4..]);
    let header = RequestHeader::decode(&mut body, ProduceRequest::header_version(version)).unwrap();
    let req = ProduceRequest::decode(&mut body, version).unwrap();
    let topics = req
        .topic_data
        .into_iter()
        .map(|t| {
            let partitions = t
                .partition_data
                .iter()
                .map(|p| {
                    PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(ResponseError::UnknownProducerId.code())
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1)
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(t.name)
                .with_topic_id(t.topic_id)
                .with_partition_responses(partitions)
        })
        .collect();
    let mut out = bytes::BytesMut::from(&[0u8; 4][..]);
    ResponseHeader::default()
        .with_correlation_id(header.correlation_id)
        .encode(&mut out, ProduceResponse::header_version(version))
        .unwrap();
    ProduceResponse::default().with_responses(topics).encode(&mut out, version).unwrap();
    let len = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out.to_vec()
}

#[tokio::test]
async fn unknown_producer_id_bumps_the_epoch_and_the_batch_is_retried_under_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (broker, _dir) = broker_behind(&listener, 1).await;
    let config = idempotent_config(&listener, &[]);
    let refuse = Arc::new(AtomicUsize::new(0));
    tokio::spawn(unknown_producer_proxy(listener, broker.local_addr(), Arc::clone(&refuse)));
    let producer = Producer::new(config.clone()).unwrap();
    let send = |i: usize| ProducerRecord::new("unknown-pid").partition(0).value(format!("{i:03}"));
    for i in 0..10 {
        assert_eq!(producer.send_and_wait(send(i)).await.unwrap().offset, i as i64);
    }
    let first = producer.stats();

    refuse.store(1, Ordering::SeqCst);
    assert_eq!(producer.send_and_wait(send(10)).await.expect("retried under the new epoch").offset, 10);
    assert_eq!(refuse.load(Ordering::SeqCst), 0, "the first attempt was refused");
    let mut deliveries = Vec::new();
    for i in 11..40 {
        deliveries.push(producer.send(send(i)).await.unwrap());
    }
    for (i, d) in (11..).zip(deliveries) {
        assert_eq!(d.await.unwrap().offset, i);
    }
    let stats = producer.stats();
    assert_eq!((stats.epoch_bumps, stats.failed_records), (1, 0), "{stats:?}");
    assert!(stats.retries >= 1, "{stats:?}");
    assert_eq!((stats.producer_id, stats.producer_epoch), (first.producer_id, first.producer_epoch + 1), "{stats:?}");

    let mut consumer = PartitionConsumer::new(config).unwrap();
    consumer.assign([(TopicPartition::new("unknown-pid", 0), Offset::Beginning)]).await.unwrap();
    let mut values = Vec::new();
    while values.len() < 40 {
        let r = consumer.poll(Duration::from_secs(10)).await.unwrap().expect("all records are readable");
        values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
    }
    assert!(consumer.poll(Duration::from_millis(300)).await.unwrap().is_none(), "nothing written twice");
    assert_eq!(values, (0..40).map(|i| format!("{i:03}")).collect::<Vec<_>>());
    broker.shutdown().await.unwrap();
}

/// A broker that accepts connections and drops them at once: each failed attempt doubles the
/// wait before the next (reconnect.backoff.ms up to reconnect.backoff.max.ms, ±20%), however
/// often the application asks.
#[tokio::test]
async fn failed_connections_back_off_exponentially_up_to_the_cap() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let attempts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&attempts);
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            seen.lock().unwrap().push(tokio::time::Instant::now());
            drop(conn);
        }
    });
    let admin = ferrokafka::Admin::new(
        ClientConfig::from_pairs([
            ("bootstrap.servers", addr.as_str()),
            ("reconnect.backoff.ms", "100"),
            ("reconnect.backoff.max.ms", "400"),
        ])
        .unwrap(),
    )
    .unwrap();
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    let mut calls = 0;
    while tokio::time::Instant::now() < until {
        let e = admin.list_topics().await.unwrap_err();
        assert!(matches!(e, ferrokafka::Error::Connection { .. }), "{e}");
        calls += 1;
    }
    let at = attempts.lock().unwrap().clone();
    // 0, 100, 300, 700, 1100, 1500 ms (each ±20%): about six attempts, not one per call.
    assert!((3..=8).contains(&at.len()), "{} attempts in 1.5 s ({calls} calls)", at.len());
    for (i, pair) in at.windows(2).enumerate() {
        let exact = (100u64 << i).min(400);
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(exact * 8 / 10 - 5),
            "attempt {} came {gap:?} after the one before (want ~{exact} ms)",
            i + 2
        );
    }
}
