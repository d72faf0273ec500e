//! Topic administration and cluster description: CreateTopics, DeleteTopics,
//! CreatePartitions, DeleteRecords, DescribeConfigs, AlterConfigs, IncrementalAlterConfigs,
//! DescribeCluster.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult};
use kafka_protocol::messages::*;

use super::metadata::OPERATIONS_OMITTED;
use super::{Ctx, NONE, Outcome, acls, str_bytes};
use crate::config::describe_topic_config;
use crate::error::Error;
use crate::server::BrokerState;

pub(super) const VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
];

pub(super) async fn serve_create_topics(cx: &mut Ctx<'_>) -> Outcome {
    let version = cx.version;
    filtered_storage!(
        cx,
        CreateTopicsRequest,
        acls::filter_create_topics,
        |state, req| create_topics(state, req, version),
        topics
    )
}

pub(super) async fn serve_delete_topics(cx: &mut Ctx<'_>) -> Outcome {
    let version = cx.version;
    filtered_storage!(
        cx,
        DeleteTopicsRequest,
        acls::filter_delete_topics,
        |state, req| delete_topics(state, req, version),
        responses
    )
}

pub(super) async fn serve_create_partitions(cx: &mut Ctx<'_>) -> Outcome {
    filtered_storage!(
        cx,
        CreatePartitionsRequest,
        acls::filter_create_partitions,
        |state, req| create_partitions(state, req),
        results
    )
}

pub(super) async fn serve_delete_records(cx: &mut Ctx<'_>) -> Outcome {
    filtered_storage!(
        cx,
        DeleteRecordsRequest,
        acls::filter_delete_records,
        |state, req| delete_records(state, req),
        topics
    )
}

pub(super) fn serve_describe_configs(cx: &mut Ctx<'_>) -> Outcome {
    let state = cx.state;
    filtered!(cx, DescribeConfigsRequest, acls::filter_describe_configs, req => describe_configs(state, req), results)
}

pub(super) fn serve_describe_cluster(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, DescribeClusterRequest);
    let wants_operations = req.include_cluster_authorized_operations;
    let mut resp = describe_cluster(cx.state, cx.session, req);
    acls::describe_cluster_operations(cx.state, cx.session, wants_operations, &mut resp);
    cx.reply(resp)
}

pub(super) async fn serve_alter_configs(cx: &mut Ctx<'_>) -> Outcome {
    filtered_storage!(
        cx,
        AlterConfigsRequest,
        acls::filter_alter_configs,
        |state, req| alter_configs(state, req),
        responses
    )
}

pub(super) async fn serve_incremental_alter_configs(cx: &mut Ctx<'_>) -> Outcome {
    filtered_storage!(
        cx,
        IncrementalAlterConfigsRequest,
        acls::filter_incremental_alter_configs,
        |state, req| incremental_alter_configs(state, req),
        responses
    )
}

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// DescribeConfigs sources.
const SOURCE_TOPIC_CONFIG: i8 = 1;
const SOURCE_STATIC_BROKER_CONFIG: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

fn error_message(e: &Error) -> Option<kafka_protocol::protocol::StrBytes> {
    Some(str_bytes(e.to_string()))
}

