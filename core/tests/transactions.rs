//! The transactional producer and read_committed consumer against the bundled broker:
//! what commits is seen once, what aborts is never seen, offsets commit with the transaction,
//! and a fenced producer can do nothing more.

use std::time::Duration;

use ferrokafka::{
    Admin, ClientConfig, Consumer, ConsumerGroupMetadata, Error, NewTopic, Offset, Producer, ProducerRecord,
    TopicPartition, TopicPartitionOffset,
};
use ferrokafka_broker::{Broker, BrokerConfig};

const T: Duration = Duration::from_secs(20);

async fn start(dir: &std::path::Path, topics: &[NewTopic]) -> (Broker, String) {
    let config = BrokerConfig { listen: "127.0.0.1:0".into(), data_dir: dir.to_owned(), ..Default::default() };
    let broker = Broker::start(config).await.unwrap();
    let bs = broker.bootstrap();
    let admin = Admin::new(ClientConfig::from_pairs([("bootstrap.servers", bs.as_str())]).unwrap()).unwrap();
    admin.create_topics(topics).await.unwrap();
    (broker, bs)
}

fn txn_producer(bs: &str, id: &str) -> Producer {
    Producer::new(ClientConfig::from_pairs([("bootstrap.servers", bs), ("transactional.id", id)]).unwrap()).unwrap()
}

fn consumer(bs: &str, isolation: &str, extra: &[(&str, &str)]) -> Consumer {
    let mut pairs = vec![("bootstrap.servers", bs), ("isolation.level", isolation), ("auto.offset.reset", "earliest")];
    pairs.extend_from_slice(extra);
    Consumer::new(ClientConfig::from_pairs(pairs).unwrap()).unwrap()
}

/// Every value readable from `topic` (all partitions), polling until `until` says enough or
/// nothing new comes for `quiet`.
async fn read_all(c: &mut Consumer, quiet: Duration, until: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        match c.poll(quiet).await.unwrap() {
            Some(r) => out.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap()),
            None => return out,
        }
        if until(&out) {
            return out;
        }
    }
}

async fn send(p: &Producer, topic: &str, partition: i32, value: &str) {
    drop(p.send(ProducerRecord::new(topic).partition(partition).value(value.to_owned())).await.unwrap());
}

#[tokio::test]
async fn committed_records_are_read_once_and_aborted_ones_never() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, bs) = start(dir.path(), &[NewTopic::new("tx", 2)]).await;
    let p = txn_producer(&bs, "committer");
    p.init_transactions(T).await.unwrap();

    p.begin_transaction().unwrap();
    for i in 0..10 {
        send(&p, "tx", i % 2, &format!("c1-{i}")).await;
    }
    p.commit_transaction(T).await.unwrap();

    p.begin_transaction().unwrap();
    for i in 0..5 {
        send(&p, "tx", i % 2, &format!("a-{i}")).await;
    }
    // Written, then aborted: the markers must hide what is already in the log.
    p.flush().await.unwrap();
    p.abort_transaction(T).await.unwrap();

    p.begin_transaction().unwrap();
    for i in 0..3 {
        send(&p, "tx", i % 2, &format!("c2-{i}")).await;
    }
    p.commit_transaction(T).await.unwrap();

    let mut committed = consumer(&bs, "read_committed", &[]);
    committed
        .assign([(TopicPartition::new("tx", 0), Offset::Beginning), (TopicPartition::new("tx", 1), Offset::Beginning)])
        .await
        .unwrap();
    let mut got = read_all(&mut committed, Duration::from_millis(500), |v| v.len() >= 13).await;
    got.sort();
    let mut want: Vec<String> = (0..10).map(|i| format!("c1-{i}")).chain((0..3).map(|i| format!("c2-{i}"))).collect();
    want.sort();
    assert_eq!(got, want, "read_committed: every committed record once, no aborted one");
    // Nothing more comes, and the positions are past the last commit marker: no lag.
    assert_eq!(committed.poll(Duration::from_millis(300)).await.unwrap(), None);
    for partition in 0..2 {
        let (_, high) = committed.watermarks("tx", partition).await.unwrap();
        assert_eq!(committed.position("tx", partition), Some(high), "partition {partition} read to its end");
        assert_eq!(committed.lag("tx", partition), Some(0));
    }

    let mut uncommitted = consumer(&bs, "read_uncommitted", &[]);
    uncommitted
        .assign([(TopicPartition::new("tx", 0), Offset::Beginning), (TopicPartition::new("tx", 1), Offset::Beginning)])
        .await
        .unwrap();
    let got = read_all(&mut uncommitted, Duration::from_millis(500), |v| v.len() >= 18).await;
    assert_eq!(got.len(), 18, "read_uncommitted sees aborted records too, never control records: {got:?}");
}

