//! The transactional APIs (KIP-98, KIP-447), answered by the transaction coordinator:
//! InitProducerId with a transactional id, AddPartitionsToTxn (v0-3: v4+ is broker-to-broker,
//! KAFKA-15757), AddOffsetsToTxn, EndTxn and TxnOffsetCommit; and the tooling of KIP-664:
//! DescribeTransactions, ListTransactions, DescribeProducers.

use std::sync::Arc;

use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;

use super::{Ctx, NONE, Outcome, acls};
use crate::group::OffsetValue;
use crate::security::acl;
use crate::server::BrokerState;
use crate::txn::{EndOutcome, InitOutcome, PendingOffset, finish};

/// Transaction version 1 only: AddPartitionsToTxn v4+ is broker-to-broker (KAFKA-15757),
/// and EndTxn v5 / TxnOffsetCommit v5 belong to transaction version 2 (KIP-890), which this
/// broker does not advertise as a feature. ListTransactions v2 filters ids by a regular
/// expression (KIP-1152).
pub(super) const VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 4),
    (ApiKey::TxnOffsetCommit, 0, 4),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 2),
];

pub(super) async fn serve_add_partitions_to_txn(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, AddPartitionsToTxnRequest);
    if !acls::transactional_id_allowed(cx.state, cx.session, acl::WRITE, &req.v3_and_below_transactional_id.0) {
        return cx.reply(add_partitions_refused(&req, acls::TRANSACTIONAL_ID_DENIED));
    }
    cx.reply(add_partitions(cx.state, req, cx.version).await)
}

pub(super) async fn serve_add_offsets_to_txn(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, AddOffsetsToTxnRequest);
    if !acls::transactional_id_allowed(cx.state, cx.session, acl::WRITE, &req.transactional_id.0) {
        return cx.reply(AddOffsetsToTxnResponse::default().with_error_code(acls::TRANSACTIONAL_ID_DENIED));
    }
    if !acls::group_allowed(cx.state, cx.session, acl::READ, &req.group_id) {
        return cx.reply(AddOffsetsToTxnResponse::default().with_error_code(acls::GROUP_DENIED));
    }
    cx.reply(add_offsets(cx.state, req, cx.version).await)
}

pub(super) async fn serve_end_txn(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, EndTxnRequest);
    if !acls::transactional_id_allowed(cx.state, cx.session, acl::WRITE, &req.transactional_id.0) {
        return cx.reply(
            EndTxnResponse::default()
                .with_error_code(acls::TRANSACTIONAL_ID_DENIED)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1),
        );
    }
    cx.reply(end_txn(cx.state, req, cx.version).await)
}

pub(super) async fn serve_txn_offset_commit(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, TxnOffsetCommitRequest);
    let (state, session) = (cx.state, &*cx.session);
    let denied = if !acls::transactional_id_allowed(state, session, acl::WRITE, &req.transactional_id.0) {
        Some(acls::TRANSACTIONAL_ID_DENIED)
    } else if !acls::group_allowed(state, session, acl::READ, &req.group_id) {
        Some(acls::GROUP_DENIED)
    } else {
        None
    };
    match denied {
        Some(code) => cx.reply(txn_offset_commit_refused(&req, code)),
        None => cx.reply(txn_offset_commit(state, req, cx.version).await),
    }
}

pub(super) async fn serve_describe_transactions(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, DescribeTransactionsRequest);
    let (state, session) = (cx.state, &*cx.session);
    let visible = |id: &str| acls::transactional_id_allowed(state, session, acl::DESCRIBE, id);
    cx.reply(describe_transactions(state, req, visible).await)
}

pub(super) async fn serve_list_transactions(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, ListTransactionsRequest);
    let (state, session) = (cx.state, &*cx.session);
    let visible = |id: &str| acls::transactional_id_allowed(state, session, acl::DESCRIBE, id);
    cx.reply(list_transactions(state, req, visible).await)
}

pub(super) fn serve_describe_producers(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, DescribeProducersRequest);
    let (state, session) = (cx.state, &*cx.session);
    let readable = |topic: &str| acls::topic_allowed(state, session, acl::READ, topic);
    cx.reply(describe_producers(state, req, readable))
}

