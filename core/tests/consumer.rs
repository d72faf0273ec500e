//! Group consumer behaviour that follows the cluster: pattern subscriptions picking up new
//! topics, partitions added to a subscribed topic.

use std::time::Duration;

use ferrokafka::{
    Admin, ClientConfig, Consumer, NewTopic, Producer, ProducerRecord, RebalanceEvent, TopicPartition,
    TopicPartitionOffset,
};
use ferrokafka_broker::{Broker, BrokerConfig};

#[tokio::test]
async fn pattern_subscriptions_and_new_partitions_are_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, bs, admin, producer) =
        start(dir.path(), &[NewTopic::new("orders-eu", 1), NewTopic::new("audit", 1)]).await;

    let mut consumer = Consumer::new(
        ClientConfig::from_pairs([
            ("bootstrap.servers", bs.as_str()),
            ("group.id", "patterns"),
            ("auto.offset.reset", "earliest"),
            ("topic.metadata.refresh.interval.ms", "100"),
        ])
        .unwrap(),
    )
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    consumer.on_rebalance(move |e| {
        let _ = tx.send(e.clone());
    });
    assert!(consumer.subscribe(&["^orders-("]).is_err(), "a bad pattern is a config error");
    consumer.subscribe(&["^orders-.*"]).unwrap();

    // Waits, polling, until the consumer holds exactly `want`.
    async fn holds(
        consumer: &mut Consumer,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<RebalanceEvent>,
        want: &[(&str, i32)],
    ) {
        let want: Vec<TopicPartition> = want.iter().map(|&tp| tp.into()).collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            consumer.poll(Duration::from_millis(100)).await.unwrap();
            while rx.try_recv().is_ok() {}
            let mut got = consumer.assignment();
            got.sort();
            if got == want {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "holds {got:?}, want {want:?}");
        }
    }
    holds(&mut consumer, &mut rx, &[("orders-eu", 0)]).await;

    admin.create_topics(&[NewTopic::new("orders-us", 1)]).await.unwrap();
    holds(&mut consumer, &mut rx, &[("orders-eu", 0), ("orders-us", 0)]).await;

    admin.create_partitions(&[("orders-us", 2)]).await.unwrap();
    holds(&mut consumer, &mut rx, &[("orders-eu", 0), ("orders-us", 0), ("orders-us", 1)]).await;

    producer.send_and_wait(ProducerRecord::new("orders-us").partition(1).value("new")).await.unwrap();
    producer.send_and_wait(ProducerRecord::new("audit").partition(0).value("not mine")).await.unwrap();
    let r = loop {
        if let Some(r) = consumer.poll(Duration::from_secs(5)).await.unwrap() {
            break r;
        }
    };
    assert_eq!((r.topic.as_str(), r.partition, r.value.as_deref()), ("orders-us", 1, Some(&b"new"[..])));
    consumer.close().await.unwrap();
    broker.shutdown().await.unwrap();
}

/// The bindings drive these futures from multi-threaded runtimes: they must be `Send`.
#[allow(dead_code)]
fn futures_are_send(consumer: &mut Consumer, producer: &Producer, admin: &Admin) {
    fn send<T: Send>(_: T) {}
    send(consumer.poll(Duration::ZERO));
    send(consumer.poll_batch(10, Duration::ZERO));
    send(consumer.commit());
    send(producer.send(ProducerRecord::new("t")));
    send(producer.try_send(ProducerRecord::new("t")));
    send(producer.flush());
    send(admin.list_topics());
    send(consumer.committed(&[]));
    send(consumer.watermarks("t", 0));
    fn sync<T: Sync>(_: &T) {}
    sync(consumer);
    sync(producer);
    sync(admin);
}

