//! `kafka.producer(config)`: `connect`, `send`, `sendBatch`, `disconnect`, as in kafkajs, over
//! the core's `Producer`.
//!
//! kafkajs takes `acks`, `compression` and `timeout` per `send`: they go to the one core
//! producer as `SendOptions` with each record (the core keeps records of different options
//! in different batches and requests).
//!
//! Transactions: `producer.transaction()` returns a [`Transaction`] over the same core
//! producer; every transactional call is the core's (`init_transactions_once` on the first use,
//! `begin_transaction`, `send_offsets_to_transaction`, `commit_transaction`,
//! `abort_transaction`), each waiting up to `max.block.ms` as the Java client's do.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ferrokafka::partitioner::{BuiltinPartitioner, Partitioner};
use napi::bindgen_prelude::{
    AsyncBlock, Buffer, Either, Either3, FromNapiValue, Function, JsValue, ToNapiValue, Unknown,
};
use napi::{Env, ValueType};
use napi_derive::napi;

use crate::admin::PartitionOffset;
use crate::callbacks::{Failure, JsCallback, JsFn};
use crate::config::{RetryOptions, Settings};
use crate::errors::{Error, Result, promise, throw};
use crate::events::{ClientEvents, Emitter};

/// kafkajs's `CompressionTypes`.
#[napi]
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionTypes {
    None = 0,
    GZIP = 1,
    Snappy = 2,
    LZ4 = 3,
    ZSTD = 4,
}

impl CompressionTypes {
    fn codec(self) -> ferrokafka::Compression {
        use ferrokafka::Compression;
        match self {
            CompressionTypes::None => Compression::None,
            CompressionTypes::GZIP => Compression::Gzip,
            CompressionTypes::Snappy => Compression::Snappy,
            CompressionTypes::LZ4 => Compression::Lz4,
            CompressionTypes::ZSTD => Compression::Zstd,
        }
    }
}

/// The core's built-in partitioners, under kafkajs's names: pass one as `createPartitioner`.
/// Both keep keyed records where the Java client puts them (murmur2); records without a key
/// stick to one partition per batch.
#[napi(string_enum)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioners {
    #[napi(value = "murmur2_random")]
    DefaultPartitioner,
    #[napi(value = "murmur2_random")]
    JavaCompatiblePartitioner,
}

/// `kafka.producer(config)`.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct ProducerConfig<'a> {
    /// `enable.idempotence`. Unset: off, as in kafkajs (whose sends may ask for acks 0 or 1,
    /// which an idempotent producer refuses).
    pub idempotent: Option<bool>,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight_requests: Option<u32>,
    /// `transactional.id`: makes `producer.transaction()` usable (and the producer
    /// idempotent; `idempotent: false` with it is refused).
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: the coordinator aborts a transaction left open longer.
    pub transaction_timeout: Option<u32>,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Option<u32>,
    pub retry: Option<RetryOptions>,
    /// `Partitioners.DefaultPartitioner`, or kafkajs's factory of a partition function:
    /// `() => ({ topic, partitionMetadata, message }) => partition`.
    #[napi(ts_type = "Partitioners | (() => (args: PartitionerArgs) => number)")]
    pub create_partitioner: Option<Either<String, Function<'a, (), Unknown<'a>>>>,
    /// Extra core settings by their Kafka names (e.g. `{ 'linger.ms': '5' }`).
    pub settings: Option<HashMap<String, String>>,
}

/// What a custom partition function receives. `message` holds the key only: the core's
/// partitioner interface is given the key, not the value or headers.
#[napi(object, object_from_js = false)]
pub struct PartitionerArgs {
    pub topic: String,
    pub partition_metadata: Vec<PartitionMetadata>,
    pub message: PartitionerMessage,
}

#[napi(object, object_from_js = false)]
pub struct PartitionMetadata {
    pub partition_id: i32,
}

#[napi(object, object_from_js = false)]
pub struct PartitionerMessage {
    pub key: Option<Buffer>,
}

/// Headers of a record to send, by name: a value, or several for a name that repeats.
type MessageHeaders = indexmap::IndexMap<String, Option<Either3<Buffer, String, Vec<Either<Buffer, String>>>>>;

