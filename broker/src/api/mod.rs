//! The request layer: header parsing, version checks, dispatch to one module per API, and
//! response framing. Every request and response is coded by the `kafka-protocol` crate.

mod acls;
mod admin;
mod api_versions;
mod fetch;
mod groups;
mod init_producer_id;
mod list_offsets;
mod metadata;
mod produce;
mod sasl;
mod transactions;

pub(crate) use sasl::SaslStep;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

use std::sync::Arc;

use crate::security::acl;
use crate::server::BrokerState;

/// What the connection does after a request.
pub(crate) enum Outcome {
    Respond(Bytes),
    /// acks=0 produce: the client expects nothing back.
    NoResponse,
    /// The request cannot be answered in its own protocol (unknown API or version,
    /// undecodable): close the connection, as Kafka does.
    Close(String),
    /// Answer, then close (a failed SASL authentication).
    RespondAndClose(Bytes, String),
}

/// What one connection knows about its client: where it came from, which listener, and who
/// it is (the principal ACLs are checked against).
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) peer: std::net::SocketAddr,
    pub(crate) listener: std::sync::Arc<crate::server::Listener>,
    /// `User:ANONYMOUS`, `User:<sasl name>` or `User:<certificate subject>`.
    pub(crate) principal: String,
    /// The SASL principal once authenticated; on a SASL listener nothing but ApiVersions and
    /// the SASL requests is served before.
    pub(crate) authenticated_as: Option<String>,
    pub(crate) mechanism: Option<String>,
    pub(crate) sasl: SaslStep,
    /// KIP-368: when the SASL session ends unless the client re-authenticates.
    pub(crate) expires: Option<std::time::Instant>,
}

impl Session {
    pub(crate) fn new(
        peer: std::net::SocketAddr,
        listener: std::sync::Arc<crate::server::Listener>,
        principal: String,
    ) -> Self {
        Session {
            peer,
            listener,
            principal,
            authenticated_as: None,
            mechanism: None,
            sasl: SaslStep::Idle,
            expires: None,
        }
    }

    /// Whether this is a SASL listener's connection that has not authenticated yet.
    pub(crate) fn awaits_authentication(&self) -> bool {
        self.listener.protocol.sasl() && self.authenticated_as.is_none()
    }

    /// Why a request other than ApiVersions / SASL may not be served now, if it may not.
    fn refusal(&self, key: ApiKey) -> Option<String> {
        if !self.listener.protocol.sasl()
            || matches!(key, ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
        {
            return None;
        }
        if self.authenticated_as.is_none() {
            return Some(format!("{key:?} before SASL authentication on listener {}", self.listener.name));
        }
        match self.expires {
            Some(t) if t <= std::time::Instant::now() => Some(format!(
                "{key:?} after the SASL session expired (connections.max.reauth.ms) without re-authentication"
            )),
            _ => None,
        }
    }
}

/// The versions this broker speaks, the same ranges as Apache Kafka 4.1 advertises for
/// these APIs (clients infer features from them and take their newest code paths). Produce advertises 0 as its minimum, as
/// Kafka does, because older librdkafka disables compression otherwise; v0-2 are refused.
pub(crate) const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
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
    // v0 handshakes are followed by raw SASL tokens outside Kafka framing; only v1 is spoken.
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    // Transaction version 1 only: AddPartitionsToTxn v4+ is broker-to-broker (KAFKA-15757),
    // and EndTxn v5 / TxnOffsetCommit v5 belong to transaction version 2 (KIP-890), which
    // this broker does not advertise as a feature.
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 4),
    (ApiKey::TxnOffsetCommit, 0, 4),
    // KIP-664 tooling; ListTransactions v2 filters ids by a regular expression (KIP-1152).
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 2),
];

fn supported_range(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED.iter().find(|(k, _, _)| *k == key).map(|&(_, min, max)| (min, max))
}

