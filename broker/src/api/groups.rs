//! The group coordinator's APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups,
//! OffsetDelete. Each turns the request into a call on the coordinator task and the answer
//! into the response of the version asked.

use std::net::SocketAddr;

use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, NONE, Outcome, acls, str_bytes};
use crate::group::{CommitOffset, CommitRequest, JoinRequest, SyncRequest};
use crate::security::acl;
use crate::server::BrokerState;

pub(super) const VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
];

pub(super) fn serve_find_coordinator(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, FindCoordinatorRequest);
    let (state, session) = (cx.state, &*cx.session);
    let denied = |key_type: i8, key: &str| acls::coordinator_denied(state, session, key_type, key);
    cx.reply(find_coordinator(state, session, req, cx.version, denied))
}

pub(super) async fn serve_join_group(cx: &mut Ctx<'_>) -> Outcome {
    let client_id = cx.header.client_id.as_deref().unwrap_or("");
    let caller = Caller { client_id, peer: cx.session.peer };
    let req = decode!(cx, JoinGroupRequest);
    if !acls::group_allowed(cx.state, cx.session, acl::READ, &req.group_id) {
        return cx.reply(JoinGroupResponse::default().with_error_code(acls::GROUP_DENIED).with_generation_id(-1));
    }
    cx.reply(join_group(cx.state, caller, req, cx.version).await)
}

pub(super) async fn serve_sync_group(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, SyncGroupRequest);
    if !acls::group_allowed(cx.state, cx.session, acl::READ, &req.group_id) {
        return cx.reply(SyncGroupResponse::default().with_error_code(acls::GROUP_DENIED));
    }
    cx.reply(sync_group(cx.state, req).await)
}

pub(super) async fn serve_heartbeat(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, HeartbeatRequest);
    if !acls::group_allowed(cx.state, cx.session, acl::READ, &req.group_id) {
        return cx.reply(HeartbeatResponse::default().with_error_code(acls::GROUP_DENIED));
    }
    cx.reply(heartbeat(cx.state, req).await)
}

pub(super) async fn serve_leave_group(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, LeaveGroupRequest);
    if !acls::group_allowed(cx.state, cx.session, acl::READ, &req.group_id) {
        return cx.reply(LeaveGroupResponse::default().with_error_code(acls::GROUP_DENIED));
    }
    cx.reply(leave_group(cx.state, req, cx.version).await)
}

pub(super) async fn serve_offset_commit(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, OffsetCommitRequest);
    if !acls::group_allowed(cx.state, cx.session, acl::READ, &req.group_id) {
        return cx.reply(acls::offset_commit_denied(&req, acls::GROUP_DENIED));
    }
    cx.reply(offset_commit(cx.state, req, cx.version).await)
}

pub(super) async fn serve_offset_fetch(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, OffsetFetchRequest);
    let single = (!req.group_id.is_empty()).then(|| req.group_id.clone());
    let named: Vec<_> = single.into_iter().chain(req.groups.iter().map(|g| g.group_id.clone())).collect();
    if named.iter().any(|g| !acls::group_allowed(cx.state, cx.session, acl::DESCRIBE, g)) {
        return cx.reply(acls::offset_fetch_denied(&req));
    }
    cx.reply(offset_fetch(cx.state, req, cx.version).await)
}

pub(super) async fn serve_list_groups(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, ListGroupsRequest);
    let (state, session) = (cx.state, &*cx.session);
    let mut resp = list_groups(state, req).await;
    if state.acls.enabled() {
        resp.groups.retain(|g| acls::group_allowed(state, session, acl::DESCRIBE, &g.group_id));
    }
    cx.reply(resp)
}

pub(super) async fn serve_describe_groups(cx: &mut Ctx<'_>) -> Outcome {
    let mut req = decode!(cx, DescribeGroupsRequest);
    let denied = acls::filter_groups(cx.state, cx.session, acl::DESCRIBE, &mut req.groups);
    let operations = req.include_authorized_operations;
    let mut resp = describe_groups(cx.state, req).await;
    if operations {
        for g in &mut resp.groups {
            g.authorized_operations = acls::authorized_operations(cx.state, cx.session, acl::GROUP, &g.group_id);
        }
    }
    resp.groups.extend(denied.into_iter().map(|g| {
        describe_groups_response::DescribedGroup::default().with_group_id(g).with_error_code(acls::GROUP_DENIED)
    }));
    cx.reply(resp)
}

