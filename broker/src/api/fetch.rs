//! Fetch: serves stored batches as bytes, waiting up to `max_wait_ms` for `min_bytes` to
//! arrive. A waiting fetch registers with each partition it reads and is woken by the next
//! append to any of them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, ProducerId, TopicName};
use tokio::sync::Notify;

use super::{Ctx, NONE, Outcome, acls};
use crate::error::Error;
use crate::log::{AbortedTxn, ReadSlice};
use crate::server::BrokerState;
use crate::topics::Partition;

pub(super) const VERSIONS: &[(ApiKey, i16, i16)] = &[(ApiKey::Fetch, 4, 18)];

pub(super) async fn serve(cx: &mut Ctx<'_>) -> Outcome {
    let (state, version) = (cx.state, cx.version);
    filtered!(cx, FetchRequest, acls::filter_fetch, req => handle(state, req, version).await, responses)
}

/// One partition of the request, resolved.
struct Wanted {
    topic_index: usize,
    partition: i32,
    fetch_offset: i64,
    max_bytes: usize,
    target: Result<Arc<Partition>, ResponseError>,
}

/// What one evaluation found for a partition.
struct Found {
    error: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    aborted: Vec<AbortedTxn>,
    log_start_offset: i64,
    slice: Option<ReadSlice>,
}

impl Found {
    fn failed(error: i16) -> Found {
        Found {
            error,
            high_watermark: -1,
            last_stable_offset: -1,
            aborted: Vec::new(),
            log_start_offset: -1,
            slice: None,
        }
    }
}

fn evaluate(wanted: &[Wanted], max_bytes: usize, read_committed: bool) -> (Vec<Found>, usize) {
    let mut total = 0usize;
    let found = wanted
        .iter()
        .map(|w| {
            let p = match &w.target {
                Ok(p) => p,
                Err(code) => return Found::failed(code.code()),
            };
            let remaining = max_bytes.saturating_sub(total);
            let result = p.with_log(|log| {
                let hw = log.next_offset();
                let start = log.log_start_offset();
                // KIP-74: the request's max_bytes bounds the whole response and
                // partition_max_bytes each partition, except that the first batch of the first
                // non-empty partition is served whole even past both, so a consumer always
                // progresses. Past the first, a partition gets what still fits (its last batch
                // may be cut: clients drop a partial trailing batch).
                let limit = w.max_bytes.min(remaining);
                let first = total == 0;
                let slice = match (first || limit > 0, read_committed) {
                    (false, _) => None,
                    (true, false) => log.read(w.fetch_offset, limit, first)?,
                    (true, true) => log.read_committed(w.fetch_offset, limit, first)?,
                };
                // Only a read_committed reader drops aborted records; the list is for it alone.
                let aborted = match (read_committed, &slice) {
                    (true, Some(_)) => log.aborted_transactions(w.fetch_offset),
                    _ => Vec::new(),
                };
                Ok((hw, log.last_stable_offset(), start, slice, aborted))
            });
            match result {
                Ok((hw, lso, start, slice, aborted)) => {
                    total += slice.as_ref().map_or(0, |s| s.len);
                    Found {
                        error: NONE,
                        high_watermark: hw,
                        last_stable_offset: lso,
                        aborted,
                        log_start_offset: start,
                        slice,
                    }
                }
                Err(Error::OffsetOutOfRange { log_start, log_end, .. }) => Found {
                    error: ResponseError::OffsetOutOfRange.code(),
                    high_watermark: log_end,
                    last_stable_offset: -1,
                    aborted: Vec::new(),
                    log_start_offset: log_start,
                    slice: None,
                },
                Err(e) => Found::failed(e.code()),
            }
        })
        .collect();
    (found, total)
}

pub(super) async fn handle(state: &BrokerState, req: FetchRequest, version: i16) -> FetchResponse {
    let by_id = version >= 13;
    let mut topics_out: Vec<FetchableTopicResponse> = Vec::with_capacity(req.topics.len());
    let mut wanted = Vec::new();
    for (topic_index, ft) in req.topics.iter().enumerate() {
        let topic = if by_id { state.topics.get_by_id(ft.topic_id) } else { state.topics.get(&ft.topic) };
        let missing = if by_id { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
        topics_out.push(
            FetchableTopicResponse::default().with_topic(TopicName(ft.topic.0.clone())).with_topic_id(ft.topic_id),
        );
        for fp in &ft.partitions {
            let target = match &topic {
                None => Err(missing),
                Some(t) => t.partition(fp.partition).ok_or(ResponseError::UnknownTopicOrPartition),
            };
            wanted.push(Wanted {
                topic_index,
                partition: fp.partition,
                fetch_offset: fp.fetch_offset,
                max_bytes: fp.partition_max_bytes.max(0) as usize,
                target,
            });
        }
    }

    let read_committed = req.isolation_level == 1;
    let max_bytes = if req.max_bytes <= 0 { i32::MAX as usize } else { req.max_bytes as usize };
    let min_bytes = req.min_bytes.max(0) as usize;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let notify = Arc::new(Notify::new());
    let mut shutdown = state.shutdown.clone();
    let found = loop {
        // Register before looking, so an append between the look and the wait still wakes us.
        for w in &wanted {
            if let Ok(p) = &w.target {
                p.register_waiter(&notify);
            }
        }
        let (found, total) = evaluate(&wanted, max_bytes, read_committed);
        let any_error = found.iter().any(|f| f.error != NONE);
        if total >= min_bytes.max(1) || any_error || tokio::time::Instant::now() >= deadline {
            break found;
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = crate::server::stopped(&mut shutdown) => {}
        }
        if *shutdown.borrow() {
            break evaluate(&wanted, max_bytes, read_committed).0;
        }
    };

    // Read the bytes outside every partition lock.
    let partitions = found.len();
    let reads = tokio::task::spawn_blocking(move || {
        found
            .into_iter()
            .map(|f| {
                let records = match &f.slice {
                    Some(slice) => slice.read(),
                    None => Ok(Bytes::new()),
                };
                (f, records)
            })
            .collect::<Vec<_>>()
    })
    .await;
    // A read task that died answers every partition with a storage error, never an empty
    // success a consumer would take for "no new records".
    let reads = reads.unwrap_or_else(|e| {
        tracing::error!(error = %e, "fetch read task failed");
        (0..partitions).map(|_| (Found::failed(NONE), Err(std::io::Error::other("fetch read task failed")))).collect()
    });

    for (w, (f, records)) in wanted.iter().zip(reads) {
        let (error, records) = match records {
            Ok(r) => (f.error, r),
            Err(e) => {
                tracing::warn!(error = %e, "fetch read failed");
                (ResponseError::KafkaStorageError.code(), Bytes::new())
            }
        };
        let pd = PartitionData::default()
            .with_partition_index(w.partition)
            .with_error_code(error)
            .with_high_watermark(f.high_watermark)
            .with_last_stable_offset(f.last_stable_offset)
            .with_log_start_offset(f.log_start_offset)
            .with_aborted_transactions(Some(
                f.aborted
                    .iter()
                    .map(|a| {
                        AbortedTransaction::default()
                            .with_producer_id(ProducerId(a.producer_id))
                            .with_first_offset(a.first_offset)
                    })
                    .collect(),
            ))
            .with_preferred_read_replica(BrokerId(-1))
            .with_records(Some(records));
        topics_out[w.topic_index].partitions.push(pd);
    }
    // Fetch sessions (KIP-227) are not kept: session id 0 tells clients to send full fetches.
    FetchResponse::default().with_error_code(NONE).with_session_id(0).with_responses(topics_out)
}