/// `auto.offset.reset=error`: no committed offset, or an offset out of range, is an error that
/// names the partition rather than a silent jump; `Offset::Committed` starts an assignment at the
/// group's committed offset.
#[tokio::test]
async fn committed_starts_and_reset_error() {
    use ferrokafka::Offset;
    use kafka_protocol::ResponseError;
    let dir = tempfile::tempdir().unwrap();
    let (broker, bs, _admin, producer) = start(dir.path(), &[NewTopic::new("strict", 1)]).await;
    for v in ["a", "b", "c"] {
        producer.send_and_wait(ProducerRecord::new("strict").partition(0).value(v)).await.unwrap();
    }
    let strict = |group: &str| {
        Consumer::new(
            ClientConfig::from_pairs([
                ("bootstrap.servers", bs.as_str()),
                ("group.id", group),
                ("auto.offset.reset", "error"),
            ])
            .unwrap(),
        )
        .unwrap()
    };
    let names_partition = |e: &ferrokafka::Error| {
        assert_eq!(e.kafka_code(), Some(ResponseError::OffsetOutOfRange), "{e}");
        assert!(e.to_string().contains("strict-0"), "the error names the partition: {e}");
    };

    // Manual assignment at the committed offset, with nothing committed yet.
    let mut manual = strict("manual");
    let e = manual.assign([(TopicPartition::new("strict", 0), Offset::Committed)]).await.unwrap_err();
    names_partition(&e);
    assert!(manual.assignment().is_empty(), "a failed assign leaves nothing assigned");

    manual.commit_offsets(&[TopicPartitionOffset::new("strict", 0, 1)]).await.unwrap();
    manual.assign([(TopicPartition::new("strict", 0), Offset::Committed)]).await.unwrap();
    let r = loop {
        if let Some(r) = manual.poll(Duration::from_secs(5)).await.unwrap() {
            break r;
        }
    };
    assert_eq!((r.offset, r.value.as_deref()), (1, Some(&b"b"[..])), "reading starts at the committed offset");

    // An offset past the log end is out of range: an error, not a reset.
    manual.seek("strict", 0, Offset::At(100)).await.unwrap();
    let e = manual.poll(Duration::from_secs(5)).await.unwrap_err();
    names_partition(&e);

    // A group member assigned a partition with nothing committed reports it from poll.
    let mut member = strict("members");
    member.subscribe(&["strict"]).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let e = loop {
        match member.poll(Duration::from_millis(200)).await {
            Err(e) => break e,
            Ok(r) => assert!(r.is_none(), "nothing is read without a start offset: {r:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "no error reported for the partition without an offset");
    };
    names_partition(&e);
    assert_eq!(member.assignment(), Vec::<TopicPartition>::new(), "the partition without an offset is not read");

    member.close().await.unwrap();
    broker.shutdown().await.unwrap();
}

/// A member commits inside its revoke listener during the rebalance a second member's join
/// causes: the partition's next owner starts exactly at what the first had read (auto commit
/// is off, and `earliest` would re-read from 0 without that commit).
#[tokio::test]
async fn commit_inside_revoke_hands_over_exact_positions() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, bs, _admin, producer) = start(dir.path(), &[NewTopic::new("handover", 2)]).await;
    let produce = |round: &'static str| {
        let producer = &producer;
        async move {
            for p in 0..2 {
                for i in 0..3 {
                    producer
                        .send_and_wait(ProducerRecord::new("handover").partition(p).value(format!("{round}-{i}")))
                        .await
                        .unwrap();
                }
            }
        }
    };
    produce("first").await;
    let member = || {
        Consumer::new(
            ClientConfig::from_pairs([
                ("bootstrap.servers", bs.as_str()),
                ("group.id", "handover"),
                ("auto.offset.reset", "earliest"),
                ("enable.auto.commit", "false"),
            ])
            .unwrap(),
        )
        .unwrap()
    };
    let mut a = member();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    a.on_rebalance_committing(move |e, commits| {
        if let RebalanceEvent::Revoked(tps) = e {
            commits.commit();
            let at: Vec<(TopicPartition, Option<i64>)> =
                tps.iter().map(|tp| (tp.clone(), commits.position(&tp.topic, tp.partition))).collect();
            let _ = tx.send(Some(at));
        } else if let RebalanceEvent::Assigned(_) = e {
            let _ = tx.send(None);
        }
    });
    a.subscribe(&["handover"]).unwrap();
    let mut read = 0;
    while read < 6 {
        if a.poll(Duration::from_secs(5)).await.unwrap().is_some() {
            read += 1;
        }
    }
    assert_eq!((a.position("handover", 0), a.position("handover", 1)), (Some(3), Some(3)));
    assert_eq!(rx.recv().await.unwrap(), None, "the first assignment was reported");
    // `a` keeps polling (to take part in the rebalance) but reads nothing more.
    a.pause(&a.assignment());
    produce("second").await;

    let mut b = member();
    b.subscribe(&["handover"]).unwrap();
    // Both poll until the rebalance has run in `a` (revoke, then a new assignment) and `b`
    // has read its first record.
    let a_side = async {
        let revoked = loop {
            a.poll(Duration::from_millis(100)).await.unwrap();
            if let Ok(Some(at)) = rx.try_recv() {
                break at;
            }
        };
        loop {
            if let Ok(None) = rx.try_recv() {
                break revoked;
            }
            a.poll(Duration::from_millis(100)).await.unwrap();
        }
    };
    let b_side = async {
        loop {
            if let Some(r) = b.poll(Duration::from_millis(100)).await.unwrap() {
                break r;
            }
        }
    };
    let (revoked, first) =
        tokio::time::timeout(Duration::from_secs(60), async { tokio::join!(a_side, b_side) }).await.unwrap();
    let mut revoked = revoked;
    revoked.sort();
    assert_eq!(revoked, vec![(("handover", 0).into(), Some(3)), (("handover", 1).into(), Some(3))]);
    assert_eq!(
        (first.offset, first.value.as_deref()),
        (3, Some(&b"second-0"[..])),
        "b starts exactly after what a read and committed in its listener"
    );
    let committed = b.committed(&[TopicPartition::new("handover", first.partition)]).await.unwrap();
    assert_eq!(committed[0].1.as_ref().map(|(o, _)| *o), Some(3));
    b.close().await.unwrap();
    a.close().await.unwrap();
    broker.shutdown().await.unwrap();
}