pub(super) async fn serve_delete_groups(cx: &mut Ctx<'_>) -> Outcome {
    let mut req = decode!(cx, DeleteGroupsRequest);
    let denied = acls::filter_groups(cx.state, cx.session, acl::DELETE, &mut req.groups_names);
    let mut resp = delete_groups(cx.state, req).await;
    resp.results.extend(denied.into_iter().map(|g| {
        delete_groups_response::DeletableGroupResult::default().with_group_id(g).with_error_code(acls::GROUP_DENIED)
    }));
    cx.reply(resp)
}

pub(super) async fn serve_offset_delete(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, OffsetDeleteRequest);
    if !acls::group_allowed(cx.state, cx.session, acl::DELETE, &req.group_id) {
        return cx.reply(OffsetDeleteResponse::default().with_error_code(acls::GROUP_DENIED));
    }
    cx.reply(offset_delete(cx.state, req).await)
}

pub(super) async fn serve_consumer_group_heartbeat(cx: &mut Ctx<'_>) -> Outcome {
    let client_id = cx.header.client_id.as_deref().unwrap_or("");
    let caller = Caller { client_id, peer: cx.session.peer };
    let req = decode!(cx, ConsumerGroupHeartbeatRequest);
    if !acls::group_allowed(cx.state, cx.session, acl::READ, &req.group_id) {
        return cx.reply(ConsumerGroupHeartbeatResponse::default().with_error_code(acls::GROUP_DENIED));
    }
    cx.reply(consumer_group_heartbeat(cx.state, caller, req).await)
}

pub(super) async fn serve_consumer_group_describe(cx: &mut Ctx<'_>) -> Outcome {
    let mut req = decode!(cx, ConsumerGroupDescribeRequest);
    let denied = acls::filter_groups(cx.state, cx.session, acl::DESCRIBE, &mut req.group_ids);
    let operations = req.include_authorized_operations;
    let mut resp = consumer_group_describe(cx.state, req).await;
    if operations {
        for g in &mut resp.groups {
            g.authorized_operations = acls::authorized_operations(cx.state, cx.session, acl::GROUP, &g.group_id);
        }
    }
    cx.reply(acls::consumer_group_describe_authorized(cx.state, cx.session, denied, resp))
}

/// Who sent a request: the header's client id and the peer address.
pub(crate) struct Caller<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) peer: SocketAddr,
}

fn opt(s: Option<StrBytes>) -> Option<String> {
    s.map(|s| s.to_string())
}

fn unavailable() -> i16 {
    E::CoordinatorNotAvailable.code()
}

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

type PartitionsByTopic = Vec<(String, Vec<i32>)>;

/// FindCoordinator; `denied` gives the refusal (code, message) of a key the client may not
/// look up, answered with no node as Kafka does.
pub(super) fn find_coordinator(
    state: &BrokerState,
    session: &super::Session,
    req: FindCoordinatorRequest,
    version: i16,
    denied: impl Fn(i8, &str) -> Option<(i16, StrBytes)>,
) -> FindCoordinatorResponse {
    let (host, port) = &session.listener.advertised;
    let node = BrokerId(state.config.node_id);
    // (error, message, whether to name this node)
    let answer = |key: &str| -> (i16, Option<StrBytes>, bool) {
        if let Some((code, message)) = denied(req.key_type, key) {
            (code, Some(message), false)
        } else if req.key_type == KEY_TYPE_GROUP || req.key_type == KEY_TYPE_TRANSACTION {
            (NONE, None, true)
        } else {
            // Share groups are not implemented: say so rather than pointing a client at a
            // coordinator that cannot serve it.
            (
                E::CoordinatorNotAvailable.code(),
                Some(str_bytes("this broker coordinates groups and transactions only")),
                false,
            )
        }
    };
    let (no_node, no_host, no_port) = (BrokerId(-1), StrBytes::default(), -1);
    let mut resp = FindCoordinatorResponse::default();
    if version >= 4 {
        resp.coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| {
                let (error_code, error_message, named) = answer(key);
                let coordinator = find_coordinator_response::Coordinator::default().with_key(key.clone());
                let coordinator = if named {
                    coordinator.with_node_id(node).with_host(str_bytes(host.clone())).with_port(*port)
                } else {
                    coordinator.with_node_id(no_node).with_host(no_host.clone()).with_port(no_port)
                };
                coordinator.with_error_code(error_code).with_error_message(error_message)
            })
            .collect();
    } else {
        let (error_code, error_message, named) = answer(&req.key);
        resp = resp.with_error_code(error_code).with_error_message(error_message);
        resp = if named {
            resp.with_node_id(node).with_host(str_bytes(host.clone())).with_port(*port)
        } else {
            resp.with_node_id(no_node).with_host(no_host).with_port(no_port)
        };
    }
    resp
}

