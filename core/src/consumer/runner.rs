//! A consumer driven by handlers, as kafkajs's `run` is: one task owns the [`Consumer`] (a
//! [`Runner`]) and hands rounds of records to application code, while a cloneable
//! [`Control`] lets that code — from any thread, and from inside a handler — pause, resume,
//! seek, commit and stop without touching the consumer.
//!
//! The runner applies what the control asked for between rounds and also while it awaits a
//! handler ([`Runner::serving`]), so a handler that calls `commit` and awaits it does not
//! deadlock. Records of a partition paused after they were fetched are not handed out and
//! are read again after `resume`; records a handler did not finish are read again
//! ([`Runner::rewind`]); and positions are committed after a round when the caller says so.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::{Consumer, ConsumerRecord, Offset, RebalanceEvent};
use crate::error::{Error, Result};
use crate::{TopicPartition, TopicPartitionOffset};

/// What [`Control::pause`] and [`Control::resume`] name: a whole topic (its partitions
/// assigned later included) or some of its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseTarget {
    Topic(String),
    Partitions(String, Vec<i32>),
}

/// What is paused, as asked for; the runner applies it to the partitions it holds.
#[derive(Debug, Default)]
struct Paused {
    topics: BTreeSet<String>,
    partitions: BTreeSet<TopicPartition>,
}

impl Paused {
    fn covers(&self, tp: &TopicPartition) -> bool {
        self.topics.contains(&tp.topic) || self.partitions.contains(tp)
    }
}

/// A request for the runner's task.
#[derive(Debug)]
enum Op {
    Seek(TopicPartition, Offset),
    Commit(Vec<TopicPartitionOffset>, oneshot::Sender<Result<Vec<TopicPartitionOffset>>>),
    /// Wakes the task to notice a stop or a change of what is paused.
    Wake,
}

#[derive(Debug, Default)]
struct Shared {
    paused: Mutex<Paused>,
    /// The running runner's requests, `None` while none runs.
    ops: Mutex<Option<mpsc::UnboundedSender<Op>>>,
    stop: AtomicBool,
    /// The member id and generation as of the last round.
    membership: Mutex<Option<(String, i32)>>,
}

/// A handle on a consumer run by a [`Runner`]: cheap to clone, usable from any thread and
/// from inside handlers. What is paused outlives a run (kafkajs keeps it across `run`s).
#[derive(Debug, Clone, Default)]
pub struct Control {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Control {
    pub fn new() -> Control {
        Control::default()
    }

    fn send(&self, op: Op) -> Result<()> {
        match lock(&self.shared.ops).as_ref() {
            Some(ops) => ops.send(op).map_err(|_| Error::State("the consumer has stopped".into())),
            None => Err(Error::State("the consumer is not running".into())),
        }
    }

    /// Pauses fetching from `targets`: nothing more of theirs is handed out, even records
    /// already fetched. Recorded even when no runner runs (it applies to the next one); the
    /// error then says the consumer is not running.
    pub fn pause(&self, targets: &[PauseTarget]) -> Result<()> {
        {
            let mut paused = lock(&self.shared.paused);
            for t in targets {
                match t {
                    PauseTarget::Topic(topic) => {
                        paused.topics.insert(topic.clone());
                    }
                    PauseTarget::Partitions(topic, ps) => {
                        paused.partitions.extend(ps.iter().map(|p| TopicPartition::new(topic, *p)));
                    }
                }
            }
        }
        self.send(Op::Wake)
    }

    /// Resumes `targets`; resuming a topic resumes its partitions paused one by one too.
    pub fn resume(&self, targets: &[PauseTarget]) -> Result<()> {
        {
            let mut paused = lock(&self.shared.paused);
            for t in targets {
                match t {
                    PauseTarget::Topic(topic) => {
                        paused.topics.remove(topic);
                        paused.partitions.retain(|tp| tp.topic != *topic);
                    }
                    PauseTarget::Partitions(topic, ps) => {
                        for p in ps {
                            paused.partitions.remove(&TopicPartition::new(topic, *p));
                        }
                    }
                }
            }
        }
        self.send(Op::Wake)
    }

    /// What is paused: whole topics first, then partitions (of topics not paused whole) by
    /// topic.
    pub fn paused(&self) -> Vec<PauseTarget> {
        let paused = lock(&self.shared.paused);
        let mut out: Vec<PauseTarget> = paused.topics.iter().cloned().map(PauseTarget::Topic).collect();
        for tp in paused.partitions.iter().filter(|tp| !paused.topics.contains(&tp.topic)) {
            match out.last_mut() {
                Some(PauseTarget::Partitions(t, ps)) if *t == tp.topic => ps.push(tp.partition),
                _ => out.push(PauseTarget::Partitions(tp.topic.clone(), vec![tp.partition])),
            }
        }
        out
    }

