//! Per-resource authorization of the admin and coordinator APIs, over TCP on a SASL listener,
//! answered as Apache Kafka answers them: a refused resource gets its error code in its own
//! result while the allowed ones in the same request go through, and the connection stays up.
//! `bob` is granted a little (on topic `mine`, group `bob-g`, transactional id `bob-tx`),
//! `alice` owns topic `theirs` and group `alice-g`; `admin` is a super user.

mod common;

use common::{TestClient, batch, create_topic, list_offset, produce, sasl_handshake, sasl_plain, start_broker};
use ferrokafka_broker::Broker;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const NONE: i16 = 0;
const TOPIC_DENIED: i16 = 29;
const GROUP_DENIED: i16 = 30;
const CLUSTER_DENIED: i16 = 31;
const INVALID_REQUEST: i16 = 42;
const TRANSACTIONAL_ID_DENIED: i16 = 53;

// ACL resource types and operations (Kafka's wire codes).
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const TRANSACTIONAL_ID: i8 = 5;
const ALL: i8 = 2;
const READ: i8 = 3;
const DELETE: i8 = 6;
const ALTER: i8 = 7;
const DESCRIBE: i8 = 8;
const DESCRIBE_CONFIGS: i8 = 10;
const ALTER_CONFIGS: i8 = 11;

// Config resource types.
const CONFIG_TOPIC: i8 = 2;
const CONFIG_BROKER: i8 = 4;
const CONFIG_GROUP: i8 = 32;

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_owned())
}

async fn acl_broker(allow_if_no_acl: bool) -> (Broker, tempfile::TempDir) {
    start_broker(|c| {
        c.set("listeners", "SASL_PLAINTEXT://127.0.0.1:0").unwrap();
        c.set("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer").unwrap();
        c.set("super.users", "User:admin").unwrap();
        c.set("allow.everyone.if.no.acl.found", if allow_if_no_acl { "true" } else { "false" }).unwrap();
        for user in ["admin", "alice", "bob"] {
            c.set(&format!("users.{user}"), &format!("{user}-secret")).unwrap();
        }
    })
    .await
}

/// A connection authenticated as `user` (SASL PLAIN).
async fn login(broker: &Broker, user: &str) -> TestClient {
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(sasl_handshake(&mut c, "PLAIN").await.error_code, NONE);
    let auth = sasl_plain(&mut c, user, &format!("{user}-secret")).await;
    assert_eq!(auth.error_code, NONE, "{user} authenticates");
    c
}

/// ALLOW bindings (literal, any host): (resource type, name, user, operation).
async fn grant(admin: &mut TestClient, grants: &[(i8, &str, &str, i8)]) {
    let creations = grants
        .iter()
        .map(|&(resource_type, name, user, operation)| {
            create_acls_request::AclCreation::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_resource_pattern_type(3)
                .with_principal(s(&format!("User:{user}")))
                .with_host(s("*"))
                .with_operation(operation)
                .with_permission_type(3)
        })
        .collect();
    let resp = admin.send(&CreateAclsRequest::default().with_creations(creations), 3).await;
    assert!(resp.results.iter().all(|r| r.error_code == NONE), "{resp:?}");
}

/// The broker, an admin connection, topics `mine` and `theirs` (one partition each) and the
/// grants every test shares.
async fn fixture() -> (Broker, tempfile::TempDir, TestClient) {
    let (broker, dir) = acl_broker(false).await;
    let mut admin = login(&broker, "admin").await;
    assert_eq!(create_topic(&mut admin, "mine", 1, &[]).await, NONE);
    assert_eq!(create_topic(&mut admin, "theirs", 1, &[]).await, NONE);
    grant(
        &mut admin,
        &[
            // ALTER, DELETE imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS.
            (TOPIC, "mine", "bob", ALTER),
            (TOPIC, "mine", "bob", DELETE),
            (TOPIC, "mine", "bob", ALTER_CONFIGS),
            (GROUP, "bob-g", "bob", READ),
            (GROUP, "mixed-g", "bob", DESCRIBE),
            (TRANSACTIONAL_ID, "bob-tx", "bob", DESCRIBE),
            (TOPIC, "theirs", "alice", ALL),
            (GROUP, "alice-g", "alice", ALL),
            (CLUSTER, "kafka-cluster", "alice", DESCRIBE_CONFIGS),
            (CLUSTER, "kafka-cluster", "alice", DESCRIBE),
        ],
    )
    .await;
    (broker, dir, admin)
}

