//! CreateAcls, DescribeAcls, DeleteAcls, and the authorization of the other requests: a
//! request's unauthorized parts are taken out before its handler runs and answered with
//! TOPIC_/GROUP_/CLUSTER_AUTHORIZATION_FAILED, so a client without permission never gets data.

use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, NONE, Outcome, Session, str_bytes};
use crate::security::acl::{self, AclBinding, AclFilter};
use crate::server::BrokerState;

pub(super) const VERSIONS: &[(ApiKey, i16, i16)] =
    &[(ApiKey::DescribeAcls, 1, 3), (ApiKey::CreateAcls, 1, 3), (ApiKey::DeleteAcls, 1, 3)];

pub(super) fn serve_create_acls(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, CreateAclsRequest);
    cx.reply(create_acls(cx.state, cx.session, req, cx.version))
}

pub(super) fn serve_describe_acls(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, DescribeAclsRequest);
    cx.reply(describe_acls(cx.state, cx.session, req))
}

pub(super) fn serve_delete_acls(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, DeleteAclsRequest);
    cx.reply(delete_acls(cx.state, cx.session, req))
}

/// Whether the session's principal may do `op` on the resource.
pub(super) fn allowed(state: &BrokerState, session: &Session, op: i8, resource_type: i8, name: &str) -> bool {
    let host = session.peer.ip().to_string();
    let ok = state.acls.authorize(&session.principal, &host, op, resource_type, name);
    if !ok {
        tracing::info!(principal = %session.principal, %host, op, resource_type, resource = name, "denied by ACLs");
    }
    ok
}

/// Kafka's authorized-operations field for a resource: bit N set when the principal may do
/// the operation whose code is N, over the operations the resource type supports
/// (`AclEntry.supportedOperations`); all of them without an authorizer, as Kafka answers.
/// Denials here are not logged: nothing was refused.
pub(super) fn authorized_operations(state: &BrokerState, session: &Session, resource_type: i8, name: &str) -> i32 {
    use acl::*;
    let supported: &[i8] = match resource_type {
        TOPIC => &[READ, WRITE, CREATE, DESCRIBE, DELETE, ALTER, DESCRIBE_CONFIGS, ALTER_CONFIGS],
        GROUP => &[READ, DESCRIBE, DELETE, DESCRIBE_CONFIGS, ALTER_CONFIGS],
        CLUSTER => &[CREATE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, ALTER, DESCRIBE],
        TRANSACTIONAL_ID => &[DESCRIBE, WRITE],
        _ => &[],
    };
    let host = session.peer.ip().to_string();
    supported
        .iter()
        .filter(|&&op| state.acls.authorize(&session.principal, &host, op, resource_type, name))
        .fold(0, |bits, &op| bits | 1 << op)
}

fn cluster_allowed(state: &BrokerState, session: &Session, op: i8) -> bool {
    allowed(state, session, op, acl::CLUSTER, acl::CLUSTER_NAME)
}

pub(super) fn topic_allowed(state: &BrokerState, session: &Session, op: i8, name: &str) -> bool {
    allowed(state, session, op, acl::TOPIC, name)
}

pub(super) fn group_allowed(state: &BrokerState, session: &Session, op: i8, group: &str) -> bool {
    allowed(state, session, op, acl::GROUP, group)
}

const CLUSTER_DENIED: i16 = E::ClusterAuthorizationFailed.code();
const TOPIC_DENIED: i16 = E::TopicAuthorizationFailed.code();
pub(super) const GROUP_DENIED: i16 = E::GroupAuthorizationFailed.code();
pub(super) const TRANSACTIONAL_ID_DENIED: i16 = E::TransactionalIdAuthorizationFailed.code();

/// Whether the session may do `op` on transactional id `id`.
pub(super) fn transactional_id_allowed(state: &BrokerState, session: &Session, op: i8, id: &str) -> bool {
    allowed(state, session, op, acl::TRANSACTIONAL_ID, id)
}

fn binding_of(c: &create_acls_request::AclCreation) -> AclBinding {
    AclBinding {
        resource_type: c.resource_type,
        resource_name: c.resource_name.to_string(),
        pattern_type: c.resource_pattern_type,
        principal: c.principal.to_string(),
        host: c.host.to_string(),
        operation: c.operation,
        permission_type: c.permission_type,
    }
}