fn kip848_member(bs: &str, group: &str, extra: &[(&str, &str)]) -> Consumer {
    let mut config = ClientConfig::from_pairs([
        ("bootstrap.servers", bs),
        ("group.id", group),
        ("group.protocol", "consumer"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
    ])
    .unwrap();
    for (k, v) in extra {
        config.set(k, *v).unwrap();
    }
    Consumer::new(config).unwrap()
}

#[test]
fn consumer_protocol_settings_are_checked() {
    let with = |pairs: &[(&str, &str)]| {
        let mut c = ClientConfig::from_pairs([("bootstrap.servers", "127.0.0.1:1"), ("group.id", "g")]).unwrap();
        for (k, v) in pairs {
            c.set(k, *v)?;
        }
        Consumer::new(c).map(drop)
    };
    let e = with(&[("group.protocol", "eager")]).unwrap_err().to_string();
    assert!(e.contains("group.protocol") && e.contains("consumer"), "{e}");
    for key in ["partition.assignment.strategy", "session.timeout.ms", "heartbeat.interval.ms"] {
        let value = if key == "partition.assignment.strategy" { "range" } else { "1000" };
        let e = with(&[("group.protocol", "consumer"), (key, value)]).unwrap_err().to_string();
        assert!(e.contains(key) && e.contains("group.protocol=consumer"), "{e}");
    }
    let e = with(&[("group.remote.assignor", "uniform")]).unwrap_err().to_string();
    assert!(e.contains("group.remote.assignor"), "{e}");
    with(&[("group.protocol", "consumer"), ("group.remote.assignor", "range")]).unwrap();
}

/// KIP-848: when a second member joins, the first gives up exactly one of its two
/// partitions; what its listener commits there is where the second starts.
#[tokio::test]
async fn consumer_protocol_hands_over_one_partition_at_its_committed_position() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, bs, _admin, producer) = start(dir.path(), &[NewTopic::new("kip848", 2)]).await;
    for p in 0..2 {
        for i in 0..3 {
            producer
                .send_and_wait(ProducerRecord::new("kip848").partition(p).value(format!("first-{i}")))
                .await
                .unwrap();
        }
    }
    let mut a = kip848_member(&bs, "kip848-handover", &[]);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    a.on_rebalance_committing(move |e, commits| {
        if let RebalanceEvent::Revoked(tps) = e {
            commits.commit();
            let at: Vec<(TopicPartition, Option<i64>)> =
                tps.iter().map(|tp| (tp.clone(), commits.position(&tp.topic, tp.partition))).collect();
            let _ = tx.send(Ok(at));
        } else {
            let _ = tx.send(Err(e.clone()));
        }
    });
    a.subscribe(&["kip848"]).unwrap();
    let mut read = 0;
    while read < 6 {
        if a.poll(Duration::from_secs(5)).await.unwrap().is_some() {
            read += 1;
        }
    }
    let mut held = a.assignment();
    held.sort();
    assert_eq!(held, vec![TopicPartition::new("kip848", 0), TopicPartition::new("kip848", 1)]);
    assert!(matches!(rx.try_recv(), Ok(Err(RebalanceEvent::Assigned(_)))), "the assignment was reported");
    a.pause(&a.assignment());
    for p in 0..2 {
        producer.send_and_wait(ProducerRecord::new("kip848").partition(p).value("second")).await.unwrap();
    }

    let mut b = kip848_member(&bs, "kip848-handover", &[]);
    b.subscribe(&["kip848"]).unwrap();
    let a_side = async {
        loop {
            a.poll(Duration::from_millis(100)).await.unwrap();
            match rx.try_recv() {
                Ok(Ok(revoked)) => break revoked,
                Ok(Err(e)) => panic!("only a revocation expected, got {e:?}"),
                Err(_) => {}
            }
        }
    };
    let b_side = async {
        loop {
            if let Some(r) = b.poll(Duration::from_millis(100)).await.unwrap() {
                break r;
            }
        }
    };
    let (revoked, first) =
        tokio::time::timeout(Duration::from_secs(30), async { tokio::join!(a_side, b_side) }).await.unwrap();
    assert_eq!(revoked.len(), 1, "one partition moves, not both: {revoked:?}");
    let (TopicPartition { partition: moved, .. }, at) = revoked[0].clone();
    assert_eq!(at, Some(3));
    assert_eq!(
        (first.partition, first.offset, first.value.as_deref()),
        (moved, 3, Some(&b"second"[..])),
        "b starts where a committed"
    );
    assert_eq!(a.assignment(), vec![TopicPartition::new("kip848", 1 - moved)], "a keeps the other");
    assert_eq!(b.assignment(), vec![TopicPartition::new("kip848", moved)]);
    let (member, epoch) = b.group_membership().unwrap();
    assert!(!member.is_empty() && epoch > 0, "{member} {epoch}");
    b.close().await.unwrap();
    a.close().await.unwrap();
    broker.shutdown().await.unwrap();
}