/// How many times a request waits for a previous transaction to finish before it answers
/// CONCURRENT_TRANSACTIONS (retriable) instead.
const FINISH_ATTEMPTS: usize = 3;

fn gone() -> i16 {
    E::CoordinatorNotAvailable.code()
}

/// InitProducerId with a transactional id: its producer id at a new epoch.
pub(super) async fn init_producer_id(
    state: &Arc<BrokerState>,
    req: InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
        .with_ongoing_txn_producer_id(ProducerId(-1))
        .with_ongoing_txn_producer_epoch(-1);
    let id = req.transactional_id.map(|t| t.0.to_string()).unwrap_or_default();
    let (timeout, current) = (req.transaction_timeout_ms, (req.producer_id.0, req.producer_epoch));
    for _ in 0..FINISH_ATTEMPTS {
        let (st, tid) = (Arc::clone(state), id.clone());
        let outcome = state.txns.call(move |c| c.init(&tid, timeout, current, &st.producer_ids, version >= 4)).await;
        match outcome {
            Ok(InitOutcome::Granted(pid, epoch)) => {
                return resp.with_error_code(NONE).with_producer_id(ProducerId(pid)).with_producer_epoch(epoch);
            }
            Ok(InitOutcome::Refused(code)) => return resp.with_error_code(code),
            Ok(InitOutcome::Finish(plan)) => {
                // Retriable for the client; the periodic check finishes the transaction.
                if finish(state, plan).await.is_err() {
                    return resp.with_error_code(E::ConcurrentTransactions.code());
                }
            }
            Err(_) => return resp.with_error_code(gone()),
        }
    }
    resp.with_error_code(E::ConcurrentTransactions.code())
}

/// The response with `code(topic, partition)` for each partition of the request.
fn add_partitions_answer(
    req: &AddPartitionsToTxnRequest,
    code: impl Fn(&str, i32) -> i16,
) -> AddPartitionsToTxnResponse {
    let results = req
        .v3_and_below_topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|&p| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(p)
                        .with_partition_error_code(code(&t.name.0, p))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default().with_name(t.name.clone()).with_results_by_partition(partitions)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}

/// Every partition of the request answered with `code`.
pub(super) fn add_partitions_refused(req: &AddPartitionsToTxnRequest, code: i16) -> AddPartitionsToTxnResponse {
    add_partitions_answer(req, |_, _| code)
}

/// The response with `code(topic, partition)` for each partition of the request.
fn txn_offset_commit_answer(req: &TxnOffsetCommitRequest, code: impl Fn(&str, i32) -> i16) -> TxnOffsetCommitResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code(&t.name.0, p.partition_index))
                })
                .collect();
            TxnOffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// Every partition of the request answered with `code`.
pub(super) fn txn_offset_commit_refused(req: &TxnOffsetCommitRequest, code: i16) -> TxnOffsetCommitResponse {
    txn_offset_commit_answer(req, |_, _| code)
}

pub(super) async fn add_partitions(
    state: &BrokerState,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    let exists = |topic: &str, p: i32| state.topics.get(topic).is_some_and(|t| t.partition(p).is_some());
    let mut wanted = Vec::new();
    let mut unknown = false;
    for t in &req.v3_and_below_topics {
        for &p in &t.partitions {
            unknown |= !exists(&t.name.0, p);
            wanted.push((t.name.0.to_string(), p));
        }
    }
    let code = if unknown {
        None
    } else {
        let id = req.v3_and_below_transactional_id.0.to_string();
        let (pid, epoch) = (req.v3_and_below_producer_id.0, req.v3_and_below_producer_epoch);
        let now = crate::log::now_ms();
        Some(
            state
                .txns
                .call(move |c| c.add_to_txn(&id, (pid, epoch), now, version >= 2, |m| m.partitions.extend(wanted)))
                .await
                .unwrap_or_else(|_| gone()),
        )
    };
    add_partitions_answer(&req, |topic, p| match code {
        Some(c) => c,
        // Kafka refuses the whole request when one partition is unknown, and marks the others
        // as not attempted.
        None if !exists(topic, p) => E::UnknownTopicOrPartition.code(),
        None => E::OperationNotAttempted.code(),
    })
}

