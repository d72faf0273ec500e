//! The request layer: header parsing, version checks, dispatch to one module per API, and
//! response framing. Every request and response is coded by the `kafka-protocol` crate.

// The entry points' shared steps, as macros because they return from the entry point. They
// come before the API modules so that those see them.

/// Decodes the request body as `$ty`, or returns the close an undecodable request gets.
macro_rules! decode {
    ($cx:expr, $ty:ty) => {
        match $cx.decode::<$ty>() {
            Ok(req) => req,
            Err(closed) => return closed,
        }
    };
}

/// Decodes a request, takes out what the ACLs refuse (answered by `$filter`), handles the
/// rest as `$handle` (with the request named `$req`) and answers both in `$field`.
macro_rules! filtered {
    ($cx:expr, $ty:ty, $filter:path, $req:ident => $handle:expr, $field:ident) => {{
        let mut $req = decode!($cx, $ty);
        let denied = $filter($cx.state, $cx.session, &mut $req);
        let mut resp = $handle;
        resp.$field.extend(denied);
        $cx.reply(resp)
    }};
}

/// As `filtered!`, with the handling on the blocking pool (see `on_storage`).
macro_rules! filtered_storage {
    ($cx:expr, $ty:ty, $filter:path, |$state:ident, $req:ident| $handle:expr, $field:ident) => {{
        let mut $req = decode!($cx, $ty);
        let denied = $filter($cx.state, $cx.session, &mut $req);
        let Some(mut resp) = super::on_storage($cx.state, move |$state| $handle).await else {
            return $cx.storage_failed();
        };
        resp.$field.extend(denied);
        $cx.reply(resp)
    }};
}

mod acls;
mod admin;
mod api_versions;
mod configs;
mod fetch;
mod groups;
mod init_producer_id;
mod list_offsets;
mod log_dirs;
mod metadata;
mod produce;
pub(crate) mod sasl;
mod scram;
mod transactions;

pub(crate) use sasl::SaslStep;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

use std::sync::Arc;

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
    /// A v0 SaslHandshake was accepted: the next frames are bare SASL tokens, not requests,
    /// until the exchange ends ([`sasl::serve_bare_token`]).
    pub(crate) sasl_bare_tokens: bool,
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
            sasl_bare_tokens: false,
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

/// The versions this broker speaks, each API's declared by the module that serves it: the same
/// ranges as Apache Kafka 4.1 advertises for these APIs (clients infer features from them and
/// take their newest code paths).
const VERSIONS: &[&[(ApiKey, i16, i16)]] = &[
    produce::VERSIONS,
    fetch::VERSIONS,
    list_offsets::VERSIONS,
    log_dirs::VERSIONS,
    metadata::VERSIONS,
    api_versions::VERSIONS,
    admin::VERSIONS,
    init_producer_id::VERSIONS,
    groups::VERSIONS,
    sasl::VERSIONS,
    scram::VERSIONS,
    acls::VERSIONS,
    transactions::VERSIONS,
];

/// Every API this broker serves with its version range.
fn supported() -> impl Iterator<Item = (ApiKey, i16, i16)> {
    VERSIONS.iter().flat_map(|module| module.iter().copied())
}

fn supported_range(key: ApiKey) -> Option<(i16, i16)> {
    supported().find(|(k, _, _)| *k == key).map(|(_, min, max)| (min, max))
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

/// One request on its way through an API's entry point: the body still to decode, who sent it,
/// and what its answer needs (the version and correlation id it is encoded with).
struct Ctx<'a> {
    state: &'a Arc<BrokerState>,
    session: &'a mut Session,
    header: &'a RequestHeader,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: Bytes,
}

impl Ctx<'_> {
    /// The request body; undecodable, it is answered by closing the connection (see `decode!`).
    fn decode<T: Decodable>(&mut self) -> Result<T, Outcome> {
        let (key, version) = (self.key, self.version);
        T::decode(&mut self.body, version)
            .map_err(|e| Outcome::Close(format!("malformed {key:?} v{version} request: {e:#}")))
    }

    fn reply<R: Encodable>(&self, resp: R) -> Outcome {
        encode_response(self.key, self.version, self.correlation_id, &resp)
    }

    fn storage_failed(&self) -> Outcome {
        Outcome::Close(format!("{:?} v{}: the storage task failed", self.key, self.version))
    }
}