pub(super) async fn join_group(
    state: &BrokerState,
    caller: Caller<'_>,
    req: JoinGroupRequest,
    version: i16,
) -> JoinGroupResponse {
    let request = JoinRequest {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        instance_id: opt(req.group_instance_id),
        client_id: caller.client_id.to_owned(),
        client_host: format!("/{}", caller.peer.ip()),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 { req.rebalance_timeout_ms } else { req.session_timeout_ms },
        protocol_type: req.protocol_type.to_string(),
        protocols: req.protocols.into_iter().map(|p| (p.name.to_string(), p.metadata)).collect(),
        require_known_member_id: version >= 4,
    };
    let member_id = request.member_id.clone();
    let mut shutdown = state.shutdown.clone();
    let outcome = tokio::select! {
        r = state.groups.call_deferred(move |c, reply| c.join(request, reply)) => r.ok(),
        _ = crate::server::stopped(&mut shutdown) => None,
    };
    let Some(r) = outcome else {
        return JoinGroupResponse::default()
            .with_error_code(unavailable())
            .with_generation_id(-1)
            .with_member_id(str_bytes(member_id));
    };
    JoinGroupResponse::default()
        .with_error_code(r.error)
        .with_generation_id(r.generation)
        .with_protocol_type(r.protocol_type.map(str_bytes))
        .with_protocol_name(Some(str_bytes(r.protocol_name.unwrap_or_default())))
        .with_leader(str_bytes(r.leader))
        .with_skip_assignment(r.skip_assignment)
        .with_member_id(str_bytes(r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|m| {
                    join_group_response::JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_group_instance_id(m.instance_id.map(str_bytes))
                        .with_metadata(m.metadata)
                })
                .collect(),
        )
}

pub(super) async fn sync_group(state: &BrokerState, req: SyncGroupRequest) -> SyncGroupResponse {
    let request = SyncRequest {
        group_id: req.group_id.0.to_string(),
        generation: req.generation_id,
        member_id: req.member_id.to_string(),
        instance_id: opt(req.group_instance_id),
        protocol_type: opt(req.protocol_type),
        protocol_name: opt(req.protocol_name),
        assignments: req.assignments.into_iter().map(|a| (a.member_id.to_string(), a.assignment)).collect(),
    };
    let mut shutdown = state.shutdown.clone();
    let outcome = tokio::select! {
        r = state.groups.call_deferred(move |c, reply| c.sync(request, reply)) => r.ok(),
        _ = crate::server::stopped(&mut shutdown) => None,
    };
    let Some(r) = outcome else {
        return SyncGroupResponse::default().with_error_code(unavailable());
    };
    SyncGroupResponse::default()
        .with_error_code(r.error)
        .with_protocol_type(r.protocol_type.map(str_bytes))
        .with_protocol_name(r.protocol_name.map(str_bytes))
        .with_assignment(r.assignment)
}