pub(super) async fn add_offsets(
    state: &BrokerState,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    let id = req.transactional_id.0.to_string();
    let group = req.group_id.0.to_string();
    let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
    let now = crate::log::now_ms();
    let code = state
        .txns
        .call(move |c| {
            c.add_to_txn(&id, (pid, epoch), now, version >= 2, |m| {
                m.groups.insert(group);
            })
        })
        .await
        .unwrap_or_else(|_| gone());
    AddOffsetsToTxnResponse::default().with_error_code(code)
}

pub(super) async fn end_txn(state: &Arc<BrokerState>, req: EndTxnRequest, version: i16) -> EndTxnResponse {
    let id = req.transactional_id.0.to_string();
    let (pid, epoch, commit) = (req.producer_id.0, req.producer_epoch, req.committed);
    let resp = EndTxnResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    let outcome = state.txns.call(move |c| c.end(&id, pid, epoch, commit, version >= 2)).await;
    let code = match outcome {
        Ok(EndOutcome::Done(code)) => code,
        // The decision is logged: the transaction is committed (or aborted) whatever happens to
        // its markers now, which the periodic check writes if this attempt cannot (as Kafka
        // answers once its PrepareCommit is in the log). Until then the next transaction of
        // this id gets CONCURRENT_TRANSACTIONS, which clients retry.
        Ok(EndOutcome::Finish(plan)) => {
            let _ = finish(state, plan).await;
            NONE
        }
        Err(_) => gone(),
    };
    resp.with_error_code(code)
}

pub(super) async fn txn_offset_commit(
    state: &BrokerState,
    req: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    let group = req.group_id.0.to_string();
    let (generation, member) = (req.generation_id, req.member_id.to_string());
    let instance = req.group_instance_id.as_ref().map(|s| s.to_string());
    let g = group.clone();
    let checked = state
        .groups
        .call(move |c| c.check_txn_member(&g, generation, &member, instance.as_deref()))
        .await
        .unwrap_or_else(|_| gone());
    let max_meta = state.config.groups.offset_metadata_max_bytes;
    let now = crate::log::now_ms();
    let mut offsets = Vec::new();
    let mut too_large = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            if p.committed_metadata.as_ref().is_some_and(|m| m.len() > max_meta) {
                too_large.push((t.name.0.to_string(), p.partition_index));
                continue;
            }
            offsets.push(PendingOffset {
                group: group.clone(),
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                value: OffsetValue {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    commit_timestamp_ms: now,
                    expire_timestamp_ms: None,
                },
            });
        }
    }
    let code = if checked != NONE {
        checked
    } else {
        let id = req.transactional_id.0.to_string();
        let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
        state
            .txns
            .call(move |c| c.commit_offsets(&id, pid, epoch, offsets, version >= 3))
            .await
            .unwrap_or_else(|_| gone())
    };
    txn_offset_commit_answer(&req, |topic, p| {
        let big = too_large.iter().any(|(t, i)| t == topic && *i == p);
        if big { E::OffsetMetadataTooLarge.code() } else { code }
    })
}