/// The connection is still served after a refusal: a Metadata request is answered.
async fn still_served(c: &mut TestClient) {
    let req = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(s("mine")))),
    ]));
    let resp = c.send(&req, 12).await;
    assert_eq!(resp.brokers.len(), 1);
}

async fn partition_count(admin: &mut TestClient, topic: &str) -> usize {
    let req = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(s(topic)))),
    ]));
    let resp = admin.send(&req, 12).await;
    resp.topics[0].partitions.len()
}

fn create_partitions(topics: &[(&str, i32)]) -> CreatePartitionsRequest {
    CreatePartitionsRequest::default().with_timeout_ms(5000).with_topics(
        topics
            .iter()
            .map(|&(name, count)| {
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(TopicName(s(name)))
                    .with_count(count)
            })
            .collect(),
    )
}

fn code_of<'a>(results: impl IntoIterator<Item = (&'a str, i16)>, name: &str) -> i16 {
    let found: Vec<i16> = results.into_iter().filter(|(n, _)| *n == name).map(|(_, c)| c).collect();
    assert_eq!(found.len(), 1, "one result for {name}");
    found[0]
}

#[tokio::test]
async fn create_partitions_needs_alter_on_each_topic() {
    let (broker, _dir, mut admin) = fixture().await;
    let mut bob = login(&broker, "bob").await;
    let resp = bob.send(&create_partitions(&[("mine", 2), ("theirs", 2)]), 3).await;
    let codes = || resp.results.iter().map(|r| (r.name.as_str(), r.error_code));
    assert_eq!(code_of(codes(), "mine"), NONE);
    assert_eq!(code_of(codes(), "theirs"), TOPIC_DENIED);
    assert_eq!(partition_count(&mut admin, "mine").await, 2);
    assert_eq!(partition_count(&mut admin, "theirs").await, 1, "the refused topic is untouched");
    still_served(&mut bob).await;
    // alice, who may alter theirs but not mine.
    let mut alice = login(&broker, "alice").await;
    let resp = alice.send(&create_partitions(&[("theirs", 3), ("mine", 3)]), 3).await;
    let codes = || resp.results.iter().map(|r| (r.name.as_str(), r.error_code));
    assert_eq!((code_of(codes(), "theirs"), code_of(codes(), "mine")), (NONE, TOPIC_DENIED));
    assert_eq!(partition_count(&mut admin, "theirs").await, 3);
    still_served(&mut alice).await;
}

#[tokio::test]
async fn delete_records_needs_delete_on_each_topic() {
    let (broker, _dir, mut admin) = fixture().await;
    for topic in ["mine", "theirs"] {
        let records = batch(&[(None, b"a", 1), (None, b"b", 2), (None, b"c", 3)], None, Compression::None);
        assert_eq!(produce(&mut admin, topic, 0, records).await.0, NONE);
    }
    let mut bob = login(&broker, "bob").await;
    let req = DeleteRecordsRequest::default().with_timeout_ms(5000).with_topics(
        ["mine", "theirs"]
            .iter()
            .map(|t| {
                delete_records_request::DeleteRecordsTopic::default().with_name(TopicName(s(t))).with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default().with_partition_index(0).with_offset(2),
                ])
            })
            .collect(),
    );
    let resp = bob.send(&req, 2).await;
    let result = |name: &str| {
        let t = resp.topics.iter().find(|t| t.name.as_str() == name).unwrap();
        assert_eq!(t.partitions.len(), 1);
        (t.partitions[0].error_code, t.partitions[0].low_watermark)
    };
    assert_eq!(result("mine"), (NONE, 2));
    assert_eq!(result("theirs"), (TOPIC_DENIED, -1));
    assert_eq!(list_offset(&mut admin, "theirs", 0, -2).await.1, 0, "nothing deleted from the refused topic");
    assert_eq!(list_offset(&mut admin, "mine", 0, -2).await.1, 2);
    still_served(&mut bob).await;
}

