//! The transaction coordinator's state machine (KIP-98, transaction version 1): one producer
//! id per transactional id, its epoch, and the transaction in progress. Every change is written
//! to the coordinator's log before it is answered or acted on.

use std::collections::{BTreeSet, HashMap};

use kafka_protocol::ResponseError as E;
use serde::{Deserialize, Serialize};

use super::store::TxnStore;
use super::{Plan, TxnSettings, TxnView};
use crate::error::Result;
use crate::group::OffsetValue;
use crate::producer_ids::ProducerIdAllocator;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TxnStatus {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

/// An offset committed inside a transaction, applied to its group when the transaction commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingOffset {
    pub(crate) group: String,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) value: OffsetValue,
}

/// What the coordinator keeps per transactional id (the value of its log's records).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TxnMeta {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) timeout_ms: i32,
    pub(crate) status: TxnStatus,
    pub(crate) partitions: BTreeSet<(String, i32)>,
    pub(crate) groups: BTreeSet<String>,
    pub(crate) offsets: Vec<PendingOffset>,
    /// Wall-clock start of the transaction in progress, for its timeout.
    pub(crate) started_ms: i64,
    /// Wall-clock time of the last change, from which an idle id expires.
    #[serde(default)]
    pub(crate) updated_ms: i64,
}

impl TxnStatus {
    /// Kafka's name for the state, as DescribeTransactions and ListTransactions report it.
    pub(crate) fn kafka_name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::PrepareCommit => "PrepareCommit",
            TxnStatus::PrepareAbort => "PrepareAbort",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
        }
    }

    pub(crate) const ALL: [TxnStatus; 6] = [
        TxnStatus::Empty,
        TxnStatus::Ongoing,
        TxnStatus::PrepareCommit,
        TxnStatus::PrepareAbort,
        TxnStatus::CompleteCommit,
        TxnStatus::CompleteAbort,
    ];
}

impl TxnMeta {
    fn plan(&self, transactional_id: &str) -> Option<Plan> {
        let commit = match self.status {
            TxnStatus::PrepareCommit => true,
            TxnStatus::PrepareAbort => false,
            _ => return None,
        };
        Some(Plan {
            transactional_id: transactional_id.to_owned(),
            producer_id: self.producer_id,
            epoch: self.epoch,
            commit,
            partitions: self.partitions.iter().cloned().collect(),
            offsets: if commit { self.offsets.clone() } else { Vec::new() },
        })
    }
}

/// The answer to InitProducerId.
#[derive(Debug)]
pub(crate) enum InitOutcome {
    Granted(i64, i16),
    Refused(i16),
    /// A transaction of the previous epoch must be finished first; then ask again.
    Finish(Plan),
}

/// The answer to EndTxn.
#[derive(Debug)]
pub(crate) enum EndOutcome {
    Done(i16),
    Finish(Plan),
}