pub(super) fn create_topics(state: &BrokerState, req: CreateTopicsRequest, _version: i16) -> CreateTopicsResponse {
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let partitions = if !t.assignments.is_empty() {
                t.assignments.len() as i32
            } else if t.num_partitions == -1 {
                state.config.num_partitions
            } else {
                t.num_partitions
            };
            let checked = (|| {
                if !(t.replication_factor == -1 || t.replication_factor == 1) {
                    return Err(Error::InvalidReplicationFactor(t.replication_factor));
                }
                if t.assignments.iter().any(|a| a.broker_ids.iter().any(|b| b.0 != state.config.node_id)) {
                    return Err(Error::InvalidPartitions(
                        "replica assignment names a broker other than this one".into(),
                    ));
                }
                let mut configs = BTreeMap::new();
                for c in &t.configs {
                    if let Some(v) = &c.value {
                        configs.insert(c.name.to_string(), v.to_string());
                    }
                }
                state.topics.create(&name, partitions, configs, req.validate_only)
            })();
            let result = CreatableTopicResult::default().with_name(TopicName(t.name.0.clone()));
            match checked {
                Ok(topic) => {
                    let configs = describe_topic_config(&topic.log_config(), &topic.overrides())
                        .into_iter()
                        .map(|(k, v)| {
                            let source =
                                if topic.overrides().contains_key(k) { SOURCE_TOPIC_CONFIG } else { SOURCE_DEFAULT };
                            CreatableTopicConfigs::default()
                                .with_name(str_bytes(k))
                                .with_value(Some(str_bytes(v)))
                                .with_config_source(source)
                        })
                        .collect();
                    result
                        .with_topic_id(topic.id)
                        .with_error_code(NONE)
                        .with_num_partitions(partitions)
                        .with_replication_factor(1)
                        .with_configs(Some(configs))
                }
                Err(e) => result
                    .with_error_code(e.code())
                    .with_error_message(error_message(&e))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(results)
}

pub(super) fn delete_topics(state: &BrokerState, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    // v6 names topics by name or id; earlier versions by name only.
    let targets: Vec<(Option<TopicName>, uuid::Uuid)> = if version >= 6 {
        req.topics.into_iter().map(|t| (t.name, t.topic_id)).collect()
    } else {
        req.topic_names.into_iter().map(|n| (Some(n), uuid::Uuid::nil())).collect()
    };
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let resolved = match &name {
                Some(n) => Some(n.0.to_string()),
                None => state.topics.get_by_id(id).map(|t| t.name.clone()),
            };
            let result = match resolved {
                Some(n) => state.topics.delete(&n),
                None => Err(Error::UnknownTopicOrPartition(id.to_string())),
            };
            let entry = DeletableTopicResult::default().with_name(name.clone()).with_topic_id(id);
            match result {
                Ok(topic) => entry
                    .with_error_code(NONE)
                    .with_topic_id(topic.id)
                    .with_name(Some(TopicName(str_bytes(topic.name.clone())))),
                Err(e) => {
                    let code = if name.is_none() && matches!(e, Error::UnknownTopicOrPartition(_)) {
                        ResponseError::UnknownTopicId.code()
                    } else {
                        e.code()
                    };
                    entry.with_error_code(code).with_error_message(error_message(&e))
                }
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

pub(super) fn create_partitions(state: &BrokerState, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let result = CreatePartitionsTopicResult::default().with_name(TopicName(t.name.0.clone()));
            match state.topics.add_partitions(&t.name.0, t.count, req.validate_only) {
                Ok(()) => result.with_error_code(NONE),
                Err(e) => result.with_error_code(e.code()).with_error_message(error_message(&e)),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

pub(super) fn delete_records(state: &BrokerState, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = state.topics.get(&t.name.0);
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
                    let outcome = match topic.as_ref().and_then(|t| t.partition(p.partition_index)) {
                        None => Err(Error::UnknownTopicOrPartition(format!("{}-{}", t.name.0, p.partition_index))),
                        Some(part) => part.with_log(|log| log.delete_records_before(p.offset)),
                    };
                    match outcome {
                        Ok(low) => result.with_error_code(NONE).with_low_watermark(low),
                        Err(e) => result.with_error_code(e.code()).with_low_watermark(-1),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default().with_name(TopicName(t.name.0)).with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

fn config_entry(name: &str, value: String, source: i8, read_only: bool) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(name))
        .with_value(Some(str_bytes(value)))
        .with_read_only(read_only)
        .with_config_source(source)
}

fn broker_configs(state: &BrokerState) -> Vec<(String, String)> {
    let c = &state.config;
    let never = |v: u64| if v == u64::MAX { "9223372036854775807".to_owned() } else { v.to_string() };
    vec![
        ("node.id".into(), c.node_id.to_string()),
        ("num.partitions".into(), c.num_partitions.to_string()),
        ("auto.create.topics.enable".into(), c.auto_create_topics.to_string()),
        ("log.segment.bytes".into(), c.log.segment_bytes.to_string()),
        ("log.roll.ms".into(), c.log.segment_ms.to_string()),
        ("log.retention.ms".into(), c.log.retention_ms.to_string()),
        ("log.retention.bytes".into(), c.log.retention_bytes.to_string()),
        ("message.max.bytes".into(), c.log.max_message_bytes.to_string()),
        ("log.flush.interval.messages".into(), never(c.log.flush_interval_messages)),
        ("log.flush.interval.ms".into(), c.log.flush_interval_ms.to_string()),
        ("socket.request.max.bytes".into(), c.socket_request_max_bytes.to_string()),
        ("connections.max.idle.ms".into(), c.connections_max_idle_ms.to_string()),
        ("max.connections".into(), c.max_connections.to_string()),
        ("max.connections.per.ip".into(), c.max_connections_per_ip.to_string()),
        ("group.initial.rebalance.delay.ms".into(), c.groups.initial_rebalance_delay_ms.to_string()),
        ("group.min.session.timeout.ms".into(), c.groups.min_session_timeout_ms.to_string()),
        ("group.max.session.timeout.ms".into(), c.groups.max_session_timeout_ms.to_string()),
        ("offsets.retention.minutes".into(), (c.groups.offsets_retention_ms / 60_000).to_string()),
        ("offset.metadata.max.bytes".into(), c.groups.offset_metadata_max_bytes.to_string()),
    ]
}

pub(super) fn describe_configs(state: &BrokerState, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            // Null (and, leniently, an empty list) asks for every config.
            let wanted = |name: &str| {
                r.configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| k.as_str() == name))
            };
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match r.resource_type {
                RESOURCE_TOPIC => match state.topics.get(&r.resource_name) {
                    Some(topic) => {
                        let configs = describe_topic_config(&topic.log_config(), &topic.overrides())
                            .into_iter()
                            .filter(|(k, _)| wanted(k))
                            .map(|(k, v)| {
                                let source = if topic.overrides().contains_key(k) {
                                    SOURCE_TOPIC_CONFIG
                                } else {
                                    SOURCE_DEFAULT
                                };
                                config_entry(k, v, source, false)
                            })
                            .collect();
                        result.with_error_code(NONE).with_configs(configs)
                    }
                    None => result
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        .with_error_message(Some(str_bytes(format!("topic {} does not exist", r.resource_name)))),
                },
                RESOURCE_BROKER => {
                    let configs = broker_configs(state)
                        .into_iter()
                        .filter(|(k, _)| wanted(k))
                        .map(|(k, v)| config_entry(&k, v, SOURCE_STATIC_BROKER_CONFIG, true))
                        .collect();
                    result.with_error_code(NONE).with_configs(configs)
                }
                other => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!("resource type {other} is not supported")))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

pub(super) fn describe_cluster(
    state: &BrokerState,
    session: &super::Session,
    _req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let (host, port) = &session.listener.advertised;
    DescribeClusterResponse::default()
        .with_error_code(NONE)
        .with_endpoint_type(1)
        .with_cluster_id(str_bytes(state.cluster_id.clone()))
        .with_controller_id(BrokerId(state.config.node_id))
        .with_brokers(vec![
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(state.config.node_id))
                .with_host(str_bytes(host.clone()))
                .with_port(*port),
        ])
        .with_cluster_authorized_operations(OPERATIONS_OMITTED)
}

/// The result of altering one resource's configs.
fn alter_result(
    resource_type: i8,
    name: &str,
    apply: impl FnOnce() -> crate::error::Result<()>,
) -> (i16, Option<String>) {
    match resource_type {
        RESOURCE_TOPIC => match apply() {
            Ok(()) => (NONE, None),
            Err(e) => (e.code(), Some(e.to_string())),
        },
        RESOURCE_BROKER => (
            ResponseError::InvalidRequest.code(),
            Some(format!("broker {name}: settings are static; set them in the config file")),
        ),
        other => (ResponseError::InvalidRequest.code(), Some(format!("resource type {other} is not supported"))),
    }
}

pub(super) fn incremental_alter_configs(
    state: &BrokerState,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    use incremental_alter_configs_response::AlterConfigsResourceResponse;
    const SET: i8 = 0;
    const DELETE: i8 = 1;
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let name = r.resource_name.to_string();
            let (code, message) = alter_result(r.resource_type, &name, || {
                let mut changes = Vec::new();
                for c in &r.configs {
                    match c.config_operation {
                        SET => changes.push((
                            c.name.to_string(),
                            Some(c.value.as_ref().map(|v| v.to_string()).unwrap_or_default()),
                        )),
                        DELETE => changes.push((c.name.to_string(), None)),
                        // APPEND / SUBTRACT apply to list configs; none of ours is a list.
                        op => {
                            return Err(Error::InvalidConfig(format!(
                                "{}: operation {op} applies to list configs only",
                                c.name
                            )));
                        }
                    }
                }
                state.topics.alter_configs(&name, &changes, false, req.validate_only)
            });
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message.map(str_bytes))
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

pub(super) fn alter_configs(state: &BrokerState, req: AlterConfigsRequest) -> AlterConfigsResponse {
    use alter_configs_response::AlterConfigsResourceResponse;
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let name = r.resource_name.to_string();
            let (code, message) = alter_result(r.resource_type, &name, || {
                let changes: Vec<(String, Option<String>)> =
                    r.configs.iter().map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string()))).collect();
                // AlterConfigs replaces the whole set of overrides.
                state.topics.alter_configs(&name, &changes, true, req.validate_only)
            });
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message.map(str_bytes))
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}
