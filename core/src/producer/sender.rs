//! The producer's background task: drains closed batches, sends each to its partition's
//! leader (pipelined on that broker's connection), completes delivery futures, and retries
//! retriable failures within `delivery.timeout.ms`. With idempotence it also owns the producer
//! id: it asks for it before the first send, and bumps its epoch when a batch failed for good.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProducerId, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};
use tokio::sync::{Notify, oneshot};

use super::accumulator::{Accumulator, Batch, Delivery, Outcome, unsent_record};
use super::reports::{Delivered, DeliveryReport, DeliveryReports};
use super::transaction::{self, Transactions};
use super::{ProducerRecord, RecordMetadata};
use crate::TopicPartition;
use crate::cluster::Cluster;
use crate::config::ClientConfig;
use crate::connection::BrokerConnection as Connection;
use crate::error::{Error, Result};
use crate::partitioner::Partitioner;

#[derive(Debug)]
pub(super) struct Shared {
    cluster: Arc<Cluster>,
    partitioner: Box<dyn Partitioner>,
    state: Mutex<Accumulator>,
    /// Wakes the sender task: a batch closed, a flush began, a batch finished.
    wake: Notify,
    /// Wakes senders waiting for queue space and flushers waiting for an empty queue.
    progress: Notify,
    acks: i16,
    idempotent: bool,
    compression: Compression,
    linger: Duration,
    batch_size: usize,
    max_queued_records: usize,
    max_queued_bytes: usize,
    message_max_bytes: usize,
    retries: u32,
    delivery_timeout: Duration,
    request_timeout_ms: i32,
    /// `max.block.ms`: how long `send` waits for queue space.
    max_block: Duration,
    pub(super) stats: Counters,
    pub(super) reports: DeliveryReports,
    /// `transactional.id` set: records are sent only inside transactions.
    pub(super) txn: Option<Transactions>,
}

