//! `kafka.consumer(config)`: kafkajs's group consumer over the core's `Consumer`.
//!
//! `run` moves a core consumer into a task on the runtime that polls it and hands each record
//! to `eachMessage` (or each partition's records to `eachBatch`) through a thread-safe
//! function, awaiting the promise the handler returns before it polls again. So records of a
//! partition are handled one after another, and nothing is read ahead while a handler is
//! busy: what waits is at most the core's one fetch response (bounded by `maxBytes` and
//! `maxBytesPerPartition`).
//!
//! With `partitionsConsumedConcurrently: N`, the records of one round (what a fetch brought)
//! are split by partition and up to N partitions are handled at once, each in order; the next
//! round is read once every partition of this one is done, as kafkajs reads the next fetch.
//!
//! The task is the core's [`ferrokafka::consumer::Runner`]: calls that need the consumer
//! while it runs (`seek`, `pause`, `resume`, `commitOffsets`) go through its
//! [`Control`](ferrokafka::consumer::Control), which the runner serves between polls and
//! while it awaits a handler, so a handler may make them without deadlocking. This file only
//! turns records into kafkajs payloads, handler outcomes into rewinds, and rounds into events.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use ferrokafka::consumer::{Control, PauseTarget};
use ferrokafka::{ConsumerRecord, Offset, RebalanceEvent, TopicPartition};
use napi::bindgen_prelude::{
    AsyncBlock, Buffer, Either, Float64Array, FnArgs, FromNapiValue, Function, JsObjectValue, JsValue, Object,
    ToNapiValue, Unknown,
};
use napi::{Env, ValueType, sys};
use napi_derive::napi;
use tokio::sync::{oneshot, watch};

use crate::callbacks::{Args, Failure, JsCallback, JsFn};
use crate::config::{RetryOptions, Settings};
use crate::errors::{Error, Result, promise, throw};
use crate::events::{CONSUMER_EVENTS, ConsumerEvents, Emitter};

/// The core's assignors, under kafkajs-style names: pass them as `partitionAssigners`.
#[napi(string_enum)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionAssigners {
    #[napi(value = "roundrobin")]
    roundRobin,
    #[napi(value = "range")]
    range,
    #[napi(value = "cooperative-sticky")]
    cooperativeSticky,
}

/// `kafka.consumer(config)`.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct ConsumerConfig {
    /// `group.id`.
    pub group_id: String,
    /// `partition.assignment.strategy`, in order of preference (default range, roundrobin).
    #[napi(ts_type = "Array<PartitionAssigners | string>")]
    pub partition_assigners: Option<Vec<String>>,
    /// `group.protocol` (a ferrokafka extension; kafkajs has only the classic protocol):
    /// `'consumer'` for KIP-848, where the broker assigns (Kafka 4.0+ and the bundled broker).
    #[napi(ts_type = "'classic' | 'consumer'")]
    pub group_protocol: Option<String>,
    /// `group.remote.assignor` with `groupProtocol: 'consumer'`: the broker's assignor
    /// (`'uniform'`, `'range'`); unset, the broker's default.
    pub group_remote_assignor: Option<String>,
    /// `session.timeout.ms`.
    pub session_timeout: Option<u32>,
    /// `max.poll.interval.ms`, which the core also uses as the rebalance timeout.
    pub rebalance_timeout: Option<u32>,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Option<u32>,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Option<u32>,
    /// `max.partition.fetch.bytes`.
    pub max_bytes_per_partition: Option<u32>,
    /// `fetch.min.bytes`.
    pub min_bytes: Option<u32>,
    /// `fetch.max.bytes`.
    pub max_bytes: Option<u32>,
    /// `fetch.max.wait.ms`.
    pub max_wait_time_in_ms: Option<u32>,
    pub retry: Option<RetryOptions>,
    /// `isolation.level`: read_uncommitted (true) or read_committed (false, the default as in
    /// kafkajs): records of aborted transactions and of open ones are not handed out.
    pub read_uncommitted: Option<bool>,
    /// Extra core settings by their Kafka names (e.g. `{ 'group.instance.id': 'a' }`).
    pub settings: Option<HashMap<String, String>>,
}

/// `consumer.subscribe(...)`: `topics` (or `topic`) are names or regular expressions.
#[napi(object, object_to_js = false)]
pub struct ConsumerSubscribeTopics<'a> {
    #[napi(ts_type = "Array<string | RegExp>")]
    pub topics: Option<Vec<Either<String, Object<'a>>>>,
    #[napi(ts_type = "string | RegExp")]
    pub topic: Option<Either<String, Object<'a>>>,
    /// Start from the earliest offset where the group has none (default: the latest).
    pub from_beginning: Option<bool>,
}

/// `consumer.run(config)`.
#[napi(object, object_to_js = false)]
pub struct ConsumerRunConfig<'a> {
    /// Default true: what was handled is committed after each round of records (what one
    /// fetch brought) and on stop.
    pub auto_commit: Option<bool>,
    /// Accepted for kafkajs compatibility; commits follow each round.
    pub auto_commit_interval: Option<u32>,
    /// Accepted for kafkajs compatibility; commits follow `autoCommitInterval`.
    pub auto_commit_threshold: Option<u32>,
    /// Default true: a batch whose handler resolves counts as handled whole.
    pub each_batch_auto_resolve: Option<bool>,
    /// Default 1: how many partitions are handled at once. Records of one partition are
    /// handed out one after another (the next once the handler's promise settled); with
    /// more than one, each partition of a round of fetched records is handled on its own,
    /// up to this many at a time, and a failing handler stops only its partition.
    pub partitions_consumed_concurrently: Option<u32>,
    #[napi(ts_type = "(payload: EachMessagePayload) => Promise<void>")]
    pub each_message: Option<JsFn<'a>>,
    #[napi(ts_type = "(payload: EachBatchPayload) => Promise<void>")]
    pub each_batch: Option<JsFn<'a>>,
}

/// A record as `eachMessage`/`eachBatch` get it. Offsets and timestamps are strings, as in
/// kafkajs; a header that occurs more than once is an array.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct KafkaMessage {
    pub key: Option<Buffer>,
    pub value: Option<Buffer>,
    pub timestamp: String,
    pub attributes: i32,
    pub offset: String,
    pub headers: indexmap::IndexMap<String, Either<Option<Buffer>, Vec<Option<Buffer>>>>,
}

