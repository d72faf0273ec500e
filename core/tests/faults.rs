//! Faults injected between the client and the bundled broker: a proxy that cuts every
//! connection while batches are in flight (up to 5 per partition, with idempotence).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferrokafka::consumer::Offset;
use ferrokafka::{ClientConfig, PartitionConsumer, Producer, ProducerRecord};
use ferrokafka_broker::{AllocGuard, Broker, BrokerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[global_allocator]
static ALLOC: AllocGuard = AllocGuard;

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

#[tokio::test]
async fn idempotent_producer_loses_and_duplicates_nothing_when_connections_drop() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(BrokerConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_owned(),
        // Clients learn the proxy's address from metadata, so every connection goes through it.
        advertised_listener: Some(proxy_addr.to_string()),
        num_partitions: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    let (cut_tx, cut_rx) = watch::channel(0u64);
    let cuts = Arc::new(AtomicUsize::new(0));
    tokio::spawn(proxy(listener, broker.local_addr(), cut_rx, Arc::clone(&cuts)));

    let config = ClientConfig::from_pairs([
        ("bootstrap.servers", proxy_addr.to_string().as_str()),
        ("enable.idempotence", "true"),
        ("acks", "all"),
        ("linger.ms", "1"),
        ("batch.size", "4000"),
        ("retry.backoff.ms", "10"),
    ])
    .unwrap();
    let producer = Producer::new(config.clone()).unwrap();
    const N: usize = 6000;
    let mut deliveries = Vec::with_capacity(N);
    for i in 0..N {
        let rec = ProducerRecord::new("drops").partition((i % 3) as i32).value(format!("{i:06}"));
        deliveries.push(producer.send(rec).await.unwrap());
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
    for (i, d) in deliveries.into_iter().enumerate() {
        let meta = d.await.expect("every record is acknowledged despite the drops");
        acked.insert((meta.partition, meta.offset), i);
    }
    let stats = producer.stats();
    assert!(cuts.load(Ordering::Relaxed) > 0, "connections were cut");
    assert!(stats.retries > 0, "some batch was in flight when its connection dropped: {stats:?}");
    // max.in.flight.requests.per.connection defaults to 5: order held with batches pipelined.
    assert!((2..=5).contains(&stats.max_partition_batches_in_flight), "several batches of a partition in flight: {stats:?}");

    let mut consumer = PartitionConsumer::new(config).unwrap();
    consumer.assign((0..3).map(|p| ("drops".to_owned(), p, Offset::Beginning))).await.unwrap();
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
