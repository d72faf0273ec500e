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
use kafka_protocol::messages::*;

use super::metadata::OPERATIONS_OMITTED;
use super::{Ctx, NONE, Outcome, acls, configs, str_bytes};
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
    filtered!(
        cx,
        DescribeConfigsRequest,
        acls::filter_describe_configs,
        req => configs::describe_configs(state, req),
        results
    )
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
        |state, req| configs::alter_configs(state, req),
        responses
    )
}

pub(super) async fn serve_incremental_alter_configs(cx: &mut Ctx<'_>) -> Outcome {
    filtered_storage!(
        cx,
        IncrementalAlterConfigsRequest,
        acls::filter_incremental_alter_configs,
        |state, req| configs::incremental_alter_configs(state, req),
        responses
    )
}

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
                    let configs = configs::topic_configs(state, &topic)
                        .into_iter()
                        .map(|(k, v, source)| {
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
