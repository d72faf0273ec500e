//! The producer: records are partitioned, gathered per partition into batches that close on
//! `linger.ms` or `batch.size`, and sent by one background task to each partition's leader.
//! Each record's outcome goes to a [`DeliveryFuture`], or with a token of the caller's to the
//! producer's [`DeliveryReports`] queue (what the language bindings drain).

mod accumulator;
mod reports;
mod sender;
mod transaction;

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::cluster::Cluster;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::partitioner::{BuiltinPartitioner, Partitioner};
use accumulator::{Accumulator, Delivery};
pub use reports::{Delivered, DeliveryReport, DeliveryReports};

/// A record to send.
#[derive(Debug, Clone, Default)]
pub struct ProducerRecord {
    pub topic: String,
    /// `None` lets the partitioner choose.
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Milliseconds since the epoch; `None` stamps the send time.
    pub timestamp: Option<i64>,
    /// This send's own `acks`, compression and request timeout, where it has them.
    pub options: SendOptions,
}

/// A record batch's codec (`compression.type`).
pub use kafka_protocol::records::Compression;

/// Overrides of the producer's settings for one send, as kafkajs takes them per `send`: the
/// record goes in a batch with others of the same options only (acks and the request timeout
/// are per request, compression per batch), so one producer serves every combination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// `-1` (all), `0` or `1`. An idempotent producer takes only `-1`.
    pub acks: Option<i16>,
    pub compression: Option<Compression>,
    /// How long the broker may take to answer (`request.timeout.ms`).
    pub request_timeout_ms: Option<i32>,
}

impl ProducerRecord {
    pub fn new(topic: impl Into<String>) -> Self {
        ProducerRecord { topic: topic.into(), ..Default::default() }
    }
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((name.into(), Some(value.into())));
        self
    }
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }
    pub fn options(mut self, options: SendOptions) -> Self {
        self.options = options;
        self
    }

    fn approx_size(&self) -> usize {
        let h: usize = self.headers.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len) + 8).sum();
        self.key.as_ref().map_or(0, Bytes::len) + self.value.as_ref().map_or(0, Bytes::len) + h + 21
    }
}

/// Where a record was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The record's timestamp (the broker's under LogAppendTime).
    pub timestamp: i64,
}

/// Producer statistics ([`Producer::stats`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducerStats {
    /// Records acknowledged (or sent, with acks=0).
    pub records_sent: u64,
    /// Record batch bytes sent, after compression.
    pub bytes_sent: u64,
    pub batches_sent: u64,
    pub avg_records_per_batch: f64,
    /// Batches sent again after a retriable error.
    pub retries: u64,
    /// Records whose delivery failed for good.
    pub failed_records: u64,
    /// Produce requests, and their round trips (send to response).
    pub requests: u64,
    pub avg_request_latency_us: u64,
    pub max_request_latency_us: u64,
    /// Records waiting in the queue or in flight now.
    pub queued_records: u64,
    /// The most batches of one partition that were in flight at once (up to
    /// `max.in.flight.requests.per.connection`, at most 5, with idempotence; 1 without).
    pub max_partition_batches_in_flight: u64,
    /// Idempotence: times the producer moved to a new epoch (or id) to restart its sequence
    /// numbers after a batch failed for good or the broker lost the producer's state (KIP-360).
    pub epoch_bumps: u64,
    /// Idempotence: the producer id and epoch in use (-1 before the first send or without).
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// Resolves when the record is acknowledged (or definitively failed).
#[derive(Debug)]
pub struct DeliveryFuture(oneshot::Receiver<Result<RecordMetadata>>);

impl std::future::Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|r| r.unwrap_or(Err(Error::Closed)))
    }
}

/// An asynchronous Kafka producer. Cheap to clone; all clones share one sender task (and one
/// delivery-report queue).
#[derive(Debug, Clone)]
pub struct Producer {
    inner: Arc<sender::Shared>,
}