#[tokio::test]
async fn an_open_transaction_is_invisible_to_read_committed_until_it_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, bs) = start(dir.path(), &[NewTopic::new("open", 1)]).await;
    let p = txn_producer(&bs, "slow");
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    send(&p, "open", 0, "pending").await;
    p.flush().await.unwrap();

    let mut c = consumer(&bs, "read_committed", &[]);
    c.assign([(TopicPartition::new("open", 0), Offset::Beginning)]).await.unwrap();
    // Until a fetch has answered there is no lag to report; then it is measured to the last
    // stable offset, and nothing is served past it.
    let deadline = tokio::time::Instant::now() + T;
    while c.lag("open", 0).is_none() && tokio::time::Instant::now() < deadline {
        assert_eq!(c.poll(Duration::from_millis(100)).await.unwrap(), None, "served only up to the last stable offset");
    }
    assert_eq!(c.lag("open", 0), Some(0), "lag is measured to the last stable offset");
    assert_eq!(c.poll(Duration::from_millis(300)).await.unwrap(), None);
    // The end a read_committed reader seeks to is the last stable offset, before the open one.
    let mut at_end = consumer(&bs, "read_committed", &[]);
    at_end.assign([(TopicPartition::new("open", 0), Offset::End)]).await.unwrap();
    assert_eq!(at_end.position("open", 0), Some(0));

    p.commit_transaction(T).await.unwrap();
    let r = c.poll(T).await.unwrap().expect("visible once committed");
    assert_eq!(r.value.as_deref(), Some(&b"pending"[..]));
    assert_eq!(at_end.poll(T).await.unwrap().map(|r| r.offset), Some(0));
}

#[tokio::test]
async fn a_newer_instance_fences_the_older_one() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, bs) = start(dir.path(), &[NewTopic::new("fence", 1)]).await;
    let old = txn_producer(&bs, "app-1");
    old.init_transactions(T).await.unwrap();
    old.begin_transaction().unwrap();
    send(&old, "fence", 0, "from-the-zombie").await;
    old.flush().await.unwrap();

    // The new instance's init aborts the old one's open transaction and bumps the epoch.
    let new = txn_producer(&bs, "app-1");
    new.init_transactions(T).await.unwrap();
    new.begin_transaction().unwrap();
    send(&new, "fence", 0, "from-the-new-one").await;
    new.commit_transaction(T).await.unwrap();

    let e = old.commit_transaction(T).await.expect_err("the fenced producer cannot commit");
    assert!(e.is_fatal(), "fenced is fatal: {e}");
    assert!(matches!(e, Error::Fenced(_)), "{e:?}");
    assert!(old.begin_transaction().is_err_and(|e| e.is_fatal()), "and stays unusable");

    let mut c = consumer(&bs, "read_committed", &[]);
    c.assign([(TopicPartition::new("fence", 0), Offset::Beginning)]).await.unwrap();
    let got = read_all(&mut c, Duration::from_millis(500), |v| !v.is_empty()).await;
    assert_eq!(got, ["from-the-new-one"]);
}

#[tokio::test]
async fn calls_out_of_order_are_state_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, bs) = start(dir.path(), &[NewTopic::new("states", 1)]).await;
    let p = txn_producer(&bs, "states");
    let e = p.begin_transaction().unwrap_err();
    assert!(matches!(e, Error::State(_)) && !e.is_fatal(), "{e}");
    // Initialization on first use (kafkajs's `transaction()`): callers racing to it share one,
    // and later calls find it done; `init_transactions` itself is once only.
    let (a, b) = tokio::join!(p.init_transactions_once(T), p.init_transactions_once(T));
    a.unwrap();
    b.unwrap();
    p.init_transactions_once(T).await.unwrap();
    assert!(matches!(p.init_transactions(T).await, Err(Error::State(_))), "initialized already");
    let e = p.send(ProducerRecord::new("states").value("x")).await.unwrap_err();
    assert!(matches!(e, Error::State(_)), "a send outside a transaction: {e}");
    assert!(matches!(p.commit_transaction(T).await, Err(Error::State(_))));
    p.begin_transaction().unwrap();
    assert!(matches!(p.begin_transaction(), Err(Error::State(_))));

    // A partition the topic does not have fails its record; the transaction must be aborted.
    let e = p.send_and_wait(ProducerRecord::new("states").partition(7).value("x")).await.unwrap_err();
    assert!(!e.txn_requires_abort(), "refused before it joined the transaction: {e}");
    p.commit_transaction(T).await.unwrap();

    // A non-transactional producer has no transaction calls.
    let plain = Producer::new(ClientConfig::from_pairs([("bootstrap.servers", bs.as_str())]).unwrap()).unwrap();
    assert!(matches!(plain.begin_transaction(), Err(Error::State(_))));
    // Settings that contradict a transactional producer are refused.
    for bad in [[("enable.idempotence", "false")], [("acks", "1")]] {
        let mut pairs = vec![("bootstrap.servers", bs.as_str()), ("transactional.id", "x")];
        pairs.extend_from_slice(&bad);
        assert!(Producer::new(ClientConfig::from_pairs(pairs).unwrap()).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn a_record_the_broker_refuses_makes_the_transaction_abortable_and_the_next_one_works() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, bs) = start(dir.path(), &[NewTopic::new("small", 1).config("max.message.bytes", "2000")]).await;
    let p = txn_producer(&bs, "refused");
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    send(&p, "small", 0, "fits").await;
    p.flush().await.unwrap();
    let e = p.send_and_wait(ProducerRecord::new("small").partition(0).value(vec![b'x'; 5000])).await.unwrap_err();
    assert!(!e.is_retriable(), "{e}");
    // The transaction is doomed: sends and the commit say so, and name the cause.
    let e = p.commit_transaction(T).await.unwrap_err();
    assert!(e.txn_requires_abort() && !e.is_fatal(), "{e}");
    let e = p.send(ProducerRecord::new("small").value("later")).await.unwrap_err();
    assert!(e.txn_requires_abort(), "{e}");
    p.abort_transaction(T).await.unwrap();
    assert!(p.stats().epoch_bumps >= 1, "the failed batch left a sequence gap: a new epoch");

    p.begin_transaction().unwrap();
    send(&p, "small", 0, "next").await;
    p.commit_transaction(T).await.unwrap();
    let mut c = consumer(&bs, "read_committed", &[]);
    c.assign([(TopicPartition::new("small", 0), Offset::Beginning)]).await.unwrap();
    let got = read_all(&mut c, Duration::from_millis(500), |v| !v.is_empty()).await;
    assert_eq!(got, ["next"]);
}

