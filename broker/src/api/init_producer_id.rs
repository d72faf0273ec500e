//! InitProducerId for idempotent producers: a fresh id, or an epoch bump of the caller's id
//! (KIP-360) so it can reset its sequence numbers after a batch failed for good.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::{Ctx, NONE, Outcome, acls, on_storage, transactions};
use crate::producer_ids::Bump;
use crate::security::acl;
use crate::server::BrokerState;

pub(super) const VERSIONS: &[(ApiKey, i16, i16)] = &[(ApiKey::InitProducerId, 0, 5)];

/// Transactional producers are served by the transaction coordinator (`transactions.rs`),
/// idempotent ones here.
pub(super) async fn serve(cx: &mut Ctx<'_>) -> Outcome {
    let (state, version) = (cx.state, cx.version);
    let req = decode!(cx, InitProducerIdRequest);
    let session = &*cx.session;
    if let Some(tid) = req.transactional_id.as_ref().filter(|t| !t.0.is_empty()) {
        if !acls::transactional_id_allowed(state, session, acl::WRITE, &tid.0) {
            return cx.reply(
                InitProducerIdResponse::default()
                    .with_error_code(acls::TRANSACTIONAL_ID_DENIED)
                    .with_producer_id((-1).into())
                    .with_producer_epoch(-1),
            );
        }
        return cx.reply(transactions::init_producer_id(state, req, version).await);
    }
    if acls::idempotent_write_allowed(state, session) {
        // A new block of producer ids is fsynced before its first id is handed out.
        match on_storage(state, move |state| handle(state, req, version)).await {
            Some(resp) => cx.reply(resp),
            None => cx.storage_failed(),
        }
    } else {
        cx.reply(
            InitProducerIdResponse::default()
                .with_error_code(acls::CLUSTER_AUTHORIZATION_FAILED)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1),
        )
    }
}

pub(super) fn handle(state: &BrokerState, req: InitProducerIdRequest, version: i16) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
        .with_ongoing_txn_producer_id(ProducerId(-1))
        .with_ongoing_txn_producer_epoch(-1);
    if req.transactional_id.as_ref().is_some_and(|id| !id.0.is_empty()) {
        // Fatal for the client, with a clear reason, rather than a retriable error it
        // would retry forever.
        return resp.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    let ids = &state.producer_ids;
    // v3+ may name the caller's current id and epoch (both or neither, as Kafka checks).
    let result = match (req.producer_id.0, req.producer_epoch) {
        (-1, -1) => ids.new_producer().map(Some),
        (id, epoch) if id >= 0 && epoch >= 0 => match ids.bump(id, epoch) {
            Ok(Bump::Granted(id, epoch)) => Ok(Some((id, epoch))),
            // Ids handed out before this broker started: nothing to check the epoch against,
            // and a new id is as good as a bump for the caller's sequence numbers.
            Ok(Bump::Unknown) => ids.new_producer().map(Some),
            Ok(Bump::Fenced) => Ok(None),
            Err(e) => Err(e),
        },
        _ => return resp.with_error_code(ResponseError::InvalidRequest.code()),
    };
    match result {
        Ok(Some((id, epoch))) => resp.with_error_code(NONE).with_producer_id(ProducerId(id)).with_producer_epoch(epoch),
        // PRODUCER_FENCED came with v4 (KIP-588); older clients know only INVALID_PRODUCER_EPOCH.
        Ok(None) if version >= 4 => resp.with_error_code(ResponseError::ProducerFenced.code()),
        Ok(None) => resp.with_error_code(ResponseError::InvalidProducerEpoch.code()),
        Err(e) => {
            tracing::error!(error = %e, "cannot allocate a producer id");
            resp.with_error_code(ResponseError::KafkaStorageError.code())
        }
    }
}