fn describe_configs(resources: &[(i8, &str)]) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default().with_resources(
        resources
            .iter()
            .map(|&(t, name)| {
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(t)
                    .with_resource_name(s(name))
                    .with_configuration_keys(None)
            })
            .collect(),
    )
}

fn config_codes(resp: &DescribeConfigsResponse) -> Vec<(i8, String, i16)> {
    let mut out: Vec<_> =
        resp.results.iter().map(|r| (r.resource_type, r.resource_name.to_string(), r.error_code)).collect();
    out.sort();
    out
}

/// A topic config's value, as the super user sees it.
async fn topic_config(admin: &mut TestClient, topic: &str, key: &str) -> String {
    let resp = admin.send(&describe_configs(&[(CONFIG_TOPIC, topic)]), 4).await;
    assert_eq!(resp.results[0].error_code, NONE);
    let entry = resp.results[0].configs.iter().find(|c| c.name.as_str() == key).unwrap();
    entry.value.as_ref().unwrap().to_string()
}

#[tokio::test]
async fn describe_configs_needs_describe_configs_on_the_topic_or_cluster() {
    let (broker, _dir, _admin) = fixture().await;
    let mut bob = login(&broker, "bob").await;
    let resp =
        bob.send(&describe_configs(&[(CONFIG_TOPIC, "mine"), (CONFIG_TOPIC, "theirs"), (CONFIG_BROKER, "1")]), 4).await;
    assert_eq!(
        config_codes(&resp),
        [
            (CONFIG_TOPIC, "mine".into(), NONE),
            (CONFIG_TOPIC, "theirs".into(), TOPIC_DENIED),
            (CONFIG_BROKER, "1".into(), CLUSTER_DENIED)
        ]
    );
    let mine = resp.results.iter().find(|r| r.resource_name.as_str() == "mine").unwrap();
    assert!(mine.configs.iter().any(|c| c.name.as_str() == "retention.ms"), "ALTER_CONFIGS implies DESCRIBE_CONFIGS");
    assert!(
        resp.results.iter().filter(|r| r.error_code != NONE).all(|r| r.configs.is_empty()),
        "nothing of a refused resource"
    );
    still_served(&mut bob).await;

    // alice may describe the broker's configs but not topic mine.
    let mut alice = login(&broker, "alice").await;
    let resp = alice.send(&describe_configs(&[(CONFIG_BROKER, "1"), (CONFIG_TOPIC, "mine")]), 4).await;
    assert_eq!(config_codes(&resp), [(CONFIG_TOPIC, "mine".into(), TOPIC_DENIED), (CONFIG_BROKER, "1".into(), NONE)]);
    let broker_configs = resp.results.iter().find(|r| r.resource_type == CONFIG_BROKER).unwrap();
    assert!(broker_configs.configs.iter().any(|c| c.name.as_str() == "num.partitions"));
    still_served(&mut alice).await;
}