pub(super) async fn heartbeat(state: &BrokerState, req: HeartbeatRequest) -> HeartbeatResponse {
    let group = req.group_id.0.to_string();
    let member = req.member_id.to_string();
    let instance = opt(req.group_instance_id);
    let generation = req.generation_id;
    let code = state
        .groups
        .call(move |c| c.heartbeat(&group, &member, instance.as_deref(), generation))
        .await
        .unwrap_or_else(|_| unavailable());
    HeartbeatResponse::default().with_error_code(code)
}

pub(super) async fn leave_group(state: &BrokerState, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let group = req.group_id.0.to_string();
    let leaving: Vec<(String, Option<String>)> = if version >= 3 {
        req.members.iter().map(|m| (m.member_id.to_string(), opt(m.group_instance_id.clone()))).collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let echo = leaving.clone();
    let Ok((top, per_member)) = state.groups.call(move |c| c.leave(&group, leaving)).await else {
        return LeaveGroupResponse::default().with_error_code(unavailable());
    };
    if version < 3 {
        // One member, and its error is the response's.
        return LeaveGroupResponse::default().with_error_code(if top != NONE { top } else { per_member[0] });
    }
    LeaveGroupResponse::default().with_error_code(top).with_members(
        echo.into_iter()
            .zip(per_member)
            .map(|((member_id, instance_id), error_code)| {
                leave_group_response::MemberResponse::default()
                    .with_member_id(str_bytes(member_id))
                    .with_group_instance_id(instance_id.map(str_bytes))
                    .with_error_code(error_code)
            })
            .collect(),
    )
}

pub(super) async fn offset_commit(state: &BrokerState, req: OffsetCommitRequest, version: i16) -> OffsetCommitResponse {
    use offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
    // Partitions of unknown topics are answered here; the rest go to the coordinator.
    let mut answers: Vec<(usize, usize, i16)> = Vec::new();
    let mut offsets = Vec::new();
    let mut slots = Vec::new();
    for (ti, t) in req.topics.iter().enumerate() {
        let topic = state.topics.get(t.name.0.as_str());
        for (pi, p) in t.partitions.iter().enumerate() {
            let known = topic
                .as_ref()
                .is_some_and(|tp| p.partition_index >= 0 && (p.partition_index as usize) < tp.partition_count());
            if !known {
                answers.push((ti, pi, E::UnknownTopicOrPartition.code()));
                continue;
            }
            slots.push((ti, pi));
            offsets.push(CommitOffset {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: opt(p.committed_metadata.clone()),
            });
        }
    }
    let request = CommitRequest {
        group_id: req.group_id.0.to_string(),
        generation: req.generation_id_or_member_epoch,
        member_id: req.member_id.to_string(),
        instance_id: opt(req.group_instance_id.clone()),
        retention_ms: if (2..=4).contains(&version) { req.retention_time_ms } else { -1 },
        offsets,
    };
    let codes = if request.offsets.is_empty() {
        Vec::new()
    } else {
        let n = request.offsets.len();
        state.groups.call(move |c| c.commit(request)).await.unwrap_or_else(|_| vec![unavailable(); n])
    };
    answers.extend(slots.into_iter().zip(codes).map(|((ti, pi), code)| (ti, pi, code)));
    let mut topics: Vec<OffsetCommitResponseTopic> = req
        .topics
        .iter()
        .map(|t| {
            OffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(
                t.partitions
                    .iter()
                    .map(|p| OffsetCommitResponsePartition::default().with_partition_index(p.partition_index))
                    .collect(),
            )
        })
        .collect();
    for (ti, pi, code) in answers {
        topics[ti].partitions[pi].error_code = code;
    }
    OffsetCommitResponse::default().with_topics(topics)
}

pub(super) async fn offset_fetch(state: &BrokerState, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    use offset_fetch_response::*;
    // (group, requested partitions or None for all)
    let wanted: Vec<(String, Option<PartitionsByTopic>)> = if version >= 8 {
        req.groups
            .iter()
            .map(|g| {
                let topics = g
                    .topics
                    .as_ref()
                    .map(|ts| ts.iter().map(|t| (t.name.0.to_string(), t.partition_indexes.clone())).collect());
                (g.group_id.0.to_string(), topics)
            })
            .collect()
    } else {
        let topics = req
            .topics
            .as_ref()
            .map(|ts| ts.iter().map(|t| (t.name.0.to_string(), t.partition_indexes.clone())).collect());
        vec![(req.group_id.0.to_string(), topics)]
    };
    let fetched = state
        .groups
        .call(move |c| {
            wanted.into_iter().map(|(g, topics)| (g.clone(), c.fetch_offsets(&g, topics))).collect::<Vec<_>>()
        })
        .await;
    let Ok(fetched) = fetched else {
        let mut resp = OffsetFetchResponse::default().with_error_code(unavailable());
        resp.groups = req
            .groups
            .iter()
            .map(|g| {
                OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone()).with_error_code(unavailable())
            })
            .collect();
        return resp;
    };
    // The v8+ and older responses have the same shape under different type names.
    // KIP-447: a reader that asks for stable offsets is told to retry while a transaction
    // holds an offset for the partition.
    let unstable =
        |group: &str, topic: &str, p: i32| req.require_stable && state.txns.view.has_pending_offset(group, topic, p);
    macro_rules! topics {
        ($group:expr, $topics:expr, $topic:ident, $partition:ident) => {
            $topics
                .into_iter()
                .map(|(topic, parts)| {
                    $topic::default().with_name(TopicName(str_bytes(topic.clone()))).with_partitions(
                        parts
                            .into_iter()
                            .map(|(p, v): (i32, Option<crate::group::OffsetValue>)| {
                                if unstable($group, &topic, p) {
                                    return $partition::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(-1)
                                        .with_committed_leader_epoch(-1)
                                        .with_metadata(Some(str_bytes("")))
                                        .with_error_code(E::UnstableOffsetCommit.code());
                                }
                                // Kafka's answer for "nothing committed": -1, empty metadata.
                                let (offset, epoch, meta) = match v {
                                    Some(v) => (v.offset, v.leader_epoch, v.metadata.unwrap_or_default()),
                                    None => (-1, -1, String::new()),
                                };
                                $partition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(offset)
                                    .with_committed_leader_epoch(epoch)
                                    .with_metadata(Some(str_bytes(meta)))
                            })
                            .collect(),
                    )
                })
                .collect()
        };
    }
    if version >= 8 {
        let groups = fetched
            .into_iter()
            .map(|(group, topics)| {
                let topics = topics!(&group, topics, OffsetFetchResponseTopics, OffsetFetchResponsePartitions);
                OffsetFetchResponseGroup::default().with_group_id(GroupId(str_bytes(group))).with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let (group, topics) = fetched.into_iter().next().unwrap_or_default();
    OffsetFetchResponse::default().with_topics(topics!(
        &group,
        topics,
        OffsetFetchResponseTopic,
        OffsetFetchResponsePartition
    ))
}

pub(super) async fn list_groups(state: &BrokerState, req: ListGroupsRequest) -> ListGroupsResponse {
    let Ok(groups) = state.groups.call(|c| c.list()).await else {
        return ListGroupsResponse::default().with_error_code(unavailable());
    };
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_lowercase()).collect();
    ListGroupsResponse::default().with_groups(
        groups
            .into_iter()
            .filter(|g| states.is_empty() || states.contains(&g.state.to_lowercase()))
            .filter(|g| types.is_empty() || types.iter().any(|t| t == g.group_type))
            .map(|g| {
                list_groups_response::ListedGroup::default()
                    .with_group_id(GroupId(str_bytes(g.group_id)))
                    .with_protocol_type(str_bytes(g.protocol_type))
                    .with_group_state(str_bytes(g.state))
                    .with_group_type(str_bytes(g.group_type))
            })
            .collect(),
    )
}

pub(super) async fn describe_groups(state: &BrokerState, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    use describe_groups_response::{DescribedGroup, DescribedGroupMember};
    let ids: Vec<String> = req.groups.iter().map(|g| g.0.to_string()).collect();
    let lookup = ids.clone();
    let described = state.groups.call(move |c| lookup.iter().map(|g| c.describe(g)).collect::<Vec<_>>()).await;
    let groups = ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let base =
                DescribedGroup::default().with_group_id(GroupId(str_bytes(id))).with_authorized_operations(i32::MIN);
            match &described {
                Err(_) => base.with_error_code(unavailable()),
                // Kafka describes an unknown group as a dead one, without an error.
                Ok(all) => match &all[i] {
                    None => base.with_group_state(str_bytes("Dead")),
                    Some(g) => base
                        .with_group_state(str_bytes(g.state))
                        .with_protocol_type(str_bytes(g.protocol_type.clone()))
                        .with_protocol_data(str_bytes(g.protocol.clone()))
                        .with_members(
                            g.members
                                .iter()
                                .map(|m| {
                                    DescribedGroupMember::default()
                                        .with_member_id(str_bytes(m.member_id.clone()))
                                        .with_group_instance_id(m.instance_id.clone().map(str_bytes))
                                        .with_client_id(str_bytes(m.client_id.clone()))
                                        .with_client_host(str_bytes(m.client_host.clone()))
                                        .with_member_metadata(m.metadata.clone())
                                        .with_member_assignment(m.assignment.clone())
                                })
                                .collect(),
                        ),
                },
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

pub(super) async fn delete_groups(state: &BrokerState, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let ids: Vec<String> = req.groups_names.iter().map(|g| g.0.to_string()).collect();
    let n = ids.len();
    let lookup = ids.clone();
    let codes = state
        .groups
        .call(move |c| lookup.iter().map(|g| c.delete_group(g)).collect::<Vec<_>>())
        .await
        .unwrap_or_else(|_| vec![unavailable(); n]);
    DeleteGroupsResponse::default().with_results(
        ids.into_iter()
            .zip(codes)
            .map(|(id, code)| {
                delete_groups_response::DeletableGroupResult::default()
                    .with_group_id(GroupId(str_bytes(id)))
                    .with_error_code(code)
            })
            .collect(),
    )
}

pub(super) async fn offset_delete(state: &BrokerState, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    use offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
    let group = req.group_id.0.to_string();
    let partitions: Vec<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.0.to_string(), p.partition_index)))
        .collect();
    let Ok((top, codes)) = state.groups.call(move |c| c.delete_offsets(&group, partitions)).await else {
        return OffsetDeleteResponse::default().with_error_code(unavailable());
    };
    if top != NONE && codes.is_empty() {
        return OffsetDeleteResponse::default().with_error_code(top);
    }
    let mut codes = codes.into_iter();
    OffsetDeleteResponse::default().with_error_code(top).with_topics(
        req.topics
            .iter()
            .map(|t| {
                OffsetDeleteResponseTopic::default().with_name(t.name.clone()).with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(codes.next().unwrap_or(NONE))
                        })
                        .collect(),
                )
            })
            .collect(),
    )
}

