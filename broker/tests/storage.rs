//! What the log keeps across restarts, and what retention and DeleteRecords take away.

mod common;

use std::time::Duration;

use common::*;
use ferrokafka_broker::{Broker, BrokerConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const OFFSET_OUT_OF_RANGE: i16 = 1;

fn config_in(dir: &std::path::Path) -> BrokerConfig {
    BrokerConfig { listen: "127.0.0.1:0".into(), data_dir: dir.to_owned(), ..Default::default() }
}

#[tokio::test]
async fn topics_and_records_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    create_topic(&mut c, "keep", 2, &[("segment.bytes", "300")]).await;
    // Current timestamps: records from 1970 would rightly fall to the 7-day retention.
    let t0 = ferrokafka_broker::log::now_ms();
    for i in 0..20 {
        let v = format!("value-{i}");
        assert_eq!(
            produce(&mut c, "keep", 1, batch(&[(None, v.as_bytes(), t0 + i)], None, Compression::None)).await,
            (0, i)
        );
    }
    broker.shutdown().await.unwrap();
    let segments = std::fs::read_dir(dir.path().join("keep-1"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "log"))
        .count();
    assert!(segments > 1, "segment.bytes=300 rolled segments ({segments})");

    let broker = Broker::start(config_in(dir.path())).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    let md = c.send(&MetadataRequest::default().with_topics(None), 12).await;
    assert_eq!(md.topics.len(), 1);
    assert_eq!(md.topics[0].partitions.len(), 2);
    let mut all = Vec::new();
    let mut next = 0;
    while next < 20 {
        let (err, hw, _, recs) = fetch(&mut c, "keep", 1, next).await;
        assert_eq!((err, hw), (0, 20));
        next = recs.last().unwrap().offset + 1;
        all.extend(recs);
    }
    assert_eq!(all.len(), 20);
    assert!(all.iter().enumerate().all(|(i, r)| r.value.as_deref() == Some(format!("value-{i}").as_bytes())));
    assert_eq!(produce(&mut c, "keep", 1, batch(&[(None, b"after", 99)], None, Compression::None)).await, (0, 20));
    assert_eq!(list_offset(&mut c, "keep", 1, t0 + 10).await.1, 10, "time index loaded after restart");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn delete_records_moves_the_log_start() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    create_topic(&mut c, "dr", 1, &[("segment.bytes", "200")]).await;
    let t0 = ferrokafka_broker::log::now_ms();
    for i in 0..10 {
        produce(&mut c, "dr", 0, batch(&[(None, b"0123456789", t0 + i)], None, Compression::None)).await;
    }
    let req = DeleteRecordsRequest::default().with_timeout_ms(5000).with_topics(vec![
        delete_records_request::DeleteRecordsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("dr")))
            .with_partitions(vec![
                delete_records_request::DeleteRecordsPartition::default().with_partition_index(0).with_offset(6),
            ]),
    ]);
    let resp = c.send(&req, 2).await;
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
    assert_eq!(resp.topics[0].partitions[0].low_watermark, 6);
    assert_eq!(list_offset(&mut c, "dr", 0, -2).await.1, 6);
    assert_eq!(fetch(&mut c, "dr", 0, 2).await.0, OFFSET_OUT_OF_RANGE);
    let (err, _, start, recs) = fetch(&mut c, "dr", 0, 6).await;
    assert_eq!((err, start), (0, 6));
    assert_eq!(recs[0].offset, 6);
    assert_eq!(fetch(&mut c, "dr", 0, 11).await.0, OFFSET_OUT_OF_RANGE, "past the end");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn retention_by_bytes_deletes_old_segments() {
    let (broker, _dir) = start_broker(|c| c.retention_check_interval_ms = 20).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    create_topic(&mut c, "ret", 1, &[("segment.bytes", "200"), ("retention.bytes", "400")]).await;
    // Current timestamps, so only the byte limit can delete anything.
    let t0 = ferrokafka_broker::log::now_ms();
    for i in 0..30 {
        produce(&mut c, "ret", 0, batch(&[(None, b"0123456789", t0 + i)], None, Compression::None)).await;
    }
    // Retention runs in the background: wait for its effect, bounded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let start = loop {
        let start = list_offset(&mut c, "ret", 0, -2).await.1;
        if start > 0 || tokio::time::Instant::now() > deadline {
            break start;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(start > 0, "retention moved the log start");
    assert_eq!(list_offset(&mut c, "ret", 0, -1).await.1, 30, "the end is untouched");
    let (err, _, _, recs) = fetch(&mut c, "ret", 0, start).await;
    assert_eq!(err, 0);
    assert_eq!(recs[0].offset, start);
    broker.shutdown().await.unwrap();
}