/// What `eachMessage` receives.
#[napi(object, object_from_js = false)]
// Declared for the TypeScript types: the payloads are built in JavaScript by MESSAGE_DRIVER.
#[allow(dead_code)]
pub struct EachMessagePayload {
    pub topic: String,
    pub partition: i32,
    pub message: KafkaMessage,
    /// The core heartbeats in the background: resolves at once.
    #[napi(ts_type = "() => Promise<void>")]
    pub heartbeat: (),
    /// Pauses this partition; returns the function that resumes it.
    #[napi(ts_type = "() => () => void")]
    pub pause: (),
}

/// One partition's records in `eachBatch`.
#[napi(object, object_from_js = false)]
pub struct Batch {
    pub topic: String,
    pub partition: i32,
    pub high_watermark: String,
    pub messages: Vec<KafkaMessage>,
    #[napi(ts_type = "() => boolean")]
    pub is_empty: (),
    #[napi(ts_type = "() => string")]
    pub first_offset: (),
    #[napi(ts_type = "() => string")]
    pub last_offset: (),
    #[napi(ts_type = "() => string")]
    pub offset_lag: (),
    #[napi(ts_type = "() => string")]
    pub offset_lag_low: (),
}

/// What `eachBatch` receives.
#[napi(object, object_from_js = false)]
pub struct EachBatchPayload {
    pub batch: Batch,
    /// Marks the records up to `offset` handled (with `eachBatchAutoResolve: false`, records
    /// after the last resolved one are read again).
    #[napi(ts_type = "(offset: string) => void")]
    pub resolve_offset: (),
    #[napi(ts_type = "() => Promise<void>")]
    pub heartbeat: (),
    #[napi(ts_type = "() => () => void")]
    pub pause: (),
    /// Commits the resolved offsets of this batch.
    #[napi(ts_type = "() => Promise<void>")]
    pub commit_offsets_if_necessary: (),
    #[napi(ts_type = "() => boolean")]
    pub is_running: (),
    #[napi(ts_type = "() => boolean")]
    pub is_stale: (),
}

/// `[{ topic, partitions? }]` of `pause`, `resume` and `paused`.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct TopicPartitionsSelection {
    pub topic: String,
    /// Default: every partition of the topic, including ones assigned later.
    pub partitions: Option<Vec<i32>>,
}

/// One offset for `commitOffsets` (the next offset to read) or `seek`.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct TopicPartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: String,
    pub metadata: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    connected: bool,
    /// Core subscription entries (names, or `^`-prefixed patterns).
    subscription: Vec<String>,
    from_beginning: Option<bool>,
    /// While `run` runs: turns true when its task has finished.
    running: Option<watch::Receiver<bool>>,
}

#[derive(Debug)]
struct Shared {
    settings: Settings,
    group_id: String,
    state: Mutex<State>,
    /// The core's handle on the running consumer; what is paused outlives a run.
    control: Control,
    events: Arc<Emitter>,
    retry_backoff: Duration,
}

/// kafkajs's message for calls that need `run`.
const NOT_RUNNING: &str = "Consumer group was not initialized, consumer#run must be called first";

fn pause_targets(sel: Vec<TopicPartitionsSelection>) -> Vec<PauseTarget> {
    sel.into_iter()
        .map(|s| match s.partitions {
            None => PauseTarget::Topic(s.topic),
            Some(ps) => PauseTarget::Partitions(s.topic, ps),
        })
        .collect()
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The control's answer, with kafkajs's message when the consumer does not run.
    fn running<T>(&self, result: ferrokafka::Result<T>) -> Result<T> {
        result.map_err(|e| if self.control.is_running() { Error::from(e) } else { Error::state(NOT_RUNNING) })
    }

    fn pause(&self, sel: Vec<TopicPartitionsSelection>) -> Result<()> {
        self.running(self.control.pause(&pause_targets(sel)))
    }

    fn resume(&self, sel: Vec<TopicPartitionsSelection>) -> Result<()> {
        self.running(self.control.resume(&pause_targets(sel)))
    }

    /// Commits through the running consumer and emits `COMMIT_OFFSETS`.
    async fn commit(&self, offsets: Vec<ferrokafka::TopicPartitionOffset>) -> Result<()> {
        let committed = self.running(self.control.commit(offsets).await)?;
        self.emit_commit(&committed);
        Ok(())
    }

    /// Stops the run task (it commits, when auto commit is on, and leaves the group) and
    /// waits for it. A no-op when not running.
    async fn stop(&self) -> bool {
        let running = self.state().running.take();
        let Some(mut done) = running else { return false };
        self.control.stop();
        let _ = done.wait_for(|d| *d).await;
        true
    }

    fn emit_commit(&self, offsets: &[ferrokafka::TopicPartitionOffset]) {
        if offsets.is_empty() || !self.events.wants(CONSUMER_EVENTS.commit_offsets) {
            return;
        }
        let mut topics: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
        for o in offsets {
            let partition = serde_json::json!({ "partition": o.partition(), "offset": o.offset.to_string() });
            topics.entry(o.topic().to_owned()).or_default().push(partition);
        }
        let (member_id, generation) = self.control.membership().unwrap_or_default();
        self.events.emit(
            CONSUMER_EVENTS.commit_offsets,
            serde_json::json!({
                "groupId": self.group_id,
                "memberId": member_id,
                "groupGenerationId": generation,
                "topics": topics.into_iter().map(|(topic, partitions)| serde_json::json!({ "topic": topic, "partitions": partitions })).collect::<Vec<_>>(),
            }),
        );
    }
}

#[napi]
pub struct Consumer {
    shared: Arc<Shared>,
}

/// A JavaScript `RegExp` as a core pattern: kafkajs matches with `test` (anywhere in the
/// name); the core anchors `^`-prefixed patterns to the whole name, hence the `.*`s.
fn subscription_entry(topic: Either<String, Object<'_>>) -> Result<String> {
    match topic {
        Either::A(name) => Ok(name),
        Either::B(obj) => {
            let source: Option<String> = obj.get("source").ok().flatten();
            let flags: String = obj.get("flags").ok().flatten().unwrap_or_default();
            let source = source.ok_or_else(|| Error::invalid("topics: expected strings or RegExps"))?;
            let case = if flags.contains('i') { "(?i)" } else { "" };
            Ok(format!("^{case}.*(?:{source}).*"))
        }
    }
}

