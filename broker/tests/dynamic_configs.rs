//! Dynamic configs over TCP, as Kafka 4.1 answers them: cluster-wide defaults and per-broker
//! settings on BROKER resources (precedence, persistence, topics taking new defaults at once,
//! the cleaner restarted with new settings), APPEND / SUBTRACT on list configs, and GROUP
//! config resources (KIP-848 session timeout and heartbeat interval) that a consumer group's
//! members are held to.

mod common;

use std::time::Duration;

use common::*;
use ferrokafka_broker::log::disk::{self, Fault, FaultKind, WritePoint};
use ferrokafka_broker::{Broker, BrokerConfig};
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const NONE: i16 = 0;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const STORAGE_ERROR: i16 = 56;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const GROUP: i8 = 32;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// DescribeConfigs sources.
const TOPIC_CONFIG: i8 = 1;
const DYNAMIC_BROKER: i8 = 2;
const DYNAMIC_DEFAULT: i8 = 3;
const STATIC_BROKER: i8 = 4;
const DEFAULT: i8 = 5;
const GROUP_CONFIG: i8 = 8;

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_owned())
}

/// IncrementalAlterConfigs on one resource: (key, operation, value).
async fn alter(
    c: &mut TestClient,
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let configs = ops
        .iter()
        .map(|&(k, op, v)| AlterableConfig::default().with_name(s(k)).with_config_operation(op).with_value(v.map(s)))
        .collect();
    let req = IncrementalAlterConfigsRequest::default().with_validate_only(validate_only).with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(configs),
    ]);
    let resp = c.send(&req, 1).await;
    let r = &resp.responses[0];
    assert_eq!((r.resource_type, r.resource_name.as_str()), (resource_type, name));
    (r.error_code, r.error_message.as_ref().map(|m| m.to_string()))
}

async fn set(c: &mut TestClient, resource_type: i8, name: &str, pairs: &[(&str, &str)]) -> (i16, Option<String>) {
    let ops: Vec<_> = pairs.iter().map(|&(k, v)| (k, SET, Some(v))).collect();
    alter(c, resource_type, name, &ops, false).await
}

/// AlterConfigs (the whole set) on one resource.
async fn legacy_alter(
    c: &mut TestClient,
    resource_type: i8,
    name: &str,
    pairs: &[(&str, &str)],
    validate_only: bool,
) -> (i16, Option<String>) {
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let configs =
        pairs.iter().map(|&(k, v)| AlterableConfig::default().with_name(s(k)).with_value(Some(s(v)))).collect();
    let req = AlterConfigsRequest::default().with_validate_only(validate_only).with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(configs),
    ]);
    let resp = c.send(&req, 2).await;
    (resp.responses[0].error_code, resp.responses[0].error_message.as_ref().map(|m| m.to_string()))
}

/// DescribeConfigs (v4, with synonyms) of one resource: all its configs, or `keys`.
async fn describe(c: &mut TestClient, resource_type: i8, name: &str, keys: Option<&[&str]>) -> DescribeConfigsResult {
    let req = DescribeConfigsRequest::default().with_include_synonyms(true).with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configuration_keys(keys.map(|ks| ks.iter().map(|k| s(k)).collect())),
    ]);
    c.send(&req, 4).await.results.remove(0)
}

/// A described config: (value, source, read-only).
fn entry(r: &DescribeConfigsResult, key: &str) -> Option<(String, i8, bool)> {
    r.configs
        .iter()
        .find(|e| e.name.as_str() == key)
        .map(|e| (e.value.as_ref().map(|v| v.to_string()).unwrap_or_default(), e.config_source, e.read_only))
}

/// A described config's synonyms: (name, value, source), highest precedence first.
fn synonyms(r: &DescribeConfigsResult, key: &str) -> Vec<(String, String, i8)> {
    let e = r.configs.iter().find(|e| e.name.as_str() == key).expect("described");
    e.synonyms
        .iter()
        .map(|s| (s.name.to_string(), s.value.as_ref().map(|v| v.to_string()).unwrap_or_default(), s.source))
        .collect()
}