/// Encodes a response frame: size, response header, body.
fn encode_response<R: Encodable>(key: ApiKey, version: i16, correlation_id: i32, body: &R) -> Outcome {
    let header_version = key.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    let encoded = header.encode(&mut buf, header_version).and_then(|_| body.encode(&mut buf, version));
    if let Err(e) = encoded {
        // Our own response failed to encode: a bug, but never a reason to take the broker down.
        tracing::error!(api = ?key, version, error = %e, "response encoding failed");
        return Outcome::Close(format!("could not encode {key:?} v{version} response: {e}"));
    }
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    Outcome::Respond(buf.freeze())
}

/// Runs `f`, which writes to the data directory (appends, fsyncs, topic files), so that no
/// other connection waits on the disk: on a multi-threaded runtime in place, after handing
/// this worker's other tasks to another thread (`block_in_place`: no copy of the request to
/// another thread and no wake-up to come back, measured 13% faster for produce than the
/// blocking pool, `spawn_blocking`, which a current-thread runtime still uses). `None` when
/// `f` panicked.
async fn on_storage<T: Send + 'static>(
    state: &Arc<BrokerState>,
    f: impl FnOnce(&BrokerState) -> T + Send + 'static,
) -> Option<T> {
    if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        let run = std::panic::AssertUnwindSafe(|| f(state));
        return match tokio::task::block_in_place(|| std::panic::catch_unwind(run)) {
            Ok(v) => Some(v),
            Err(_) => {
                tracing::error!("a storage task panicked");
                None
            }
        };
    }
    let state = Arc::clone(state);
    match tokio::task::spawn_blocking(move || f(&state)).await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(error = %e, "a storage task failed");
            None
        }
    }
}

