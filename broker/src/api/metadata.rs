//! Metadata: this one node leads every partition. Unknown topics are created on request when
//! `auto.create.topics.enable` is on and the client allows it.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::{Ctx, NONE, Outcome, acls, str_bytes};
use crate::error::Error;
use crate::security::acl;
use crate::server::BrokerState;
use crate::topics::Topic;

pub(super) const VERSIONS: &[(ApiKey, i16, i16)] = &[(ApiKey::Metadata, 0, 13)];

pub(super) fn serve(cx: &mut Ctx<'_>) -> Outcome {
    let (state, version) = (cx.state, cx.version);
    let mut req = decode!(cx, MetadataRequest);
    let session = &*cx.session;
    let (topic_operations, cluster_operations) =
        (req.include_topic_authorized_operations, req.include_cluster_authorized_operations);
    let denied = acls::filter_metadata(state, session, &mut req);
    let all = req.topics.is_none() || (version == 0 && req.topics.as_ref().is_some_and(|t| t.is_empty()));
    let mut resp = if !all && req.topics.as_ref().is_some_and(|t| t.is_empty()) && !denied.is_empty() {
        // Every named topic was denied: do not let an emptied list mean "all topics".
        let mut resp = handle(state, session, req.with_topics(None), version);
        resp.topics.clear();
        resp
    } else {
        let mut resp = handle(state, session, req, version);
        if all {
            acls::filter_metadata_response(state, session, &mut resp);
        }
        resp
    };
    // As Kafka: the topics described (denied ones stay "not provided"), and the cluster's
    // where the version has the field (8–10).
    if topic_operations {
        for t in &mut resp.topics {
            if let Some(name) = &t.name {
                t.topic_authorized_operations = acls::authorized_operations(state, session, acl::TOPIC, name);
            }
        }
    }
    if cluster_operations && (8..=10).contains(&version) {
        resp.cluster_authorized_operations = acls::cluster_operations(state, session);
    }
    resp.topics.extend(denied);
    cx.reply(resp)
}

/// "Authorized operations not requested" in Kafka's encoding.
pub(super) const OPERATIONS_OMITTED: i32 = i32::MIN;

pub(super) fn topic_entry(state: &BrokerState, topic: &Topic) -> MetadataResponseTopic {
    let node = BrokerId(state.config.node_id);
    let partitions = topic
        .partitions()
        .iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_error_code(NONE)
                .with_partition_index(p.index)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_error_code(NONE)
        .with_name(Some(TopicName(str_bytes(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(false)
        .with_partitions(partitions)
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
}

fn error_entry(name: Option<TopicName>, id: uuid::Uuid, code: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code.code())
        .with_name(name)
        .with_topic_id(id)
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
}

pub(super) fn handle(
    state: &BrokerState,
    session: &super::Session,
    req: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    // v0-3 have no flag: they always allowed auto-creation.
    let allow_create = state.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    let topics: Vec<MetadataResponseTopic> = match req.topics {
        // v0 sends an empty list to mean "all topics"; later versions send null.
        None => state.topics.all().iter().map(|t| topic_entry(state, t)).collect(),
        Some(list) if list.is_empty() && version == 0 => {
            state.topics.all().iter().map(|t| topic_entry(state, t)).collect()
        }
        Some(list) => list
            .into_iter()
            .map(|wanted| match wanted.name {
                Some(name) => lookup_or_create(state, name, allow_create),
                None => match state.topics.get_by_id(wanted.topic_id) {
                    Some(t) => topic_entry(state, &t),
                    None => error_entry(None, wanted.topic_id, ResponseError::UnknownTopicId),
                },
            })
            .collect(),
    };
    let (host, port) = &session.listener.advertised;
    MetadataResponse::default()
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(state.config.node_id))
                .with_host(str_bytes(host.clone()))
                .with_port(*port),
        ])
        .with_cluster_id(Some(str_bytes(state.cluster_id.clone())))
        .with_controller_id(BrokerId(state.config.node_id))
        .with_topics(topics)
        .with_cluster_authorized_operations(OPERATIONS_OMITTED)
}

fn lookup_or_create(state: &BrokerState, name: TopicName, allow_create: bool) -> MetadataResponseTopic {
    if let Some(t) = state.topics.get(&name.0) {
        return topic_entry(state, &t);
    }
    if !allow_create {
        return error_entry(Some(name), uuid::Uuid::nil(), ResponseError::UnknownTopicOrPartition);
    }
    match state.topics.create(&name.0, state.config.num_partitions, BTreeMap::new(), false) {
        Ok(t) => topic_entry(state, &t),
        // Lost a race with another creator: report what is there now.
        Err(Error::TopicAlreadyExists(_)) => match state.topics.get(&name.0) {
            Some(t) => topic_entry(state, &Arc::clone(&t)),
            None => error_entry(Some(name), uuid::Uuid::nil(), ResponseError::LeaderNotAvailable),
        },
        Err(e) => error_entry(Some(name), uuid::Uuid::nil(), e.kafka_code()),
    }
}