/// One record of `send`. Keys, values and header values are Buffers or strings.
#[napi(object, object_to_js = false)]
pub struct Message {
    #[napi(ts_type = "Buffer | string | null")]
    pub key: Option<Either<Buffer, String>>,
    #[napi(ts_type = "Buffer | string | null")]
    pub value: Option<Either<Buffer, String>>,
    pub partition: Option<i32>,
    #[napi(ts_type = "Record<string, Buffer | string | (Buffer | string)[] | undefined>")]
    pub headers: Option<MessageHeaders>,
    /// Milliseconds since the epoch (a string, as kafkajs takes it, or a number).
    pub timestamp: Option<Either<String, f64>>,
}

/// `producer.send(record)`.
#[napi(object, object_to_js = false)]
pub struct ProducerRecord {
    pub topic: String,
    pub messages: Vec<Message>,
    /// -1 (all, the default), 0 or 1.
    pub acks: Option<i32>,
    /// How long the broker may take to answer (`request.timeout.ms`).
    pub timeout: Option<u32>,
    pub compression: Option<CompressionTypes>,
}

#[napi(object, object_to_js = false)]
pub struct TopicMessages {
    pub topic: String,
    pub messages: Vec<Message>,
}

/// `producer.sendBatch(batch)`.
#[napi(object, object_to_js = false)]
pub struct ProducerBatch {
    pub topic_messages: Vec<TopicMessages>,
    pub acks: Option<i32>,
    pub timeout: Option<u32>,
    pub compression: Option<CompressionTypes>,
}

/// Where the records of one `send` went: one entry per partition written, with the offset
/// of the first of them.
#[napi(object, object_from_js = false)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic_name: String,
    pub partition: i32,
    pub error_code: i32,
    pub base_offset: String,
    /// kafkajs reports these from the broker's answer; the core does not expose them.
    pub log_append_time: Option<String>,
    pub log_start_offset: Option<String>,
}

/// A record converted on the JavaScript thread, ready for the core.
type Records = Vec<ferrokafka::ProducerRecord>;

#[derive(Debug)]
struct State {
    /// The core producer while connected: one for every send, whatever its acks, compression
    /// and timeout (the core batches records by those).
    producer: Option<ferrokafka::Producer>,
}

#[derive(Debug)]
struct Shared {
    settings: Settings,
    partitioner: Option<Arc<JsPartitioner>>,
    state: Mutex<State>,
    events: Arc<Emitter>,
}

#[napi]
pub struct Producer {
    shared: Arc<Shared>,
}

fn bytes(v: Either<Buffer, String>) -> Bytes {
    match v {
        Either::A(b) => Bytes::copy_from_slice(&b),
        Either::B(s) => Bytes::from(s),
    }
}

fn convert(topic: &str, messages: Vec<Message>) -> Result<Records> {
    messages
        .into_iter()
        .map(|m| {
            let mut rec = ferrokafka::ProducerRecord::new(topic);
            rec.key = m.key.map(bytes);
            rec.value = m.value.map(bytes);
            rec.partition = m.partition;
            rec.timestamp =
                match m.timestamp {
                    None => None,
                    Some(Either::A(s)) => Some(s.trim().parse::<i64>().map_err(|_| {
                        Error::invalid(format!("timestamp: {s:?} is not milliseconds since the epoch"))
                    })?),
                    Some(Either::B(n)) => Some(n as i64),
                };
            for (name, value) in m.headers.into_iter().flatten() {
                match value {
                    None => {}
                    Some(Either3::A(b)) => rec.headers.push((name, Some(Bytes::copy_from_slice(&b)))),
                    Some(Either3::B(s)) => rec.headers.push((name, Some(Bytes::from(s)))),
                    Some(Either3::C(mut many)) if many.len() <= 1 => {
                        rec.headers.extend(many.pop().map(|v| (name, Some(bytes(v)))))
                    }
                    Some(Either3::C(_)) => {
                        // The core's record keys headers by name (kafka-protocol's Record):
                        // repeated names would silently keep only the last value.
                        return Err(Error::not_implemented(format!(
                            "headers.{name}: repeated header names are not supported by ferrokafka yet"
                        )));
                    }
                }
            }
            Ok(rec)
        })
        .collect()
}