impl Consumer {
    pub(crate) fn create(mut settings: Settings, config: ConsumerConfig) -> Result<Consumer> {
        if config.group_id.trim().is_empty() {
            return Err(Error::invalid("Consumer groupId must be a non-empty string."));
        }
        settings.set("group.id", &config.group_id);
        settings.set_opt("partition.assignment.strategy", config.partition_assigners.map(|a| a.join(",")));
        settings.set_opt("group.protocol", config.group_protocol);
        settings.set_opt("group.remote.assignor", config.group_remote_assignor);
        settings.set_opt("session.timeout.ms", config.session_timeout);
        settings.set_opt("max.poll.interval.ms", config.rebalance_timeout);
        settings.set_opt("heartbeat.interval.ms", config.heartbeat_interval);
        settings.set_opt("metadata.max.age.ms", config.metadata_max_age);
        settings.set_opt("max.partition.fetch.bytes", config.max_bytes_per_partition);
        settings.set_opt("fetch.min.bytes", config.min_bytes);
        settings.set_opt("fetch.max.bytes", config.max_bytes);
        settings.set_opt("fetch.max.wait.ms", config.max_wait_time_in_ms);
        settings.set_opt(
            "isolation.level",
            config.read_uncommitted.map(|u| if u { "read_uncommitted" } else { "read_committed" }),
        );
        settings.retry(config.retry.as_ref());
        settings.extend(config.settings.as_ref());
        let checked = settings.client_config()?;
        // The core makes its consumer at run(); what it would refuse is refused here, at once.
        checked.validate_consumer()?;
        let retry_backoff =
            Duration::from_millis(checked.get("retry.backoff.ms").and_then(|v| v.parse().ok()).unwrap_or(100).max(100));
        Ok(Consumer {
            shared: Arc::new(Shared {
                settings,
                group_id: config.group_id,
                state: Mutex::new(State::default()),
                control: Control::new(),
                events: Arc::new(Emitter::consumer()),
                retry_backoff,
            }),
        })
    }
}

#[napi]
impl Consumer {
    /// Checks that a broker answers.
    #[napi(catch_unwind)]
    pub fn connect(&self, env: Env) -> napi::Result<AsyncBlock<()>> {
        let shared = Arc::clone(&self.shared);
        promise(&env, async move {
            let admin = ferrokafka::Admin::new(shared.settings.client_config()?)?;
            admin.describe_cluster().await?;
            shared.state().connected = true;
            shared.events.emit(CONSUMER_EVENTS.connect, serde_json::Value::Null);
            Ok(())
        })
    }

    /// Adds topics (names or RegExps) to the subscription; call before `run`.
    #[napi(catch_unwind)]
    pub fn subscribe(&self, env: Env, subscription: ConsumerSubscribeTopics<'_>) -> napi::Result<AsyncBlock<()>> {
        let checked = (|| -> Result<()> {
            let mut topics = Vec::new();
            for t in subscription.topics.into_iter().flatten().chain(subscription.topic) {
                topics.push(subscription_entry(t)?);
            }
            if topics.is_empty() {
                return Err(Error::invalid("subscribe: give `topics` (or `topic`)"));
            }
            let mut state = self.shared.state();
            if state.running.is_some() {
                return Err(Error::state("Cannot subscribe to topic while consumer is running"));
            }
            let from_beginning = subscription.from_beginning.unwrap_or(false);
            if state.from_beginning.is_some_and(|f| f != from_beginning) {
                return Err(Error::not_implemented(
                    "fromBeginning must be the same for every subscribe call: the core has one auto.offset.reset per consumer",
                ));
            }
            state.from_beginning = Some(from_beginning);
            for t in topics {
                if !state.subscription.contains(&t) {
                    state.subscription.push(t);
                }
            }
            Ok(())
        })();
        promise(&env, async move { checked })
    }

    /// Joins the group and starts handing records to `eachMessage` or `eachBatch`; resolves
    /// once the first join is done (rejects if it fails).
    #[napi(catch_unwind)]
    pub fn run(&self, env: Env, config: Option<ConsumerRunConfig<'_>>) -> napi::Result<AsyncBlock<()>> {
        let started = throw(&env, self.start(&env, config))?;
        promise(&env, async move {
            started.await.unwrap_or_else(|_| Err(Error::state("the consumer stopped while starting")))
        })
    }

    /// Stops reading, commits (with auto commit) and leaves the group; `run` may be called again.
    #[napi(catch_unwind)]
    pub fn stop(&self, env: Env) -> napi::Result<AsyncBlock<()>> {
        let shared = Arc::clone(&self.shared);
        promise(&env, async move {
            if shared.stop().await {
                shared.events.emit(CONSUMER_EVENTS.stop, serde_json::Value::Null);
            }
            Ok(())
        })
    }

    /// `stop`, then closes the consumer.
    #[napi(catch_unwind)]
    pub fn disconnect(&self, env: Env) -> napi::Result<AsyncBlock<()>> {
        let shared = Arc::clone(&self.shared);
        promise(&env, async move {
            if shared.stop().await {
                shared.events.emit(CONSUMER_EVENTS.stop, serde_json::Value::Null);
            }
            if std::mem::replace(&mut shared.state().connected, false) {
                shared.events.emit(CONSUMER_EVENTS.disconnect, serde_json::Value::Null);
            }
            Ok(())
        })
    }

    /// Commits these offsets (each the next offset to read) for the group.
    #[napi(catch_unwind)]
    pub fn commit_offsets(&self, env: Env, offsets: Vec<TopicPartitionOffset>) -> napi::Result<AsyncBlock<()>> {
        let offsets = offsets
            .into_iter()
            .map(|o| {
                Ok(ferrokafka::TopicPartitionOffset {
                    topic_partition: TopicPartition::new(o.topic, o.partition),
                    offset: parse_offset(&o.offset)?,
                    metadata: o.metadata,
                })
            })
            .collect::<Result<Vec<_>>>();
        let shared = Arc::clone(&self.shared);
        promise(&env, async move { shared.commit(offsets?).await })
    }