#[derive(Debug)]
pub(crate) struct TxnCoordinator {
    max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`.
    id_expiration_ms: i64,
    txns: HashMap<String, TxnMeta>,
    store: TxnStore,
    view: TxnView,
}

fn code(e: E) -> i16 {
    e.code()
}

/// PRODUCER_FENCED came with KIP-588; older request versions know only INVALID_PRODUCER_EPOCH.
fn fenced(new_enough: bool) -> i16 {
    if new_enough { code(E::ProducerFenced) } else { code(E::InvalidProducerEpoch) }
}

impl TxnCoordinator {
    pub(crate) fn new(settings: &TxnSettings, store: TxnStore, txns: HashMap<String, TxnMeta>, view: TxnView) -> Self {
        for meta in txns.values() {
            view.update(meta);
        }
        TxnCoordinator {
            max_timeout_ms: settings.max_timeout_ms,
            id_expiration_ms: settings.id_expiration_ms,
            txns,
            store,
            view,
        }
    }

    fn persist(&mut self, id: &str, mut meta: TxnMeta) -> Result<()> {
        meta.updated_ms = crate::log::now_ms();
        self.store.write(id, &meta)?;
        self.view.update(&meta);
        self.txns.insert(id.to_owned(), meta);
        if self.store.wants_compaction(self.txns.len()) {
            if let Err(e) = self.store.compact(&self.txns) {
                tracing::warn!(error = %e, "compacting the transaction coordinator log failed");
            }
        }
        Ok(())
    }

    /// Persists `meta`, answering KAFKA_STORAGE_ERROR when the log refuses it.
    fn save(&mut self, id: &str, meta: TxnMeta) -> i16 {
        match self.persist(id, meta) {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!(transactional_id = id, error = %e, "could not store transaction state");
                code(E::KafkaStorageError)
            }
        }
    }

    pub(crate) fn init(
        &mut self,
        id: &str,
        timeout_ms: i32,
        current: (i64, i16),
        ids: &ProducerIdAllocator,
        new_errors: bool,
    ) -> InitOutcome {
        if timeout_ms <= 0 || timeout_ms > self.max_timeout_ms {
            return InitOutcome::Refused(code(E::InvalidTransactionTimeout));
        }
        let Some(meta) = self.txns.get(id).cloned() else {
            let (producer_id, epoch) = match ids.new_producer() {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(error = %e, "cannot allocate a producer id");
                    return InitOutcome::Refused(code(E::KafkaStorageError));
                }
            };
            let meta = TxnMeta {
                producer_id,
                epoch,
                timeout_ms,
                status: TxnStatus::Empty,
                partitions: BTreeSet::new(),
                groups: BTreeSet::new(),
                offsets: Vec::new(),
                started_ms: -1,
                updated_ms: 0,
            };
            return match self.save(id, meta) {
                0 => InitOutcome::Granted(producer_id, epoch),
                e => InitOutcome::Refused(e),
            };
        };
        // KIP-360: a producer naming its id and epoch may bump only the current one.
        if current != (-1, -1) && current != (meta.producer_id, meta.epoch) {
            return InitOutcome::Refused(fenced(new_errors));
        }
        if let Some(plan) = meta.plan(id) {
            return InitOutcome::Finish(plan);
        }
        if meta.status == TxnStatus::Ongoing {
            // The new epoch fences the old producer; its transaction is aborted at that epoch.
            let mut next = meta;
            next.status = TxnStatus::PrepareAbort;
            next.epoch = next.epoch.saturating_add(1).min(i16::MAX - 1);
            return match self.save(id, next.clone()) {
                0 => InitOutcome::Finish(next.plan(id).expect("prepared")),
                e => InitOutcome::Refused(e),
            };
        }
        let mut next = meta.clone();
        if meta.epoch >= i16::MAX - 1 {
            match ids.new_producer() {
                Ok((producer_id, epoch)) => (next.producer_id, next.epoch) = (producer_id, epoch),
                Err(_) => return InitOutcome::Refused(code(E::KafkaStorageError)),
            }
        } else {
            next.epoch += 1;
        }
        next.status = TxnStatus::Empty;
        next.timeout_ms = timeout_ms;
        next.partitions.clear();
        next.groups.clear();
        next.offsets.clear();
        match self.save(id, next.clone()) {
            0 => InitOutcome::Granted(next.producer_id, next.epoch),
            e => InitOutcome::Refused(e),
        }
    }

    /// Checks that `(producer_id, epoch)` holds `id` now and its transaction may take more.
    fn ongoing_or_new(&self, id: &str, producer_id: i64, epoch: i16, new_errors: bool) -> Result<TxnMeta, i16> {
        let Some(meta) = self.txns.get(id) else { return Err(code(E::InvalidProducerIdMapping)) };
        if meta.producer_id != producer_id {
            return Err(code(E::InvalidProducerIdMapping));
        }
        if meta.epoch != epoch {
            return Err(fenced(new_errors));
        }
        match meta.status {
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort => Err(code(E::ConcurrentTransactions)),
            _ => Ok(meta.clone()),
        }
    }

    fn begin(meta: &mut TxnMeta, now_ms: i64) {
        if meta.status != TxnStatus::Ongoing {
            meta.status = TxnStatus::Ongoing;
            meta.started_ms = now_ms;
            meta.partitions.clear();
            meta.groups.clear();
            meta.offsets.clear();
        }
    }

    /// AddPartitionsToTxn and AddOffsetsToTxn: `add` puts the partitions or the group into the
    /// transaction, which begins with the first of them.
    pub(crate) fn add_to_txn(
        &mut self,
        id: &str,
        (producer_id, epoch): (i64, i16),
        now_ms: i64,
        new_errors: bool,
        add: impl FnOnce(&mut TxnMeta),
    ) -> i16 {
        let mut meta = match self.ongoing_or_new(id, producer_id, epoch, new_errors) {
            Ok(m) => m,
            Err(e) => return e,
        };
        Self::begin(&mut meta, now_ms);
        add(&mut meta);
        self.save(id, meta)
    }

    /// TxnOffsetCommit, once the group has accepted the member: the offsets are held until the
    /// transaction ends.
    pub(crate) fn commit_offsets(
        &mut self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        offsets: Vec<PendingOffset>,
        new_errors: bool,
    ) -> i16 {
        let mut meta = match self.ongoing_or_new(id, producer_id, epoch, new_errors) {
            Ok(m) => m,
            Err(e) => return e,
        };
        if meta.status != TxnStatus::Ongoing || offsets.iter().any(|o| !meta.groups.contains(&o.group)) {
            // AddOffsetsToTxn must come first, as Kafka's producer always sends it.
            return code(E::InvalidTxnState);
        }
        for o in offsets {
            meta.offsets.retain(|p| (&p.group, &p.topic, p.partition) != (&o.group, &o.topic, o.partition));
            meta.offsets.push(o);
        }
        self.save(id, meta)
    }

    pub(crate) fn end(&mut self, id: &str, producer_id: i64, epoch: i16, commit: bool, new_errors: bool) -> EndOutcome {
        let Some(meta) = self.txns.get(id).cloned() else {
            return EndOutcome::Done(code(E::InvalidProducerIdMapping));
        };
        if meta.producer_id != producer_id {
            return EndOutcome::Done(code(E::InvalidProducerIdMapping));
        }
        if meta.epoch != epoch {
            return EndOutcome::Done(fenced(new_errors));
        }
        match (meta.status, commit) {
            (TxnStatus::Ongoing, _) => {
                let mut next = meta;
                next.status = if commit { TxnStatus::PrepareCommit } else { TxnStatus::PrepareAbort };
                match self.save(id, next.clone()) {
                    0 => EndOutcome::Finish(next.plan(id).expect("prepared")),
                    e => EndOutcome::Done(e),
                }
            }
            // A retry of the request that finished it.
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => EndOutcome::Done(0),
            (TxnStatus::PrepareCommit, true) | (TxnStatus::PrepareAbort, false) => {
                EndOutcome::Finish(meta.plan(id).expect("prepared"))
            }
            // Aborting a transaction that never began is allowed; the client then starts anew.
            (TxnStatus::Empty, false) => EndOutcome::Done(0),
            _ => EndOutcome::Done(code(E::InvalidTxnState)),
        }
    }

    /// Records that `plan`'s markers and offsets are written.
    pub(crate) fn complete(&mut self, plan: &Plan) -> i16 {
        let Some(meta) = self.txns.get(&plan.transactional_id).cloned() else { return 0 };
        if meta.plan(&plan.transactional_id).as_ref() != Some(plan) {
            return 0;
        }
        let mut next = meta;
        next.status = if plan.commit { TxnStatus::CompleteCommit } else { TxnStatus::CompleteAbort };
        next.partitions.clear();
        next.groups.clear();
        next.offsets.clear();
        next.started_ms = -1;
        self.save(&plan.transactional_id, next)
    }

    /// Transactions to finish now: those prepared but not completed (after a restart or a
    /// failed marker write), and those open past their timeout, which are aborted at a bumped
    /// epoch so their producer is fenced.
    pub(crate) fn due(&mut self, now_ms: i64) -> Vec<Plan> {
        let mut plans = Vec::new();
        let ids: Vec<String> = self.txns.keys().cloned().collect();
        for id in ids {
            let meta = self.txns[&id].clone();
            let idle = matches!(meta.status, TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort);
            if idle && now_ms.saturating_sub(meta.updated_ms) > self.id_expiration_ms {
                self.expire(&id, &meta);
                continue;
            }
            if let Some(plan) = meta.plan(&id) {
                plans.push(plan);
                continue;
            }
            if meta.status == TxnStatus::Ongoing && now_ms.saturating_sub(meta.started_ms) > i64::from(meta.timeout_ms)
            {
                let mut next = meta;
                next.status = TxnStatus::PrepareAbort;
                next.epoch = next.epoch.saturating_add(1).min(i16::MAX - 1);
                tracing::info!(transactional_id = %id, "aborting a transaction past its timeout");
                if self.save(&id, next.clone()) == 0 {
                    plans.extend(next.plan(&id));
                }
            }
        }
        plans
    }

    /// Forgets an id idle past `transactional.id.expiration.ms`: its next InitProducerId gets
    /// a new producer id, as in Kafka.
    fn expire(&mut self, id: &str, meta: &TxnMeta) {
        if let Err(e) = self.store.remove(id) {
            tracing::warn!(transactional_id = id, error = %e, "could not record an expired transactional id");
            return;
        }
        tracing::debug!(transactional_id = id, "transactional id expired");
        self.view.remove(meta.producer_id);
        self.txns.remove(id);
    }

    /// The state of every transactional id (DescribeTransactions, ListTransactions).
    pub(crate) fn describe(&self, ids: Option<&[String]>) -> Vec<(String, Option<TxnMeta>)> {
        match ids {
            Some(ids) => ids.iter().map(|id| (id.clone(), self.txns.get(id).cloned())).collect(),
            None => self.txns.iter().map(|(id, m)| (id.clone(), Some(m.clone()))).collect(),
        }
    }

    pub(crate) fn flush_if_due(&mut self, now_ms: i64) -> Result<()> {
        self.store.flush_if_due(now_ms)
    }

    pub(crate) fn close(&mut self) -> Result<()> {
        self.store.close()
    }
}