/// Running totals behind [`super::ProducerStats`]; updated by the sender, read by anyone.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) records: AtomicU64,
    pub(super) bytes: AtomicU64,
    pub(super) batches: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) failed_records: AtomicU64,
    pub(super) requests: AtomicU64,
    pub(super) latency_us_total: AtomicU64,
    pub(super) latency_us_max: AtomicU64,
    pub(super) epoch_bumps: AtomicU64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Shared {
    pub(super) fn start(
        cluster: Arc<Cluster>,
        config: ClientConfig,
        partitioner: Box<dyn Partitioner>,
        mut acc: Accumulator,
    ) -> Result<Arc<Self>> {
        // The sender is a task: without a runtime there is nowhere to spawn it.
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime("Producer::new"))?;
        acc.idempotent = config.idempotent();
        // Without idempotence a retry could overtake a later batch: one at a time. With it the
        // broker dedups and orders up to the 5 batches it remembers per producer.
        acc.max_in_flight =
            if acc.idempotent { (config.int("max.in.flight.requests.per.connection") as usize).clamp(1, 5) } else { 1 };
        let compression = match config.get("compression.type") {
            Some("gzip") => Compression::Gzip,
            Some("snappy") => Compression::Snappy,
            Some("lz4") => Compression::Lz4,
            Some("zstd") => Compression::Zstd,
            _ => Compression::None,
        };
        let shared = Arc::new(Shared {
            cluster,
            partitioner,
            state: Mutex::new(acc),
            wake: Notify::new(),
            progress: Notify::new(),
            acks: config.acks(),
            idempotent: config.idempotent(),
            compression,
            linger: config.duration("linger.ms"),
            batch_size: config.int("batch.size") as usize,
            max_queued_records: config.int("queue.buffering.max.messages") as usize,
            max_queued_bytes: config.int("queue.buffering.max.kbytes") as usize * 1024,
            message_max_bytes: config.int("message.max.bytes") as usize,
            retries: config.int("retries") as u32,
            delivery_timeout: config.duration("delivery.timeout.ms"),
            request_timeout_ms: config.int("request.timeout.ms") as i32,
            max_block: config.duration("max.block.ms"),
            stats: Counters::default(),
            reports: DeliveryReports::default(),
            txn: config
                .get("transactional.id")
                .map(|id| Transactions::new(id.to_owned(), config.int("transaction.timeout.ms") as i32)),
        });
        // The task holds a weak handle: dropping every Producer ends it.
        let weak = Arc::downgrade(&shared);
        runtime.spawn(async move {
            loop {
                let Some(shared) = weak.upgrade() else { break };
                shared.run_once().await;
            }
        });
        Ok(shared)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Accumulator> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn queued(&self) -> usize {
        self.lock().queued_records
    }

    pub(super) fn peak_in_flight(&self) -> usize {
        self.lock().peak_in_flight
    }

    /// The producer id and epoch in use, `(-1, -1)` before the first or without idempotence.
    pub(super) fn producer(&self) -> (i64, i16) {
        self.lock().producer.unwrap_or((-1, -1))
    }

    /// The topic's metadata. A topic the cluster does not know is asked for again every
    /// `retry.backoff.ms` for up to `max.block.ms`, as the Java client waits: a topic created
    /// a moment ago is not in every broker's metadata at once (Apache Kafka answers
    /// UNKNOWN_TOPIC_OR_PARTITION for a while after CreateTopics returned).
    async fn topic_metadata(&self, topic: &str) -> Result<crate::cluster::TopicMetadata> {
        let unknown = |e: &Error| e.kafka_code() == Some(ResponseError::UnknownTopicOrPartition);
        match self.cluster.topic(topic).await {
            // The common case, a known topic, reads no clock.
            Err(e) if unknown(&e) => {
                let deadline = tokio::time::Instant::now() + self.max_block;
                tokio::time::sleep(self.cluster.retry_backoff()).await;
                crate::backoff::retry_until(deadline, self.cluster.retry_backoff(), unknown, || {
                    self.cluster.topic(topic)
                })
                .await
            }
            known => known,
        }
    }

    /// Queues a record whose outcome goes to `delivery`, waiting at most `block` for queue
    /// space (`None`: `max.block.ms`).
    pub(super) async fn enqueue(&self, rec: ProducerRecord, block: Option<Duration>, delivery: Delivery) -> Result<()> {
        if let Some(txn) = &self.txn {
            txn.check_send()?;
        }
        let deadline = tokio::time::Instant::now() + block.unwrap_or(self.max_block);
        let size = rec.approx_size();
        if size > self.message_max_bytes {
            return Err(Error::MessageTooLarge { size, max: self.message_max_bytes });
        }
        let options = rec.options;
        if let Some(acks) = options.acks {
            if !matches!(acks, -1..=1) {
                return Err(Error::Config { key: "acks".into(), reason: format!("{acks} is not -1 (all), 0 or 1") });
            }
            if self.idempotent && acks != -1 {
                return Err(Error::Config {
                    key: "acks".into(),
                    reason: format!("acks={acks} for one send: an idempotent producer sends with acks=all only"),
                });
            }
        }
        let meta = self.topic_metadata(&rec.topic).await?;
        let count = meta.leaders.len();
        let partition = match rec.partition {
            Some(p) if p >= 0 && (p as usize) < count => p,
            Some(p) => return Err(Error::UnknownTopicOrPartition(format!("{}-{p}", rec.topic))),
            None => self.partitioner.partition_record(&rec.topic, rec.key.as_deref(), size, count) as i32,
        };
        let timestamp = rec.timestamp.unwrap_or_else(now_ms);
        let record = unsent_record(timestamp, rec.key, rec.value, rec.headers);
        let mut pending = Some((record, delivery));
        let mut topic = Some(rec.topic);
        loop {
            let waiting = self.progress.notified();
            tokio::pin!(waiting);
            waiting.as_mut().enable();
            {
                let mut acc = self.lock();
                if acc.queued_records < self.max_queued_records
                    && acc.queued_bytes + size <= self.max_queued_bytes.max(size)
                {
                    let (record, delivery) = pending.take().expect("pushed once");
                    if matches!(delivery, Delivery::Report(_)) {
                        self.reports.expect_one();
                    }
                    let tp = TopicPartition { topic: topic.take().expect("pushed once"), partition };
                    if acc.push(tp, options, record, size, delivery, self.batch_size) {
                        self.wake.notify_one();
                    } else if acc.queued_records == 1 || self.linger.is_zero() {
                        // First record of an idle producer: the sender must start its linger timer.
                        self.wake.notify_one();
                    }
                    break;
                }
            }
            if tokio::time::timeout_at(deadline, waiting).await.is_err() {
                let acc = self.lock();
                return Err(Error::QueueFull(format!(
                    "{} records / {} bytes queued (queue.buffering.max.messages={}, queue.buffering.max.kbytes={})",
                    acc.queued_records,
                    acc.queued_bytes,
                    self.max_queued_records,
                    self.max_queued_bytes / 1024
                )));
            }
        }
        Ok(())
    }

    /// Fails every record not yet sent with [`Error::Purged`]; returns how many. Records in
    /// flight are left to complete (their fate is the broker's).
    pub(super) fn purge(&self) -> usize {
        let mut acc = self.lock();
        let batches = acc.take_unsent();
        let purged: usize = batches.iter().map(|b| b.records.len()).sum();
        for b in batches {
            acc.settle(b, Err(Error::Purged), |b, outcome| self.deliver(b, outcome));
        }
        drop(acc);
        self.stats.failed_records.fetch_add(purged as u64, Ordering::Relaxed);
        self.progress.notify_waiters();
        purged
    }

    pub(super) async fn flush(&self) -> Result<()> {
        // The count goes back down in a drop guard: a flush future dropped before it completes
        // (a timeout, a select!) must not leave the sender skipping linger.ms for good.
        struct Flushing<'a>(&'a Shared);
        impl Drop for Flushing<'_> {
            fn drop(&mut self) {
                self.0.lock().flushing -= 1;
            }
        }
        self.lock().flushing += 1;
        let _flushing = Flushing(self);
        self.wake.notify_one();
        loop {
            let waiting = self.progress.notified();
            tokio::pin!(waiting);
            waiting.as_mut().enable();
            if self.lock().queued_records == 0 {
                break;
            }
            self.wake.notify_one();
            waiting.await;
        }
        Ok(())
    }

    async fn run_once(self: Arc<Self>) {
        // A pending epoch bump waits until nothing is in flight; meanwhile drain() holds back
        // every batch but those whose fate under the old epoch is unknown: a batch written
        // under the old epoch but not yet acknowledged must not be sent again under the new one.
        // A transactional producer moves to a new epoch only between transactions (the abort
        // does it): mid-transaction the coordinator would take a new epoch as a new producer.
        let bump = self.txn.is_none() && self.lock().ready_to_bump();
        if bump && !self.bump_epoch().await {
            return;
        }
        let (mut batches, next) = self.lock().drain(self.linger, Instant::now());
        if let Some(txn) = &self.txn {
            batches = self.add_to_transaction(txn, batches).await;
        }
        if batches.is_empty() {
            match next {
                Some(at) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => self.wake.notified().await,
            }
            return;
        }
        // Requests are queued on their connections here, in drain order, so batches of one
        // partition reach the broker in sequence order; only the waits run concurrently.
        for mut batch in batches {
            batch.attempts += 1;
            let started = Instant::now();
            let sent = self.dispatch(&mut batch).await;
            // A request that reached its connection may have been written whatever comes back
            // but a broker's answer.
            batch.outcome_unknown = sent.is_ok();
            let shared = Arc::clone(&self);
            tokio::spawn(async move {
                let result = match sent {
                    Ok(Sent::Waiting(conn, rx, version)) => shared.response(&batch, &conn, rx, version).await,
                    Ok(Sent::NoAck) => Ok((-1, -1)),
                    Err(e) => Err(e),
                };
                shared.complete(batch, started, result).await
            });
        }
    }

    /// Adds the partitions of these batches new to the transaction (one request for all of
    /// them) before any is sent; if that fails, the batches fail with the transaction.
    async fn add_to_transaction(self: &Arc<Self>, txn: &Transactions, batches: Vec<Batch>) -> Vec<Batch> {
        let new = txn.not_added(batches.iter().map(|b| &b.tp));
        if new.is_empty() {
            return batches;
        }
        let deadline = tokio::time::Instant::now() + self.delivery_timeout;
        match txn.add_partitions(self.as_ref(), &new, deadline).await {
            Ok(()) => batches,
            Err(e) => {
                tracing::warn!(transactional_id = %txn.id, error = %e, "adding partitions to the transaction failed");
                let e = txn.failed(&e);
                for batch in batches {
                    Arc::clone(self).complete(batch, Instant::now(), Err(e.clone())).await;
                }
                Vec::new()
            }
        }
    }

    /// The producer id and epoch to number new batches with; asks for them on first use.
    async fn producer_id(&self) -> Result<(i64, i16)> {
        if !self.idempotent {
            return Ok((-1, -1));
        }
        if let Some(p) = self.lock().producer {
            return Ok(p);
        }
        if self.txn.is_some() {
            return Err(Error::State("send: call init_transactions first".into()));
        }
        // Only the sender task gets here: no two InitProducerId requests race.
        let p = self.init_producer_id(None).await?;
        self.lock().producer = Some(p);
        Ok(p)
    }

    /// InitProducerId: a new id, or with `current` the next epoch of that id (KIP-360, v3+;
    /// an older broker gets asked for a new id, which resets sequences just as well).
    async fn init_producer_id(&self, current: Option<(i64, i16)>) -> Result<(i64, i16)> {
        let conn = self.cluster.any_connection().await?;
        init_producer_id(&conn, None, 60_000, current).await
    }

    /// Moves to the next epoch and renumbers what waits (called once nothing is in flight).
    /// Returns whether it did; if not, it is tried again after the retry backoff.
    async fn bump_epoch(&self) -> bool {
        let current = self.lock().producer;
        let result = match self.init_producer_id(current).await {
            // Fenced: the broker no longer takes this id's epoch as ours; a new id is as good.
            Err(e)
                if matches!(
                    e.kafka_code(),
                    Some(ResponseError::ProducerFenced | ResponseError::InvalidProducerEpoch)
                ) =>
            {
                self.init_producer_id(None).await
            }
            other => other,
        };
        match result {
            Ok(p) => {
                tracing::info!(producer_id = p.0, epoch = p.1, previous = ?current, "producer epoch bumped");
                self.lock().new_epoch(p);
                self.stats.epoch_bumps.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "producer epoch bump failed; retrying");
                // Records that were never written and have waited past delivery.timeout.ms are
                // failed rather than held for a broker that may not come back.
                let expired = self.lock().take_expired(self.delivery_timeout, Instant::now());
                if !expired.is_empty() {
                    self.fail_expired(expired, &e);
                }
                tokio::time::sleep(self.cluster.retry_backoff()).await;
                false
            }
        }
    }

    fn fail_expired(&self, batches: Vec<Batch>, cause: &Error) {
        let failed: usize = batches.iter().map(|b| b.records.len()).sum();
        let mut acc = self.lock();
        for b in batches {
            let e = Error::Timeout {
                what: format!("delivery to {} while the producer epoch could not be bumped ({cause})", b.tp),
                ms: self.delivery_timeout.as_millis() as u64,
            };
            acc.settle(b, Err(e), |b, outcome| self.deliver(b, outcome));
        }
        drop(acc);
        self.stats.failed_records.fetch_add(failed as u64, Ordering::Relaxed);
        self.progress.notify_waiters();
    }

    /// Hands a settled batch's outcome to each record's future or report. Called by
    /// [`Accumulator::settle`] with the accumulator locked: reports of one partition enter
    /// the queue in the order its batches were made.
    fn deliver(&self, batch: Batch, outcome: Outcome) {
        let Batch { tp: TopicPartition { topic, partition }, records, waiters, .. } = batch;
        // One allocation per batch for its reports' topic, and none unless there are reports.
        let mut shared_topic: Option<Arc<str>> = None;
        self.reports.append(|queue| {
            for (i, (waiter, record)) in waiters.into_iter().zip(&records).enumerate() {
                let result = match &outcome {
                    Ok((base, log_append_time)) => Ok(Delivered {
                        offset: if *base >= 0 { base + i as i64 } else { -1 },
                        timestamp: if *log_append_time >= 0 { *log_append_time } else { record.timestamp },
                    }),
                    Err(e) => Err(e.clone()),
                };
                match waiter {
                    Delivery::Future(tx) => {
                        let _ = tx.send(result.map(|d| RecordMetadata {
                            topic: topic.clone(),
                            partition,
                            offset: d.offset,
                            timestamp: d.timestamp,
                        }));
                    }
                    Delivery::Report(token) => {
                        let topic = shared_topic.get_or_insert_with(|| Arc::from(topic.as_str())).clone();
                        queue.push_back(DeliveryReport { token, topic, partition, result });
                    }
                }
            }
        });
    }

    fn encode(&self, batch: &mut Batch, pid: i64, epoch: i16) -> Result<Bytes> {
        if let Some(b) = &batch.encoded {
            return Ok(b.clone());
        }
        let base_seq = if pid >= 0 { batch.base_seq } else { -1 };
        let transactional = self.txn.is_some();
        for (i, r) in batch.records.iter_mut().enumerate() {
            r.transactional = transactional;
            r.offset = i as i64;
            r.producer_id = pid;
            r.producer_epoch = epoch;
            // The encoder keeps records in one batch while offset - sequence is constant.
            r.sequence = if base_seq >= 0 { base_seq.wrapping_add(i as i32) & i32::MAX } else { i as i32 - 1 };
        }
        let mut buf = BytesMut::with_capacity(batch.bytes + 128);
        RecordBatchEncoder::encode(
            &mut buf,
            batch.records.iter(),
            &RecordEncodeOptions { version: 2, compression: batch.options.compression.unwrap_or(self.compression) },
        )
        .map_err(|e| Error::Protocol { broker: "-".into(), reason: format!("encoding a record batch: {e}") })?;
        let bytes = buf.freeze();
        batch.encoded = Some(bytes.clone());
        Ok(bytes)
    }

    /// Queues one attempt's request on the partition leader's connection.
    async fn dispatch(&self, batch: &mut Batch) -> Result<Sent> {
        let (pid, epoch) = self.producer_id().await?;
        let records = self.encode(batch, pid, epoch)?;
        let TopicPartition { topic, partition } = batch.tp.clone();
        let (_, conn) = self.cluster.leader(&topic, partition).await?;
        // Produce v13+ names topics by id (KIP-516); earlier versions by name.
        let topic_id = self.cluster.topic(&topic).await?.id;
        let acks = batch.options.acks.unwrap_or(self.acks);
        let req = ProduceRequest::default()
            .with_transactional_id(self.txn.as_ref().map(|t| TransactionalId(StrBytes::from_string(t.id.clone()))))
            .with_acks(acks)
            .with_timeout_ms(batch.options.request_timeout_ms.unwrap_or(self.request_timeout_ms))
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(topic.clone())))
                    .with_topic_id(topic_id)
                    .with_partition_data(vec![
                        PartitionProduceData::default().with_index(partition).with_records(Some(records)),
                    ]),
            ]);
        let mut version = conn.version_of::<ProduceRequest>()?;
        if self.txn.is_some() {
            version = version.min(transaction::MAX_PRODUCE_VERSION);
        }
        Ok(match conn.enqueue(&req, version, acks != 0)? {
            Some(rx) => Sent::Waiting(conn, rx, version),
            None => Sent::NoAck,
        })
    }

    /// The attempt's outcome: `(base offset, log append time)`.
    async fn response(
        &self,
        batch: &Batch,
        conn: &Arc<Connection>,
        rx: oneshot::Receiver<Result<Bytes>>,
        version: i16,
    ) -> Result<(i64, i64)> {
        let tp = &batch.tp;
        let resp = conn.wait::<ProduceRequest>(rx, version).await?;
        let p = resp.responses.first().and_then(|t| t.partition_responses.first()).ok_or_else(|| Error::Protocol {
            broker: conn.addr().to_owned(),
            reason: "empty produce response".into(),
        })?;
        if p.error_code == ResponseError::DuplicateSequenceNumber.code() {
            // Written before, by an attempt whose answer was lost; the broker no longer knows
            // where (Kafka clients treat it as success with the offset unknown).
            return Ok((-1, -1));
        }
        if p.error_code != 0 {
            let message = p.error_message.as_ref().map(|m| m.to_string());
            return Err(Error::from_code(p.error_code, message, format!("producing to {tp}")));
        }
        Ok((p.base_offset, p.log_append_time_ms))
    }

    async fn complete(self: Arc<Self>, mut batch: Batch, started: Instant, result: Result<(i64, i64)>) {
        let us = started.elapsed().as_micros() as u64;
        let st = &self.stats;
        st.requests.fetch_add(1, Ordering::Relaxed);
        st.latency_us_total.fetch_add(us, Ordering::Relaxed);
        st.latency_us_max.fetch_max(us, Ordering::Relaxed);
        let TopicPartition { topic, partition } = batch.tp.clone();
        let code = result.as_ref().err().and_then(Error::kafka_code);
        if code.is_some() {
            // The broker answered with an error: it did not write the batch.
            batch.outcome_unknown = false;
        }
        let out_of_order = code == Some(ResponseError::OutOfOrderSequenceNumber);
        let (behind_a_gap, renumber) = {
            let mut acc = self.lock();
            // Refused as out of order because an earlier batch was not written: retry behind it.
            let behind_a_gap = out_of_order && acc.behind_a_gap(&batch);
            // Not written, and sendable again only under a new epoch: the broker lost this
            // producer's state (KIP-360), or refused the batch because of a gap the pending
            // epoch bump closes.
            let renumber = self.idempotent
                && self.txn.is_none()
                && batch.base_seq >= 0
                && (code == Some(ResponseError::UnknownProducerId) || (out_of_order && acc.bump_needed));
            if renumber {
                acc.bump_needed = true;
            }
            (behind_a_gap, renumber)
        };
        match result {
            Err(e)
                if (e.is_retriable() || behind_a_gap || renumber)
                    && batch.attempts <= self.retries
                    && batch.created.elapsed() < self.delivery_timeout =>
            {
                tracing::debug!(%topic, partition, attempt = batch.attempts, error = %e, "retrying batch");
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                self.lock().failed(&batch.tp);
                if matches!(
                    e.kafka_code(),
                    Some(
                        ResponseError::NotLeaderOrFollower
                            | ResponseError::UnknownTopicOrPartition
                            | ResponseError::LeaderNotAvailable
                    )
                ) || matches!(e, Error::Connection { .. })
                {
                    self.cluster.invalidate(&topic);
                }
                tokio::time::sleep(self.cluster.retry_backoff()).await;
                self.lock().retry(batch);
                self.wake.notify_one();
            }
            outcome => {
                let n = batch.records.len() as u64;
                if outcome.is_ok() {
                    self.stats.records.fetch_add(n, Ordering::Relaxed);
                    let bytes = batch.encoded.as_ref().map_or(0, |b| b.len()) as u64;
                    self.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
                    self.stats.batches.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.stats.failed_records.fetch_add(n, Ordering::Relaxed);
                }
                // In a transaction, one record failing fails the transaction: what waits
                // behind it fails with it rather than being written into a transaction that
                // will be aborted.
                let doomed = match (&self.txn, &outcome) {
                    (Some(txn), Err(e)) => Some(txn.failed(e)),
                    _ => None,
                };
                let mut acc = self.lock();
                acc.done(&batch, outcome.is_ok());
                acc.settle(batch, outcome, |b, outcome| self.deliver(b, outcome));
                drop(acc);
                if let Some(e) = doomed {
                    transaction::Sender::abandon_waiting(self.as_ref(), e);
                }
                self.progress.notify_waiters();
                self.wake.notify_one();
            }
        }
    }
}