    /// Moves a partition's position; applied before the next fetch (or once the partition
    /// is assigned).
    #[napi(catch_unwind)]
    pub fn seek(&self, env: Env, target: TopicPartitionOffset) -> napi::Result<()> {
        let offset = throw(&env, parse_offset(&target.offset))?;
        let at = match offset {
            -2 => Offset::Beginning,
            -1 => Offset::End,
            o => Offset::At(o),
        };
        let tp = TopicPartition::new(target.topic, target.partition);
        throw(&env, self.shared.running(self.shared.control.seek(tp, at)))
    }

    /// Stops fetching these topics or partitions until `resume`.
    #[napi(catch_unwind)]
    pub fn pause(&self, env: Env, topics: Vec<TopicPartitionsSelection>) -> napi::Result<()> {
        throw(&env, self.shared.pause(topics))
    }

    #[napi(catch_unwind)]
    pub fn resume(&self, env: Env, topics: Vec<TopicPartitionsSelection>) -> napi::Result<()> {
        throw(&env, self.shared.resume(topics))
    }

    /// What `pause` asked for and `resume` did not undo.
    #[napi(catch_unwind)]
    pub fn paused(&self) -> Vec<TopicPartitionsSelection> {
        (self.shared.control.paused().into_iter())
            .map(|t| match t {
                PauseTarget::Topic(topic) => TopicPartitionsSelection { topic, partitions: None },
                PauseTarget::Partitions(topic, ps) => TopicPartitionsSelection { topic, partitions: Some(ps) },
            })
            .collect()
    }