/// KIP-848: a member that stops polling for longer than max.poll.interval.ms leaves the
/// group; when it polls again it reports its partitions lost and joins again.
#[tokio::test]
async fn consumer_protocol_member_that_stops_polling_loses_its_partitions_and_rejoins() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, bs, _admin, _producer) = start(dir.path(), &[NewTopic::new("idle", 2)]).await;
    let mut a = kip848_member(&bs, "kip848-idle", &[("max.poll.interval.ms", "1000")]);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    a.on_rebalance(move |e| {
        let _ = tx.send(e.clone());
    });
    a.subscribe(&["idle"]).unwrap();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while a.assignment().len() < 2 {
        a.poll(Duration::from_millis(100)).await.unwrap();
        assert!(tokio::time::Instant::now() < deadline, "no assignment: {:?}", a.assignment());
    }
    let (_, first_epoch) = a.group_membership().unwrap();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    // Not polling is what this test is about: the heartbeat task must notice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        a.poll(Duration::from_millis(100)).await.unwrap();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        if events.len() >= 3 && a.assignment().len() == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "events so far: {events:?}");
    }
    let all = vec![TopicPartition::new("idle", 0), TopicPartition::new("idle", 1)];
    let sorted = |e: &RebalanceEvent| match e {
        RebalanceEvent::Assigned(t) | RebalanceEvent::Revoked(t) | RebalanceEvent::Lost(t) => {
            let mut t = t.clone();
            t.sort();
            t
        }
    };
    assert!(matches!(&events[0], RebalanceEvent::Assigned(_)) && sorted(&events[0]) == all, "{events:?}");
    assert!(matches!(&events[1], RebalanceEvent::Lost(_)) && sorted(&events[1]) == all, "{events:?}");
    assert!(matches!(&events[2], RebalanceEvent::Assigned(_)) && sorted(&events[2]) == all, "{events:?}");
    let (_, epoch) = a.group_membership().unwrap();
    assert!(epoch > first_epoch, "a new membership: epoch {epoch} after {first_epoch}");
    a.close().await.unwrap();
    broker.shutdown().await.unwrap();
}