#[tokio::test]
async fn alter_configs_needs_alter_configs_on_the_topic_or_cluster() {
    let (broker, _dir, mut admin) = fixture().await;
    let before = topic_config(&mut admin, "theirs", "retention.ms").await;
    let mut bob = login(&broker, "bob").await;
    let resource = |t: i8, name: &str, key: &str, value: &str| {
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(t)
            .with_resource_name(s(name))
            .with_configs(vec![
                alter_configs_request::AlterableConfig::default().with_name(s(key)).with_value(Some(s(value))),
            ])
    };
    let req = AlterConfigsRequest::default().with_resources(vec![
        resource(CONFIG_TOPIC, "mine", "retention.ms", "3600000"),
        resource(CONFIG_TOPIC, "theirs", "retention.ms", "3600000"),
        resource(CONFIG_BROKER, "1", "message.max.bytes", "1000"),
    ]);
    let resp = bob.send(&req, 2).await;
    let codes = || resp.responses.iter().map(|r| (r.resource_name.as_str(), r.error_code));
    assert_eq!(code_of(codes(), "mine"), NONE);
    assert_eq!(code_of(codes(), "theirs"), TOPIC_DENIED);
    assert_eq!(code_of(codes(), "1"), CLUSTER_DENIED);
    assert_eq!(topic_config(&mut admin, "mine", "retention.ms").await, "3600000");
    assert_eq!(topic_config(&mut admin, "theirs", "retention.ms").await, before, "the refused topic keeps its config");
    still_served(&mut bob).await;
    // Permitted, a broker resource gets the handler's answer: message.max.bytes is dynamic,
    // num.partitions is not.
    let resp = admin
        .send(
            &AlterConfigsRequest::default().with_resources(vec![resource(
                CONFIG_BROKER,
                "1",
                "message.max.bytes",
                "1000",
            )]),
            2,
        )
        .await;
    assert_eq!(resp.responses[0].error_code, NONE);
    let req = AlterConfigsRequest::default().with_resources(vec![resource(CONFIG_BROKER, "1", "num.partitions", "2")]);
    assert_eq!(admin.send(&req, 2).await.responses[0].error_code, INVALID_REQUEST);
}

#[tokio::test]
async fn group_configs_need_describe_configs_or_alter_configs_on_the_group() {
    let (broker, _dir, mut admin) = fixture().await;
    grant(&mut admin, &[(GROUP, "bob-g", "bob", ALTER_CONFIGS), (GROUP, "mixed-g", "bob", DESCRIBE_CONFIGS)]).await;
    let mut bob = login(&broker, "bob").await;
    let resp = bob
        .send(&describe_configs(&[(CONFIG_GROUP, "bob-g"), (CONFIG_GROUP, "mixed-g"), (CONFIG_GROUP, "alice-g")]), 4)
        .await;
    assert_eq!(
        config_codes(&resp),
        [
            (CONFIG_GROUP, "alice-g".into(), GROUP_DENIED),
            (CONFIG_GROUP, "bob-g".into(), NONE),
            (CONFIG_GROUP, "mixed-g".into(), NONE)
        ],
        "ALTER_CONFIGS implies DESCRIBE_CONFIGS; READ or DESCRIBE alone give neither"
    );
    let resource = |name: &str| {
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(CONFIG_GROUP)
            .with_resource_name(s(name))
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(s("consumer.session.timeout.ms"))
                    .with_config_operation(0)
                    .with_value(Some(s("50000"))),
            ])
    };
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![resource("bob-g"), resource("mixed-g")]);
    let resp = bob.send(&req, 1).await;
    let codes = || resp.responses.iter().map(|r| (r.resource_name.as_str(), r.error_code));
    assert_eq!(code_of(codes(), "bob-g"), NONE);
    assert_eq!(code_of(codes(), "mixed-g"), GROUP_DENIED);
    let alter = AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(CONFIG_GROUP)
            .with_resource_name(s("mixed-g"))
            .with_configs(vec![
                alter_configs_request::AlterableConfig::default()
                    .with_name(s("consumer.session.timeout.ms"))
                    .with_value(Some(s("50000"))),
            ]),
    ]);
    assert_eq!(bob.send(&alter, 2).await.responses[0].error_code, GROUP_DENIED);
    let resp = admin.send(&describe_configs(&[(CONFIG_GROUP, "mixed-g"), (CONFIG_GROUP, "bob-g")]), 4).await;
    let session = |name: &str| {
        let r = resp.results.iter().find(|r| r.resource_name.as_str() == name).unwrap();
        let e = r.configs.iter().find(|c| c.name.as_str() == "consumer.session.timeout.ms").unwrap();
        e.value.as_ref().unwrap().to_string()
    };
    assert_eq!((session("bob-g").as_str(), session("mixed-g").as_str()), ("50000", "45000"));
    still_served(&mut bob).await;
}