async fn value_of(c: &mut TestClient, resource_type: i8, name: &str, key: &str) -> Option<(String, i8)> {
    let r = describe(c, resource_type, name, Some(&[key])).await;
    assert_eq!(r.error_code, NONE, "{:?}", r.error_message);
    entry(&r, key).map(|(v, src, _)| (v, src))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// How many records partition 0 of `topic` holds, read to its end.
async fn read_all(c: &mut TestClient, topic: &str) -> usize {
    let (mut next, mut count) = (0, 0);
    loop {
        let (err, hw, start, records) = fetch(c, topic, 0, next).await;
        assert_eq!(err, NONE, "fetch at {next}");
        next = next.max(start);
        let fresh: Vec<_> = records.into_iter().filter(|r| r.offset >= next).collect();
        match fresh.last() {
            Some(last) => {
                count += fresh.len();
                next = last.offset + 1;
            }
            // A batch the cleaner emptied holds no record: the high watermark says when done.
            None if next >= hw => return count,
            None => next += 1,
        }
    }
}

fn config_in(dir: &std::path::Path, configure: impl FnOnce(&mut BrokerConfig)) -> BrokerConfig {
    let mut config = BrokerConfig { listen: "127.0.0.1:0".into(), data_dir: dir.to_owned(), ..Default::default() };
    configure(&mut config);
    config
}

#[tokio::test]
async fn a_cluster_default_reaches_every_topic_at_once_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let configure = |c: &mut BrokerConfig| c.retention_check_interval_ms = 100;
    let broker = Broker::start(config_in(dir.path(), configure)).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "plain", 1, &[]).await, NONE);
    assert_eq!(create_topic(&mut c, "own", 1, &[("retention.ms", "86400000")]).await, NONE);
    assert_eq!(value_of(&mut c, TOPIC, "plain", "retention.ms").await, Some(("604800000".into(), DEFAULT)));

    assert_eq!(
        set(&mut c, BROKER, "", &[("log.retention.ms", "3600000"), ("log.segment.bytes", "200")]).await,
        (NONE, None)
    );
    // A topic without an override of its own takes the new default; the other keeps its own.
    assert_eq!(value_of(&mut c, TOPIC, "plain", "retention.ms").await, Some(("3600000".into(), DYNAMIC_DEFAULT)));
    assert_eq!(value_of(&mut c, TOPIC, "plain", "segment.bytes").await, Some(("200".into(), DYNAMIC_DEFAULT)));
    assert_eq!(value_of(&mut c, TOPIC, "own", "retention.ms").await, Some(("86400000".into(), TOPIC_CONFIG)));
    let plain = describe(&mut c, TOPIC, "plain", Some(&["retention.ms"])).await;
    assert_eq!(
        synonyms(&plain, "retention.ms"),
        [
            ("log.retention.ms".into(), "3600000".into(), DYNAMIC_DEFAULT),
            ("log.retention.ms".into(), "604800000".into(), DEFAULT)
        ]
    );
    // The cluster default lists what is set there, and only that.
    let defaults = describe(&mut c, BROKER, "", None).await;
    assert_eq!(defaults.error_code, NONE);
    let mut listed: Vec<_> =
        defaults.configs.iter().map(|e| (e.name.to_string(), e.config_source, e.read_only)).collect();
    listed.sort();
    assert_eq!(
        listed,
        [("log.retention.ms".into(), DYNAMIC_DEFAULT, false), ("log.segment.bytes".into(), DYNAMIC_DEFAULT, false)]
    );
    let node = describe(&mut c, BROKER, "1", None).await;
    assert_eq!(entry(&node, "log.retention.ms"), Some(("3600000".into(), DYNAMIC_DEFAULT, false)));
    assert_eq!(entry(&node, "num.partitions"), Some(("1".into(), DEFAULT, true)), "a static setting is read-only");

    // The open log has the new settings: segments of 200 bytes roll, and retention.bytes,
    // set next, deletes the old ones within a retention check.
    for i in 0..6 {
        let records = batch(&[(Some(b"k"), format!("value-{i:0>100}").as_bytes(), now_ms())], None, Compression::None);
        assert_eq!(produce(&mut c, "plain", 0, records).await.0, NONE);
    }
    assert_eq!(list_offset(&mut c, "plain", 0, -2).await.1, 0);
    assert_eq!(set(&mut c, BROKER, "", &[("log.retention.bytes", "300")]).await, (NONE, None));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while list_offset(&mut c, "plain", 0, -2).await.1 == 0 {
        assert!(tokio::time::Instant::now() < deadline, "retention never applied the new default");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Topics created from now on take the defaults too.
    assert_eq!(create_topic(&mut c, "later", 1, &[]).await, NONE);
    assert_eq!(value_of(&mut c, TOPIC, "later", "retention.ms").await, Some(("3600000".into(), DYNAMIC_DEFAULT)));

    broker.shutdown().await.unwrap();
    let broker = Broker::start(config_in(dir.path(), configure)).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(value_of(&mut c, TOPIC, "plain", "retention.ms").await, Some(("3600000".into(), DYNAMIC_DEFAULT)));
    assert_eq!(value_of(&mut c, TOPIC, "later", "segment.bytes").await, Some(("200".into(), DYNAMIC_DEFAULT)));
    assert_eq!(value_of(&mut c, BROKER, "", "log.retention.bytes").await, Some(("300".into(), DYNAMIC_DEFAULT)));
    // Deleting the default puts the static value back, at once and after a restart.
    let ops = [
        ("log.retention.ms", DELETE, None),
        ("log.segment.bytes", DELETE, None),
        ("log.retention.bytes", DELETE, None),
    ];
    assert_eq!(alter(&mut c, BROKER, "", &ops, false).await, (NONE, None));
    assert_eq!(value_of(&mut c, TOPIC, "plain", "retention.ms").await, Some(("604800000".into(), DEFAULT)));
    broker.shutdown().await.unwrap();
    let broker = Broker::start(config_in(dir.path(), configure)).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert!(describe(&mut c, BROKER, "", None).await.configs.is_empty());
    assert_eq!(value_of(&mut c, TOPIC, "later", "segment.bytes").await, Some(("1073741824".into(), DEFAULT)));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn this_brokers_setting_beats_the_cluster_default_which_beats_the_config_file() {
    let (broker, _dir) = start_broker(|c| c.set("log.retention.ms", "5000000").unwrap()).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[]).await, NONE);
    let static_level = ("log.retention.ms".to_owned(), "5000000".to_owned(), STATIC_BROKER);
    let default_level = ("log.retention.ms".to_owned(), "604800000".to_owned(), DEFAULT);
    let node = describe(&mut c, BROKER, "1", Some(&["log.retention.ms"])).await;
    assert_eq!(entry(&node, "log.retention.ms"), Some(("5000000".into(), STATIC_BROKER, false)));
    assert_eq!(synonyms(&node, "log.retention.ms"), [static_level.clone(), default_level.clone()]);
    assert_eq!(value_of(&mut c, TOPIC, "t", "retention.ms").await, Some(("5000000".into(), STATIC_BROKER)));

    assert_eq!(set(&mut c, BROKER, "", &[("log.retention.ms", "3600000")]).await, (NONE, None));
    assert_eq!(set(&mut c, BROKER, "1", &[("log.retention.ms", "7200000")]).await, (NONE, None));
    let node = describe(&mut c, BROKER, "1", Some(&["log.retention.ms"])).await;
    assert_eq!(entry(&node, "log.retention.ms"), Some(("7200000".into(), DYNAMIC_BROKER, false)));
    assert_eq!(
        synonyms(&node, "log.retention.ms"),
        [
            ("log.retention.ms".into(), "7200000".into(), DYNAMIC_BROKER),
            ("log.retention.ms".into(), "3600000".into(), DYNAMIC_DEFAULT),
            static_level.clone(),
            default_level.clone(),
        ]
    );
    assert_eq!(value_of(&mut c, TOPIC, "t", "retention.ms").await, Some(("7200000".into(), DYNAMIC_BROKER)));
    // The cluster default is not this broker's: describing "" shows only its own level.
    assert_eq!(value_of(&mut c, BROKER, "", "log.retention.ms").await, Some(("3600000".into(), DYNAMIC_DEFAULT)));

    assert_eq!(alter(&mut c, BROKER, "1", &[("log.retention.ms", DELETE, None)], false).await, (NONE, None));
    assert_eq!(value_of(&mut c, TOPIC, "t", "retention.ms").await, Some(("3600000".into(), DYNAMIC_DEFAULT)));
    assert_eq!(alter(&mut c, BROKER, "", &[("log.retention.ms", DELETE, None)], false).await, (NONE, None));
    assert_eq!(value_of(&mut c, TOPIC, "t", "retention.ms").await, Some(("5000000".into(), STATIC_BROKER)));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn what_cannot_change_at_run_time_is_refused_in_kafkas_words_and_changes_nothing() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    let refused = |message: &str| (INVALID_REQUEST, Some(message.to_owned()));
    assert_eq!(
        set(&mut c, BROKER, "", &[("num.partitions", "3")]).await,
        refused("Cannot update these configs dynamically: Set(num.partitions)")
    );
    assert_eq!(
        set(&mut c, BROKER, "1", &[("log.retention.ms", "1000"), ("log.cleaner.enable", "false")]).await,
        refused("Cannot update these configs dynamically: Set(log.cleaner.enable)"),
        "all or nothing: the dynamic key of the request is not set either"
    );
    assert_eq!(
        set(&mut c, BROKER, "", &[("log.retention.ms", "abc")]).await,
        refused("Invalid value abc for configuration log.retention.ms: Not a number of type LONG")
    );
    assert_eq!(
        set(&mut c, BROKER, "", &[("log.message.timestamp.type", "Now")]).await,
        refused(
            "Invalid value Now for configuration log.message.timestamp.type: String must be one of: CreateTime, LogAppendTime"
        )
    );
    assert_eq!(
        set(&mut c, BROKER, "5", &[("log.retention.ms", "1000")]).await,
        refused("Unexpected broker id, expected 1, but received 5")
    );
    assert_eq!(
        set(&mut c, BROKER, "x", &[("log.retention.ms", "1000")]).await,
        refused("Node id must be an integer, but it is: x")
    );
    assert_eq!(
        alter(&mut c, BROKER, "", &[("log.retention.ms", SET, Some("1")), ("log.retention.ms", SET, Some("2"))], false)
            .await,
        refused("Error due to duplicate config keys")
    );
    assert_eq!(
        alter(&mut c, BROKER, "", &[("log.retention.ms", SET, None)], false).await,
        refused("Null value not supported for : log.retention.ms")
    );
    assert_eq!(
        alter(&mut c, BROKER, "", &[("log.retention.ms", APPEND, Some("1"))], false).await,
        (INVALID_CONFIG, Some("Config value append is not allowed for config key: log.retention.ms".into()))
    );
    assert_eq!(
        set(&mut c, BROKER, "", &[("log.cleaner.threads", "3")]).await,
        refused("Log cleaner threads cannot be increased to more than double the current value 1")
    );
    let describe_other = describe(&mut c, BROKER, "5", None).await;
    assert_eq!(describe_other.error_code, INVALID_REQUEST);
    assert_eq!(
        describe_other.error_message.as_deref(),
        Some("Unexpected broker id, expected 1 or empty string, but received 5")
    );
    // The same resource twice in one request: both refused.
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let resource = || {
        AlterConfigsResource::default()
            .with_resource_type(BROKER)
            .with_resource_name(s(""))
            .with_configs(vec![AlterableConfig::default().with_name(s("log.retention.ms")).with_value(Some(s("1000")))])
    };
    let resp = c.send(&IncrementalAlterConfigsRequest::default().with_resources(vec![resource(), resource()]), 1).await;
    assert!(resp.responses.iter().all(|r| r.error_code == INVALID_REQUEST), "{resp:?}");

    assert!(describe(&mut c, BROKER, "", None).await.configs.is_empty(), "nothing was set");
    assert_eq!(
        value_of(&mut c, BROKER, "1", "log.retention.ms").await,
        Some(("604800000".into(), DEFAULT)),
        "nothing was set"
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn validate_only_checks_every_resource_type_and_changes_nothing() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[]).await, NONE);
    let cases: [(i8, &str, &str, &str, &str); 3] = [
        (BROKER, "", "log.retention.ms", "1000", "abc"),
        (TOPIC, "t", "retention.ms", "1000", "abc"),
        (GROUP, "g", "consumer.session.timeout.ms", "50000", "1"),
    ];
    for (resource_type, name, key, good, bad) in cases {
        let before = describe(&mut c, resource_type, name, None).await;
        assert_eq!(alter(&mut c, resource_type, name, &[(key, SET, Some(good))], true).await.0, NONE, "{key}");
        assert_ne!(alter(&mut c, resource_type, name, &[(key, SET, Some(bad))], true).await.0, NONE, "{key}");
        assert_eq!(legacy_alter(&mut c, resource_type, name, &[(key, good)], true).await.0, NONE, "{key}");
        assert_eq!(describe(&mut c, resource_type, name, None).await, before, "{key}: nothing changed");
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn alter_configs_replaces_the_whole_dynamic_set_of_a_resource() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    let pairs = [("log.retention.ms", "5000000"), ("log.segment.bytes", "3000000")];
    assert_eq!(legacy_alter(&mut c, BROKER, "", &pairs, false).await, (NONE, None));
    assert_eq!(describe(&mut c, BROKER, "", None).await.configs.len(), 2);
    assert_eq!(legacy_alter(&mut c, BROKER, "", &[("log.retention.ms", "6000000")], false).await, (NONE, None));
    let defaults = describe(&mut c, BROKER, "", None).await;
    assert_eq!(defaults.configs.len(), 1);
    assert_eq!(entry(&defaults, "log.retention.ms"), Some(("6000000".into(), DYNAMIC_DEFAULT, false)));
    assert_eq!(
        legacy_alter(&mut c, BROKER, "", &[("num.partitions", "2")], false).await.0,
        INVALID_REQUEST,
        "AlterConfigs is held to the same rules"
    );
    assert_eq!(legacy_alter(&mut c, BROKER, "", &[], false).await, (NONE, None));
    assert!(describe(&mut c, BROKER, "", None).await.configs.is_empty());
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn append_and_subtract_edit_list_configs_as_kafka_does() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[]).await, NONE);
    let mut policy_after = async |op: i8, value: &str| {
        assert_eq!(alter(&mut c, TOPIC, "t", &[("cleanup.policy", op, Some(value))], false).await, (NONE, None));
        value_of(&mut c, TOPIC, "t", "cleanup.policy").await.unwrap()
    };
    // Without an override, APPEND starts from Kafka's default (delete).
    assert_eq!(policy_after(APPEND, "compact").await, ("delete,compact".into(), TOPIC_CONFIG));
    assert_eq!(policy_after(APPEND, "compact").await, ("delete,compact".into(), TOPIC_CONFIG), "no duplicates");
    assert_eq!(policy_after(SUBTRACT, "delete").await, ("compact".into(), TOPIC_CONFIG));
    assert_eq!(policy_after(SUBTRACT, "compact").await, ("".into(), TOPIC_CONFIG), "an empty list keeps everything");
    assert_eq!(policy_after(SUBTRACT, "delete").await, ("".into(), TOPIC_CONFIG));
    assert_eq!(
        alter(&mut c, TOPIC, "t", &[("retention.ms", APPEND, Some("1"))], false).await,
        (INVALID_CONFIG, Some("Can't APPEND to key retention.ms because its type is not LIST.".into()))
    );
    assert_eq!(
        alter(&mut c, TOPIC, "t", &[("retention.ms", SUBTRACT, Some("1"))], false).await,
        (INVALID_CONFIG, Some("Can't SUBTRACT to key retention.ms because its type is not LIST.".into()))
    );
    assert_eq!(
        alter(&mut c, TOPIC, "t", &[("cleanup.policy", APPEND, Some("bogus"))], false).await,
        (
            INVALID_CONFIG,
            Some("Invalid value bogus for configuration cleanup.policy: String must be one of: compact, delete".into())
        )
    );

    // On the broker, log.cleanup.policy; a topic without an override follows it.
    assert_eq!(create_topic(&mut c, "follows", 1, &[]).await, NONE);
    let op = [("log.cleanup.policy", APPEND, Some("compact"))];
    assert_eq!(alter(&mut c, BROKER, "", &op, false).await, (NONE, None));
    assert_eq!(
        value_of(&mut c, BROKER, "", "log.cleanup.policy").await,
        Some(("delete,compact".into(), DYNAMIC_DEFAULT))
    );
    assert_eq!(
        value_of(&mut c, TOPIC, "follows", "cleanup.policy").await,
        Some(("delete,compact".into(), DYNAMIC_DEFAULT))
    );
    let op = [("log.cleanup.policy", SUBTRACT, Some("delete"))];
    assert_eq!(alter(&mut c, BROKER, "", &op, false).await, (NONE, None));
    assert_eq!(value_of(&mut c, TOPIC, "follows", "cleanup.policy").await, Some(("compact".into(), DYNAMIC_DEFAULT)));
    // A compacted topic now: a record without a key is refused.
    let keyless = batch(&[(None, b"v", 0)], None, Compression::None);
    assert_ne!(produce(&mut c, "follows", 0, keyless).await.0, NONE);
    // APPEND to a topic starts from Kafka's default, not from the broker's (as on Kafka).
    assert_eq!(create_topic(&mut c, "third", 1, &[]).await, NONE);
    let op = [("cleanup.policy", APPEND, Some("delete"))];
    assert_eq!(alter(&mut c, TOPIC, "third", &op, false).await, (NONE, None));
    assert_eq!(value_of(&mut c, TOPIC, "third", "cleanup.policy").await, Some(("delete".into(), TOPIC_CONFIG)));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_dynamic_config_that_cannot_be_written_is_not_applied() {
    let (broker, dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[]).await, NONE);
    let file = dir.path().join("dynamic-configs.json").to_string_lossy().into_owned();
    let fault = disk::inject(Fault::new(WritePoint::Metadata, file, FaultKind::NoSpace));
    assert_eq!(set(&mut c, BROKER, "", &[("log.retention.ms", "1000")]).await.0, STORAGE_ERROR);
    assert_eq!(set(&mut c, GROUP, "g", &[("consumer.session.timeout.ms", "50000")]).await.0, STORAGE_ERROR);
    assert!(fault.fired() >= 2);
    fault.clear();
    assert!(describe(&mut c, BROKER, "", None).await.configs.is_empty());
    assert_eq!(value_of(&mut c, TOPIC, "t", "retention.ms").await, Some(("604800000".into(), DEFAULT)));
    assert_eq!(value_of(&mut c, GROUP, "g", "consumer.session.timeout.ms").await, Some(("45000".into(), DEFAULT)));
    // With the disk back, the same change goes through.
    assert_eq!(set(&mut c, BROKER, "", &[("log.retention.ms", "1000")]).await, (NONE, None));
    assert_eq!(value_of(&mut c, TOPIC, "t", "retention.ms").await, Some(("1000".into(), DYNAMIC_DEFAULT)));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn group_configs_are_described_for_any_group_checked_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(config_in(dir.path(), |_| {})).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    // Any group id, existing or not: the broker's settings, and the keys Kafka 4.1 lists.
    let none = describe(&mut c, GROUP, "no-such-group", None).await;
    assert_eq!(none.error_code, NONE);
    assert_eq!(entry(&none, "consumer.session.timeout.ms"), Some(("45000".into(), DEFAULT, false)));
    assert_eq!(entry(&none, "consumer.heartbeat.interval.ms"), Some(("5000".into(), DEFAULT, false)));
    assert_eq!(entry(&none, "share.auto.offset.reset"), Some(("latest".into(), DEFAULT, false)));
    assert_eq!(entry(&none, "streams.num.standby.replicas"), Some(("0".into(), DEFAULT, false)));
    assert_eq!(none.configs.len(), 10);

    let pairs = [("consumer.session.timeout.ms", "50000"), ("consumer.heartbeat.interval.ms", "6000")];
    assert_eq!(set(&mut c, GROUP, "g1", &pairs).await, (NONE, None));
    let g1 = describe(&mut c, GROUP, "g1", None).await;
    assert_eq!(entry(&g1, "consumer.session.timeout.ms"), Some(("50000".into(), GROUP_CONFIG, false)));
    assert_eq!(
        synonyms(&g1, "consumer.heartbeat.interval.ms"),
        [("consumer.heartbeat.interval.ms".into(), "6000".into(), GROUP_CONFIG)]
    );

    let refused = |message: &str| (INVALID_CONFIG, Some(message.to_owned()));
    for (key, value, message) in [
        (
            "consumer.session.timeout.ms",
            "100",
            "consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms",
        ),
        (
            "consumer.session.timeout.ms",
            "100000",
            "consumer.session.timeout.ms must be less than or equal to group.consumer.max.session.timeout.ms",
        ),
        (
            "consumer.heartbeat.interval.ms",
            "100",
            "consumer.heartbeat.interval.ms must be greater than or equal to group.consumer.min.heartbeat.interval.ms",
        ),
        (
            "consumer.heartbeat.interval.ms",
            "100000",
            "consumer.heartbeat.interval.ms must be less than or equal to group.consumer.max.heartbeat.interval.ms",
        ),
        (
            "consumer.heartbeat.interval.ms",
            "x",
            "Invalid value x for configuration consumer.heartbeat.interval.ms: Not a number of type INT",
        ),
        ("foo", "1", "Unknown group config name: foo"),
    ] {
        assert_eq!(set(&mut c, GROUP, "g1", &[(key, value)]).await, refused(message), "{key}={value}");
    }
    assert_eq!(
        set(
            &mut c,
            GROUP,
            "g2",
            &[("consumer.session.timeout.ms", "46000"), ("consumer.heartbeat.interval.ms", "15000")]
        )
        .await,
        (NONE, None)
    );
    assert_eq!(
        set(
            &mut c,
            GROUP,
            "g2",
            &[("consumer.session.timeout.ms", "45000"), ("consumer.heartbeat.interval.ms", "15000")]
        )
        .await,
        (NONE, None)
    );
    assert_eq!(
        set(
            &mut c,
            GROUP,
            "g3",
            &[("consumer.heartbeat.interval.ms", "15000"), ("consumer.session.timeout.ms", "45000")]
        )
        .await,
        (NONE, None)
    );
    assert_eq!(
        alter(&mut c, GROUP, "g1", &[("consumer.heartbeat.interval.ms", APPEND, Some("1"))], false).await,
        refused("Can't APPEND to key consumer.heartbeat.interval.ms because its type is not LIST.")
    );
    assert_eq!(set(&mut c, GROUP, "g1", &[("share.session.timeout.ms", "50000")]).await.0, INVALID_CONFIG);
    assert_eq!(
        set(&mut c, GROUP, "", &[("consumer.session.timeout.ms", "50000")]).await,
        (INVALID_REQUEST, Some("Default group resources are not allowed.".into()))
    );
    let empty = describe(&mut c, GROUP, "", None).await;
    assert_eq!(
        (empty.error_code, empty.error_message.as_deref()),
        (INVALID_REQUEST, Some("Group name must not be empty"))
    );
    // AlterConfigs replaces the group's set: the session timeout goes back to the broker's.
    assert_eq!(
        legacy_alter(&mut c, GROUP, "g1", &[("consumer.heartbeat.interval.ms", "7000")], false).await,
        (NONE, None)
    );
    assert_eq!(value_of(&mut c, GROUP, "g1", "consumer.session.timeout.ms").await, Some(("45000".into(), DEFAULT)));

    broker.shutdown().await.unwrap();
    let broker = Broker::start(config_in(dir.path(), |_| {})).await.unwrap();
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(
        value_of(&mut c, GROUP, "g1", "consumer.heartbeat.interval.ms").await,
        Some(("7000".into(), GROUP_CONFIG))
    );
    assert_eq!(
        value_of(&mut c, GROUP, "g3", "consumer.session.timeout.ms").await,
        Some(("45000".into(), GROUP_CONFIG))
    );
    assert_eq!(
        alter(&mut c, GROUP, "g1", &[("consumer.heartbeat.interval.ms", DELETE, None)], false).await,
        (NONE, None)
    );
    assert_eq!(value_of(&mut c, GROUP, "g1", "consumer.heartbeat.interval.ms").await, Some(("5000".into(), DEFAULT)));
    broker.shutdown().await.unwrap();
}

