//! The transaction coordinator (KIP-98, KIP-447; transaction version 1).
//!
//! Its state is owned by one task on a thread of its own, as the group coordinator's is:
//! handlers send it closures and await the answer. Ending a transaction takes three steps,
//! run by [`finish`] outside the task: the decision is logged (`Prepare*`), then the group
//! offsets and the markers are written, then the end is logged (`Complete*`). A prepared
//! transaction found after a restart, or left by a failed write, is finished again by the
//! periodic check, which also aborts transactions past their timeout.

mod coordinator;
mod store;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, watch};
use tokio::time::Duration;

pub(crate) use coordinator::{EndOutcome, InitOutcome, PendingOffset, TxnCoordinator, TxnMeta, TxnStatus};
use store::TxnStore;

use crate::error::{Error, Result};
use crate::log::{ControlType, LogConfig};
use crate::mailbox::{CoordinatorGone, Job, Mailbox};
use crate::server::BrokerState;

/// Coordinator settings, under Kafka's names in [`crate::BrokerConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct TxnSettings {
    /// `transaction.max.timeout.ms`.
    pub max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`; expired transactional
    /// ids are removed at the same checks.
    pub abort_check_interval_ms: u64,
    /// `transactional.id.expiration.ms`.
    pub id_expiration_ms: i64,
}

impl Default for TxnSettings {
    fn default() -> Self {
        TxnSettings { max_timeout_ms: 900_000, abort_check_interval_ms: 10_000, id_expiration_ms: 604_800_000 }
    }
}

/// How to end one transaction: markers for its partitions and, on commit, its offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) transactional_id: String,
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) commit: bool,
    pub(crate) partitions: Vec<(String, i32)>,
    pub(crate) offsets: Vec<PendingOffset>,
}

/// What produce and OffsetFetch need to know of one transactional producer.
#[derive(Debug, Default)]
struct ProducerTxn {
    epoch: i16,
    /// The partitions its open transaction may write.
    partitions: HashSet<(String, i32)>,
    /// (group, topic, partition) of the offsets its transaction holds until it commits.
    offsets: HashSet<(String, String, i32)>,
}

/// What produce and OffsetFetch need to know of each transactional producer, readable without
/// a round trip to the coordinator.
#[derive(Debug, Clone, Default)]
pub(crate) struct TxnView {
    producers: Arc<RwLock<HashMap<i64, ProducerTxn>>>,
}

impl TxnView {
    fn update(&self, meta: &TxnMeta) {
        let partitions = match meta.status {
            TxnStatus::Ongoing => meta.partitions.iter().cloned().collect(),
            _ => HashSet::new(),
        };
        let offsets = match meta.status {
            TxnStatus::Ongoing | TxnStatus::PrepareCommit => {
                meta.offsets.iter().map(|o| (o.group.clone(), o.topic.clone(), o.partition)).collect()
            }
            _ => HashSet::new(),
        };
        let mut producers = self.producers.write().unwrap_or_else(|p| p.into_inner());
        producers.insert(meta.producer_id, ProducerTxn { epoch: meta.epoch, partitions, offsets });
    }

    fn remove(&self, producer_id: i64) {
        self.producers.write().unwrap_or_else(|p| p.into_inner()).remove(&producer_id);
    }

    /// Whether an open or committing transaction holds an offset for this group's partition
    /// (OffsetFetch with `require_stable` then answers UNSTABLE_OFFSET_COMMIT, KIP-447).
    pub(crate) fn has_pending_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        let producers = self.producers.read().unwrap_or_else(|p| p.into_inner());
        let key = (group.to_owned(), topic.to_owned(), partition);
        producers.values().any(|p| p.offsets.contains(&key))
    }

    /// Why a transactional batch of `producer_id` at `epoch` may not go to `topic`/`partition`,
    /// if it may not. Called under the partition's lock, so a transaction that is ending (its
    /// partitions cleared here before its markers are written) takes no batch after its marker.
    pub(crate) fn check_produce(&self, producer_id: i64, epoch: i16, topic: &str, partition: i32) -> Option<Error> {
        let producers = self.producers.read().unwrap_or_else(|p| p.into_inner());
        let Some(txn) = producers.get(&producer_id) else {
            return Some(Error::InvalidTxnState(format!("producer id {producer_id} has no transaction")));
        };
        // Older: a fenced producer. Newer: an epoch the coordinator never handed out.
        if epoch != txn.epoch {
            return Some(Error::InvalidProducerEpoch { current: txn.epoch, got: epoch });
        }
        if !txn.partitions.contains(&(topic.to_owned(), partition)) {
            return Some(Error::InvalidTxnState(format!(
                "{topic}-{partition} was not added to the transaction of producer id {producer_id}"
            )));
        }
        None
    }
}

/// A cheap handle to the coordinator task, and the view produce and OffsetFetch read.
#[derive(Debug, Clone)]
pub(crate) struct TxnCoordinatorHandle {
    mailbox: Mailbox<TxnCoordinator>,
    pub(crate) view: TxnView,
}

impl TxnCoordinatorHandle {
    pub(crate) fn open(
        data_dir: &Path,
        log_defaults: &LogConfig,
        settings: &TxnSettings,
    ) -> Result<(TxnCoordinatorHandle, TxnTask)> {
        let (store, txns) = TxnStore::open(data_dir, log_defaults)?;
        let view = TxnView::default();
        tracing::debug!(transactional_ids = txns.len(), "transaction coordinator loaded");
        let coordinator = TxnCoordinator::new(settings, store, txns, view.clone());
        let (mailbox, jobs) = Mailbox::new();
        Ok((TxnCoordinatorHandle { mailbox, view }, TxnTask { coordinator, jobs }))
    }

    pub(crate) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut TxnCoordinator) -> T + Send + 'static,
    ) -> Result<T, CoordinatorGone> {
        self.mailbox.call(f).await
    }
}

/// The task owning the coordinator's state.
#[derive(Debug)]
pub(crate) struct TxnTask {
    coordinator: TxnCoordinator,
    jobs: mpsc::Receiver<Job<TxnCoordinator>>,
}

impl TxnTask {
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>, flush_every: Duration) {
        let c = &mut self.coordinator;
        let mut flush_tick = tokio::time::interval(flush_every);
        flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = crate::server::stopped(&mut shutdown) => break,
                job = self.jobs.recv() => match job {
                    Some(job) => crate::mailbox::run(job, c, "transaction coordinator"),
                    None => break,
                },
                _ = flush_tick.tick() => {
                    if let Err(e) = c.flush_if_due(crate::log::now_ms()) {
                        tracing::warn!(error = %e, "flushing the transaction coordinator log failed");
                    }
                }
            }
        }
        self.jobs.close();
        if let Err(e) = c.close() {
            tracing::error!(error = %e, "flushing the transaction coordinator log at shutdown failed");
        }
    }
}

/// Ends the transaction `plan` describes: its offsets (on commit), its markers, then its end
/// in the coordinator's log. On an error the transaction stays prepared and is finished by
/// the next periodic check; the error is the Kafka code to answer.
pub(crate) async fn finish(state: &Arc<BrokerState>, plan: Plan) -> Result<(), i16> {
    use kafka_protocol::ResponseError as E;
    if plan.commit && !plan.offsets.is_empty() {
        let offsets = plan.offsets.clone();
        match state.groups.call(move |g| g.commit_transactional(offsets)).await {
            Ok(Ok(())) => {}
            Ok(Err(code)) => return Err(code),
            Err(_) => return Err(E::CoordinatorNotAvailable.code()),
        }
    }
    let st = Arc::clone(state);
    let markers = plan.clone();
    let written = tokio::task::spawn_blocking(move || write_markers(&st, &markers)).await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(transactional_id = %plan.transactional_id, error = %e, "writing transaction markers failed; retried later");
            return Err(e.code());
        }
        Err(_) => return Err(E::KafkaStorageError.code()),
    }
    match state.txns.call(move |c| c.complete(&plan)).await {
        Ok(0) => Ok(()),
        Ok(code) => Err(code),
        Err(_) => Err(E::CoordinatorNotAvailable.code()),
    }
}

fn write_markers(state: &BrokerState, plan: &Plan) -> Result<()> {
    let kind = if plan.commit { ControlType::Commit } else { ControlType::Abort };
    let now = crate::log::now_ms();
    for (topic, index) in &plan.partitions {
        // A partition deleted since holds nothing to end.
        let Some(partition) = state.topics.get(topic).and_then(|t| t.partition(*index)) else { continue };
        let written = partition.with_log(|log| log.append_marker(plan.producer_id, plan.epoch, kind, now))?;
        if written.is_some() {
            // The last stable offset moved: read_committed fetches waiting on it may go on.
            partition.wake_waiters();
        }
    }
    Ok(())
}

/// Every `interval`, finishes prepared transactions and aborts those past their timeout.
pub(crate) async fn abort_loop(state: Arc<BrokerState>, interval: Duration) {
    let mut shutdown = state.shutdown.clone();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = crate::server::stopped(&mut shutdown) => break,
            _ = tick.tick() => {}
        }
        let Ok(plans) = state.txns.call(|c| c.due(crate::log::now_ms())).await else { break };
        for plan in plans {
            let _ = finish(&state, plan).await;
        }
    }
}