#[tokio::test]
async fn incremental_alter_configs_needs_alter_configs_on_the_topic_or_cluster() {
    let (broker, _dir, mut admin) = fixture().await;
    let before = topic_config(&mut admin, "theirs", "retention.bytes").await;
    let mut bob = login(&broker, "bob").await;
    let resource = |t: i8, name: &str| {
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(t)
            .with_resource_name(s(name))
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(s("retention.bytes"))
                    .with_config_operation(0)
                    .with_value(Some(s("1048576"))),
            ])
    };
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        resource(CONFIG_TOPIC, "mine"),
        resource(CONFIG_TOPIC, "theirs"),
        resource(CONFIG_BROKER, "1"),
    ]);
    let resp = bob.send(&req, 1).await;
    let codes = || resp.responses.iter().map(|r| (r.resource_name.as_str(), r.error_code));
    assert_eq!(code_of(codes(), "mine"), NONE);
    assert_eq!(code_of(codes(), "theirs"), TOPIC_DENIED);
    assert_eq!(code_of(codes(), "1"), CLUSTER_DENIED);
    assert_eq!(topic_config(&mut admin, "mine", "retention.bytes").await, "1048576");
    assert_eq!(topic_config(&mut admin, "theirs", "retention.bytes").await, before);
    still_served(&mut bob).await;
}

#[tokio::test]
async fn find_coordinator_needs_describe_on_each_key() {
    let (broker, _dir, _admin) = fixture().await;
    let mut bob = login(&broker, "bob").await;
    let port = broker.local_addr().port() as i32;

    // v4+: one answer per key; a refused key names no node.
    let req = FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(vec![s("bob-g"), s("alice-g")]);
    let resp = bob.send(&req, 4).await;
    let key = |k: &str| resp.coordinators.iter().find(|c| c.key.as_str() == k).unwrap();
    assert_eq!(
        (key("bob-g").error_code, key("bob-g").node_id.0, key("bob-g").port),
        (NONE, 1, port),
        "READ implies DESCRIBE"
    );
    assert_eq!((key("alice-g").error_code, key("alice-g").node_id.0, key("alice-g").port), (GROUP_DENIED, -1, -1));
    // Transactional ids: the permitted one is told this broker coordinates it.
    let req =
        FindCoordinatorRequest::default().with_key_type(1).with_coordinator_keys(vec![s("bob-tx"), s("alice-tx")]);
    let resp = bob.send(&req, 4).await;
    let key = |k: &str| resp.coordinators.iter().find(|c| c.key.as_str() == k).unwrap().error_code;
    assert_eq!((key("bob-tx"), key("alice-tx")), (NONE, TRANSACTIONAL_ID_DENIED));
    // Before v4: one key, the answer at the top level.
    let resp = bob.send(&FindCoordinatorRequest::default().with_key(s("alice-g")), 3).await;
    assert_eq!((resp.error_code, resp.node_id.0), (GROUP_DENIED, -1));
    let resp = bob.send(&FindCoordinatorRequest::default().with_key(s("bob-g")), 3).await;
    assert_eq!((resp.error_code, resp.node_id.0), (NONE, 1));
    let resp = bob.send(&FindCoordinatorRequest::default().with_key(s("alice-tx")).with_key_type(1), 3).await;
    assert_eq!(resp.error_code, TRANSACTIONAL_ID_DENIED);
    still_served(&mut bob).await;

    let mut alice = login(&broker, "alice").await;
    let req = FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(vec![s("alice-g"), s("bob-g")]);
    let resp = alice.send(&req, 4).await;
    let key = |k: &str| resp.coordinators.iter().find(|c| c.key.as_str() == k).unwrap().error_code;
    assert_eq!((key("alice-g"), key("bob-g")), (NONE, GROUP_DENIED));
}