impl Producer {
    /// Creates a producer from Kafka-named settings (`bootstrap.servers`, `acks`, ...). Its
    /// sender task is spawned on the current tokio runtime: called outside one, it fails with
    /// [`Error::NoRuntime`].
    pub fn new(config: ClientConfig) -> Result<Self> {
        Self::with_partitioner(config, None)
    }

    /// Creates a producer with a custom partitioner in place of `partitioner`.
    pub fn with_partitioner(config: ClientConfig, custom: Option<Box<dyn Partitioner>>) -> Result<Self> {
        config.validate_producer()?;
        let partitioner = match custom {
            Some(p) => p,
            None => {
                let name = config.get("partitioner").unwrap_or("murmur2_random");
                let builtin = BuiltinPartitioner::from_name(name).ok_or_else(|| Error::Config {
                    key: "partitioner".into(),
                    reason: format!("{name:?} is not implemented"),
                })?;
                Box::new(builtin.sticky_for(config.int("batch.size") as usize))
            }
        };
        let cluster = Cluster::new(&config)?;
        let inner = sender::Shared::start(cluster, config, partitioner, Accumulator::default())?;
        Ok(Producer { inner })
    }

    /// Queues a record and returns the future of its delivery. While the queue is full it
    /// waits (asynchronously) up to `max.block.ms`, then fails with [`Error::QueueFull`].
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let (tx, rx) = oneshot::channel();
        self.inner.enqueue(record, None, Delivery::Future(tx)).await?;
        Ok(DeliveryFuture(rx))
    }

    /// Like [`send`](Self::send), but fails at once with [`Error::QueueFull`] when the queue
    /// is full (confluent-kafka's `produce` raising BufferError).
    pub async fn try_send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let (tx, rx) = oneshot::channel();
        self.inner.enqueue(record, Some(std::time::Duration::ZERO), Delivery::Future(tx)).await?;
        Ok(DeliveryFuture(rx))
    }

    /// Like [`send`](Self::send), but the record's outcome goes to the
    /// [`delivery_reports`](Self::delivery_reports) queue with `token` (any value; the
    /// producer never reads it). Reports of one partition come in the order its records were
    /// sent: with idempotence, in offset order. Ok means a report will follow.
    pub async fn send_with_report(&self, record: ProducerRecord, token: u64) -> Result<()> {
        self.inner.enqueue(record, None, Delivery::Report(token)).await
    }

    /// [`send_with_report`](Self::send_with_report) failing at once with
    /// [`Error::QueueFull`] when the queue is full, as [`try_send`](Self::try_send).
    pub async fn try_send_with_report(&self, record: ProducerRecord, token: u64) -> Result<()> {
        self.inner.enqueue(record, Some(std::time::Duration::ZERO), Delivery::Report(token)).await
    }

    /// The reports of the records sent with a token, shared by all clones of this producer.
    pub fn delivery_reports(&self) -> &DeliveryReports {
        &self.inner.reports
    }

    /// Sends and waits for the acknowledgement.
    pub async fn send_and_wait(&self, record: ProducerRecord) -> Result<RecordMetadata> {
        self.send(record).await?.await
    }

    /// Sends everything queued now and waits until all of it is acknowledged or failed (and
    /// every report of it is in the [`delivery_reports`](Self::delivery_reports) queue).
    /// Cancel-safe: dropping the future stops the wait, and `linger.ms` applies again.
    pub async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }

    /// Drops every record not yet sent: each one's delivery fails with [`Error::Purged`].
    /// Records already in flight are not recalled; their deliveries complete as usual.
    /// Returns how many records were dropped.
    pub fn purge(&self) -> usize {
        self.inner.purge()
    }

    /// Records queued or in flight, until their outcome is delivered (a batch acknowledged
    /// before an earlier one of its partition counts until that one is too).
    pub fn in_flight(&self) -> usize {
        self.inner.queued()
    }

    /// Transactions: gets this `transactional.id`'s producer id and epoch from its
    /// coordinator, fencing any older producer with the same id (its open transaction is
    /// aborted). Called once, before the first transaction; after a timeout, call it again.
    pub async fn init_transactions(&self, timeout: std::time::Duration) -> Result<()> {
        self.txn()?.init(self.inner.as_ref(), timeout).await
    }

    /// [`Producer::init_transactions`] unless it already succeeded (then `Ok` at once): for
    /// APIs that initialize on first use, as kafkajs's `producer.transaction()` does.
    /// Concurrent callers wait for the one initialization.
    pub async fn init_transactions_once(&self, timeout: std::time::Duration) -> Result<()> {
        self.txn()?.init_once(self.inner.as_ref(), timeout).await
    }

    /// Starts a transaction: records sent from now until the commit or abort are written
    /// atomically with it.
    pub fn begin_transaction(&self) -> Result<()> {
        self.txn()?.begin()
    }

    /// Commits a consumer's offsets (each the next offset to read, as
    /// [`Consumer::commit_offsets`](crate::Consumer::commit_offsets) takes them) in the
    /// transaction, so they are stored if and only if it commits: the
    /// consume-transform-produce loop of exactly-once processing. `group` comes from
    /// [`Consumer::group_metadata`](crate::Consumer::group_metadata); a consumer whose
    /// generation is over (a zombie) is refused and the transaction must be aborted.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &[crate::TopicPartitionOffset],
        group: &crate::consumer::ConsumerGroupMetadata,
        timeout: std::time::Duration,
    ) -> Result<()> {
        self.txn()?.send_offsets(self.inner.as_ref(), offsets, group, timeout).await
    }

    /// Sends everything of the transaction, waits for it to be acknowledged, and commits.
    /// A record that failed makes it fail with an error whose
    /// [`txn_requires_abort`](Error::txn_requires_abort) is true: abort and go on. After a
    /// timeout, call it again to finish the commit.
    pub async fn commit_transaction(&self, timeout: std::time::Duration) -> Result<()> {
        self.txn()?.commit(self.inner.as_ref(), timeout).await
    }

    /// Aborts the transaction: records not yet sent are dropped (their deliveries fail with
    /// [`Error::Purged`]), those in flight are waited for, and readers with
    /// `isolation.level=read_committed` never see any of it.
    pub async fn abort_transaction(&self, timeout: std::time::Duration) -> Result<()> {
        self.txn()?.abort(self.inner.as_ref(), timeout).await
    }

    fn txn(&self) -> Result<&transaction::Transactions> {
        self.inner.txn.as_ref().ok_or_else(|| Error::State("not a transactional producer: set transactional.id".into()))
    }

    /// Totals since the producer started.
    pub fn stats(&self) -> ProducerStats {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.inner.stats;
        let (batches, requests) = (c.batches.load(Relaxed), c.requests.load(Relaxed));
        let records = c.records.load(Relaxed);
        let (producer_id, producer_epoch) = self.inner.producer();
        ProducerStats {
            records_sent: records,
            bytes_sent: c.bytes.load(Relaxed),
            batches_sent: batches,
            avg_records_per_batch: if batches == 0 { 0.0 } else { records as f64 / batches as f64 },
            retries: c.retries.load(Relaxed),
            failed_records: c.failed_records.load(Relaxed),
            requests,
            avg_request_latency_us: c.latency_us_total.load(Relaxed).checked_div(requests).unwrap_or(0),
            max_request_latency_us: c.latency_us_max.load(Relaxed),
            queued_records: self.inner.queued() as u64,
            max_partition_batches_in_flight: self.inner.peak_in_flight() as u64,
            epoch_bumps: c.epoch_bumps.load(Relaxed),
            producer_id,
            producer_epoch,
        }
    }
}