/// A broker that refuses the membership (an assignor it does not have) makes `poll` fail
/// with its error code, naming the group.
#[tokio::test]
async fn consumer_protocol_refusal_is_a_typed_error_from_poll() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, bs, _admin, _producer) = start(dir.path(), &[NewTopic::new("refused", 1)]).await;
    let mut a = kip848_member(&bs, "kip848-refused", &[("group.remote.assignor", "nonesuch")]);
    a.subscribe(&["refused"]).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let e = loop {
        match a.poll(Duration::from_millis(100)).await {
            Err(e) => break e,
            Ok(_) => assert!(tokio::time::Instant::now() < deadline, "poll never failed"),
        }
    };
    assert_eq!(e.kafka_code(), Some(kafka_protocol::ResponseError::UnsupportedAssignor), "{e}");
    assert!(e.to_string().contains("kip848-refused") && e.to_string().contains("nonesuch"), "{e}");
    broker.shutdown().await.unwrap();
}

/// A broker on `dir` with these topics; its bootstrap, an admin and a producer for it. Keep
/// the broker alive for the test.
async fn start(dir: &std::path::Path, topics: &[NewTopic]) -> (Broker, String, Admin, Producer) {
    let mut config = BrokerConfig { listen: "127.0.0.1:0".into(), data_dir: dir.to_owned(), ..Default::default() };
    // KIP-848 members hear of released partitions within half a second.
    config.groups.consumer_heartbeat_interval_ms = 500;
    let broker = Broker::start(config).await.unwrap();
    let bs = broker.bootstrap();
    let admin = Admin::new(ClientConfig::from_pairs([("bootstrap.servers", bs.as_str())]).unwrap()).unwrap();
    admin.create_topics(topics).await.unwrap();
    let producer = Producer::new(ClientConfig::from_pairs([("bootstrap.servers", bs.as_str())]).unwrap()).unwrap();
    (broker, bs, admin, producer)
}

/// A broker with one single-partition topic holding `batches` batches of `per_batch` records
/// (values "0", "1", ... in order); returns the broker (keep it alive) and its bootstrap.
async fn topic_in_batches(dir: &std::path::Path, topic: &str, batches: usize, per_batch: usize) -> (Broker, String) {
    let (broker, bs, _admin, producer) = start(dir, &[NewTopic::new(topic, 1)]).await;
    for b in 0..batches {
        for i in 0..per_batch {
            drop(
                producer
                    .send(ProducerRecord::new(topic).partition(0).value((b * per_batch + i).to_string()))
                    .await
                    .unwrap(),
            );
        }
        producer.flush().await.unwrap();
    }
    (broker, bs)
}

fn value_of(r: &ferrokafka::ConsumerRecord) -> usize {
    std::str::from_utf8(r.value.as_deref().unwrap()).unwrap().parse().unwrap()
}

#[tokio::test]
async fn pausing_with_records_fetched_ahead_skips_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, bs) = topic_in_batches(dir.path(), "ahead", 3, 100).await;
    let mut consumer = Consumer::new(ClientConfig::from_pairs([("bootstrap.servers", bs.as_str())]).unwrap()).unwrap();
    consumer.assign([(TopicPartition::new("ahead", 0), ferrokafka::Offset::Beginning)]).await.unwrap();
    let first = consumer.poll(Duration::from_secs(10)).await.unwrap().expect("a record");
    assert_eq!(first.offset, 0);
    assert!(consumer.queued().0 > 0, "the fetch brought more than one record");

    let tp = [TopicPartition::new("ahead", 0)];
    consumer.pause(&tp);
    assert_eq!(consumer.queued(), (0, 0), "a paused partition's read-ahead is dropped");
    assert_eq!(consumer.position("ahead", 0), Some(1), "and its position stays at the next record");
    assert!(consumer.poll(Duration::from_millis(50)).await.unwrap().is_none(), "nothing from a paused partition");
    consumer.resume(&tp);

    let mut offsets = Vec::new();
    while offsets.len() < 299 {
        let r = consumer.poll(Duration::from_secs(10)).await.unwrap().expect("every record after the resume");
        offsets.push(r.offset);
    }
    assert_eq!(offsets, (1..300).collect::<Vec<i64>>(), "the records dropped on pause are fetched again");
}