pub(crate) async fn handle(state: &Arc<BrokerState>, frame: BytesMut, session: &mut Session) -> Outcome {
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
    let cx = &mut Ctx { state, session, header: &header, key, version, correlation_id, body };

    match key {
        ApiKey::ApiVersions => api_versions::serve(cx),
        ApiKey::Metadata => metadata::serve(cx),
        ApiKey::CreateAcls => acls::serve_create_acls(cx),
        ApiKey::DescribeAcls => acls::serve_describe_acls(cx),
        ApiKey::DeleteAcls => acls::serve_delete_acls(cx),
        ApiKey::SaslHandshake => sasl::serve_handshake(cx),
        ApiKey::SaslAuthenticate => sasl::serve_authenticate(cx),
        ApiKey::DescribeUserScramCredentials => scram::serve_describe(cx),
        ApiKey::AlterUserScramCredentials => scram::serve_alter(cx).await,
        ApiKey::Produce => produce::serve(cx).await,
        ApiKey::Fetch => fetch::serve(cx).await,
        ApiKey::ListOffsets => list_offsets::serve(cx),
        ApiKey::InitProducerId => init_producer_id::serve(cx).await,
        ApiKey::AddPartitionsToTxn => transactions::serve_add_partitions_to_txn(cx).await,
        ApiKey::AddOffsetsToTxn => transactions::serve_add_offsets_to_txn(cx).await,
        ApiKey::EndTxn => transactions::serve_end_txn(cx).await,
        ApiKey::TxnOffsetCommit => transactions::serve_txn_offset_commit(cx).await,
        ApiKey::DescribeTransactions => transactions::serve_describe_transactions(cx).await,
        ApiKey::ListTransactions => transactions::serve_list_transactions(cx).await,
        ApiKey::DescribeProducers => transactions::serve_describe_producers(cx),
        ApiKey::CreateTopics => admin::serve_create_topics(cx).await,
        ApiKey::DeleteTopics => admin::serve_delete_topics(cx).await,
        ApiKey::CreatePartitions => admin::serve_create_partitions(cx).await,
        ApiKey::DeleteRecords => admin::serve_delete_records(cx).await,
        ApiKey::DescribeLogDirs => log_dirs::serve(cx).await,
        ApiKey::DescribeConfigs => admin::serve_describe_configs(cx),
        ApiKey::DescribeCluster => admin::serve_describe_cluster(cx),
        ApiKey::AlterConfigs => admin::serve_alter_configs(cx).await,
        ApiKey::IncrementalAlterConfigs => admin::serve_incremental_alter_configs(cx).await,
        ApiKey::FindCoordinator => groups::serve_find_coordinator(cx),
        ApiKey::JoinGroup => groups::serve_join_group(cx).await,
        ApiKey::SyncGroup => groups::serve_sync_group(cx).await,
        ApiKey::Heartbeat => groups::serve_heartbeat(cx).await,
        ApiKey::LeaveGroup => groups::serve_leave_group(cx).await,
        ApiKey::OffsetCommit => groups::serve_offset_commit(cx).await,
        ApiKey::OffsetFetch => groups::serve_offset_fetch(cx).await,
        ApiKey::ListGroups => groups::serve_list_groups(cx).await,
        ApiKey::DescribeGroups => groups::serve_describe_groups(cx).await,
        ApiKey::DeleteGroups => groups::serve_delete_groups(cx).await,
        ApiKey::OffsetDelete => groups::serve_offset_delete(cx).await,
        ApiKey::ConsumerGroupHeartbeat => groups::serve_consumer_group_heartbeat(cx).await,
        ApiKey::ConsumerGroupDescribe => groups::serve_consumer_group_describe(cx).await,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_is_declared_once_with_a_range_it_can_decode() {
        let mut seen = std::collections::HashSet::new();
        for (key, min, max) in supported() {
            assert!(seen.insert(key), "{key:?} is declared by two modules");
            assert!(min <= max, "{key:?} {min}..={max}");
            assert!(max <= key.valid_versions().max, "{key:?} v{max} cannot be decoded");
        }
    }
}