/// A KIP-848 member joining `group` subscribed to `topics`, as the super user.
async fn join_consumer_group(admin: &mut TestClient, group: &str, topics: &[&str]) {
    let req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(&format!("{group}-member")))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(10_000)
        .with_subscribed_topic_names(Some(topics.iter().map(|t| TopicName(s(t))).collect()))
        .with_topic_partitions(Some(vec![]));
    let resp = admin.send(&req, 1).await;
    assert_eq!(resp.error_code, NONE);
    assert!(
        resp.assignment.is_some_and(|a| a.topic_partitions.len() == topics.len()),
        "{group} is assigned its topics"
    );
}

#[tokio::test]
async fn consumer_group_describe_needs_describe_on_the_group_and_its_topics() {
    let (broker, _dir, mut admin) = fixture().await;
    join_consumer_group(&mut admin, "bob-g", &["mine"]).await;
    join_consumer_group(&mut admin, "mixed-g", &["mine", "theirs"]).await;
    join_consumer_group(&mut admin, "alice-g", &["theirs"]).await;

    let mut bob = login(&broker, "bob").await;
    let ids = ["bob-g", "mixed-g", "alice-g"].iter().map(|g| GroupId(s(g))).collect();
    let resp = bob.send(&ConsumerGroupDescribeRequest::default().with_group_ids(ids), 0).await;
    assert_eq!(resp.groups.len(), 3);
    let group = |g: &str| resp.groups.iter().find(|x| x.group_id.as_str() == g).unwrap();
    // Permitted: described in full.
    let mine = group("bob-g");
    assert_eq!((mine.error_code, mine.members.len()), (NONE, 1));
    assert_eq!(mine.members[0].assignment.topic_partitions[0].topic_name.as_str(), "mine");
    // The group may be described, but its assignment names a topic bob may not describe:
    // the whole group is refused, as Kafka does, and nothing of it is shown.
    let mixed = group("mixed-g");
    assert_eq!((mixed.error_code, mixed.members.len()), (TOPIC_DENIED, 0));
    assert!(mixed.group_state.is_empty());
    let theirs = group("alice-g");
    assert_eq!((theirs.error_code, theirs.members.len()), (GROUP_DENIED, 0));
    still_served(&mut bob).await;

    let mut alice = login(&broker, "alice").await;
    let ids = ["alice-g", "bob-g"].iter().map(|g| GroupId(s(g))).collect();
    let resp = alice.send(&ConsumerGroupDescribeRequest::default().with_group_ids(ids), 1).await;
    let group = |g: &str| resp.groups.iter().find(|x| x.group_id.as_str() == g).unwrap();
    assert_eq!((group("alice-g").error_code, group("alice-g").members.len()), (NONE, 1));
    assert_eq!(group("bob-g").error_code, GROUP_DENIED);
    still_served(&mut alice).await;
}