impl Shared {
    fn producer(&self) -> Result<ferrokafka::Producer> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.producer.clone().ok_or_else(|| Error::state("The producer is disconnected"))
    }

    /// How long a transactional call may take: `max.block.ms`, as the Java client's
    /// `initTransactions`/`commitTransaction` wait.
    fn txn_timeout(&self) -> Result<Duration> {
        let config = self.settings.client_config()?;
        let ms = config.get("max.block.ms").and_then(|v| v.parse::<u64>().ok()).unwrap_or(60_000);
        Ok(Duration::from_millis(ms))
    }

    /// kafkajs's `producer.transaction()`: initializes transactions on first use, then
    /// begins one (the core refuses a second while one is open).
    async fn begin(self: Arc<Self>) -> Result<Transaction> {
        let producer = self.producer()?;
        producer.init_transactions_once(self.txn_timeout()?).await?;
        producer.begin_transaction()?;
        Ok(Transaction { shared: self, ended: Arc::new(AtomicBool::new(false)) })
    }

    /// Queues every record in order, then waits for all acknowledgements.
    async fn send(&self, options: ferrokafka::SendOptions, records: Records) -> Result<Vec<RecordMetadata>> {
        let producer = self.producer()?;
        let mut deliveries = Vec::with_capacity(records.len());
        for rec in records {
            deliveries.push(producer.send(rec.options(options)).await?);
        }
        let mut first: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for d in deliveries {
            let meta = d.await?;
            let slot = first.entry((meta.topic, meta.partition)).or_insert(meta.offset);
            *slot = (*slot).min(meta.offset);
        }
        Ok(first
            .into_iter()
            .map(|((topic_name, partition), offset)| RecordMetadata {
                topic_name,
                partition,
                error_code: 0,
                base_offset: offset.to_string(),
                log_append_time: None,
                log_start_offset: None,
            })
            .collect())
    }
}

/// kafkajs's per-send settings: acks -1 and no compression unless the send says otherwise.
fn send_options(
    acks: Option<i32>,
    timeout: Option<u32>,
    compression: Option<CompressionTypes>,
) -> Result<ferrokafka::SendOptions> {
    let acks = acks.unwrap_or(-1);
    if !matches!(acks, -1..=1) {
        return Err(Error::invalid(format!("acks: {acks} is not -1 (all), 0 or 1")));
    }
    Ok(ferrokafka::SendOptions {
        acks: Some(acks as i16),
        compression: Some(compression.unwrap_or(CompressionTypes::None).codec()),
        request_timeout_ms: timeout.map(|t| t.min(i32::MAX as u32) as i32),
    })
}

/// `send`'s record, converted on the JavaScript thread.
fn record_to_send(record: ProducerRecord) -> Result<(ferrokafka::SendOptions, Records)> {
    let options = send_options(record.acks, record.timeout, record.compression)?;
    Ok((options, convert(&record.topic, record.messages)?))
}

/// `sendBatch`'s records, converted on the JavaScript thread.
fn batch_to_send(batch: ProducerBatch) -> Result<(ferrokafka::SendOptions, Records)> {
    let options = send_options(batch.acks, batch.timeout, batch.compression)?;
    let mut records = Vec::new();
    for t in batch.topic_messages {
        records.extend(convert(&t.topic, t.messages)?);
    }
    Ok((options, records))
}