pub(super) fn create_acls(
    state: &BrokerState,
    session: &Session,
    req: CreateAclsRequest,
    version: i16,
) -> CreateAclsResponse {
    let result = |code: i16, message: Option<String>| {
        AclCreationResult::default().with_error_code(code).with_error_message(message.map(str_bytes))
    };
    if !cluster_allowed(state, session, acl::ALTER) {
        let results = req.creations.iter().map(|_| result(CLUSTER_DENIED, None)).collect();
        return CreateAclsResponse::default().with_results(results);
    }
    let mut valid = Vec::new();
    let mut results = Vec::with_capacity(req.creations.len());
    for c in &req.creations {
        let mut b = binding_of(c);
        if version == 0 {
            b.pattern_type = acl::LITERAL;
        }
        match acl::validate(&b) {
            Ok(()) => {
                valid.push(b);
                results.push(result(NONE, None));
            }
            Err(reason) => results.push(result(E::InvalidRequest.code(), Some(reason))),
        }
    }
    if let Err(e) = state.acls.create(valid) {
        tracing::error!(error = %e, "storing ACLs failed");
        for r in results.iter_mut().filter(|r| r.error_code == NONE) {
            *r = result(E::KafkaStorageError.code(), Some(e.to_string()));
        }
    }
    CreateAclsResponse::default().with_results(results)
}

pub(super) fn describe_acls(state: &BrokerState, session: &Session, req: DescribeAclsRequest) -> DescribeAclsResponse {
    if !cluster_allowed(state, session, acl::DESCRIBE) {
        return DescribeAclsResponse::default().with_error_code(CLUSTER_DENIED);
    }
    let filter = AclFilter {
        resource_type: req.resource_type_filter,
        resource_name: req.resource_name_filter.map(|s| s.to_string()),
        pattern_type: req.pattern_type_filter,
        principal: req.principal_filter.map(|s| s.to_string()),
        host: req.host_filter.map(|s| s.to_string()),
        operation: req.operation,
        permission_type: req.permission_type,
    };
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for b in state.acls.describe(&filter) {
        let description = AclDescription::default()
            .with_principal(str_bytes(b.principal))
            .with_host(str_bytes(b.host))
            .with_operation(b.operation)
            .with_permission_type(b.permission_type);
        match resources.iter_mut().find(|r| {
            r.resource_type == b.resource_type
                && r.pattern_type == b.pattern_type
                && *r.resource_name == *b.resource_name
        }) {
            Some(r) => r.acls.push(description),
            None => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(b.resource_type)
                    .with_resource_name(str_bytes(b.resource_name))
                    .with_pattern_type(b.pattern_type)
                    .with_acls(vec![description]),
            ),
        }
    }
    DescribeAclsResponse::default().with_error_code(NONE).with_resources(resources)
}

pub(super) fn delete_acls(state: &BrokerState, session: &Session, req: DeleteAclsRequest) -> DeleteAclsResponse {
    if !cluster_allowed(state, session, acl::ALTER) {
        let results =
            req.filters.iter().map(|_| DeleteAclsFilterResult::default().with_error_code(CLUSTER_DENIED)).collect();
        return DeleteAclsResponse::default().with_filter_results(results);
    }
    let filters: Vec<AclFilter> = req
        .filters
        .iter()
        .map(|f| AclFilter {
            resource_type: f.resource_type_filter,
            resource_name: f.resource_name_filter.as_ref().map(|s| s.to_string()),
            pattern_type: f.pattern_type_filter,
            principal: f.principal_filter.as_ref().map(|s| s.to_string()),
            host: f.host_filter.as_ref().map(|s| s.to_string()),
            operation: f.operation,
            permission_type: f.permission_type,
        })
        .collect();
    let results = match state.acls.delete(&filters) {
        Ok(removed) => removed
            .into_iter()
            .map(|bindings| {
                let matching = bindings
                    .into_iter()
                    .map(|b| {
                        DeleteAclsMatchingAcl::default()
                            .with_error_code(NONE)
                            .with_resource_type(b.resource_type)
                            .with_resource_name(str_bytes(b.resource_name))
                            .with_pattern_type(b.pattern_type)
                            .with_principal(str_bytes(b.principal))
                            .with_host(str_bytes(b.host))
                            .with_operation(b.operation)
                            .with_permission_type(b.permission_type)
                    })
                    .collect();
                DeleteAclsFilterResult::default().with_error_code(NONE).with_matching_acls(matching)
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "storing ACLs failed");
            filters
                .iter()
                .map(|_| {
                    DeleteAclsFilterResult::default()
                        .with_error_code(E::KafkaStorageError.code())
                        .with_error_message(Some(str_bytes(e.to_string())))
                })
                .collect()
        }
    };
    DeleteAclsResponse::default().with_filter_results(results)
}