/// DescribeTransactions; `visible` says which ids the caller may describe.
pub(super) async fn describe_transactions(
    state: &BrokerState,
    req: DescribeTransactionsRequest,
    visible: impl Fn(&str) -> bool,
) -> DescribeTransactionsResponse {
    use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
    let ids: Vec<String> = req.transactional_ids.iter().map(|t| t.0.to_string()).collect();
    let allowed: Vec<String> = ids.iter().filter(|id| visible(id)).cloned().collect();
    let found = state.txns.call(move |c| c.describe(Some(&allowed))).await.unwrap_or_default();
    let states = ids
        .into_iter()
        .map(|id| {
            let out = TransactionState::default()
                .with_transactional_id(TransactionalId(super::str_bytes(id.clone())))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
            if !visible(&id) {
                return out.with_error_code(super::acls::TRANSACTIONAL_ID_DENIED);
            }
            let Some((_, Some(meta))) = found.iter().find(|(i, _)| *i == id) else {
                return out.with_error_code(E::TransactionalIdNotFound.code());
            };
            let mut topics: Vec<TopicData> = Vec::new();
            for (topic, p) in &meta.partitions {
                match topics.iter_mut().find(|t| t.topic.0.as_str() == topic) {
                    Some(t) => t.partitions.push(*p),
                    None => topics.push(
                        TopicData::default()
                            .with_topic(TopicName(super::str_bytes(topic.clone())))
                            .with_partitions(vec![*p]),
                    ),
                }
            }
            out.with_error_code(NONE)
                .with_transaction_state(super::str_bytes(meta.status.kafka_name()))
                .with_transaction_timeout_ms(meta.timeout_ms)
                .with_transaction_start_time_ms(meta.started_ms)
                .with_producer_id(ProducerId(meta.producer_id))
                .with_producer_epoch(meta.epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

/// ListTransactions (v0-1), limited to the ids `visible` to the caller.
pub(super) async fn list_transactions(
    state: &BrokerState,
    req: ListTransactionsRequest,
    visible: impl Fn(&str) -> bool,
) -> ListTransactionsResponse {
    use crate::txn::TxnStatus;
    use kafka_protocol::messages::list_transactions_response::TransactionState;
    let (mut wanted, mut unknown) = (Vec::new(), Vec::new());
    for f in &req.state_filters {
        match TxnStatus::ALL.iter().find(|s| s.kafka_name() == f.as_str()) {
            Some(s) => wanted.push(*s),
            None => unknown.push(f.clone()),
        }
    }
    // v2 (KIP-1152): a regular expression the whole id must match, as Java's
    // `Matcher.matches` does.
    let pattern = match req.transactional_id_pattern.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(re) => Some(re),
            Err(_) => {
                return ListTransactionsResponse::default()
                    .with_error_code(kafka_protocol::ResponseError::InvalidRegularExpression.code());
            }
        },
    };
    let Ok(all) = state.txns.call(|c| c.describe(None)).await else {
        return ListTransactionsResponse::default().with_error_code(gone());
    };
    let now = crate::log::now_ms();
    let states = all
        .into_iter()
        .filter_map(|(id, meta)| meta.map(|m| (id, m)))
        .filter(|(id, m)| {
            visible(id)
                && pattern.as_ref().is_none_or(|re| re.is_match(id))
                && (wanted.is_empty() || wanted.contains(&m.status))
                && (req.producer_id_filters.is_empty() || req.producer_id_filters.contains(&ProducerId(m.producer_id)))
                // v1 (KIP-994): only transactions running longer than the filter.
                && (req.duration_filter < 0 || (m.started_ms >= 0 && now - m.started_ms > req.duration_filter))
        })
        .map(|(id, m)| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(super::str_bytes(id)))
                .with_producer_id(ProducerId(m.producer_id))
                .with_transaction_state(super::str_bytes(m.status.kafka_name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_error_code(NONE)
        .with_unknown_state_filters(unknown)
        .with_transaction_states(states)
}

/// DescribeProducers; `readable` says which topics the caller may read.
pub(super) fn describe_producers(
    state: &BrokerState,
    req: DescribeProducersRequest,
    readable: impl Fn(&str) -> bool,
) -> DescribeProducersResponse {
    use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = state.topics.get(&t.name.0);
            let allowed = readable(&t.name.0);
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&p| {
                    let out = PartitionResponse::default().with_partition_index(p);
                    if !allowed {
                        return out.with_error_code(E::TopicAuthorizationFailed.code());
                    }
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(p)) else {
                        return out.with_error_code(E::UnknownTopicOrPartition.code());
                    };
                    match partition.with_log(|log| Ok(log.active_producers())) {
                        Ok(producers) => out.with_error_code(NONE).with_active_producers(
                            producers
                                .into_iter()
                                .map(|(pid, epoch, seq, ts, txn_start)| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(pid))
                                        .with_producer_epoch(i32::from(epoch))
                                        .with_last_sequence(seq)
                                        .with_last_timestamp(ts)
                                        .with_coordinator_epoch(-1)
                                        .with_current_txn_start_offset(txn_start)
                                })
                                .collect(),
                        ),
                        Err(e) => out.with_error_code(e.code()),
                    }
                })
                .collect();
            TopicResponse::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