impl Producer {
    pub(crate) fn create(env: &Env, mut settings: Settings, config: ProducerConfig<'_>) -> napi::Result<Producer> {
        match (&config.transactional_id, config.idempotent) {
            // A transactional producer is idempotent: kafkajs's default (off) does not apply,
            // and an explicit `idempotent: false` is left for the core to refuse.
            (Some(_), None) => {}
            (_, idempotent) => settings.set("enable.idempotence", idempotent.unwrap_or(false)),
        }
        settings.set_opt("transactional.id", config.transactional_id.as_ref());
        settings.set_opt("transaction.timeout.ms", config.transaction_timeout);
        settings.set_opt("max.in.flight.requests.per.connection", config.max_in_flight_requests);
        settings.set_opt("metadata.max.age.ms", config.metadata_max_age);
        settings.retry(config.retry.as_ref());
        let mut partitioner = None;
        match config.create_partitioner {
            None => {}
            Some(Either::A(name)) => settings.set("partitioner", name),
            Some(Either::B(factory)) => {
                let partition_fn: Unknown = factory.call(())?;
                if partition_fn.get_type()? != ValueType::Function {
                    return throw(
                        env,
                        Err(Error::invalid(
                            "createPartitioner must return a function ({ topic, partitionMetadata, message }) => partition",
                        )),
                    );
                }
                let f = JsFn::from_unknown(partition_fn)?;
                partitioner = Some(Arc::new(JsPartitioner::new(&f, settings.get("batch.size"))?));
            }
        }
        settings.extend(config.settings.as_ref());
        // Bad keys and values are reported now rather than at the first send.
        throw(env, settings.client_config())?;
        let shared = Shared {
            settings,
            partitioner,
            state: Mutex::new(State { producer: None }),
            events: Arc::new(Emitter::client("producer")),
        };
        Ok(Producer { shared: Arc::new(shared) })
    }
}

#[napi]
impl Producer {
    /// Checks that a broker answers, and makes `send` usable.
    #[napi(catch_unwind)]
    pub fn connect(&self, env: Env) -> napi::Result<AsyncBlock<()>> {
        let shared = Arc::clone(&self.shared);
        promise(&env, async move {
            let config = shared.settings.client_config()?;
            let admin = ferrokafka::Admin::new(config.clone())?;
            admin.describe_cluster().await?;
            let custom =
                shared.partitioner.as_ref().map(|p| Box::new(SharedPartitioner(Arc::clone(p))) as Box<dyn Partitioner>);
            let producer = ferrokafka::Producer::with_partitioner(config, custom)?;
            let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.producer.is_none() {
                state.producer = Some(producer);
            }
            drop(state);
            shared.events.emit(&ClientEvents::of("producer").connect, serde_json::json!(null));
            Ok(())
        })
    }

    /// Sends everything still queued, then closes. `send` fails afterwards.
    #[napi(catch_unwind)]
    pub fn disconnect(&self, env: Env) -> napi::Result<AsyncBlock<()>> {
        let shared = Arc::clone(&self.shared);
        promise(&env, async move {
            let producer = shared.state.lock().unwrap_or_else(|p| p.into_inner()).producer.take();
            let Some(producer) = producer else { return Ok(()) };
            producer.flush().await?;
            shared.events.emit(&ClientEvents::of("producer").disconnect, serde_json::json!(null));
            Ok(())
        })
    }

    /// Sends `messages` to `topic`; resolves once every one is acknowledged (with acks 1 or
    /// -1), to one entry per partition written.
    #[napi(catch_unwind)]
    pub fn send(&self, env: Env, record: ProducerRecord) -> napi::Result<AsyncBlock<Vec<RecordMetadata>>> {
        let converted = record_to_send(record);
        let shared = Arc::clone(&self.shared);
        promise(&env, async move {
            let (options, records) = converted?;
            shared.send(options, records).await
        })
    }

    /// `send` for several topics at once.
    #[napi(catch_unwind)]
    pub fn send_batch(&self, env: Env, batch: ProducerBatch) -> napi::Result<AsyncBlock<Vec<RecordMetadata>>> {
        let converted = batch_to_send(batch);
        let shared = Arc::clone(&self.shared);
        promise(&env, async move {
            let (options, records) = converted?;
            shared.send(options, records).await
        })
    }

    /// Begins a transaction (initializing transactions for the `transactionalId` on first
    /// use, which fences any older producer with the same id). One at a time: while one is
    /// open, this rejects with an `INVALID_STATE` error.
    #[napi(catch_unwind)]
    pub fn transaction(&self, env: Env) -> napi::Result<AsyncBlock<Transaction>> {
        let shared = Arc::clone(&self.shared);
        promise(&env, shared.begin())
    }