/// Takes the items `allowed` refuses out of `items` and returns them (none with ACLs off).
fn take_denied<T>(state: &BrokerState, items: &mut Vec<T>, allowed: impl Fn(&T) -> bool) -> Vec<T> {
    take_denied_with(state, items, |t| (!allowed(t)).then_some(0)).into_iter().map(|(t, _)| t).collect()
}

/// Produce: topics without WRITE are answered TOPIC_AUTHORIZATION_FAILED, never appended.
pub(super) fn filter_produce(
    state: &BrokerState,
    session: &Session,
    req: &mut ProduceRequest,
) -> Vec<TopicProduceResponse> {
    // A transactional produce also needs WRITE on its transactional id; without it, every
    // partition is refused, as Kafka refuses it.
    let id_denied =
        req.transactional_id.as_ref().is_some_and(|id| !transactional_id_allowed(state, session, acl::WRITE, &id.0));
    let code = if id_denied { TRANSACTIONAL_ID_DENIED } else { TOPIC_DENIED };
    take_denied(state, &mut req.topic_data, |t| !id_denied && topic_allowed(state, session, acl::WRITE, &t.name.0))
        .into_iter()
        .map(|t| {
            let partitions = t
                .partition_data
                .iter()
                .map(|p| {
                    PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(code)
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1)
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(t.name)
                .with_topic_id(t.topic_id)
                .with_partition_responses(partitions)
        })
        .collect()
}

/// Fetch: topics without READ are answered TOPIC_AUTHORIZATION_FAILED with no records.
pub(super) fn filter_fetch(
    state: &BrokerState,
    session: &Session,
    req: &mut FetchRequest,
) -> Vec<FetchableTopicResponse> {
    let name_of = |t: &fetch_request::FetchTopic| -> Option<String> {
        if !t.topic.0.is_empty() {
            return Some(t.topic.0.to_string());
        }
        state.topics.get_by_id(t.topic_id).map(|topic| topic.name.to_string())
    };
    // Unknown ids are the handler's to report.
    take_denied(state, &mut req.topics, |t| {
        name_of(t).is_none_or(|name| topic_allowed(state, session, acl::READ, &name))
    })
    .into_iter()
    .map(|t| {
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                PartitionData::default()
                    .with_partition_index(p.partition)
                    .with_error_code(TOPIC_DENIED)
                    .with_high_watermark(-1)
                    .with_last_stable_offset(-1)
                    .with_log_start_offset(-1)
            })
            .collect();
        FetchableTopicResponse::default().with_topic(t.topic).with_topic_id(t.topic_id).with_partitions(partitions)
    })
    .collect()
}

/// ListOffsets: topics without DESCRIBE are answered TOPIC_AUTHORIZATION_FAILED.
pub(super) fn filter_list_offsets(
    state: &BrokerState,
    session: &Session,
    req: &mut ListOffsetsRequest,
) -> Vec<ListOffsetsTopicResponse> {
    take_denied(state, &mut req.topics, |t| topic_allowed(state, session, acl::DESCRIBE, &t.name.0))
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(TOPIC_DENIED)
                        .with_timestamp(-1)
                        .with_offset(-1)
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(t.name).with_partitions(partitions)
        })
        .collect()
}

/// Metadata: named topics without DESCRIBE are answered TOPIC_AUTHORIZATION_FAILED (and not
/// created); auto-creation needs CREATE on the topic or the cluster. Returns the denied
/// entries, and whether the request listed all topics (then the response is filtered).
pub(super) fn filter_metadata(
    state: &BrokerState,
    session: &Session,
    req: &mut MetadataRequest,
) -> Vec<MetadataResponseTopic> {
    if !state.acls.enabled() {
        return Vec::new();
    }
    let Some(list) = req.topics.as_mut() else { return Vec::new() };
    let mut denied = Vec::new();
    let mut create_denied = false;
    list.retain(|t| match &t.name {
        Some(name) if !topic_allowed(state, session, acl::DESCRIBE, name) => {
            denied.push(
                MetadataResponseTopic::default()
                    .with_error_code(TOPIC_DENIED)
                    .with_name(Some(name.clone()))
                    .with_topic_authorized_operations(super::metadata::OPERATIONS_OMITTED),
            );
            false
        }
        Some(name) => {
            if state.topics.get(name).is_none()
                && !cluster_allowed(state, session, acl::CREATE)
                && !topic_allowed(state, session, acl::CREATE, name)
            {
                create_denied = true;
            }
            true
        }
        None => true,
    });
    if create_denied {
        req.allow_auto_topic_creation = false;
    }
    denied
}

