//! Fetch size limits as Kafka applies them (KIP-74): the request's max_bytes bounds the whole
//! response and partition_max_bytes each partition; only the first batch of the first non-empty
//! partition is served whole past them, so a consumer always progresses.

mod common;

use bytes::Bytes;
use common::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

/// One batch of `n` records of `size` bytes each that compression cannot shrink (idempotent:
/// the test encoder makes one batch of records only when their sequences follow each other).
fn incompressible(n: usize, size: usize, seed: u64, producer: (i64, i16, i32), compression: Compression) -> Bytes {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let values: Vec<Vec<u8>> = (0..n)
        .map(|_| {
            (0..size)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (x >> 33) as u8
                })
                .collect()
        })
        .collect();
    let recs: Vec<Rec<'_>> = values.iter().map(|v| (None, v.as_slice(), 1_000)).collect();
    batch(&recs, Some(producer), compression)
}

/// Bytes of records per partition in a fetch of `partitions` of `topic` from offset 0.
async fn fetch_sizes(
    c: &mut TestClient,
    topic: &str,
    partitions: i32,
    max_bytes: i32,
    partition_max: i32,
) -> Vec<usize> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.into())))
                .with_partitions(
                    (0..partitions)
                        .map(|p| {
                            fetch_request::FetchPartition::default()
                                .with_partition(p)
                                .with_fetch_offset(0)
                                .with_partition_max_bytes(partition_max)
                                .with_log_start_offset(-1)
                        })
                        .collect(),
                ),
        ]);
    let resp = c.send(&req, 12).await;
    resp.responses[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, 0);
            p.records.as_ref().map_or(0, Bytes::len)
        })
        .collect()
}

async fn fill(c: &mut TestClient, topic: &str, partitions: i32, compression: Compression) -> usize {
    let mut batch_len = 0;
    for p in 0..partitions {
        let (pid, epoch) = init_producer_id(c).await;
        for i in 0..5 {
            let one = incompressible(10, 10_000, (p * 10 + i) as u64, (pid, epoch, i * 10), compression);
            batch_len = one.len();
            assert_eq!(produce(c, topic, p, one).await.0, 0);
        }
    }
    batch_len
}

#[tokio::test]
async fn max_bytes_bounds_the_response_and_partition_max_bytes_each_partition() {
    for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let (broker, _dir) = start_broker(|_| {}).await;
        let mut c = TestClient::connect(broker.local_addr()).await;
        assert_eq!(create_topic(&mut c, "limits", 3, &[]).await, 0);
        let batch_len = fill(&mut c, "limits", 3, compression).await;
        assert!(batch_len > 90_000, "{compression:?}: batches of about 100 KB ({batch_len})");

        // The whole response within max_bytes (250 KB), though each partition may have 1 MB.
        let sizes = fetch_sizes(&mut c, "limits", 3, 250_000, 1 << 20).await;
        assert!(sizes[0] > 0, "{compression:?}: the first partition is served");
        assert!(sizes.iter().sum::<usize>() <= 250_000, "{compression:?}: {sizes:?} within max_bytes");

        // Each partition within partition_max_bytes (150 KB), the response has room for all.
        let sizes = fetch_sizes(&mut c, "limits", 3, 50 << 20, 150_000).await;
        assert!(sizes.iter().all(|&s| s > 0 && s <= 150_000), "{compression:?}: {sizes:?} within partition_max_bytes");

        // Limits below one batch: the first batch of the first partition whole, nothing else.
        let sizes = fetch_sizes(&mut c, "limits", 3, 1_000, 1_000).await;
        assert_eq!(sizes, vec![batch_len, 0, 0], "{compression:?}: only the first batch, whole");
        broker.shutdown().await.unwrap();
    }
}