fn topics_snapshot(state: &BrokerState) -> Vec<crate::group::TopicInfo> {
    state
        .topics
        .all()
        .iter()
        .map(|t| crate::group::TopicInfo { name: t.name.clone(), id: t.id, partitions: t.partition_count() as i32 })
        .collect()
}

pub(super) async fn consumer_group_heartbeat(
    state: &BrokerState,
    caller: Caller<'_>,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    use consumer_group_heartbeat_response::{Assignment, TopicPartitions};
    let request = crate::group::ConsumerHeartbeat {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: opt(req.instance_id),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topic_names: req.subscribed_topic_names.map(|ts| ts.into_iter().map(|t| t.0.to_string()).collect()),
        subscribed_topic_regex: opt(req.subscribed_topic_regex),
        server_assignor: opt(req.server_assignor),
        owned: req.topic_partitions.map(|tps| tps.into_iter().map(|t| (t.topic_id, t.partitions)).collect()),
        client_id: caller.client_id.to_owned(),
        client_host: format!("/{}", caller.peer.ip()),
        topics: topics_snapshot(state),
    };
    let Ok(r) = state.groups.call(move |c| c.consumer_heartbeat(request)).await else {
        return ConsumerGroupHeartbeatResponse::default().with_error_code(unavailable()).with_member_epoch(-1);
    };
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(r.error)
        .with_error_message(r.message.map(str_bytes))
        .with_member_id((!r.member_id.is_empty()).then(|| str_bytes(r.member_id)))
        .with_member_epoch(r.member_epoch)
        .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
        .with_assignment(r.assignment.map(|tps| {
            Assignment::default().with_topic_partitions(
                tps.into_iter()
                    .map(|(id, ps)| TopicPartitions::default().with_topic_id(id).with_partitions(ps))
                    .collect(),
            )
        }))
}