    /// `producer.events`: the names `on` accepts.
    #[napi(getter)]
    pub fn events(&self) -> ClientEvents {
        ClientEvents::of("producer")
    }

    /// Adds an event listener; returns the function that removes it.
    #[napi(
        catch_unwind,
        ts_args_type = "eventName: string, listener: (event: InstrumentationEvent) => void",
        ts_return_type = "() => void"
    )]
    pub fn on<'env>(
        &self,
        env: &'env Env,
        event_name: String,
        listener: JsFn<'_>,
    ) -> napi::Result<Function<'env, (), ()>> {
        self.shared.events.on(env, event_name, listener)
    }
}

/// `transaction.sendOffsets(...)`: a consumer group's next offsets to read, committed if and
/// only if the transaction commits.
#[napi(object, object_to_js = false)]
pub struct TransactionOffsets {
    pub consumer_group_id: String,
    pub topics: Vec<TransactionTopicOffsets>,
}

#[napi(object, object_to_js = false)]
pub struct TransactionTopicOffsets {
    pub topic: String,
    pub partitions: Vec<PartitionOffset>,
}

/// kafkajs's transaction, from `producer.transaction()`: records sent through it are
/// written atomically, with the consumer offsets given to `sendOffsets`, when it commits, and
/// never seen by read_committed consumers when it aborts. Once committed or aborted it is
/// ended: every method then rejects (`isActive()` is false). A failed commit leaves it
/// active: an error with `txnRequiresAbort` asks for `abort()`; one with `fatal` means the
/// producer is unusable (e.g. fenced by a newer instance with the same `transactionalId`);
/// after a timeout (`retriable`), `commit()` may be called again.
#[napi]
pub struct Transaction {
    shared: Arc<Shared>,
    ended: Arc<AtomicBool>,
}

impl Transaction {
    /// The core producer, unless this transaction has ended.
    fn producer(&self) -> Result<ferrokafka::Producer> {
        if self.ended.load(Ordering::Acquire) {
            return Err(Error::state("Cannot continue to use transaction once ended"));
        }
        self.shared.producer()
    }

    /// Commits or aborts; the transaction ends if the core did.
    fn end(&self, env: &Env, commit: bool) -> napi::Result<AsyncBlock<()>> {
        let producer = self.producer();
        let timeout = self.shared.txn_timeout();
        let ended = Arc::clone(&self.ended);
        promise(env, async move {
            let (producer, timeout) = (producer?, timeout?);
            if commit {
                producer.commit_transaction(timeout).await?;
            } else {
                producer.abort_transaction(timeout).await?;
            }
            ended.store(true, Ordering::Release);
            Ok(())
        })
    }
}

#[napi]
impl Transaction {
    /// `producer.send` inside the transaction.
    #[napi(catch_unwind)]
    pub fn send(&self, env: Env, record: ProducerRecord) -> napi::Result<AsyncBlock<Vec<RecordMetadata>>> {
        let checked = self.producer().and_then(|_| record_to_send(record));
        let shared = Arc::clone(&self.shared);
        promise(&env, async move {
            let (options, records) = checked?;
            shared.send(options, records).await
        })
    }

    /// `producer.sendBatch` inside the transaction.
    #[napi(catch_unwind)]
    pub fn send_batch(&self, env: Env, batch: ProducerBatch) -> napi::Result<AsyncBlock<Vec<RecordMetadata>>> {
        let checked = self.producer().and_then(|_| batch_to_send(batch));
        let shared = Arc::clone(&self.shared);
        promise(&env, async move {
            let (options, records) = checked?;
            shared.send(options, records).await
        })
    }

