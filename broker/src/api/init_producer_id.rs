//! InitProducerId for idempotent producers: a fresh id, or an epoch bump of the caller's id
//! (KIP-360) so it can reset its sequence numbers.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::NONE;
use crate::server::BrokerState;

pub(super) fn handle(state: &BrokerState, req: InitProducerIdRequest) -> InitProducerIdResponse {
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
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return resp.with_error_code(NONE).with_producer_id(req.producer_id).with_producer_epoch(req.producer_epoch + 1);
    }
    match state.producer_ids.next() {
        Ok(id) => resp.with_error_code(NONE).with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "cannot allocate a producer id");
            resp.with_error_code(ResponseError::KafkaStorageError.code())
        }
    }
}