pub(super) async fn consumer_group_describe(
    state: &BrokerState,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    use consumer_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
    let topics = topics_snapshot(state);
    let ids: Vec<String> = req.group_ids.iter().map(|g| g.0.to_string()).collect();
    let lookup = ids.clone();
    let described = state
        .groups
        .call(move |c| {
            lookup
                .iter()
                .map(|id| {
                    c.describe_consumer_group(id).map(|g| {
                        let cg = &g.consumer;
                        let mut members: Vec<_> = cg
                            .members
                            .values()
                            .map(|m| {
                                let mut subscribed = m.subscribed.clone();
                                subscribed.sort();
                                (
                                    m.id.clone(),
                                    m.instance_id.clone(),
                                    m.epoch,
                                    m.client_id.clone(),
                                    m.client_host.clone(),
                                    subscribed,
                                    m.regex.as_ref().map(|(p, _)| p.clone()),
                                    m.current.iter().cloned().collect::<Vec<_>>(),
                                    cg.target
                                        .get(&m.id)
                                        .map(|t| t.iter().cloned().collect::<Vec<_>>())
                                        .unwrap_or_default(),
                                )
                            })
                            .collect();
                        members.sort_by(|a, b| a.0.cmp(&b.0));
                        (cg.state(), cg.epoch, cg.assignment_epoch, members)
                    })
                })
                .collect::<Vec<_>>()
        })
        .await;
    let assignment = |tps: &[(String, i32)]| {
        let mut by: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
        for (t, p) in tps {
            by.entry(t.as_str()).or_default().push(*p);
        }
        Assignment::default().with_topic_partitions(
            by.into_iter()
                .map(|(t, ps)| {
                    let id = topics.iter().find(|x| x.name == t).map(|x| x.id).unwrap_or_default();
                    TopicPartitions::default()
                        .with_topic_id(id)
                        .with_topic_name(TopicName(str_bytes(t)))
                        .with_partitions(ps)
                })
                .collect(),
        )
    };
    let groups = ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let base = DescribedGroup::default()
                .with_group_id(GroupId(str_bytes(id.clone())))
                .with_authorized_operations(i32::MIN);
            match &described {
                Err(_) => base.with_error_code(unavailable()),
                Ok(all) => match &all[i] {
                    None => base
                        .with_error_code(E::GroupIdNotFound.code())
                        .with_error_message(Some(str_bytes(format!("group {id} is not a consumer-protocol group")))),
                    Some((state_name, epoch, assignment_epoch, members)) => base
                        .with_group_state(str_bytes(*state_name))
                        .with_group_epoch(*epoch)
                        .with_assignment_epoch(*assignment_epoch)
                        .with_assignor_name(str_bytes("uniform"))
                        .with_members(
                            members
                                .iter()
                                .map(
                                    |(
                                        mid,
                                        instance,
                                        member_epoch,
                                        client_id,
                                        host,
                                        subscribed,
                                        regex,
                                        current,
                                        target,
                                    )| {
                                        Member::default()
                                            .with_member_id(str_bytes(mid.clone()))
                                            .with_instance_id(instance.clone().map(str_bytes))
                                            .with_member_epoch(*member_epoch)
                                            .with_client_id(str_bytes(client_id.clone()))
                                            .with_client_host(str_bytes(host.clone()))
                                            .with_subscribed_topic_names(
                                                subscribed.iter().map(|t| TopicName(str_bytes(t.clone()))).collect(),
                                            )
                                            .with_subscribed_topic_regex(regex.clone().map(str_bytes))
                                            .with_assignment(assignment(current))
                                            .with_target_assignment(assignment(target))
                                    },
                                )
                                .collect(),
                        ),
                },
            }
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