#[tokio::test]
async fn describe_cluster_is_answered_to_all_and_describe_decides_authorized_operations() {
    let (broker, _dir, _admin) = fixture().await;
    let describe =
        |include: bool| DescribeClusterRequest::default().with_include_cluster_authorized_operations(include);
    // As in Kafka, DescribeCluster is not refused (Metadata tells as much); without DESCRIBE
    // on the cluster the authorized operations asked for are none.
    let mut bob = login(&broker, "bob").await;
    let resp = bob.send(&describe(true), 1).await;
    assert_eq!((resp.error_code, resp.brokers.len()), (NONE, 1));
    assert_eq!(resp.cluster_authorized_operations, 0);
    let resp = bob.send(&describe(false), 1).await;
    assert_eq!(resp.cluster_authorized_operations, i32::MIN, "not asked for");
    still_served(&mut bob).await;
    // With DESCRIBE they are what the ACLs grant (DESCRIBE and DESCRIBE_CONFIGS for alice).
    let mut alice = login(&broker, "alice").await;
    let resp = alice.send(&describe(true), 1).await;
    assert_eq!((resp.error_code, resp.cluster_authorized_operations), (NONE, bits(&[DESCRIBE, DESCRIBE_CONFIGS])));
    // A super user may do all the cluster supports (as Kafka's AclEntry lists it).
    let mut admin = login(&broker, "admin").await;
    let resp = admin.send(&describe(true), 1).await;
    assert_eq!(resp.cluster_authorized_operations, bits(&[5, 9, 10, 11, 12, 7, 8]));
}

/// Kafka's authorized-operations field: bit N for the operation whose code is N.
fn bits(ops: &[i8]) -> i32 {
    ops.iter().fold(0, |b, op| b | 1 << op)
}

#[tokio::test]
async fn metadata_and_describe_groups_give_the_authorized_operations_asked_for() {
    let (broker, _dir, mut admin) = fixture().await;
    let mut bob = login(&broker, "bob").await;
    let metadata = |include: bool| {
        MetadataRequest::default()
            .with_topics(Some(
                ["mine", "theirs"]
                    .iter()
                    .map(|t| metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(s(t)))))
                    .collect(),
            ))
            .with_include_topic_authorized_operations(include)
    };
    let resp: MetadataResponse = bob.send(&metadata(true), 12).await;
    let ops: Vec<(&str, i16, i32)> = resp
        .topics
        .iter()
        .map(|t| (t.name.as_ref().unwrap().as_str(), t.error_code, t.topic_authorized_operations))
        .collect();
    // ALTER, DELETE and ALTER_CONFIGS granted; DESCRIBE and DESCRIBE_CONFIGS implied.
    let mine = bits(&[ALTER, DELETE, ALTER_CONFIGS, DESCRIBE, DESCRIBE_CONFIGS]);
    assert_eq!(ops, [("mine", NONE, mine), ("theirs", TOPIC_DENIED, i32::MIN)]);
    let resp: MetadataResponse = bob.send(&metadata(false), 12).await;
    assert_eq!(resp.topics[0].topic_authorized_operations, i32::MIN, "not asked for");
    // Metadata v8-10 carry the cluster's too.
    let resp: MetadataResponse = admin.send(&metadata(true).with_include_cluster_authorized_operations(true), 10).await;
    assert_eq!(resp.cluster_authorized_operations, bits(&[5, 9, 10, 11, 12, 7, 8]));
    assert_eq!(resp.topics[0].topic_authorized_operations, bits(&[READ, 4, 5, 6, ALTER, DESCRIBE, 10, 11]));

    let groups = |include: bool| {
        DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(s("bob-g")), GroupId(s("alice-g"))])
            .with_include_authorized_operations(include)
    };
    let resp = bob.send(&groups(true), 5).await;
    let ops: Vec<(&str, i16, i32)> =
        resp.groups.iter().map(|g| (g.group_id.as_str(), g.error_code, g.authorized_operations)).collect();
    assert_eq!(ops, [("bob-g", NONE, bits(&[READ, DESCRIBE])), ("alice-g", GROUP_DENIED, i32::MIN)]);
    let resp = bob.send(&groups(false), 5).await;
    assert_eq!(resp.groups[0].authorized_operations, i32::MIN, "not asked for");
}