#[tokio::test]
async fn consumed_offsets_commit_with_the_transaction_and_not_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, bs) = start(dir.path(), &[NewTopic::new("in", 1), NewTopic::new("out", 1)]).await;
    let plain = Producer::new(ClientConfig::from_pairs([("bootstrap.servers", bs.as_str())]).unwrap()).unwrap();
    for i in 0..6 {
        send(&plain, "in", 0, &i.to_string()).await;
    }
    plain.flush().await.unwrap();

    let mut c = consumer(&bs, "read_committed", &[("group.id", "copier"), ("enable.auto.commit", "false")]);
    c.subscribe(&["in"]).unwrap();
    let p = txn_producer(&bs, "copier-0");
    p.init_transactions(T).await.unwrap();

    // Copies `n` records in one transaction; commits or aborts it.
    async fn copy(c: &mut Consumer, p: &Producer, n: usize, commit: bool) {
        p.begin_transaction().unwrap();
        let mut last = -1;
        for _ in 0..n {
            let r = c.poll(T).await.unwrap().expect("an input record");
            last = r.offset;
            send(p, "out", 0, std::str::from_utf8(r.value.as_deref().unwrap()).unwrap()).await;
        }
        let group = c.group_metadata().unwrap();
        assert!(group.generation_id > 0 && !group.member_id.is_empty(), "{group:?}");
        p.send_offsets_to_transaction(&[TopicPartitionOffset::new("in", 0, last + 1)], &group, T).await.unwrap();
        if commit { p.commit_transaction(T).await.unwrap() } else { p.abort_transaction(T).await.unwrap() }
    }
    copy(&mut c, &p, 3, true).await;
    assert_eq!(c.committed(&[("in", 0).into()]).await.unwrap()[0].1.as_ref().map(|o| o.0), Some(3));
    copy(&mut c, &p, 2, false).await;
    assert_eq!(
        c.committed(&[("in", 0).into()]).await.unwrap()[0].1.as_ref().map(|o| o.0),
        Some(3),
        "an aborted transaction's offsets are not committed"
    );

    // A zombie: offsets with a generation that is over are refused, and the transaction
    // must be aborted.
    p.begin_transaction().unwrap();
    let stale = ConsumerGroupMetadata { generation_id: 999, ..c.group_metadata().unwrap() };
    let e = p.send_offsets_to_transaction(&[TopicPartitionOffset::new("in", 0, 6)], &stale, T).await.unwrap_err();
    assert!(e.txn_requires_abort(), "{e}");
    assert!(p.commit_transaction(T).await.is_err_and(|e| e.txn_requires_abort()));
    p.abort_transaction(T).await.unwrap();

    let mut out = consumer(&bs, "read_committed", &[]);
    out.assign([(TopicPartition::new("out", 0), Offset::Beginning)]).await.unwrap();
    let got = read_all(&mut out, Duration::from_millis(500), |v| v.len() >= 3).await;
    assert_eq!(got, ["0", "1", "2"]);
    assert_eq!(out.poll(Duration::from_millis(300)).await.unwrap(), None, "the aborted copies stay hidden");
}