    /// Adds a consumer group's offsets (the next offset to read, a string) to the
    /// transaction. As in kafkajs only the group is named, not the member: the coordinator
    /// does not check the consumer's generation (no KIP-447 zombie fencing).
    #[napi(catch_unwind)]
    pub fn send_offsets(&self, env: Env, offsets: TransactionOffsets) -> napi::Result<AsyncBlock<()>> {
        let converted = (|| -> Result<_> {
            let mut list = Vec::new();
            for t in offsets.topics {
                for p in t.partitions {
                    let offset = p
                        .offset
                        .trim()
                        .parse::<i64>()
                        .map_err(|_| Error::invalid(format!("offset: {:?} is not an integer", p.offset)))?;
                    list.push(ferrokafka::TopicPartitionOffset::new(&t.topic, p.partition, offset));
                }
            }
            Ok((list, ferrokafka::ConsumerGroupMetadata::group_only(offsets.consumer_group_id)))
        })();
        let checked = self.producer().and_then(|p| Ok((p, self.shared.txn_timeout()?, converted?)));
        promise(&env, async move {
            let (producer, timeout, (list, group)) = checked?;
            producer.send_offsets_to_transaction(&list, &group, timeout).await?;
            Ok(())
        })
    }

    /// Sends what is left of the transaction, waits for it to be acknowledged, and commits.
    #[napi(catch_unwind)]
    pub fn commit(&self, env: Env) -> napi::Result<AsyncBlock<()>> {
        self.end(&env, true)
    }

    /// Aborts the transaction: read_committed consumers never see its records.
    #[napi(catch_unwind)]
    pub fn abort(&self, env: Env) -> napi::Result<AsyncBlock<()>> {
        self.end(&env, false)
    }

    /// Whether the transaction may still be used: not yet committed or aborted.
    #[napi]
    pub fn is_active(&self) -> bool {
        !self.ended.load(Ordering::Acquire)
    }
}

/// A JavaScript partition function behind the core's `Partitioner`. The core calls it
/// synchronously while queueing a record, on a runtime thread; the call is carried to the
/// JavaScript thread and this thread blocks until it returns (one round trip per record).
/// If it throws or returns something that is not a partition, the record goes where the
/// default partitioner puts it and a warning is logged: the core's interface cannot fail a
/// send from the partitioner.
#[derive(Debug)]
struct JsPartitioner {
    callback: JsCallback<true>,
    fallback: BuiltinPartitioner,
}

impl JsPartitioner {
    fn new(f: &JsFn<'_>, batch_size: Option<&str>) -> napi::Result<Self> {
        let batch_size = batch_size.and_then(|b| b.parse().ok()).unwrap_or(1_000_000);
        let fallback = BuiltinPartitioner::from_name("murmur2_random").expect("a built-in name").sticky_for(batch_size);
        Ok(JsPartitioner { callback: JsCallback::new(f)?, fallback })
    }
}

/// The JavaScript partitioner as the core producer's `Partitioner`.
#[derive(Debug)]
struct SharedPartitioner(Arc<JsPartitioner>);

impl Partitioner for SharedPartitioner {
    fn partition(&self, topic: &str, key: Option<&[u8]>, partitions: usize) -> usize {
        self.partition_record(topic, key, 0, partitions)
    }

    fn partition_record(&self, topic: &str, key: Option<&[u8]>, size: usize, partitions: usize) -> usize {
        let args = PartitionerArgs {
            topic: topic.to_owned(),
            partition_metadata: (0..partitions as i32).map(|partition_id| PartitionMetadata { partition_id }).collect(),
            message: PartitionerMessage { key: key.map(|k| Buffer::from(k.to_vec())) },
        };
        let args: crate::callbacks::Args = Box::new(move |env: &Env| Ok(args.into_unknown(env)?.raw()));
        let chosen = self.0.callback.call_blocking(args, move |v: Unknown<'_>| match v.get_type() {
            Ok(ValueType::Number) => {
                v.coerce_to_number().and_then(|n| n.get_double()).map_err(|e| Failure::new(e.reason.clone()))
            }
            _ => Err(Failure::new("the partitioner did not return a number")),
        });
        match chosen {
            Ok(p) if p >= 0.0 && p.fract() == 0.0 && (p as usize) < partitions => p as usize,
            Ok(p) => {
                tracing::warn!(
                    topic,
                    partition = p,
                    partitions,
                    "the custom partitioner returned no partition of the topic; using the default partitioner"
                );
                self.0.fallback.partition_record(topic, key, size, partitions)
            }
            Err(e) => {
                tracing::warn!(topic, error = %e, "the custom partitioner failed; using the default partitioner");
                self.0.fallback.partition_record(topic, key, size, partitions)
            }
        }
    }
}