    pub fn is_paused(&self, tp: &TopicPartition) -> bool {
        lock(&self.shared.paused).covers(tp)
    }

    /// Whether a record of `tp` may be handed out now: the runner runs and `tp` is not paused.
    pub fn deliverable(&self, tp: &TopicPartition) -> bool {
        self.is_running() && !self.is_paused(tp)
    }

    /// Moves `tp`'s position before the next round; records of `tp` still in this round are
    /// not handed out. Kept until `tp` is assigned.
    pub fn seek(&self, tp: TopicPartition, offset: Offset) -> Result<()> {
        self.send(Op::Seek(tp, offset))
    }

    /// Commits explicit offsets (each the next offset to read) through the runner's consumer
    /// and returns what was stored. Safe to await inside a handler.
    pub async fn commit(&self, offsets: Vec<TopicPartitionOffset>) -> Result<Vec<TopicPartitionOffset>> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Commit(offsets, tx))?;
        rx.await.map_err(|_| Error::State("the consumer stopped before committing".into()))?
    }

    /// Asks the runner to stop after the round in progress.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = self.send(Op::Wake);
    }

    /// Whether a runner runs and has not been asked to stop.
    pub fn is_running(&self) -> bool {
        lock(&self.shared.ops).is_some() && !self.shared.stop.load(Ordering::Acquire)
    }

    /// The member id and generation as of the runner's last round.
    pub fn membership(&self) -> Option<(String, i32)> {
        lock(&self.shared.membership).clone()
    }
}

/// What one [`Runner::next_round`] brought.
#[derive(Debug)]
pub struct Round {
    /// The records of one poll (up to the round's maximum), none of a paused partition; or
    /// the poll's error.
    pub records: Result<Vec<ConsumerRecord>>,
    /// Rebalance events of this poll, in order.
    pub events: Vec<RebalanceEvent>,
    /// The member id and generation, when this poll joined a new generation.
    pub joined: Option<(String, i32)>,
    /// How long the poll took.
    pub took: Duration,
}

/// Owns a [`Consumer`] for a run; see the module documentation. One per [`Control`] at a
/// time.
#[derive(Debug)]
pub struct Runner {
    consumer: Consumer,
    control: Control,
    ops: mpsc::UnboundedReceiver<Op>,
    /// Partitions paused in the consumer.
    applied_pauses: BTreeSet<TopicPartition>,
    /// Seeks of partitions not (yet) assigned.
    pending_seeks: Vec<(TopicPartition, Offset)>,
    membership: Option<(String, i32)>,
}