    /// `consumer.events`: the names `on` accepts.
    #[napi(getter)]
    pub fn events(&self) -> ConsumerEvents {
        CONSUMER_EVENTS
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

fn parse_offset(s: &str) -> Result<i64> {
    s.trim().parse().map_err(|_| Error::invalid(format!("offset: {s:?} is not an integer")))
}

/// How records are handed to JavaScript.
enum Handler {
    Message(Arc<JsCallback<false>>),
    Batch { callback: Arc<JsCallback<false>>, auto_resolve: bool },
}

impl Consumer {
    /// Checks the state, builds the core consumer and spawns the run task. The receiver
    /// yields the first poll's outcome.
    fn start(&self, env: &Env, config: Option<ConsumerRunConfig<'_>>) -> Result<oneshot::Receiver<Result<()>>> {
        let config = config.ok_or_else(|| Error::invalid("run: give eachMessage or eachBatch"))?;
        let concurrency = match config.partitions_consumed_concurrently {
            None => 1,
            Some(0) => return Err(Error::invalid("partitionsConsumedConcurrently: at least 1")),
            Some(n) => n as usize,
        };
        let handler = match (&config.each_message, &config.each_batch) {
            (Some(f), None) => {
                let driver =
                    message_driver(env, f, &self.shared, concurrency).map_err(|e| Error::invalid(e.reason.clone()))?;
                Handler::Message(Arc::new(JsCallback::new(&driver).map_err(|e| Error::invalid(e.reason.clone()))?))
            }
            (None, Some(f)) => Handler::Batch {
                callback: Arc::new(JsCallback::new(f).map_err(|e| Error::invalid(e.reason.clone()))?),
                auto_resolve: config.each_batch_auto_resolve.unwrap_or(true),
            },
            (Some(_), Some(_)) => return Err(Error::invalid("run: give eachMessage or eachBatch, not both")),
            (None, None) => return Err(Error::invalid("run: give eachMessage or eachBatch")),
        };
        let auto_commit = config.auto_commit.unwrap_or(true);
        let mut state = self.shared.state();
        if !state.connected {
            return Err(Error::state("The consumer is not connected: call connect() first"));
        }
        if state.running.is_some() {
            return Err(Error::state("the consumer is already running"));
        }
        if state.subscription.is_empty() {
            return Err(Error::state("subscribe to at least one topic before run"));
        }
        let mut settings = self.shared.settings.clone();
        settings.set("auto.offset.reset", if state.from_beginning == Some(true) { "earliest" } else { "latest" });
        // Records are taken from the core a round at a time, ahead of their handling (the core
        // counts a record returned by poll as consumed), so the binding commits what was
        // handled after each round instead of the core's auto commit.
        settings.set("enable.auto.commit", false);
        let mut consumer = ferrokafka::Consumer::new(settings.client_config()?)?;
        let refs: Vec<&str> = state.subscription.iter().map(String::as_str).collect();
        consumer.subscribe(&refs)?;
        let run = ferrokafka::consumer::Runner::new(consumer, &self.shared.control)?;

        let (done_tx, done_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        state.running = Some(done_rx.clone());
        drop(state);
        let runner = Runner {
            run,
            shared: Arc::clone(&self.shared),
            handler,
            done: done_rx,
            binding_commits: auto_commit,
            concurrency,
        };
        napi::bindgen_prelude::spawn(async move {
            runner.run(ready_tx).await;
            let _ = done_tx.send(true);
        });
        Ok(ready_rx)
    }
}

/// How long one poll waits for records: also how soon `stop` and calls made outside a
/// handler are noticed while the consumer is idle.
const POLL: Duration = Duration::from_millis(100);
/// Most records taken for one round of `eachBatch`.
const MAX_BATCH_RECORDS: usize = 10_000;

struct Runner {
    /// The core's run of the consumer: rounds, pauses, seeks, rewinds, commits.
    run: ferrokafka::consumer::Runner,
    shared: Arc<Shared>,
    handler: Handler,
    /// This run's end, to tell it from a later run's in `State::running`.
    done: watch::Receiver<bool>,
    /// autoCommit: positions are committed after each round (not by the core's auto commit).
    binding_commits: bool,
    /// partitionsConsumedConcurrently: how many partitions of a round are handled at once.
    concurrency: usize,
}

fn bytes_to_buffer(b: bytes::Bytes) -> Buffer {
    Buffer::from(Vec::from(b))
}

type HeaderMap = indexmap::IndexMap<String, Either<Option<Buffer>, Vec<Option<Buffer>>>>;

/// kafkajs's headers: by name, in order; a name that occurs more than once has an array.
fn header_map(record_headers: Vec<(String, Option<bytes::Bytes>)>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in record_headers {
        let value = value.map(bytes_to_buffer);
        match headers.get_mut(&name) {
            None => {
                headers.insert(name, Either::A(value));
            }
            Some(slot) => {
                let previous = std::mem::replace(slot, Either::B(Vec::new()));
                let mut all = match previous {
                    Either::A(one) => vec![one],
                    Either::B(many) => many,
                };
                all.push(value);
                *slot = Either::B(all);
            }
        }
    }
    headers
}

fn kafka_message(r: ConsumerRecord) -> KafkaMessage {
    let headers = header_map(r.headers);
    KafkaMessage {
        key: r.key.map(bytes_to_buffer),
        value: r.value.map(bytes_to_buffer),
        timestamp: r.timestamp.to_string(),
        attributes: 0,
        offset: r.offset.to_string(),
        headers,
    }
}

/// A function property of a payload, made on the JavaScript thread.
fn set_fn<R, F>(env: &Env, obj: &mut Object<'_>, name: &str, f: F) -> napi::Result<()>
where
    R: ToNapiValue,
    F: 'static + Fn(&Env) -> napi::Result<R>,
{
    let function = env.create_function_from_closure::<(), R, _>(name, move |ctx| f(ctx.env))?;
    obj.set(name, function)
}

/// `pause()` of a payload: pauses the partition, returns `resume`.
fn pause_fn(
    shared: &Arc<Shared>,
    topic: &str,
    partition: i32,
) -> impl Fn(&Env) -> napi::Result<sys::napi_value> + 'static {
    let shared = Arc::clone(shared);
    let topic = topic.to_owned();
    move |env: &Env| {
        let sel = vec![TopicPartitionsSelection { topic: topic.clone(), partitions: Some(vec![partition]) }];
        throw(env, shared.pause(sel.clone()))?;
        let shared = Arc::clone(&shared);
        let resume = env.create_function_from_closure::<(), _, _>("resume", move |ctx| {
            throw(ctx.env, shared.resume(sel.clone()))
        })?;
        Ok(resume.raw())
    }
}

/// Runs `eachMessage` over a round of payloads inside JavaScript.
///
/// With a concurrency of 1, awaits each call before the next, across partitions. Resolves to
/// -1 when all were handled, to the index of the first payload it did not hand out (its
/// partition paused, or the consumer stopping), or to `{ index, error }` when the handler
/// failed there: nothing from there on was handled, in any partition.
///
/// With more, the round is split by partition (in the order partitions first occur) and up to
/// `concurrency` partitions are run at once, each awaiting its calls one after another and
/// stopping as above on its own. Resolves to -1 when all were handled, otherwise to an array
/// with one such stop (an index or `{ index, error }`) per partition that stopped: that
/// partition's records from there on were not handled, other partitions' were.
const MESSAGE_DRIVER: &str = r#"(function (eachMessage, deliverable, pausePartition, concurrency) {
  const heartbeat = async () => {};
  if (concurrency > 1) return concurrently(eachMessage, deliverable, pausePartition, concurrency, heartbeat);
  return async function ([topics, data, meta, headers]) {
    const pauses = new Map();
    const n = meta.length / 9;
    for (let i = 0; i < n; i++) {
      const o = i * 9;
      const topic = topics[meta[o]], partition = meta[o + 1];
      if (!deliverable(topic, partition)) return i;
      const message = messageAt(data, meta, headers, o);
      const tp = topic + '\0' + partition;
      let pause = pauses.get(tp);
      if (pause === undefined) { pause = () => pausePartition(topic, partition); pauses.set(tp, pause); }
      try { await eachMessage({ topic, partition, message, heartbeat, pause }); } catch (error) { return { index: i, error }; }
    }
    return -1;
  };

  // The kafkajs message of the record whose 9 meta entries start at `o`.
  function messageAt(data, meta, headers, o) {
    const ks = meta[o + 4], kl = meta[o + 5], vs = meta[o + 6], vl = meta[o + 7], h = meta[o + 8];
    return {
      key: kl < 0 ? null : data.subarray(ks, ks + kl),
      value: vl < 0 ? null : data.subarray(vs, vs + vl),
      timestamp: String(meta[o + 3]),
      attributes: 0,
      offset: String(meta[o + 2]),
      headers: h < 0 ? {} : headers[h],
    };
  }

  function concurrently(eachMessage, deliverable, pausePartition, concurrency, heartbeat) {
    return async function ([topics, data, meta, headers]) {
      const n = meta.length / 9;
      const partitions = new Map();
      for (let i = 0; i < n; i++) {
        const key = meta[i * 9] + ':' + meta[i * 9 + 1];
        const indexes = partitions.get(key);
        if (indexes === undefined) partitions.set(key, [i]); else indexes.push(i);
      }
      const one = async (indexes) => {
        const first = indexes[0] * 9;
        const topic = topics[meta[first]], partition = meta[first + 1];
        const pause = () => pausePartition(topic, partition);
        for (const i of indexes) {
          if (!deliverable(topic, partition)) return i;
          const message = messageAt(data, meta, headers, i * 9);
          try { await eachMessage({ topic, partition, message, heartbeat, pause }); } catch (error) { return { index: i, error }; }
        }
        return -1;
      };
      const queue = [...partitions.values()];
      const stops = [];
      let next = 0;
      const worker = async () => {
        while (next < queue.length) {
          const stop = await one(queue[next++]);
          if (stop !== -1) stops.push(stop);
        }
      };
      const workers = [];
      for (let w = 0; w < Math.min(concurrency, queue.length); w++) workers.push(worker());
      await Promise.all(workers);
      return stops.length === 0 ? -1 : stops;
    };
  }
})"#;

/// The driver for this `eachMessage`; `deliverable` reads the consumer's pause and stop
/// state, `pausePartition` is a payload's `pause()`.
fn message_driver<'env>(
    env: &'env Env,
    each_message: &JsFn<'_>,
    shared: &Arc<Shared>,
    concurrency: usize,
) -> napi::Result<JsFn<'env>> {
    let make: Function<'env, FnArgs<(Unknown<'env>, Unknown<'env>, Unknown<'env>, f64)>, Unknown<'env>> =
        env.run_script(MESSAGE_DRIVER)?;
    let state = Arc::clone(shared);
    let deliverable =
        env.create_function_from_closure::<FnArgs<(String, i32)>, bool, _>("deliverable", move |ctx| {
            let (topic, partition): (String, i32) = (ctx.get(0)?, ctx.get(1)?);
            Ok(state.control.deliverable(&TopicPartition::new(topic, partition)))
        })?;
    let pauser = Arc::clone(shared);
    let pause = env.create_function_from_closure::<FnArgs<(String, i32)>, _, _>("pause", move |ctx| {
        let (topic, partition): (String, i32) = (ctx.get(0)?, ctx.get(1)?);
        pause_fn(&pauser, &topic, partition)(ctx.env)
    })?;
    let driver = make.call(FnArgs::from((
        each_message.to_unknown(),
        deliverable.to_unknown(),
        pause.to_unknown(),
        concurrency as f64,
    )))?;
    JsFn::from_unknown(driver)
}