impl transaction::Sender for Shared {
    fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    fn flush(&self) -> impl std::future::Future<Output = Result<()>> + Send {
        Shared::flush(self)
    }

    fn abandon_waiting(&self, error: Error) {
        let mut acc = self.lock();
        let (batches, _) = acc.take_waiting();
        let failed: usize = batches.iter().map(|b| b.records.len()).sum();
        for b in batches {
            acc.settle(b, Err(error.clone()), |b, outcome| self.deliver(b, outcome));
        }
        drop(acc);
        self.stats.failed_records.fetch_add(failed as u64, Ordering::Relaxed);
        self.progress.notify_waiters();
    }

    fn producer(&self) -> Option<(i64, i16)> {
        self.lock().producer
    }

    fn new_epoch(&self, producer: (i64, i16)) {
        let mut acc = self.lock();
        if acc.producer.is_some_and(|(pid, epoch)| (pid, epoch) != producer) {
            self.stats.epoch_bumps.fetch_add(1, Ordering::Relaxed);
        }
        acc.new_epoch(producer);
        drop(acc);
        self.wake.notify_one();
    }

    fn bump_needed(&self) -> bool {
        self.lock().bump_needed
    }
}

/// A queued produce request.
enum Sent {
    Waiting(Arc<Connection>, oneshot::Receiver<Result<Bytes>>, i16),
    /// acks=0: nothing comes back.
    NoAck,
}

/// One InitProducerId: a new id and epoch (for `transactional_id`, when given), or with
/// `current` the next epoch of that id (KIP-360, v3+; an older broker is asked for a new id,
/// which resets sequences just as well). The idempotent sender and the transaction manager
/// both ask through this.
pub(super) async fn init_producer_id(
    conn: &Connection,
    transactional_id: Option<&str>,
    transaction_timeout_ms: i32,
    current: Option<(i64, i16)>,
) -> Result<(i64, i16)> {
    let version = conn.version_of::<InitProducerIdRequest>()?;
    let (pid, epoch) = current.filter(|_| version >= 3).unwrap_or((-1, -1));
    let req = InitProducerIdRequest::default()
        .with_transactional_id(transactional_id.map(|id| TransactionalId(StrBytes::from_string(id.to_owned()))))
        .with_transaction_timeout_ms(transaction_timeout_ms)
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch);
    let resp = conn.send_at(&req, version).await?;
    if resp.error_code != 0 {
        return Err(Error::from_code(resp.error_code, None, "InitProducerId"));
    }
    Ok((resp.producer_id.0, resp.producer_epoch))
}