/// Drops topics the session may not DESCRIBE from an all-topics Metadata answer.
pub(super) fn filter_metadata_response(state: &BrokerState, session: &Session, resp: &mut MetadataResponse) {
    if state.acls.enabled() {
        resp.topics.retain(|t| {
            t.error_code == TOPIC_DENIED
                || t.name.as_ref().is_none_or(|n| topic_allowed(state, session, acl::DESCRIBE, n))
        });
    }
}

/// CreateTopics: CREATE on the cluster or the topic.
pub(super) fn filter_create_topics(
    state: &BrokerState,
    session: &Session,
    req: &mut CreateTopicsRequest,
) -> Vec<create_topics_response::CreatableTopicResult> {
    if !state.acls.enabled() || cluster_allowed(state, session, acl::CREATE) {
        return Vec::new();
    }
    take_denied(state, &mut req.topics, |t| topic_allowed(state, session, acl::CREATE, &t.name.0))
        .into_iter()
        .map(|t| {
            create_topics_response::CreatableTopicResult::default()
                .with_name(t.name)
                .with_error_code(TOPIC_DENIED)
                .with_num_partitions(-1)
                .with_replication_factor(-1)
        })
        .collect()
}

/// DeleteTopics: DELETE on each topic (by name; ids resolved first).
pub(super) fn filter_delete_topics(
    state: &BrokerState,
    session: &Session,
    req: &mut DeleteTopicsRequest,
) -> Vec<delete_topics_response::DeletableTopicResult> {
    if !state.acls.enabled() {
        return Vec::new();
    }
    let mut denied = Vec::new();
    req.topic_names.retain(|n| {
        let ok = topic_allowed(state, session, acl::DELETE, n);
        if !ok {
            denied.push(
                delete_topics_response::DeletableTopicResult::default()
                    .with_name(Some(n.clone()))
                    .with_error_code(TOPIC_DENIED),
            );
        }
        ok
    });
    req.topics.retain(|t| {
        let name = t
            .name
            .as_ref()
            .map(|n| n.0.to_string())
            .or_else(|| state.topics.get_by_id(t.topic_id).map(|x| x.name.to_string()));
        let ok = name.as_ref().is_none_or(|n| topic_allowed(state, session, acl::DELETE, n));
        if !ok {
            denied.push(
                delete_topics_response::DeletableTopicResult::default()
                    .with_name(t.name.clone())
                    .with_topic_id(t.topic_id)
                    .with_error_code(TOPIC_DENIED),
            );
        }
        ok
    });
    denied
}

/// Takes the items `denied` gives an error code for out of `items` and returns them with it
/// (none with ACLs off).
fn take_denied_with<T>(state: &BrokerState, items: &mut Vec<T>, denied: impl Fn(&T) -> Option<i16>) -> Vec<(T, i16)> {
    if !state.acls.enabled() {
        return Vec::new();
    }
    let mut refused = Vec::new();
    let mut kept = Vec::with_capacity(items.len());
    for t in items.drain(..) {
        match denied(&t) {
            Some(code) => refused.push((t, code)),
            None => kept.push(t),
        }
    }
    *items = kept;
    refused
}

/// The message Kafka sends with a refusal's error code.
fn denied_message(code: i16) -> Option<StrBytes> {
    let text = match code {
        TOPIC_DENIED => "Topic authorization failed.",
        GROUP_DENIED => "Group authorization failed.",
        CLUSTER_DENIED => "Cluster authorization failed.",
        TRANSACTIONAL_ID_DENIED => "Transactional Id authorization failed.",
        _ => return None,
    };
    Some(str_bytes(text))
}

