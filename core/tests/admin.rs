//! The admin client against the bundled broker over TCP.

use std::time::Duration;

use ferrokafka::admin::OffsetSpec;
use ferrokafka::{Admin, ClientConfig, Consumer, Error, NewTopic, Producer, ProducerRecord, TopicPartition};
use ferrokafka_broker::{Broker, BrokerConfig};
use kafka_protocol::ResponseError;

async fn broker() -> (Broker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig { listen: "127.0.0.1:0".into(), data_dir: dir.path().to_owned(), ..Default::default() };
    (Broker::start(config).await.unwrap(), dir)
}

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::from_pairs([("bootstrap.servers", bootstrap)]).unwrap();
    for (k, v) in extra {
        c.set(k, *v).unwrap();
    }
    c
}

fn code(r: &ferrokafka::Result<()>) -> Option<ResponseError> {
    r.as_ref().err().and_then(Error::kafka_code)
}

#[tokio::test]
async fn topics_configs_and_cluster() {
    let (broker, _dir) = broker().await;
    let admin = Admin::new(config(&broker.bootstrap(), &[])).unwrap();
    let created = admin
        .create_topics(&[NewTopic::new("a", 3).config("retention.ms", "60000"), NewTopic::new("bad name!", 1)])
        .await
        .unwrap();
    assert!(created[0].1.is_ok());
    assert_eq!(code(&created[1].1), Some(ResponseError::InvalidTopicException));
    let again = admin.create_topics(&[NewTopic::new("a", 3)]).await.unwrap();
    assert_eq!(code(&again[0].1), Some(ResponseError::TopicAlreadyExists));

    let topics = admin.list_topics().await.unwrap();
    assert_eq!(topics.iter().map(|t| (t.name.as_str(), t.partitions)).collect::<Vec<_>>(), vec![("a", 3)]);
    assert!(admin.create_partitions(&[("a", 5)]).await.unwrap()[0].1.is_ok());
    assert_eq!(admin.list_topics().await.unwrap()[0].partitions, 5);

    let configs = admin.describe_topic_configs("a").await.unwrap();
    assert!(configs.contains(&("retention.ms".into(), "60000".into())));
    admin
        .alter_topic_configs("a", &[("retention.ms", Some("120000")), ("segment.bytes", Some("1048576"))])
        .await
        .unwrap();
    admin.alter_topic_configs("a", &[("retention.ms", None)]).await.unwrap();
    let configs = admin.describe_topic_configs("a").await.unwrap();
    assert!(configs.contains(&("segment.bytes".into(), "1048576".into())));
    assert!(configs.contains(&("retention.ms".into(), "604800000".into())), "back to the default");
    let e = admin.alter_topic_configs("a", &[("retention.mss", Some("1"))]).await.unwrap_err();
    assert_eq!(e.kafka_code(), Some(ResponseError::InvalidConfig), "{e}");

    let cluster = admin.describe_cluster().await.unwrap();
    assert_eq!(cluster.brokers.len(), 1);
    assert_eq!(cluster.controller, cluster.brokers[0].id);

    assert!(admin.delete_topics(&["a"]).await.unwrap()[0].1.is_ok());
    assert_eq!(code(&admin.delete_topics(&["a"]).await.unwrap()[0].1), Some(ResponseError::UnknownTopicOrPartition));
    assert!(admin.list_topics().await.unwrap().is_empty());
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn groups_offsets_and_records() {
    let (broker, _dir) = broker().await;
    let bs = broker.bootstrap();
    let admin = Admin::new(config(&bs, &[])).unwrap();
    admin.create_topics(&[NewTopic::new("t", 2)]).await.unwrap();
    let producer = Producer::new(config(&bs, &[])).unwrap();
    for i in 0..10 {
        producer
            .send(ProducerRecord::new("t").partition(i % 2).value(format!("v{i}")).timestamp(1000 * i as i64))
            .await
            .unwrap();
    }
    producer.flush().await.unwrap();

    let tps = vec![TopicPartition::new("t", 0), TopicPartition::new("t", 1)];
    let latest = admin.list_offsets(&tps, OffsetSpec::Latest).await.unwrap();
    assert_eq!(latest, vec![(tps[0].clone(), 5), (tps[1].clone(), 5)]);
    let by_time = admin.list_offsets(&tps[..1], OffsetSpec::Timestamp(4000)).await.unwrap();
    assert_eq!(by_time[0].1, 2, "records 0, 2, 4 … went to partition 0; 4000 is its third");

    // A live member makes the group show up, described with its assignment.
    let mut consumer = Consumer::new(config(
        &bs,
        &[("group.id", "g"), ("auto.offset.reset", "earliest"), ("enable.auto.commit", "false")],
    ))
    .unwrap();
    consumer.subscribe(&["t"]).unwrap();
    let mut read = 0;
    while read < 10 {
        if consumer.poll(Duration::from_secs(5)).await.unwrap().is_some() {
            read += 1;
        }
    }
    consumer.commit().await.unwrap();
    let listed = admin.list_groups().await.unwrap();
    assert_eq!((listed[0].group_id.as_str(), listed[0].state.as_str()), ("g", "Stable"));
    let described = &admin.describe_groups(&["g"]).await.unwrap()[0];
    assert_eq!(described.protocol, "range");
    assert_eq!(described.members[0].assignment, tps);
    assert_eq!(code(&admin.delete_groups(&["g"]).await.unwrap()[0].1), Some(ResponseError::NonEmptyGroup));
    assert_eq!(
        admin.alter_group_offsets("g", &[tps[0].clone().with_offset(1)]).await.unwrap_err().kafka_code(),
        Some(ResponseError::UnknownMemberId)
    );
    consumer.close().await.unwrap();

    let offsets = admin.list_group_offsets("g").await.unwrap();
    let committed: Vec<_> = latest.iter().map(|(tp, o)| tp.clone().with_offset(*o)).collect();
    assert_eq!(offsets, committed, "the positions, without metadata");
    let reset = admin.reset_group_offsets("g", "t", OffsetSpec::Earliest).await.unwrap();
    assert_eq!(reset, vec![tps[0].clone().with_offset(0), tps[1].clone().with_offset(0)]);
    assert_eq!(admin.list_group_offsets("g").await.unwrap()[1].offset, 0);

    let starts = admin.delete_records(&[(tps[0].clone(), 3)]).await.unwrap();
    assert_eq!(starts[0].1, 3);
    assert_eq!(admin.list_offsets(&tps[..1], OffsetSpec::Earliest).await.unwrap()[0].1, 3);

    assert!(admin.delete_groups(&["g"]).await.unwrap()[0].1.is_ok());
    assert!(admin.list_groups().await.unwrap().is_empty());
    broker.shutdown().await.unwrap();
}