#[tokio::test]
async fn fetches_run_ahead_of_the_application_within_queued_min_messages() {
    let dir = tempfile::tempdir().unwrap();
    // max.partition.fetch.bytes=1: each fetch brings exactly one batch (the first batch is
    // always whole), so the read-ahead is counted in batches of 20.
    let (_broker, bs) = topic_in_batches(dir.path(), "paced", 5, 20).await;
    let consumer_with = |extra: &[(&str, &str)]| {
        let mut pairs = vec![("bootstrap.servers", bs.as_str()), ("max.partition.fetch.bytes", "1")];
        pairs.extend_from_slice(extra);
        Consumer::new(ClientConfig::from_pairs(pairs).unwrap()).unwrap()
    };
    // An application that takes a while over each record (the sleep is its work).
    let work = || tokio::time::sleep(Duration::from_millis(10));

    // Default limits: while the application works through one batch, the next arrives.
    let mut consumer = consumer_with(&[]);
    consumer.assign([(TopicPartition::new("paced", 0), ferrokafka::Offset::Beginning)]).await.unwrap();
    let mut read = 0;
    let mut most_queued = 0;
    while read < 100 && most_queued < 20 {
        let r = consumer.poll(Duration::from_secs(10)).await.unwrap().expect("a record");
        assert_eq!(value_of(&r), read, "in order");
        read += 1;
        most_queued = most_queued.max(consumer.queued().0);
        work().await;
    }
    assert!(most_queued >= 20, "a second batch was fetched before the first was used up (read {read})");

    // queued.min.messages=1: no fetch while anything fetched is unread.
    let mut consumer = consumer_with(&[("queued.min.messages", "1")]);
    consumer.assign([(TopicPartition::new("paced", 0), ferrokafka::Offset::Beginning)]).await.unwrap();
    for want in 0..100 {
        let r = consumer.poll(Duration::from_secs(10)).await.unwrap().expect("a record");
        assert_eq!(value_of(&r), want, "in order");
        assert!(consumer.queued().0 < 20, "read-ahead held to one batch, at record {want}: {:?}", consumer.queued());
        work().await;
    }
}

#[tokio::test]
async fn poll_batch_queued_events_and_commit_report_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, bs, _admin, producer) = start(dir.path(), &[NewTopic::new("batched", 2)]).await;
    for p in 0..2 {
        for i in 0..50 {
            producer
                .send_and_wait(ProducerRecord::new("batched").partition(p).value(format!("{p}-{i}")))
                .await
                .unwrap();
        }
    }
    let mut consumer = Consumer::new(
        ClientConfig::from_pairs([
            ("bootstrap.servers", bs.as_str()),
            ("group.id", "batches"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ])
        .unwrap(),
    )
    .unwrap();
    consumer.queue_rebalance_events();
    consumer.subscribe(&["batched"]).unwrap();

    // Batches of at most 30, in offset order per partition, until all 100 are read.
    let mut seen: Vec<(i32, i64)> = Vec::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < 100 {
        assert!(tokio::time::Instant::now() < deadline, "read {} of 100", seen.len());
        let batch = consumer.poll_batch(30, Duration::from_millis(200)).await.unwrap();
        assert!(batch.len() <= 30);
        seen.extend(batch.iter().map(|r| (r.partition, r.offset)));
        events.extend(consumer.take_rebalance_events());
    }
    for p in 0..2 {
        let offsets: Vec<i64> = seen.iter().filter(|(q, _)| *q == p).map(|(_, o)| *o).collect();
        assert_eq!(offsets, (0..50).collect::<Vec<_>>(), "partition {p} in order, once each");
    }
    let mut assigned: Vec<TopicPartition> =
        events.iter().flat_map(|e| if let RebalanceEvent::Assigned(tps) = e { tps.clone() } else { vec![] }).collect();
    assigned.sort();
    assert_eq!(assigned, vec![("batched", 0).into(), ("batched", 1).into()], "{events:?}");
    assert!(consumer.poll_batch(0, Duration::ZERO).await.unwrap().is_empty());

    let mut committed = consumer.commit().await.unwrap();
    committed.sort_by(|a, b| a.topic_partition.cmp(&b.topic_partition));
    assert_eq!(
        committed,
        vec![TopicPartitionOffset::new("batched", 0, 50), TopicPartitionOffset::new("batched", 1, 50)],
        "commit returns what it stored"
    );
    let stored = consumer.committed(&[("batched", 0).into()]).await.unwrap();
    assert_eq!(stored[0].1.as_ref().map(|(o, _)| *o), Some(50));
    let explicit = [TopicPartitionOffset::new("batched", 1, 7).with_metadata("m")];
    assert_eq!(consumer.commit_offsets(&explicit).await.unwrap(), explicit);

    let last = consumer.close().await.unwrap();
    assert!(
        matches!(last.as_slice(), [RebalanceEvent::Revoked(tps)] if tps.len() == 2),
        "close returns the final revocation: {last:?}"
    );
    broker.shutdown().await.unwrap();
}