/// A round of records for the driver, laid out so JavaScript builds the payloads (far
/// cheaper than a property set through N-API per field): the topic names, one buffer with
/// every key and value (messages get views of it, as kafkajs's messages are views of the
/// fetch response), nine numbers per record (topic index, partition, offset, timestamp, key
/// start and length, value start and length, headers index; -1 for null), and the header
/// objects of the records that have headers.
fn round_args(records: Vec<ConsumerRecord>) -> Args {
    Box::new(move |env: &Env| {
        let mut topics: Vec<String> = Vec::new();
        let mut data: Vec<u8> = Vec::with_capacity(
            records
                .iter()
                .map(|r| r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len()))
                .sum(),
        );
        let mut meta: Vec<f64> = Vec::with_capacity(records.len() * 9);
        let mut headers = env.create_array(0)?;
        let mut header_count = 0u32;
        let put = |data: &mut Vec<u8>, b: &Option<bytes::Bytes>| match b {
            None => [0.0, -1.0],
            Some(b) => {
                let start = data.len() as f64;
                data.extend_from_slice(b);
                [start, b.len() as f64]
            }
        };
        for r in &records {
            let t = match topics.iter().position(|t| *t == r.topic) {
                Some(i) => i,
                None => {
                    topics.push(r.topic.clone());
                    topics.len() - 1
                }
            };
            let [ks, kl] = put(&mut data, &r.key);
            let [vs, vl] = put(&mut data, &r.value);
            let h = if r.headers.is_empty() {
                -1.0
            } else {
                headers.set(header_count, header_map(r.headers.clone()))?;
                header_count += 1;
                f64::from(header_count - 1)
            };
            meta.extend_from_slice(&[
                t as f64,
                f64::from(r.partition),
                r.offset as f64,
                r.timestamp as f64,
                ks,
                kl,
                vs,
                vl,
                h,
            ]);
        }
        let mut round = env.create_array(4)?;
        round.set(0, topics)?;
        round.set(1, Buffer::from(data))?;
        round.set(2, Float64Array::new(meta))?;
        round.set(3, headers)?;
        Ok(round.to_unknown().raw())
    })
}

/// A batch handed to `eachBatch`, for when its handler settles.
struct StartedBatch {
    tp: TopicPartition,
    first_offset: i64,
    last_offset: i64,
    /// The highest offset `resolveOffset` was given.
    resolved: Arc<Mutex<Option<i64>>>,
    /// The `START_BATCH_PROCESS` payload.
    info: serde_json::Value,
    started: Instant,
}

/// An `eachBatch` call in progress: the batch's key, and how the handler settled.
type BatchCall = Pin<Box<dyn Future<Output = (usize, Result<(), Failure>)> + Send>>;

/// Awaits whichever of `calls` settles first and removes it; `None` when there are none.
async fn first_done<T>(calls: &mut Vec<Pin<Box<dyn Future<Output = T> + Send>>>) -> Option<T> {
    if calls.is_empty() {
        return None;
    }
    std::future::poll_fn(|cx| {
        for i in 0..calls.len() {
            if let Poll::Ready(out) = calls[i].as_mut().poll(cx) {
                drop(calls.swap_remove(i));
                return Poll::Ready(Some(out));
            }
        }
        Poll::Pending
    })
    .await
}

/// Where handling stopped in a round of `eachMessage` (see [`MESSAGE_DRIVER`]): the index of
/// the first record not handled and, when the handler failed on it, how.
type Stop = (usize, Option<Failure>);

/// The stops of a round: none when every record was handled.
fn read_outcome(value: &Unknown<'_>) -> Vec<Stop> {
    if value.get_type().ok() == Some(ValueType::Number)
        && value.coerce_to_number().and_then(|n| n.get_double()).is_ok_and(|n| n < 0.0)
    {
        return Vec::new();
    }
    if value.is_array().unwrap_or(false) {
        let stops = value
            .coerce_to_object()
            .and_then(|a| (0..a.get_array_length()?).map(|i| Ok(read_stop(&a.get_element::<Unknown>(i)?))).collect());
        return stops
            .unwrap_or_else(|e| vec![(0, Some(Failure::new(format!("eachMessage driver: unexpected result ({e})"))))]);
    }
    vec![read_stop(value)]
}

/// One stop: an index (a record not handed out), or `{ index, error }` (the handler failed).
fn read_stop(value: &Unknown<'_>) -> Stop {
    if value.get_type().ok() == Some(ValueType::Number)
        && let Ok(n) = value.coerce_to_number().and_then(|n| n.get_double())
    {
        return (n.max(0.0) as usize, None);
    }
    let failed = value.coerce_to_object().and_then(|o| {
        let index: f64 = o.get_named_property("index")?;
        let error: Unknown = o.get_named_property("error")?;
        Ok((index as usize, Failure::of(&error)))
    });
    match failed {
        Ok((i, f)) => (i, Some(f)),
        Err(e) => (0, Some(Failure::new(format!("eachMessage driver: unexpected result ({e})")))),
    }
}

fn resolved_promise(env: &Env) -> napi::Result<AsyncBlock<()>> {
    promise(env, async { Ok(()) })
}