impl Runner {
    /// Starts a run of `consumer` under `control`; refused while another runner holds it.
    pub fn new(mut consumer: Consumer, control: &Control) -> Result<Runner> {
        let mut slot = lock(&control.shared.ops);
        if slot.is_some() {
            return Err(Error::State("the consumer is already running".into()));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        *slot = Some(tx);
        drop(slot);
        control.shared.stop.store(false, Ordering::Release);
        consumer.queue_rebalance_events();
        Ok(Runner {
            consumer,
            control: control.clone(),
            ops: rx,
            applied_pauses: BTreeSet::new(),
            pending_seeks: Vec::new(),
            membership: None,
        })
    }

    /// The consumer, to read positions, lag and the assignment.
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Whether [`Control::stop`] was called.
    pub fn stopping(&self) -> bool {
        self.control.shared.stop.load(Ordering::Acquire)
    }

    /// Applies what the control asked for, then polls one round of up to `max` records
    /// (waiting up to `timeout` for the first). Only the round's first record waits and does
    /// the group's upkeep, so no rebalance happens between the records of a round.
    pub async fn next_round(&mut self, max: usize, timeout: Duration) -> Round {
        self.apply_requests().await;
        let started = Instant::now();
        let records = self.consumer.poll_batch(max, timeout).await;
        let took = started.elapsed();
        let events = self.consumer.take_rebalance_events();
        let membership = self.consumer.group_membership();
        let joined = (membership.is_some() && membership != self.membership).then(|| membership.clone()).flatten();
        self.membership = membership.clone();
        *lock(&self.control.shared.membership) = membership;
        Round { records, events, joined, took }
    }

    /// Awaits `fut` (a handler's work), applying what the control asks for meanwhile.
    pub async fn serving<T>(&mut self, fut: impl std::future::Future<Output = T>) -> T {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                biased;
                out = &mut fut => return out,
                Some(op) = self.ops.recv() => self.apply(op).await,
            }
        }
    }

    async fn apply(&mut self, op: Op) {
        match op {
            Op::Seek(tp, at) => self.pending_seeks.push((tp, at)),
            Op::Wake => {}
            Op::Commit(offsets, reply) => {
                let _ = reply.send(self.consumer.commit_offsets(&offsets).await);
            }
        }
        self.apply_pauses_and_seeks().await;
    }

    /// Makes the consumer's paused partitions match what the control asks for, and applies
    /// the seeks of assigned partitions.
    async fn apply_pauses_and_seeks(&mut self) {
        let assigned: BTreeSet<TopicPartition> = self.consumer.assignment().into_iter().collect();
        let wanted: BTreeSet<TopicPartition> = {
            let paused = lock(&self.control.shared.paused);
            assigned.iter().filter(|tp| paused.covers(tp)).cloned().collect()
        };
        let to_pause: Vec<TopicPartition> = wanted.difference(&self.applied_pauses).cloned().collect();
        let to_resume: Vec<TopicPartition> =
            self.applied_pauses.difference(&wanted).filter(|tp| assigned.contains(*tp)).cloned().collect();
        if !to_pause.is_empty() {
            self.consumer.pause(&to_pause);
        }
        if !to_resume.is_empty() {
            self.consumer.resume(&to_resume);
        }
        self.applied_pauses = wanted;
        for (tp, at) in std::mem::take(&mut self.pending_seeks) {
            if !assigned.contains(&tp) {
                self.pending_seeks.push((tp, at));
                continue;
            }
            if let Err(e) = self.consumer.seek(&tp.topic, tp.partition, at).await {
                tracing::warn!(topic = %tp.topic, partition = tp.partition, error = %e, "seek failed");
            }
        }
    }

    /// Reads `tp` again from `offset` (a handler failed there, or left records unresolved).
    pub async fn rewind(&mut self, tp: &TopicPartition, offset: i64) {
        if self.consumer.assignment().contains(tp)
            && let Err(e) = self.consumer.seek(&tp.topic, tp.partition, Offset::At(offset)).await
        {
            tracing::warn!(topic = %tp.topic, partition = tp.partition, error = %e, "could not rewind to a record not handled");
        }
    }

    /// Rewinds each partition of `records` (records not handled) to its first one there.
    pub async fn rewind_all(&mut self, records: &[ConsumerRecord]) {
        let mut firsts: Vec<(TopicPartition, i64)> = Vec::new();
        for r in records {
            if !firsts.iter().any(|(tp, _)| tp.topic == r.topic && tp.partition == r.partition) {
                firsts.push((TopicPartition::new(&r.topic, r.partition), r.offset));
            }
        }
        for (tp, offset) in firsts {
            self.rewind(&tp, offset).await;
        }
    }

    /// Whether `tp` was paused after its records at `offset` on were fetched: then they are
    /// not to be handed out, and the partition is rewound to `offset` to be read after
    /// `resume` (kafkajs's guarantee: nothing of a paused partition after `pause`).
    pub async fn paused_since_fetch(&mut self, tp: &TopicPartition, offset: i64) -> bool {
        if !self.control.is_paused(tp) {
            return false;
        }
        self.rewind(tp, offset).await;
        self.apply_pauses_and_seeks().await;
        true
    }

    /// Applies what the control asked for now (after a round, before committing).
    pub async fn apply_requests(&mut self) {
        while let Ok(op) = self.ops.try_recv() {
            self.apply(op).await;
        }
        self.apply_pauses_and_seeks().await;
    }

    /// Commits the positions of every assigned partition: what the handlers were handed,
    /// less what was rewound.
    pub async fn commit_positions(&mut self) -> Result<Vec<TopicPartitionOffset>> {
        self.consumer.commit().await
    }

    /// Ends the run: the control stops accepting requests (those queued are answered with an
    /// error), positions are committed when `commit` says so, and the consumer leaves its
    /// group. Returns what the final commit stored.
    pub async fn finish(mut self, commit: bool) -> Result<Vec<TopicPartitionOffset>> {
        *lock(&self.control.shared.ops) = None;
        self.ops.close();
        while let Ok(op) = self.ops.try_recv() {
            if let Op::Commit(offsets, reply) = op {
                let _ = reply.send(self.consumer.commit_offsets(&offsets).await);
            }
        }
        let committed = if commit { self.consumer.commit().await } else { Ok(Vec::new()) };
        if let Err(e) = self.consumer.close().await {
            tracing::warn!(error = %e, "leaving the group failed");
        }
        committed
    }
}