/// CreatePartitions: ALTER on each topic.
pub(super) fn filter_create_partitions(
    state: &BrokerState,
    session: &Session,
    req: &mut CreatePartitionsRequest,
) -> Vec<create_partitions_response::CreatePartitionsTopicResult> {
    take_denied(state, &mut req.topics, |t| topic_allowed(state, session, acl::ALTER, &t.name.0))
        .into_iter()
        .map(|t| {
            create_partitions_response::CreatePartitionsTopicResult::default()
                .with_name(t.name)
                .with_error_code(TOPIC_DENIED)
                .with_error_message(denied_message(TOPIC_DENIED))
        })
        .collect()
}

/// DeleteRecords: DELETE on each topic; every partition named of a refused topic is answered.
pub(super) fn filter_delete_records(
    state: &BrokerState,
    session: &Session,
    req: &mut DeleteRecordsRequest,
) -> Vec<delete_records_response::DeleteRecordsTopicResult> {
    take_denied(state, &mut req.topics, |t| topic_allowed(state, session, acl::DELETE, &t.name.0))
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    delete_records_response::DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(TOPIC_DENIED)
                        .with_low_watermark(-1)
                })
                .collect();
            delete_records_response::DeleteRecordsTopicResult::default().with_name(t.name).with_partitions(partitions)
        })
        .collect()
}

/// Config resource types (Kafka's ConfigResource.Type).
const CONFIG_TOPIC: i8 = 2;
const CONFIG_BROKER: i8 = 4;
const CONFIG_GROUP: i8 = 32;

/// Describing or altering a config resource (`op` DESCRIBE_CONFIGS or ALTER_CONFIGS), as Kafka
/// checks it: a topic's on the topic (else TOPIC_AUTHORIZATION_FAILED), the broker's on the
/// cluster (else CLUSTER_AUTHORIZATION_FAILED), a group's on the group (else
/// GROUP_AUTHORIZATION_FAILED). Other types are left to the handler, which answers
/// INVALID_REQUEST for them.
fn config_denied(state: &BrokerState, session: &Session, op: i8, resource_type: i8, name: &str) -> Option<i16> {
    match resource_type {
        CONFIG_TOPIC if !topic_allowed(state, session, op, name) => Some(TOPIC_DENIED),
        CONFIG_BROKER if !cluster_allowed(state, session, op) => Some(CLUSTER_DENIED),
        CONFIG_GROUP if !group_allowed(state, session, op, name) => Some(GROUP_DENIED),
        _ => None,
    }
}