impl Runner {
    async fn run(mut self, ready: oneshot::Sender<Result<()>>) {
        let mut ready = Some(ready);
        while !self.run.stopping() {
            let round = self.run.next_round(MAX_BATCH_RECORDS, POLL).await;
            self.after_poll(&round);
            if let Some(tx) = ready.take() {
                let failed = round.records.as_ref().err().cloned();
                let fatal = failed.is_some();
                let _ = tx.send(failed.map_or(Ok(()), |e| Err(e.into())));
                if fatal {
                    break;
                }
            }
            match round.records {
                Ok(records) if records.is_empty() => {}
                Ok(records) => match &self.handler {
                    Handler::Message(cb) => {
                        let cb = Arc::clone(cb);
                        self.each_messages(cb, records).await;
                    }
                    Handler::Batch { callback, auto_resolve } => {
                        let (cb, auto_resolve) = (Arc::clone(callback), *auto_resolve);
                        self.each_batch(cb, auto_resolve, records).await;
                    }
                },
                Err(e) => {
                    let retriable = e.is_retriable();
                    tracing::error!(group = %self.shared.group_id, error = %e, retriable, "consumer crashed");
                    let described = crate::errors::describe(&Error::Core(e));
                    let failure = Failure { name: described.name.to_owned(), message: described.message, stack: None };
                    self.shared.events.emit_error(
                        CONSUMER_EVENTS.crash,
                        serde_json::json!({ "groupId": self.shared.group_id, "restart": retriable }),
                        failure,
                    );
                    if !retriable {
                        break;
                    }
                    self.backoff().await;
                }
            }
        }
        // A consumer that crashed for good is no longer running.
        {
            let mut state = self.shared.state();
            if state.running.as_ref().is_some_and(|r| r.same_channel(&self.done)) {
                state.running = None;
            }
        }
        match self.run.finish(self.binding_commits).await {
            Ok(committed) => self.shared.emit_commit(&committed),
            Err(e) => tracing::warn!(group = %self.shared.group_id, error = %e, "the final commit failed"),
        }
    }

    /// Rebalance events become kafkajs events; a new generation is a `GROUP_JOIN`.
    fn after_poll(&self, round: &ferrokafka::consumer::Round) {
        let member_id = self.run.consumer().group_membership().map(|(m, _)| m);
        for e in &round.events {
            if matches!(e, RebalanceEvent::Revoked(_) | RebalanceEvent::Lost(_)) {
                self.shared.events.emit(
                    CONSUMER_EVENTS.rebalancing,
                    serde_json::json!({ "groupId": self.shared.group_id, "memberId": member_id }),
                );
            }
        }
        if let Some((member_id, generation)) = &round.joined {
            let mut assignment: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for tp in self.run.consumer().assignment() {
                assignment.entry(tp.topic).or_default().push(tp.partition);
            }
            self.shared.events.emit(
                CONSUMER_EVENTS.group_join,
                serde_json::json!({
                    "duration": round.took.as_millis() as u64,
                    "groupId": self.shared.group_id,
                    "memberId": member_id,
                    "generationId": generation,
                    "memberAssignment": assignment,
                    // Not reported by the core's consumer:
                    "isLeader": null,
                    "leaderId": null,
                    "groupProtocol": null,
                }),
            );
        }
    }

    async fn backoff(&mut self) {
        let wait = self.shared.retry_backoff;
        self.run.serving(tokio::time::sleep(wait)).await;
    }

    fn crash(&self, failure: Failure) {
        tracing::error!(group = %self.shared.group_id, error = %failure, "a message handler failed; its records will be read again");
        self.shared.events.emit_error(
            CONSUMER_EVENTS.crash,
            serde_json::json!({ "groupId": self.shared.group_id, "restart": true }),
            failure,
        );
    }

    /// `eachMessage` for a round of records in one call into JavaScript: the driver (see
    /// [`message_driver`]) awaits the handler record by record, so each record is handled
    /// after the one before it (of its partition, with partitionsConsumedConcurrently), and
    /// stops at the first failure or at a record whose partition was paused (or the consumer
    /// stopped) meanwhile. A JavaScript round trip per record would cost more than the record.
    async fn each_messages(&mut self, driver: Arc<JsCallback<false>>, records: Vec<ConsumerRecord>) {
        let args = round_args(records.clone());
        let outcome = self.run.serving(async move { driver.call_for(args, read_outcome).await }).await;
        // Whether a stop means that nothing from it on was handled, in any partition (one
        // partition at a time, or the driver not called); otherwise only in its partition.
        let (stops, across_partitions) = match outcome {
            Ok(stops) => (stops, self.concurrency == 1),
            Err(failure) => (vec![(0, Some(failure))], true),
        };
        if stops.is_empty() {
            // Every record was handled.
        } else if across_partitions {
            let i = stops[0].0;
            self.run.rewind_all(&records[i.min(records.len())..]).await;
        } else {
            // A stop per partition that did not finish: its records from there on.
            for (i, _) in &stops {
                if let Some(r) = records.get(*i) {
                    self.run.rewind(&TopicPartition::new(&r.topic, r.partition), r.offset).await;
                }
            }
        }
        let mut failed = false;
        if !stops.is_empty() {
            self.run.apply_requests().await;
            for (_, failure) in stops {
                if let Some(failure) = failure {
                    self.crash(failure);
                    failed = true;
                }
            }
        }
        if failed {
            self.backoff().await;
        }
        if self.binding_commits {
            self.commit_positions().await;
        }
    }

    /// `eachBatch` for a round of records: a batch per partition, handed out in the order
    /// the partitions first occur, up to `concurrency` at a time.
    async fn each_batch(&mut self, callback: Arc<JsCallback<false>>, auto_resolve: bool, records: Vec<ConsumerRecord>) {
        let mut batches: VecDeque<(TopicPartition, Vec<ConsumerRecord>)> = VecDeque::new();
        for r in records {
            let tp = TopicPartition::new(&r.topic, r.partition);
            match batches.iter_mut().find(|(t, _)| *t == tp) {
                Some((_, v)) => v.push(r),
                None => batches.push_back((tp, vec![r])),
            }
        }
        let mut started: Vec<StartedBatch> = Vec::new();
        let mut calls: Vec<BatchCall> = Vec::new();
        let mut failed = None;
        loop {
            while calls.len() < self.concurrency
                && let Some((tp, records)) = batches.pop_front()
            {
                let Some((batch, args)) = self.start_batch(tp, records).await else { continue };
                let key = started.len();
                started.push(batch);
                let cb = Arc::clone(&callback);
                calls.push(Box::pin(async move { (key, cb.call(args).await) }));
            }
            let Some((key, result)) = self.run.serving(first_done(&mut calls)).await else { break };
            self.finish_batch(&started[key], auto_resolve, result.is_ok()).await;
            if let Err(f) = result {
                failed = Some(f);
            }
        }
        if self.binding_commits {
            self.commit_positions().await;
        }
        if let Some(f) = failed {
            self.crash(f);
            self.backoff().await;
        }
    }