pub(crate) async fn handle(state: &Arc<BrokerState>, frame: BytesMut, session: &mut Session) -> Outcome {
    let peer = session.peer;
    if frame.len() < 8 {
        return Outcome::Close(format!("request of {} bytes is shorter than a request header", frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let Ok(key) = ApiKey::try_from(raw_key) else {
        return Outcome::Close(format!("unknown API key {raw_key}"));
    };
    let Some((min, max)) = supported_range(key) else {
        return Outcome::Close(format!("API {key:?} is not supported by this broker"));
    };
    if let Some(reason) = session.refusal(key) {
        return Outcome::Close(reason);
    }
    if key == ApiKey::ApiVersions && version > max {
        // KIP-511: answer in v0 so the client can read our ranges and retry.
        return encode_response(key, 0, correlation_id, &api_versions::unsupported_version());
    }
    // Versions we advertise but cannot decode (Produce v0-2) are refused like unknown ones.
    let decodable_min = key.valid_versions().min.max(min);
    if version < decodable_min || version > max {
        return Outcome::Close(format!("{key:?} v{version} is not supported (supported {decodable_min}..={max})"));
    }
    let mut body: Bytes = frame.freeze();
    let header = match RequestHeader::decode(&mut body, key.request_header_version(version)) {
        Ok(h) => h,
        Err(e) => return Outcome::Close(format!("malformed {key:?} v{version} request header: {e}")),
    };

    macro_rules! decode {
        ($ty:ty) => {
            match <$ty>::decode(&mut body, version) {
                Ok(req) => req,
                Err(e) => return Outcome::Close(format!("malformed {key:?} v{version} request: {e:#}")),
            }
        };
    }
    macro_rules! reply {
        ($resp:expr) => {
            encode_response(key, version, correlation_id, &$resp)
        };
    }

    // Decodes a request, takes out what the ACLs refuse (answered by `$filter`), handles the
    // rest as `$handle` (with the request named `$req`) and answers both in `$field`.
    // As `filtered!`, with the handling on the blocking pool (see `on_storage`).
    macro_rules! filtered_storage {
        ($ty:ty, $filter:path, |$state:ident, $req:ident| $handle:expr, $field:ident) => {{
            let mut $req = decode!($ty);
            let denied = $filter(state, session, &mut $req);
            let Some(mut resp) = on_storage(state, move |$state| $handle).await else {
                return Outcome::Close(format!("{key:?} v{version}: the storage task failed"));
            };
            resp.$field.extend(denied);
            reply!(resp)
        }};
    }

    macro_rules! filtered {
        ($ty:ty, $filter:path, $req:ident => $handle:expr, $field:ident) => {{
            let mut $req = decode!($ty);
            let denied = $filter(state, session, &mut $req);
            let mut resp = $handle;
            resp.$field.extend(denied);
            reply!(resp)
        }};
    }

    match key {
        ApiKey::ApiVersions => reply!(api_versions::handle(decode!(ApiVersionsRequest), version)),
        ApiKey::Metadata => {
            let mut req = decode!(MetadataRequest);
            let denied = acls::filter_metadata(state, session, &mut req);
            let all = req.topics.is_none() || (version == 0 && req.topics.as_ref().is_some_and(|t| t.is_empty()));
            if !all && req.topics.as_ref().is_some_and(|t| t.is_empty()) && !denied.is_empty() {
                // Every named topic was denied: do not let an emptied list mean "all topics".
                let mut resp = metadata::handle(state, session, req.with_topics(None), version);
                resp.topics = denied;
                reply!(resp)
            } else {
                let mut resp = metadata::handle(state, session, req, version);
                if all {
                    acls::filter_metadata_response(state, session, &mut resp);
                }
                resp.topics.extend(denied);
                reply!(resp)
            }
        }
        ApiKey::CreateAcls => reply!(acls::create_acls(state, session, decode!(CreateAclsRequest), version)),
        ApiKey::DescribeAcls => reply!(acls::describe_acls(state, session, decode!(DescribeAclsRequest))),
        ApiKey::DeleteAcls => reply!(acls::delete_acls(state, session, decode!(DeleteAclsRequest))),
        ApiKey::SaslHandshake => match sasl::handshake(state, session, decode!(SaslHandshakeRequest)) {
            (resp, true) => reply!(resp),
            (resp, false) => reply!(resp).then_close("SASL handshake refused"),
        },
        ApiKey::SaslAuthenticate => match sasl::authenticate(state, session, decode!(SaslAuthenticateRequest)) {
            (resp, true) => reply!(resp),
            (resp, false) => reply!(resp).then_close("SASL authentication failed"),
        },
        ApiKey::Produce => {
            let mut req = decode!(ProduceRequest);
            // v13 names topics by id (KIP-516): known ids get their names here, so ACLs,
            // transactions and the log see one name whatever the version.
            for t in req.topic_data.iter_mut().filter(|t| t.name.0.is_empty()) {
                if let Some(topic) = state.topics.get_by_id(t.topic_id) {
                    t.name = TopicName(str_bytes(topic.name.to_string()));
                }
            }
            let denied = acls::filter_produce(state, session, &mut req);
            if req.topic_data.is_empty() && !denied.is_empty() {
                match req.acks {
                    0 => Outcome::NoResponse,
                    _ => reply!(ProduceResponse::default().with_responses(denied)),
                }
            } else {
                let Some(handled) = on_storage(state, move |state| produce::handle(state, req, version)).await else {
                    return Outcome::Close(format!("{key:?} v{version}: the storage task failed"));
                };
                match handled {
                    Some(mut resp) => {
                        resp.responses.extend(denied);
                        reply!(resp)
                    }
                    None => Outcome::NoResponse,
                }
            }
        }
        ApiKey::Fetch => {
            filtered!(FetchRequest, acls::filter_fetch, req => fetch::handle(state, req, version).await, responses)
        }
        ApiKey::ListOffsets => filtered!(
            ListOffsetsRequest,
            acls::filter_list_offsets,
            req => list_offsets::handle(state, req, version),
            topics
        ),
        ApiKey::InitProducerId => {
            let req = decode!(InitProducerIdRequest);
            if let Some(tid) = req.transactional_id.as_ref().filter(|t| !t.0.is_empty()) {
                if !acls::transactional_id_allowed(state, session, acl::WRITE, &tid.0) {
                    return reply!(
                        InitProducerIdResponse::default()
                            .with_error_code(acls::TRANSACTIONAL_ID_DENIED)
                            .with_producer_id((-1).into())
                            .with_producer_epoch(-1)
                    );
                }
                return reply!(transactions::init_producer_id(state, req, version).await);
            }
            if acls::idempotent_write_allowed(state, session) {
                // A new block of producer ids is fsynced before its first id is handed out.
                match on_storage(state, move |state| init_producer_id::handle(state, req, version)).await {
                    Some(resp) => reply!(resp),
                    None => Outcome::Close(format!("{key:?} v{version}: the storage task failed")),
                }
            } else {
                reply!(
                    InitProducerIdResponse::default()
                        .with_error_code(acls::CLUSTER_AUTHORIZATION_FAILED)
                        .with_producer_id((-1).into())
                        .with_producer_epoch(-1)
                )
            }
        }
        ApiKey::AddPartitionsToTxn => {
            let req = decode!(AddPartitionsToTxnRequest);
            if !acls::transactional_id_allowed(state, session, acl::WRITE, &req.v3_and_below_transactional_id.0) {
                return reply!(transactions::add_partitions_refused(&req, acls::TRANSACTIONAL_ID_DENIED));
            }
            reply!(transactions::add_partitions(state, req, version).await)
        }
        ApiKey::AddOffsetsToTxn => {
            let req = decode!(AddOffsetsToTxnRequest);
            if !acls::transactional_id_allowed(state, session, acl::WRITE, &req.transactional_id.0) {
                return reply!(AddOffsetsToTxnResponse::default().with_error_code(acls::TRANSACTIONAL_ID_DENIED));
            }
            if !acls::group_allowed(state, session, acl::READ, &req.group_id) {
                return reply!(AddOffsetsToTxnResponse::default().with_error_code(acls::GROUP_DENIED));
            }
            reply!(transactions::add_offsets(state, req, version).await)
        }
        ApiKey::EndTxn => {
            let req = decode!(EndTxnRequest);
            if !acls::transactional_id_allowed(state, session, acl::WRITE, &req.transactional_id.0) {
                return reply!(
                    EndTxnResponse::default()
                        .with_error_code(acls::TRANSACTIONAL_ID_DENIED)
                        .with_producer_id((-1).into())
                        .with_producer_epoch(-1)
                );
            }
            reply!(transactions::end_txn(state, req, version).await)
        }
        ApiKey::TxnOffsetCommit => {
            let req = decode!(TxnOffsetCommitRequest);
            let denied = if !acls::transactional_id_allowed(state, session, acl::WRITE, &req.transactional_id.0) {
                Some(acls::TRANSACTIONAL_ID_DENIED)
            } else if !acls::group_allowed(state, session, acl::READ, &req.group_id) {
                Some(acls::GROUP_DENIED)
            } else {
                None
            };
            match denied {
                Some(code) => reply!(transactions::txn_offset_commit_refused(&req, code)),
                None => reply!(transactions::txn_offset_commit(state, req, version).await),
            }
        }
        ApiKey::DescribeTransactions => {
            let visible = |id: &str| acls::transactional_id_allowed(state, session, acl::DESCRIBE, id);
            reply!(transactions::describe_transactions(state, decode!(DescribeTransactionsRequest), visible).await)
        }
        ApiKey::ListTransactions => {
            let visible = |id: &str| acls::transactional_id_allowed(state, session, acl::DESCRIBE, id);
            reply!(transactions::list_transactions(state, decode!(ListTransactionsRequest), visible).await)
        }
        ApiKey::DescribeProducers => {
            let readable = |topic: &str| acls::topic_allowed(state, session, acl::READ, topic);
            reply!(transactions::describe_producers(state, decode!(DescribeProducersRequest), readable))
        }
        ApiKey::CreateTopics => filtered_storage!(
            CreateTopicsRequest,
            acls::filter_create_topics,
            |state, req| admin::create_topics(state, req, version),
            topics
        ),
        ApiKey::DeleteTopics => filtered_storage!(
            DeleteTopicsRequest,
            acls::filter_delete_topics,
            |state, req| admin::delete_topics(state, req, version),
            responses
        ),
        ApiKey::CreatePartitions => filtered_storage!(
            CreatePartitionsRequest,
            acls::filter_create_partitions,
            |state, req| admin::create_partitions(state, req),
            results
        ),
        ApiKey::DeleteRecords => filtered_storage!(
            DeleteRecordsRequest,
            acls::filter_delete_records,
            |state, req| admin::delete_records(state, req),
            topics
        ),
        ApiKey::DescribeConfigs => filtered!(
            DescribeConfigsRequest,
            acls::filter_describe_configs,
            req => admin::describe_configs(state, req),
            results
        ),
        ApiKey::DescribeCluster => {
            let req = decode!(DescribeClusterRequest);
            let wants_operations = req.include_cluster_authorized_operations;
            let mut resp = admin::describe_cluster(state, session, req);
            acls::describe_cluster_operations(state, session, wants_operations, &mut resp);
            reply!(resp)
        }
        ApiKey::AlterConfigs => filtered_storage!(
            AlterConfigsRequest,
            acls::filter_alter_configs,
            |state, req| admin::alter_configs(state, req),
            responses
        ),
        ApiKey::IncrementalAlterConfigs => filtered_storage!(
            IncrementalAlterConfigsRequest,
            acls::filter_incremental_alter_configs,
            |state, req| admin::incremental_alter_configs(state, req),
            responses
        ),
        ApiKey::FindCoordinator => {
            let denied = |key_type: i8, key: &str| acls::coordinator_denied(state, session, key_type, key);
            reply!(groups::find_coordinator(state, session, decode!(FindCoordinatorRequest), version, denied))
        }
        ApiKey::JoinGroup => {
            let client_id = header.client_id.as_deref().unwrap_or("");
            let caller = groups::Caller { client_id, peer };
            let req = decode!(JoinGroupRequest);
            if !acls::group_allowed(state, session, acl::READ, &req.group_id) {
                return reply!(JoinGroupResponse::default().with_error_code(acls::GROUP_DENIED).with_generation_id(-1));
            }
            reply!(groups::join_group(state, caller, req, version).await)
        }
        ApiKey::SyncGroup => {
            let req = decode!(SyncGroupRequest);
            if !acls::group_allowed(state, session, acl::READ, &req.group_id) {
                return reply!(SyncGroupResponse::default().with_error_code(acls::GROUP_DENIED));
            }
            reply!(groups::sync_group(state, req).await)
        }
        ApiKey::Heartbeat => {
            let req = decode!(HeartbeatRequest);
            if !acls::group_allowed(state, session, acl::READ, &req.group_id) {
                return reply!(HeartbeatResponse::default().with_error_code(acls::GROUP_DENIED));
            }
            reply!(groups::heartbeat(state, req).await)
        }
        ApiKey::LeaveGroup => {
            let req = decode!(LeaveGroupRequest);
            if !acls::group_allowed(state, session, acl::READ, &req.group_id) {
                return reply!(LeaveGroupResponse::default().with_error_code(acls::GROUP_DENIED));
            }
            reply!(groups::leave_group(state, req, version).await)
        }
        ApiKey::OffsetCommit => {
            let req = decode!(OffsetCommitRequest);
            if !acls::group_allowed(state, session, acl::READ, &req.group_id) {
                return reply!(acls::offset_commit_denied(&req, acls::GROUP_DENIED));
            }
            reply!(groups::offset_commit(state, req, version).await)
        }
        ApiKey::OffsetFetch => {
            let req = decode!(OffsetFetchRequest);
            let single = (!req.group_id.is_empty()).then(|| req.group_id.clone());
            let named: Vec<_> = single.into_iter().chain(req.groups.iter().map(|g| g.group_id.clone())).collect();
            if named.iter().any(|g| !acls::group_allowed(state, session, acl::DESCRIBE, g)) {
                return reply!(acls::offset_fetch_denied(&req));
            }
            reply!(groups::offset_fetch(state, req, version).await)
        }
        ApiKey::ListGroups => {
            let mut resp = groups::list_groups(state, decode!(ListGroupsRequest)).await;
            if state.acls.enabled() {
                resp.groups.retain(|g| acls::group_allowed(state, session, acl::DESCRIBE, &g.group_id));
            }
            reply!(resp)
        }
        ApiKey::DescribeGroups => {
            let mut req = decode!(DescribeGroupsRequest);
            let denied = acls::filter_groups(state, session, acl::DESCRIBE, &mut req.groups);
            let mut resp = groups::describe_groups(state, req).await;
            resp.groups.extend(denied.into_iter().map(|g| {
                describe_groups_response::DescribedGroup::default().with_group_id(g).with_error_code(acls::GROUP_DENIED)
            }));
            reply!(resp)
        }
        ApiKey::DeleteGroups => {
            let mut req = decode!(DeleteGroupsRequest);
            let denied = acls::filter_groups(state, session, acl::DELETE, &mut req.groups_names);
            let mut resp = groups::delete_groups(state, req).await;
            resp.results.extend(denied.into_iter().map(|g| {
                delete_groups_response::DeletableGroupResult::default()
                    .with_group_id(g)
                    .with_error_code(acls::GROUP_DENIED)
            }));
            reply!(resp)
        }
        ApiKey::OffsetDelete => {
            let req = decode!(OffsetDeleteRequest);
            if !acls::group_allowed(state, session, acl::DELETE, &req.group_id) {
                return reply!(OffsetDeleteResponse::default().with_error_code(acls::GROUP_DENIED));
            }
            reply!(groups::offset_delete(state, req).await)
        }
        ApiKey::ConsumerGroupHeartbeat => {
            let client_id = header.client_id.as_deref().unwrap_or("");
            let caller = groups::Caller { client_id, peer };
            let req = decode!(ConsumerGroupHeartbeatRequest);
            if !acls::group_allowed(state, session, acl::READ, &req.group_id) {
                return reply!(ConsumerGroupHeartbeatResponse::default().with_error_code(acls::GROUP_DENIED));
            }
            reply!(groups::consumer_group_heartbeat(state, caller, req).await)
        }
        ApiKey::ConsumerGroupDescribe => {
            let mut req = decode!(ConsumerGroupDescribeRequest);
            let denied = acls::filter_groups(state, session, acl::DESCRIBE, &mut req.group_ids);
            let resp = groups::consumer_group_describe(state, req).await;
            reply!(acls::consumer_group_describe_authorized(state, session, denied, resp))
        }
        _ => Outcome::Close(format!("API {key:?} is not supported by this broker")),
    }
    .with_header_logged(&header)
}

impl Outcome {
    fn then_close(self, reason: &str) -> Outcome {
        match self {
            Outcome::Respond(bytes) => Outcome::RespondAndClose(bytes, reason.to_owned()),
            other => other,
        }
    }

    fn with_header_logged(self, header: &RequestHeader) -> Outcome {
        if let Outcome::Close(reason) = &self {
            tracing::debug!(client_id = ?header.client_id, %reason, "request refused");
        }
        self
    }
}

/// Kafka's error code for "no error".
pub(crate) const NONE: i16 = 0;

fn str_bytes(s: impl Into<String>) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(s.into())
}