/// ConsumerGroupHeartbeat of a member of `group` subscribed to `t`.
async fn heartbeat(c: &mut TestClient, group: &str, member: &str, epoch: i32) -> ConsumerGroupHeartbeatResponse {
    let req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(10_000)
        .with_subscribed_topic_names(if epoch == 0 { Some(vec![TopicName(s("t"))]) } else { None })
        .with_topic_partitions(if epoch == 0 { Some(vec![]) } else { None });
    c.send(&req, 1).await
}

#[tokio::test]
async fn a_group_config_sets_the_heartbeat_interval_members_are_told_and_their_session() {
    // The broker's own (short) settings widen the bounds a group's may take.
    let (broker, _dir) = start_broker(|c| {
        c.set("group.consumer.session.timeout.ms", "6000").unwrap();
        c.set("group.consumer.heartbeat.interval.ms", "500").unwrap();
    })
    .await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(create_topic(&mut c, "t", 2, &[]).await, NONE);
    let pairs = [("consumer.session.timeout.ms", "1500"), ("consumer.heartbeat.interval.ms", "700")];
    assert_eq!(set(&mut c, GROUP, "short", &pairs).await.0, INVALID_CONFIG, "below the broker's minimum");
    let pairs = [("consumer.heartbeat.interval.ms", "800")];
    assert_eq!(set(&mut c, GROUP, "slow", &pairs).await, (NONE, None));

    let slow = heartbeat(&mut c, "slow", "", 0).await;
    assert_eq!((slow.error_code, slow.heartbeat_interval_ms), (NONE, 800), "the group's own interval");
    let other = heartbeat(&mut c, "other", "", 0).await;
    assert_eq!((other.error_code, other.heartbeat_interval_ms), (NONE, 500), "the broker's");
    // A change reaches the members at their next heartbeat.
    let pairs = [("consumer.heartbeat.interval.ms", "900")];
    assert_eq!(set(&mut c, GROUP, "slow", &pairs).await, (NONE, None));
    let member = slow.member_id.as_ref().unwrap().to_string();
    let again = heartbeat(&mut c, "slow", &member, slow.member_epoch).await;
    assert_eq!((again.error_code, again.heartbeat_interval_ms), (NONE, 900));

    // A longer session than the broker's keeps a silent member past the broker's 6 s.
    let pairs = [("consumer.session.timeout.ms", "60000")];
    assert_eq!(set(&mut c, GROUP, "slow", &pairs).await, (NONE, None));
    let again = heartbeat(&mut c, "slow", &member, again.member_epoch).await;
    assert_eq!(again.error_code, NONE);
    let other_member = other.member_id.as_ref().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(7000)).await;
    let late = heartbeat(&mut c, "other", &other_member, other.member_epoch).await;
    assert_eq!(late.error_code, UNKNOWN_MEMBER_ID, "the broker's 6 s session expired");
    let kept = heartbeat(&mut c, "slow", &member, again.member_epoch).await;
    assert_eq!(kept.error_code, NONE, "the group's 60 s session did not");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_cleaner_takes_new_settings_at_run_time() {
    // A cleaner that, with nothing to do at start, would sleep for an hour.
    let (broker, _dir) = start_broker(|c| {
        c.set("log.cleaner.backoff.ms", "3600000").unwrap();
        c.set("log.cleaner.dedupe.buffer.size", "4194304").unwrap();
    })
    .await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    let configs = [("cleanup.policy", "compact"), ("segment.bytes", "300"), ("min.cleanable.dirty.ratio", "0.01")];
    assert_eq!(create_topic(&mut c, "t", 1, &configs).await, NONE);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..30 {
        let records = batch(
            &[(Some(format!("k{}", i % 3).as_bytes()), format!("v{i:0>40}").as_bytes(), 0)],
            None,
            Compression::None,
        );
        assert_eq!(produce(&mut c, "t", 0, records).await.0, NONE);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read_all(&mut c, "t").await, 30, "the sleeping cleaner has not run");
    assert_eq!(
        set(&mut c, BROKER, "", &[("log.cleaner.backoff.ms", "100"), ("log.cleaner.threads", "2")]).await,
        (NONE, None)
    );
    let node = describe(&mut c, BROKER, "1", Some(&["log.cleaner.threads", "log.cleaner.backoff.ms"])).await;
    assert_eq!(entry(&node, "log.cleaner.threads"), Some(("2".into(), DYNAMIC_DEFAULT, false)));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while read_all(&mut c, "t").await == 30 {
        assert!(tokio::time::Instant::now() < deadline, "the restarted cleaner never compacted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    broker.shutdown().await.unwrap();
}
