//! The consumer. `on_revoke` runs inside the core's `poll`, while the revoked partitions are
//! still held (the poll runs on the Python thread that called it, so the callback does too):
//! commits it asks for go through a [`RevokeContext`] and are sent before the partitions are
//! released. Assignments and lost partitions are handed back with the records, and the
//! Python layer runs `on_assign`/`on_lost` once the native call has returned (so those
//! callbacks may call back into the consumer).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka::consumer::Offset;
use ferrokafka::{Consumer, ConsumerRecord, RebalanceCommits, RebalanceEvent, TopicPartition, TopicPartitionOffset};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::errors::{IntoPy, invalid_arg};
use crate::message::{Message, headers_list};
use crate::producer::{bytes_or_none, config_from};
use crate::runtime::{Owner, block_on};

/// confluent-kafka's logical offsets.
const OFFSET_BEGINNING: i64 = -2;
const OFFSET_END: i64 = -1;
const OFFSET_INVALID: i64 = -1001;

type Event = (&'static str, Vec<(String, i32)>);
/// (topic, partition, next offset, metadata).
pub(crate) type CommitOffset = (String, i32, i64, Option<String>);

pub(crate) fn partition_tuples(tps: Vec<TopicPartition>) -> Vec<(String, i32)> {
    tps.into_iter().map(Into::into).collect()
}

pub(crate) fn core_partitions(tuples: Vec<(String, i32)>) -> Vec<TopicPartition> {
    tuples.into_iter().map(Into::into).collect()
}

pub(crate) fn core_offsets(tuples: Vec<CommitOffset>) -> Vec<TopicPartitionOffset> {
    tuples
        .into_iter()
        .map(|(t, p, offset, metadata)| TopicPartitionOffset { metadata, ..TopicPartitionOffset::new(t, p, offset) })
        .collect()
}

pub(crate) fn offset_tuple(o: TopicPartitionOffset) -> CommitOffset {
    (o.topic_partition.topic, o.topic_partition.partition, o.offset, o.metadata)
}

#[pyclass(module = "ferrokafka._native")]
pub(crate) struct NativeConsumer {
    /// `None` once closed. Held across a poll: one thread drives a consumer at a time.
    consumer: Arc<tokio::sync::Mutex<Option<Consumer>>>,
    revoke: Arc<RevokeHook>,
    owner: Owner,
}

/// How the core's revocation reaches Python: a weak reference to the Python `Consumer`
/// (whose `_revoking(partitions, context)` runs the user's `on_revoke`), and the exception
/// that callback raised, for the call that polled.
#[derive(Default)]
struct RevokeHook {
    target: Mutex<Option<Py<PyAny>>>,
    raised: Mutex<Option<PyErr>>,
}

impl RevokeHook {
    /// Runs `on_revoke` with the GIL, on the polling thread; returns whether Python took
    /// the event (no consumer object or no hook: the caller reports it the deferred way).
    fn run(&self, tps: &[TopicPartition], commits: &mut RebalanceCommits) -> bool {
        Python::attach(|py| {
            let target = self.target.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|w| w.clone_ref(py));
            let Some(consumer) = target.and_then(|weak| weak.call0(py).ok()).filter(|c| !c.is_none(py)) else {
                return false;
            };
            let context = RevokeContext {
                positions: commits.positions().map(|(tp, o)| (tp.topic.clone(), tp.partition, o)).collect(),
                commit_positions: false,
                offsets: Vec::new(),
            };
            let outcome = Py::new(py, context).and_then(|ctx| {
                consumer.call_method1(py, "_revoking", (partition_tuples(tps.to_vec()), ctx.clone_ref(py)))?;
                Ok(ctx)
            });
            match outcome {
                Ok(ctx) => {
                    let ctx = ctx.borrow(py);
                    if ctx.commit_positions {
                        commits.commit();
                    }
                    commits.commit_offsets(&ctx.offsets);
                }
                Err(e) => *self.raised.lock().unwrap_or_else(|p| p.into_inner()) = Some(e),
            }
            true
        })
    }

    fn take_raised(&self) -> Option<PyErr> {
        self.raised.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// What `on_revoke` sees of the consumer while the core waits on it: the positions of the
/// partitions still held, and the commits asked for (sent when the callback returns, before
/// the partitions are released; a failure is raised by the next poll).
#[pyclass(module = "ferrokafka._native")]
pub(crate) struct RevokeContext {
    positions: Vec<(String, i32, i64)>,
    commit_positions: bool,
    offsets: Vec<TopicPartitionOffset>,
}

#[pymethods]
impl RevokeContext {
    /// (topic, partition, position) of every partition held.
    fn positions(&self) -> Vec<(String, i32, i64)> {
        self.positions.clone()
    }

    /// Commit every held partition's position; returns what will be committed.
    fn commit_positions(&mut self) -> Vec<CommitOffset> {
        self.commit_positions = true;
        self.positions.iter().map(|(t, p, o)| (t.clone(), *p, *o, None)).collect()
    }

    fn commit_offsets(&mut self, tuples: Vec<CommitOffset>) {
        self.offsets.extend(core_offsets(tuples));
    }
}

/// The records as `Message`s; consecutive records of one topic share its str object.
fn messages(py: Python<'_>, records: Vec<ConsumerRecord>) -> PyResult<Vec<Message>> {
    let mut topic: Option<(String, Py<PyString>)> = None;
    records
        .into_iter()
        .map(|r| {
            let name = match &topic {
                Some((t, obj)) if *t == r.topic => obj.clone_ref(py),
                _ => {
                    let obj = PyString::new(py, &r.topic).unbind();
                    topic = Some((r.topic.clone(), obj.clone_ref(py)));
                    obj
                }
            };
            Ok(Message {
                topic: name,
                partition: r.partition,
                offset: r.offset,
                timestamp: r.timestamp,
                key: bytes_or_none(py, r.key.as_deref()).map(|b| b.into_any().unbind()),
                value: bytes_or_none(py, r.value.as_deref()).map(|b| b.into_any().unbind()),
                headers: headers_list(py, &r.headers)?,
                error: None,
            })
        })
        .collect()
}

fn closed() -> PyErr {
    crate::errors::to_py(ferrokafka::Error::Closed)
}

/// confluent-kafka's logical offsets as the core's: OFFSET_STORED/OFFSET_INVALID are the
/// committed offset (else `auto.offset.reset`).
fn start_of(offset: i64) -> Offset {
    match offset {
        OFFSET_BEGINNING => Offset::Beginning,
        OFFSET_END => Offset::End,
        o if o >= 0 => Offset::At(o),
        _ => Offset::Committed,
    }
}

/// The core's rebalance events as the Python layer takes them: (kind, partitions).
fn events_for_python(events: Vec<RebalanceEvent>) -> Vec<Event> {
    events
        .into_iter()
        .map(|e| match e {
            RebalanceEvent::Assigned(tps) => ("assign", partition_tuples(tps)),
            RebalanceEvent::Revoked(tps) => ("revoke", partition_tuples(tps)),
            RebalanceEvent::Lost(tps) => ("lost", partition_tuples(tps)),
        })
        .collect()
}

#[pymethods]
impl NativeConsumer {
    #[new]
    #[pyo3(signature = (conf, oauth_cb=None))]
    fn new(conf: Vec<(String, String)>, oauth_cb: Option<Py<PyAny>>) -> PyResult<Self> {
        let config = config_from(conf, oauth_cb)?;
        let mut consumer = Consumer::new(config).py_err()?;
        consumer.queue_rebalance_events();
        let revoke: Arc<RevokeHook> = Arc::default();
        let hook = Arc::clone(&revoke);
        consumer.on_rebalance_committing(move |e, commits| {
            if let RebalanceEvent::Revoked(tps) = e {
                if hook.run(tps, commits) {
                    commits.mark_handled();
                }
            }
        });
        Ok(NativeConsumer {
            consumer: Arc::new(tokio::sync::Mutex::new(Some(consumer))),
            revoke,
            owner: Owner::here("Consumer"),
        })
    }

    /// The Python `Consumer` (a weak reference) whose `_revoking` runs `on_revoke`.
    fn set_revoke_target(&self, target: Py<PyAny>) {
        *self.revoke.target.lock().unwrap_or_else(|p| p.into_inner()) = Some(target);
    }

    /// The exception `on_revoke` raised during the last call, if any.
    fn take_revoke_error(&self) -> Option<PyErr> {
        self.revoke.take_raised()
    }

    fn subscribe(&self, py: Python<'_>, topics: Vec<String>) -> PyResult<()> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        block_on(py, async move {
            let mut guard = consumer.lock().await;
            let c = guard.as_mut().ok_or(ferrokafka::Error::Closed)?;
            let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
            c.subscribe(&refs)
        })
        .py_err()
    }

    fn unsubscribe(&self, py: Python<'_>) -> PyResult<()> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        block_on(py, async move {
            let mut guard = consumer.lock().await;
            guard.as_mut().ok_or(ferrokafka::Error::Closed)?.unsubscribe().await
        })
        .py_err()
    }

    /// (topic, partition, offset) with confluent-kafka's logical offsets.
    fn assign(&self, py: Python<'_>, partitions: Vec<(String, i32, i64)>) -> PyResult<()> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        let starts: Vec<(TopicPartition, Offset)> =
            partitions.into_iter().map(|(t, p, o)| (TopicPartition::new(t, p), start_of(o))).collect();
        block_on(py, async move {
            let mut guard = consumer.lock().await;
            guard.as_mut().ok_or(ferrokafka::Error::Closed)?.assign(starts).await
        })
        .py_err()
    }

    fn assignment(&self, py: Python<'_>) -> PyResult<Vec<(String, i32)>> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        block_on(py, async move { consumer.lock().await.as_ref().map(|c| partition_tuples(c.assignment())) })
            .ok_or_else(closed)
    }

    /// Up to `max` records, waiting up to `timeout` seconds for the first; and the
    /// rebalance events that happened meanwhile.
    fn consume(&self, py: Python<'_>, max: usize, timeout: f64) -> PyResult<(Vec<Message>, Vec<Event>)> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        let wait = Duration::from_secs_f64(timeout.clamp(0.0, 1e6));
        let polled = block_on(py, async move {
            let mut guard = consumer.lock().await;
            let c = guard.as_mut().ok_or(ferrokafka::Error::Closed)?;
            // A poll that fails leaves its events queued for the next one, which reports them.
            let records = c.poll_batch(max, wait).await?;
            Ok::<_, ferrokafka::Error>((records, c.take_rebalance_events()))
        });
        let (records, events) = polled.py_err()?;
        Ok((messages(py, records)?, events_for_python(events)))
    }

    /// Commits the consumed positions, or explicit (topic, partition, offset, metadata).
    /// Synchronous: returns what was committed (topic, partition, offset, metadata).
    #[pyo3(signature = (offsets=None, asynchronous=false))]
    fn commit(
        &self,
        py: Python<'_>,
        offsets: Option<Vec<CommitOffset>>,
        asynchronous: bool,
    ) -> PyResult<Option<Vec<CommitOffset>>> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        let work = async move {
            let mut guard = consumer.lock().await;
            let c = guard.as_mut().ok_or(ferrokafka::Error::Closed)?;
            let committed = match offsets {
                Some(o) => c.commit_offsets(&core_offsets(o)).await?,
                None => c.commit().await?,
            };
            Ok::<_, ferrokafka::Error>(committed.into_iter().map(offset_tuple).collect::<Vec<_>>())
        };
        if asynchronous {
            // Not awaited: the result is only logged, as with confluent-kafka without an
            // on_commit callback (which this binding refuses: see the README).
            crate::runtime::runtime().spawn(async move {
                if let Err(e) = work.await {
                    eprintln!("ferrokafka: asynchronous commit failed: {e}");
                }
            });
            return Ok(None);
        }
        block_on(py, work).py_err().map(Some)
    }

    /// Committed offsets (-1001 where none), with their metadata.
    fn committed(&self, py: Python<'_>, partitions: Vec<(String, i32)>) -> PyResult<Vec<(String, i32, i64, String)>> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        let got = block_on(py, async move {
            let guard = consumer.lock().await;
            guard.as_ref().ok_or(ferrokafka::Error::Closed)?.committed(&core_partitions(partitions)).await
        })
        .py_err()?;
        Ok(got
            .into_iter()
            .map(|(TopicPartition { topic: t, partition: p }, c)| match c {
                Some((o, m)) => (t, p, o, m),
                None => (t, p, OFFSET_INVALID, String::new()),
            })
            .collect())
    }

    fn position(&self, py: Python<'_>, partitions: Vec<(String, i32)>) -> PyResult<Vec<(String, i32, i64)>> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        block_on(py, async move {
            let guard = consumer.lock().await;
            guard.as_ref().map(|c| {
                partitions
                    .into_iter()
                    .map(|(t, p)| {
                        let o = c.position(&t, p).unwrap_or(OFFSET_INVALID);
                        (t, p, o)
                    })
                    .collect()
            })
        })
        .ok_or_else(closed)
    }

    /// (group id, generation, member id, group instance id), for a transactional producer's
    /// `send_offsets_to_transaction`; None without a group.id.
    #[allow(clippy::type_complexity)]
    fn group_metadata(&self, py: Python<'_>) -> PyResult<Option<(String, i32, String, Option<String>)>> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        let metadata = block_on(py, async move { consumer.lock().await.as_ref().map(|c| c.group_metadata()) });
        let m = metadata.ok_or_else(closed)?;
        Ok(m.map(|m| (m.group_id, m.generation_id, m.member_id, m.group_instance_id)))
    }

    fn seek(&self, py: Python<'_>, topic: String, partition: i32, offset: i64) -> PyResult<()> {
        self.owner.check()?;
        let at = match start_of(offset) {
            Offset::Committed => {
                return Err(crate::errors::to_py(invalid_arg(
                    "offset",
                    format!("seek takes OFFSET_BEGINNING, OFFSET_END or an offset >= 0, not {offset}"),
                )));
            }
            at => at,
        };
        let consumer = Arc::clone(&self.consumer);
        block_on(py, async move {
            let mut guard = consumer.lock().await;
            guard.as_mut().ok_or(ferrokafka::Error::Closed)?.seek(&topic, partition, at).await
        })
        .py_err()
    }

    fn pause(&self, py: Python<'_>, partitions: Vec<(String, i32)>) -> PyResult<()> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        let tps = core_partitions(partitions);
        block_on(py, async move { consumer.lock().await.as_mut().map(|c| c.pause(&tps)) }).ok_or_else(closed)
    }

    fn resume(&self, py: Python<'_>, partitions: Vec<(String, i32)>) -> PyResult<()> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        let tps = core_partitions(partitions);
        block_on(py, async move { consumer.lock().await.as_mut().map(|c| c.resume(&tps)) }).ok_or_else(closed)
    }

    fn watermarks(&self, py: Python<'_>, topic: String, partition: i32) -> PyResult<(i64, i64)> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        block_on(py, async move {
            let guard = consumer.lock().await;
            guard.as_ref().ok_or(ferrokafka::Error::Closed)?.watermarks(&topic, partition).await
        })
        .py_err()
    }

    /// For each (topic, partition, timestamp): the first offset whose timestamp is at or
    /// after it, or -1 (librdkafka's answer) when there is none. The core answers "none"
    /// with the log end offset; a record's offset is always below the log end read after
    /// it, so an answer at or past that log end is "none".
    fn offsets_for_times(
        &self,
        py: Python<'_>,
        partitions: Vec<(String, i32, i64)>,
    ) -> PyResult<Vec<(String, i32, i64)>> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        let times: Vec<(TopicPartition, i64)> =
            partitions.into_iter().map(|(t, p, ts)| (TopicPartition::new(t, p), ts)).collect();
        block_on(py, async move {
            let guard = consumer.lock().await;
            let Some(c) = guard.as_ref() else { return Ok(None) };
            // confluent-kafka's answer where no record is that recent: OFFSET_END.
            let found = c.offsets_for_times(&times).await?;
            Ok::<_, ferrokafka::Error>(Some(
                found.into_iter().map(|(tp, o)| (tp.topic, tp.partition, o.unwrap_or(OFFSET_END))).collect(),
            ))
        })
        .py_err()?
        .ok_or_else(closed)
    }

    fn close(&self, py: Python<'_>) -> PyResult<Vec<Event>> {
        self.owner.check()?;
        let consumer = Arc::clone(&self.consumer);
        let events = block_on(py, async move {
            match consumer.lock().await.take() {
                Some(c) => c.close().await,
                None => Ok(Vec::new()),
            }
        });
        Ok(events_for_python(events.py_err()?))
    }
}