#[tokio::test]
async fn super_users_and_resources_without_acls_follow_the_settings() {
    let (broker, _dir) = acl_broker(true).await;
    let mut admin = login(&broker, "admin").await;
    assert_eq!(create_topic(&mut admin, "open", 1, &[]).await, NONE);
    assert_eq!(create_topic(&mut admin, "closed", 1, &[]).await, NONE);
    grant(&mut admin, &[(TOPIC, "closed", "alice", ALL), (GROUP, "closed-g", "alice", ALL)]).await;

    // allow.everyone.if.no.acl.found: what has no ACL is open, what has some is not.
    let mut bob = login(&broker, "bob").await;
    let resp = bob.send(&create_partitions(&[("open", 2), ("closed", 2)]), 3).await;
    let codes = || resp.results.iter().map(|r| (r.name.as_str(), r.error_code));
    assert_eq!((code_of(codes(), "open"), code_of(codes(), "closed")), (NONE, TOPIC_DENIED));
    let resp = bob.send(&describe_configs(&[(CONFIG_BROKER, "1"), (CONFIG_TOPIC, "closed")]), 4).await;
    assert_eq!(config_codes(&resp), [(CONFIG_TOPIC, "closed".into(), TOPIC_DENIED), (CONFIG_BROKER, "1".into(), NONE)]);
    let req =
        FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(vec![s("open-g"), s("closed-g")]);
    let resp = bob.send(&req, 4).await;
    let key = |k: &str| resp.coordinators.iter().find(|c| c.key.as_str() == k).unwrap().error_code;
    assert_eq!((key("open-g"), key("closed-g")), (NONE, GROUP_DENIED));

    // The super user is refused nothing.
    let resp = admin.send(&create_partitions(&[("closed", 3)]), 3).await;
    assert_eq!(resp.results[0].error_code, NONE);
    let resp = admin.send(&describe_configs(&[(CONFIG_TOPIC, "closed"), (CONFIG_BROKER, "1")]), 4).await;
    assert!(resp.results.iter().all(|r| r.error_code == NONE));
    let resp = admin
        .send(&FindCoordinatorRequest::default().with_key_type(1).with_coordinator_keys(vec![s("any-tx")]), 4)
        .await;
    assert_eq!(resp.coordinators[0].error_code, NONE);
}

#[tokio::test]
async fn transactions_need_write_on_the_transactional_id() {
    let (broker, _dir, mut admin) = fixture().await;
    let mut bob = login(&broker, "bob").await;
    let mut alice = login(&broker, "alice").await;
    let init = |id: &str| {
        InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(id))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    // DESCRIBE on bob-tx does not imply WRITE.
    assert_eq!(bob.send(&init("bob-tx"), 4).await.error_code, TRANSACTIONAL_ID_DENIED);
    assert_eq!(admin.send(&init("admin-tx"), 4).await.error_code, NONE, "the super user");

    // A transactional produce needs WRITE on its id as well as on the topic.
    let records = batch(&[(None, b"v", 1)], None, kafka_protocol::records::Compression::None);
    let req =
        common::produce_request("theirs", 0, records, -1).with_transactional_id(Some(TransactionalId(s("alice-tx"))));
    let resp = alice.send(&req, 9).await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, TRANSACTIONAL_ID_DENIED);
    still_served(&mut alice).await;

    // Describing needs DESCRIBE: bob's id is merely unknown, alice's is refused to him.
    let req = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(s("bob-tx")), TransactionalId(s("admin-tx"))]);
    let resp = bob.send(&req, 0).await;
    let codes: Vec<_> = resp.transaction_states.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![105, TRANSACTIONAL_ID_DENIED]);
    let listed = bob.send(&ListTransactionsRequest::default(), 1).await;
    assert!(listed.transaction_states.is_empty(), "admin-tx is not bob's to see");
    let listed = admin.send(&ListTransactionsRequest::default(), 1).await;
    assert_eq!(listed.transaction_states.len(), 1);
}
