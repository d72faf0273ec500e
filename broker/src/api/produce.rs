//! Produce: appends each partition's batches as received and answers with their offsets.
//! acks=all on a single node means "written to the log" (see the README's durability notes).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};

use super::{Ctx, NONE, Outcome, acls, on_storage, str_bytes};
use crate::error::Error;
use crate::log::batch::BatchHeader;
use crate::server::BrokerState;

/// Produce advertises 0 as its minimum, as Kafka does, because older librdkafka disables
/// compression otherwise; v0-2 are refused as undecodable.
pub(super) const VERSIONS: &[(ApiKey, i16, i16)] = &[(ApiKey::Produce, 0, 13)];

pub(super) async fn serve(cx: &mut Ctx<'_>) -> Outcome {
    let (state, version) = (cx.state, cx.version);
    let mut req = decode!(cx, ProduceRequest);
    // v13 names topics by id (KIP-516): known ids get their names here, so ACLs,
    // transactions and the log see one name whatever the version.
    for t in req.topic_data.iter_mut().filter(|t| t.name.0.is_empty()) {
        if let Some(topic) = state.topics.get_by_id(t.topic_id) {
            t.name = TopicName(str_bytes(topic.name.to_string()));
        }
    }
    let denied = acls::filter_produce(state, cx.session, &mut req);
    if req.topic_data.is_empty() && !denied.is_empty() {
        match req.acks {
            0 => Outcome::NoResponse,
            _ => cx.reply(ProduceResponse::default().with_responses(denied)),
        }
    } else {
        let Some(handled) = on_storage(state, move |state| handle(state, req, version)).await else {
            return cx.storage_failed();
        };
        match handled {
            Some(mut resp) => {
                resp.responses.extend(denied);
                cx.reply(resp)
            }
            None => Outcome::NoResponse,
        }
    }
}

fn partition_error(index: i32, error: &Error) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(error.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(Some(str_bytes(error.to_string())))
}

/// A batch from an epoch InitProducerId has bumped since (KIP-360): refused on every
/// partition, including those the new epoch has not written to yet, where the partition's
/// own producer state would still take it. Malformed batches are left to the append's checks.
fn fenced(state: &BrokerState, records: &[u8]) -> Option<Error> {
    let header = BatchHeader::parse(records).ok()?;
    if !header.has_producer_id() {
        return None;
    }
    let current = state.producer_ids.stale_epoch(header.producer_id, header.producer_epoch)?;
    Some(Error::InvalidProducerEpoch { current, got: header.producer_epoch })
}

/// Why a transactional batch may not be written to this partition now (its producer fenced,
/// or the partition not added to its transaction), if it may not.
fn outside_transaction(state: &BrokerState, records: &[u8], topic: &str, partition: i32) -> Option<Error> {
    let header = BatchHeader::parse(records).ok()?;
    if !header.is_transactional() || header.is_control() {
        return None;
    }
    state.txns.view.check_produce(header.producer_id, header.producer_epoch, topic, partition)
}

pub(super) fn handle(state: &BrokerState, req: ProduceRequest, version: i16) -> Option<ProduceResponse> {
    let acks = req.acks;
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic_data in req.topic_data {
        // An empty name is a v13 topic id the API layer found no topic for.
        let unknown_id = version >= 13 && topic_data.name.0.is_empty();
        let topic = if unknown_id { None } else { state.topics.get(&topic_data.name.0) };
        let mut partitions = Vec::with_capacity(topic_data.partition_data.len());
        for pd in topic_data.partition_data {
            let partition = topic.as_ref().and_then(|t| t.partition(pd.index));
            let result = match &partition {
                None => Err(Error::UnknownTopicOrPartition(format!("{}-{}", topic_data.name.0, pd.index))),
                Some(p) => {
                    let records = pd.records.unwrap_or_default();
                    match fenced(state, &records) {
                        Some(e) => Err(e),
                        None => p.with_log(|log| {
                            // Under the partition lock: a transaction's end clears its partitions
                            // before its marker is written here, so no batch of it follows the marker.
                            if let Some(e) = outside_transaction(state, &records, &topic_data.name.0, pd.index) {
                                return Err(e);
                            }
                            log.append(&records, crate::log::now_ms())
                        }),
                    }
                }
            };
            if unknown_id {
                partitions.push(
                    PartitionProduceResponse::default()
                        .with_index(pd.index)
                        .with_error_code(ResponseError::UnknownTopicId.code())
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1),
                );
                continue;
            }
            partitions.push(match result {
                Ok(outcome) => {
                    if !outcome.duplicate {
                        if let Some(p) = &partition {
                            p.wake_waiters();
                        }
                    }
                    PartitionProduceResponse::default()
                        .with_index(pd.index)
                        .with_error_code(NONE)
                        .with_base_offset(outcome.base_offset)
                        .with_log_append_time_ms(outcome.log_append_time)
                        .with_log_start_offset(outcome.log_start_offset)
                }
                Err(e) => {
                    if !matches!(e, Error::UnknownTopicOrPartition(_)) {
                        tracing::debug!(topic = %topic_data.name.0, partition = pd.index, error = %e, "produce refused");
                    }
                    partition_error(pd.index, &e)
                }
            });
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(TopicName(topic_data.name.0))
                .with_topic_id(topic_data.topic_id)
                .with_partition_responses(partitions),
        );
    }
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}