/// The runner a binding's handler loop sits on: a handler that fails half-way gets the rest
/// of the round again (rewind), a commit asked for through the control from inside a
/// handler is served while the runner awaits it, a pause from another thread stops the
/// round's remaining records of that partition (read again after resume), a seek applies
/// before the next round, and `finish` commits what was handled.
#[tokio::test]
async fn a_runner_serves_its_control_while_handlers_run_and_reads_again_what_they_did_not_handle() {
    use ferrokafka::consumer::{Control, PauseTarget, Runner};
    let dir = tempfile::tempdir().unwrap();
    let (_broker, bs) = topic_in_batches(dir.path(), "run", 1, 100).await;
    let config = |group: &str| {
        ClientConfig::from_pairs([
            ("bootstrap.servers", bs.as_str()),
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ])
        .unwrap()
    };
    let mut consumer = Consumer::new(config("runner")).unwrap();
    consumer.subscribe(&["run"]).unwrap();
    let control = Control::new();
    // Not running yet: refused, but what is paused is kept for the run.
    assert!(control.pause(&[PauseTarget::Topic("elsewhere".into())]).is_err());
    assert!(control.seek(("run", 0).into(), ferrokafka::Offset::At(0)).is_err());
    let mut runner = Runner::new(consumer, &control).unwrap();
    assert!(Runner::new(Consumer::new(config("runner")).unwrap(), &control).is_err(), "one runner per control");

    // Waits for a round with records.
    async fn round(runner: &mut Runner) -> Vec<ferrokafka::ConsumerRecord> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let r = runner.next_round(1_000, Duration::from_millis(100)).await;
            let records = r.records.unwrap();
            if !records.is_empty() {
                return records;
            }
            assert!(tokio::time::Instant::now() < deadline, "no records");
        }
    }

    // A handler that handles 10 records, commits through the control (served meanwhile)
    // and then fails: the round is read again from the 11th.
    let records = round(&mut runner).await;
    assert_eq!(records.first().map(|r| r.offset), Some(0));
    assert!(control.membership().is_some(), "joined");
    let c = control.clone();
    let committed =
        runner.serving(async move { c.commit(vec![TopicPartitionOffset::new("run", 0, 10)]).await }).await.unwrap();
    assert_eq!(committed, vec![TopicPartitionOffset::new("run", 0, 10)]);
    runner.rewind_all(&records[10..]).await;
    assert_eq!(round(&mut runner).await.first().map(|r| r.offset), Some(10), "read again from the failure");

    // A pause from another thread mid-round: the partition is paused since the fetch, so
    // its records are not handed out and come again after resume.
    let c = control.clone();
    std::thread::spawn(move || c.pause(&[PauseTarget::Partitions("run".into(), vec![0])]).unwrap()).join().unwrap();
    assert!(!control.deliverable(&("run", 0).into()));
    let elsewhere = PauseTarget::Topic("elsewhere".into());
    assert_eq!(control.paused(), vec![elsewhere.clone(), PauseTarget::Partitions("run".into(), vec![0])]);
    assert!(runner.paused_since_fetch(&("run", 0).into(), 10).await);
    assert!(runner.next_round(1_000, Duration::from_millis(200)).await.records.unwrap().is_empty(), "paused");
    control.resume(&[PauseTarget::Topic("run".into())]).unwrap();
    assert_eq!(control.paused(), vec![elsewhere]);
    let again = round(&mut runner).await;
    assert_eq!(again.first().map(|r| r.offset), Some(10));
    assert_eq!(again.last().map(|r| r.offset), Some(99));

    // A seek applies before the next round.
    control.seek(("run", 0).into(), ferrokafka::Offset::At(95)).unwrap();
    assert_eq!(round(&mut runner).await.first().map(|r| r.offset), Some(95));

    control.stop();
    assert!(runner.stopping() && !control.is_running());
    let committed = runner.finish(true).await.unwrap();
    assert_eq!(committed, vec![TopicPartitionOffset::new("run", 0, 100)], "finish commits the positions");
    assert!(control.commit(vec![]).await.is_err(), "the control refuses once the run is over");

    // The group's committed offset is what finish stored.
    let probe = Consumer::new(config("runner")).unwrap();
    let stored = probe.committed(&[("run", 0).into()]).await.unwrap();
    assert_eq!(stored[0].1.as_ref().map(|(o, _)| *o), Some(100));
}