/// A filter for a config API: its resources checked with `config_denied` for `op`, the
/// refused ones answered with their code. The three APIs differ only in their types.
macro_rules! config_filter {
    ($(#[$doc:meta])* $name:ident, $req:ty, $result:ty, $op:expr) => {
        $(#[$doc])*
        pub(super) fn $name(state: &BrokerState, session: &Session, req: &mut $req) -> Vec<$result> {
            take_denied_with(state, &mut req.resources, |r| config_denied(state, session, $op, r.resource_type, &r.resource_name))
                .into_iter()
                .map(|(r, code)| {
                    <$result>::default()
                        .with_error_code(code)
                        .with_error_message(denied_message(code))
                        .with_resource_type(r.resource_type)
                        .with_resource_name(r.resource_name)
                })
                .collect()
        }
    };
}

config_filter!(
    /// DescribeConfigs: DESCRIBE_CONFIGS per resource.
    filter_describe_configs,
    DescribeConfigsRequest,
    describe_configs_response::DescribeConfigsResult,
    acl::DESCRIBE_CONFIGS
);
config_filter!(
    /// AlterConfigs: ALTER_CONFIGS per resource.
    filter_alter_configs,
    AlterConfigsRequest,
    alter_configs_response::AlterConfigsResourceResponse,
    acl::ALTER_CONFIGS
);
config_filter!(
    /// IncrementalAlterConfigs: ALTER_CONFIGS per resource.
    filter_incremental_alter_configs,
    IncrementalAlterConfigsRequest,
    incremental_alter_configs_response::AlterConfigsResourceResponse,
    acl::ALTER_CONFIGS
);

/// FindCoordinator key types.
const COORDINATOR_GROUP: i8 = 0;
const COORDINATOR_TRANSACTION: i8 = 1;

/// FindCoordinator, per key: DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED) or on the
/// transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED). Returns the code and its message.
pub(super) fn coordinator_denied(
    state: &BrokerState,
    session: &Session,
    key_type: i8,
    key: &str,
) -> Option<(i16, StrBytes)> {
    let code = match key_type {
        COORDINATOR_GROUP if !group_allowed(state, session, acl::DESCRIBE, key) => GROUP_DENIED,
        COORDINATOR_TRANSACTION if !allowed(state, session, acl::DESCRIBE, acl::TRANSACTIONAL_ID, key) => {
            TRANSACTIONAL_ID_DENIED
        }
        _ => return None,
    };
    Some((code, denied_message(code).unwrap_or_default()))
}

/// ConsumerGroupDescribe, as Kafka answers it: groups without DESCRIBE get
/// GROUP_AUTHORIZATION_FAILED (listed first), and a group whose members' assignment or target
/// assignment names a topic the principal may not DESCRIBE gets TOPIC_AUTHORIZATION_FAILED
/// with no members, so the topic's name and partitions stay hidden.
pub(super) fn consumer_group_describe_authorized(
    state: &BrokerState,
    session: &Session,
    denied: Vec<GroupId>,
    mut resp: ConsumerGroupDescribeResponse,
) -> ConsumerGroupDescribeResponse {
    use consumer_group_describe_response::DescribedGroup;
    if !state.acls.enabled() {
        return resp;
    }
    let hides_a_topic = |g: &DescribedGroup| {
        g.members
            .iter()
            .flat_map(|m| m.assignment.topic_partitions.iter().chain(&m.target_assignment.topic_partitions))
            .any(|t| !topic_allowed(state, session, acl::DESCRIBE, &t.topic_name.0))
    };
    let refused = denied.into_iter().map(|g| {
        DescribedGroup::default()
            .with_group_id(g)
            .with_error_code(GROUP_DENIED)
            .with_error_message(denied_message(GROUP_DENIED))
    });
    let described: Vec<DescribedGroup> = resp
        .groups
        .drain(..)
        .map(|g| {
            if hides_a_topic(&g) {
                DescribedGroup::default().with_group_id(g.group_id).with_error_code(TOPIC_DENIED).with_error_message(
                    Some(str_bytes("the group's assignment names a topic the client is not authorized to describe")),
                )
            } else {
                g
            }
        })
        .collect();
    resp.groups = refused.chain(described).collect();
    resp
}

/// DescribeCluster is answered to everyone, as Kafka does; the authorized operations a client
/// asks for are the cluster's, or none (0) without DESCRIBE on it.
pub(super) fn describe_cluster_operations(
    state: &BrokerState,
    session: &Session,
    wants_operations: bool,
    resp: &mut DescribeClusterResponse,
) {
    if wants_operations {
        resp.cluster_authorized_operations = cluster_operations(state, session);
    }
}

/// The cluster's authorized operations as DescribeCluster and Metadata v8–10 give them.
pub(super) fn cluster_operations(state: &BrokerState, session: &Session) -> i32 {
    if cluster_allowed(state, session, acl::DESCRIBE) {
        authorized_operations(state, session, acl::CLUSTER, acl::CLUSTER_NAME)
    } else {
        0
    }
}

/// InitProducerId without a transactional id: IDEMPOTENT_WRITE on the cluster, or WRITE on
/// some topic (KIP-679).
pub(super) fn idempotent_write_allowed(state: &BrokerState, session: &Session) -> bool {
    if !state.acls.enabled() {
        return true;
    }
    let host = session.peer.ip().to_string();
    cluster_allowed(state, session, acl::IDEMPOTENT_WRITE)
        || state.acls.any_topic_allows(&session.principal, &host, acl::WRITE)
}

/// Takes the groups `op` is denied on out of `groups` and returns them.
pub(super) fn filter_groups(state: &BrokerState, session: &Session, op: i8, groups: &mut Vec<GroupId>) -> Vec<GroupId> {
    take_denied(state, groups, |g| group_allowed(state, session, op, g))
}

pub(super) fn offset_commit_denied(req: &OffsetCommitRequest, code: i16) -> OffsetCommitResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    offset_commit_response::OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            offset_commit_response::OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_topic_id(t.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

pub(super) fn offset_fetch_denied(req: &OffsetFetchRequest) -> OffsetFetchResponse {
    let groups = req
        .groups
        .iter()
        .map(|g| {
            offset_fetch_response::OffsetFetchResponseGroup::default()
                .with_group_id(g.group_id.clone())
                .with_error_code(GROUP_DENIED)
        })
        .collect();
    OffsetFetchResponse::default().with_error_code(GROUP_DENIED).with_groups(groups)
}

pub(super) const CLUSTER_AUTHORIZATION_FAILED: i16 = CLUSTER_DENIED;