    /// Emits `START_BATCH_PROCESS` and makes the payload of a batch, unless its partition was
    /// paused since the fetch.
    async fn start_batch(&mut self, tp: TopicPartition, records: Vec<ConsumerRecord>) -> Option<(StartedBatch, Args)> {
        let first_offset = records.first().map_or(0, |r| r.offset);
        if self.run.paused_since_fetch(&tp, first_offset).await {
            return None;
        }
        let last_offset = records.last().map_or(0, |r| r.offset);
        let position = self.run.consumer().position(&tp.topic, tp.partition).unwrap_or(last_offset + 1);
        let high_watermark = position + self.run.consumer().lag(&tp.topic, tp.partition).unwrap_or(0);
        let resolved: Arc<Mutex<Option<i64>>> = Arc::default();
        let started = Instant::now();
        let info = serde_json::json!({
            "topic": tp.topic, "partition": tp.partition, "highWatermark": high_watermark.to_string(),
            "offsetLag": (high_watermark - 1 - last_offset).max(0).to_string(),
            "offsetLagLow": (high_watermark - 1 - first_offset).max(0).to_string(),
            "batchSize": records.len(), "firstOffset": first_offset.to_string(), "lastOffset": last_offset.to_string(),
        });
        self.shared.events.emit(CONSUMER_EVENTS.start_batch_process, info.clone());
        let args = self.batch_args(tp.clone(), records, high_watermark, Arc::clone(&resolved));
        Some((StartedBatch { tp, first_offset, last_offset, resolved, info, started }, args))
    }

    /// Emits `END_BATCH_PROCESS` and rewinds the partition to the first record not handled:
    /// with auto resolve, none when the handler succeeded; otherwise the one after the last
    /// resolved offset.
    async fn finish_batch(&mut self, batch: &StartedBatch, auto_resolve: bool, succeeded: bool) {
        let mut end = batch.info.clone();
        end["duration"] = serde_json::json!(batch.started.elapsed().as_millis() as u64);
        self.shared.events.emit(CONSUMER_EVENTS.end_batch_process, end);
        let handled_to = if succeeded && auto_resolve {
            batch.last_offset + 1
        } else {
            batch.resolved.lock().unwrap_or_else(|p| p.into_inner()).map_or(batch.first_offset, |o| o + 1)
        };
        if handled_to <= batch.last_offset {
            self.run.rewind(&batch.tp, handled_to).await;
        }
    }

    fn batch_args(
        &self,
        tp: TopicPartition,
        records: Vec<ConsumerRecord>,
        high_watermark: i64,
        resolved: Arc<Mutex<Option<i64>>>,
    ) -> Args {
        let shared = Arc::clone(&self.shared);
        let first = records.first().map_or(0, |r| r.offset);
        let last = records.last().map_or(0, |r| r.offset);
        Box::new(move |env: &Env| {
            let messages: Vec<KafkaMessage> = records.into_iter().map(kafka_message).collect();
            let empty = messages.is_empty();
            let batch = Batch {
                topic: tp.topic.clone(),
                partition: tp.partition,
                high_watermark: high_watermark.to_string(),
                messages,
                is_empty: (),
                first_offset: (),
                last_offset: (),
                offset_lag: (),
                offset_lag_low: (),
            };
            let payload = EachBatchPayload {
                batch,
                resolve_offset: (),
                heartbeat: (),
                pause: (),
                commit_offsets_if_necessary: (),
                is_running: (),
                is_stale: (),
            };
            let mut obj: Object = payload.into_unknown(env)?.coerce_to_object()?;
            let mut batch_obj: Object = obj.get_named_property("batch")?;
            set_fn(env, &mut batch_obj, "isEmpty", move |_| Ok(empty))?;
            set_fn(env, &mut batch_obj, "firstOffset", move |_| Ok(first.to_string()))?;
            set_fn(env, &mut batch_obj, "lastOffset", move |_| Ok(last.to_string()))?;
            set_fn(env, &mut batch_obj, "offsetLag", move |_| Ok((high_watermark - 1 - last).max(0).to_string()))?;
            set_fn(env, &mut batch_obj, "offsetLagLow", move |_| Ok((high_watermark - 1 - first).max(0).to_string()))?;
            let r = Arc::clone(&resolved);
            let resolve = env.create_function_from_closure::<(), _, _>("resolveOffset", move |ctx| {
                let offset: Either<String, f64> = ctx.get(0)?;
                let o = match offset {
                    Either::A(s) => throw(ctx.env, parse_offset(&s))?,
                    Either::B(n) => n as i64,
                };
                let mut slot = r.lock().unwrap_or_else(|p| p.into_inner());
                *slot = Some(slot.map_or(o, |prev| prev.max(o)));
                Ok(())
            })?;
            obj.set("resolveOffset", resolve)?;
            set_fn(env, &mut obj, "heartbeat", resolved_promise)?;
            set_fn(env, &mut obj, "pause", pause_fn(&shared, &tp.topic, tp.partition))?;
            let committer = Arc::clone(&shared);
            set_fn(env, &mut obj, "commitOffsetsIfNecessary", move |env| {
                // Nothing resolved: nothing to commit.
                let upto = resolved.lock().unwrap_or_else(|p| p.into_inner()).map(|o| o + 1);
                let (shared, tp) = (Arc::clone(&committer), tp.clone());
                promise(env, async move {
                    match upto {
                        Some(o) => shared.commit(vec![tp.with_offset(o)]).await,
                        None => Ok(()),
                    }
                })
            })?;
            let control = shared.control.clone();
            set_fn(env, &mut obj, "isRunning", move |_| Ok(control.is_running()))?;
            set_fn(env, &mut obj, "isStale", |_| Ok(false))?;
            Ok(obj.raw())
        })
    }

    async fn commit_positions(&mut self) {
        match self.run.commit_positions().await {
            Ok(committed) => self.shared.emit_commit(&committed),
            Err(e) => tracing::warn!(group = %self.shared.group_id, error = %e, "commit failed"),
        }
    }
}
