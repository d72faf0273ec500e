//! InitProducerId for idempotent producers: a fresh id, or an epoch bump of the caller's id
//! (KIP-360) so it can reset its sequence numbers after a batch failed for good.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::NONE;
use crate::producer_ids::Bump;
use crate::server::BrokerState;

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
