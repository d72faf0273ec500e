//! The transactional producer (KIP-98 and KIP-447, transaction version 1): the state of the
//! current transaction, and the requests to the transaction coordinator that move it along.
//!
//! One transaction at a time: `init_transactions` gets the producer id and epoch for the
//! `transactional.id` (fencing any older instance); records sent between `begin_transaction`
//! and `commit_transaction` are written as transactional batches to partitions first added
//! with AddPartitionsToTxn; consumer offsets join with AddOffsetsToTxn + TxnOffsetCommit;
//! EndTxn commits or aborts. Failures are sorted as Kafka's clients sort them: retriable
//! (retried here until the call's timeout), abortable (the transaction must be aborted, the
//! producer carries on) and fatal (fenced or unauthorized: the producer is done).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::connection::BrokerConnection;
use crate::consumer::ConsumerGroupMetadata;
use crate::coordinator;
use crate::error::{Error, Result};
use crate::{TopicPartition, TopicPartitionOffset};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// The highest versions a transaction version 1 client sends: AddPartitionsToTxn v4+ is
/// broker-to-broker (KAFKA-15757); Produce v12 and EndTxn v5 announce transaction version 2
/// (KIP-890), whose epoch bump at every EndTxn this producer does not follow yet.
pub(super) const MAX_ADD_PARTITIONS_VERSION: i16 = 3;
pub(super) const MAX_PRODUCE_VERSION: i16 = 11;
const MAX_END_TXN_VERSION: i16 = 4;

#[derive(Debug, Clone)]
enum Phase {
    /// `init_transactions` has not succeeded yet.
    Uninitialized,
    /// Between transactions.
    Ready,
    InTransaction,
    /// `commit_transaction` began (and may be called again after a timeout to finish it).
    Committing,
    Aborting,
    /// The transaction failed: only `abort_transaction` moves on.
    Abortable(Error),
    /// Fenced or unauthorized: nothing moves on.
    Fatal(Error),
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// Partitions added to the current transaction.
    added: HashSet<TopicPartition>,
    /// The coordinator knows of the current transaction (partitions or offsets were added):
    /// it ends with EndTxn.
    started: bool,
}

/// What the application's transaction calls need of the producer's sender.
pub(super) trait Sender: Sync {
    fn cluster(&self) -> &Cluster;
    /// Waits until every record sent so far is acknowledged or failed.
    fn flush(&self) -> impl std::future::Future<Output = Result<()>> + Send;
    /// Fails every batch not in flight with `error` (a transaction being aborted).
    fn abandon_waiting(&self, error: Error);
    /// The producer id and epoch batches are numbered under.
    fn producer(&self) -> Option<(i64, i16)>;
    /// Numbers batches under a new id or epoch from now on (sequences start again).
    fn new_epoch(&self, producer: (i64, i16));
    /// A batch failed for good or was dropped: sequences have a gap until the epoch moves.
    fn bump_needed(&self) -> bool;
}

#[derive(Debug)]
pub(super) struct Transactions {
    pub(super) id: String,
    timeout_ms: i32,
    state: Mutex<State>,
    /// The application's transaction calls, one at a time.
    calls: tokio::sync::Mutex<()>,
    coordinator: tokio::sync::Mutex<Option<Arc<BrokerConnection>>>,
}

impl Transactions {
    pub(super) fn new(id: String, timeout_ms: i32) -> Self {
        Transactions {
            id,
            timeout_ms,
            state: Mutex::new(State { phase: Phase::Uninitialized, added: HashSet::new(), started: false }),
            calls: tokio::sync::Mutex::new(()),
            coordinator: tokio::sync::Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a record may be sent now: only inside a transaction.
    pub(super) fn check_send(&self) -> Result<()> {
        match &self.lock().phase {
            Phase::InTransaction => Ok(()),
            Phase::Abortable(e) => Err(Error::TxnAbortable(Box::new(e.clone()))),
            Phase::Fatal(e) => Err(e.clone()),
            Phase::Uninitialized => Err(Error::State("send: call init_transactions first".into())),
            Phase::Committing | Phase::Aborting => {
                Err(Error::State("send: the transaction is being committed or aborted".into()))
            }
            Phase::Ready => Err(Error::State("send: no transaction in progress; call begin_transaction".into())),
        }
    }

    /// The partitions of these batches not yet in the transaction.
    pub(super) fn not_added<'a>(&self, tps: impl Iterator<Item = &'a TopicPartition>) -> Vec<TopicPartition> {
        let st = self.lock();
        let mut out: Vec<TopicPartition> = tps.filter(|tp| !st.added.contains(*tp)).cloned().collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// A record of the transaction failed for good (or the partitions could not be added):
    /// the transaction must be aborted, unless the failure is fatal. Returns the error each
    /// record still waiting is failed with.
    pub(super) fn failed(&self, e: &Error) -> Error {
        let mut st = self.lock();
        // The same sorting as the coordinator's answers: fenced and fatal errors stay so, any
        // other failed record makes the transaction abortable.
        let e = match e {
            Error::Fenced(_) | Error::Fatal(_) => e.clone(),
            Error::TxnAbortable(cause) => classify(&self.id, (**cause).clone()),
            other => classify(&self.id, other.clone()),
        };
        let e = match e {
            Error::TxnAbortable(cause) => *cause,
            other => other,
        };
        if !matches!(st.phase, Phase::Fatal(_)) {
            st.phase = if e.is_fatal() { Phase::Fatal(e.clone()) } else { Phase::Abortable(e.clone()) };
        }
        if e.is_fatal() { e } else { Error::TxnAbortable(Box::new(e)) }
    }

    pub(super) async fn init(&self, sender: &impl Sender, timeout: Duration) -> Result<()> {
        self.init_with(sender, timeout, false).await
    }

    /// As `init`, but a producer already initialized is left as it is (`Ok`): for APIs that
    /// initialize on first use. Concurrent callers wait for the one initialization.
    pub(super) async fn init_once(&self, sender: &impl Sender, timeout: Duration) -> Result<()> {
        self.init_with(sender, timeout, true).await
    }

    async fn init_with(&self, sender: &impl Sender, timeout: Duration, once: bool) -> Result<()> {
        let _call = self.calls.lock().await;
        match &self.lock().phase {
            Phase::Uninitialized => {}
            Phase::Fatal(e) => return Err(e.clone()),
            _ if once => return Ok(()),
            _ => return Err(Error::State("init_transactions: already initialized".into())),
        }
        let deadline = Instant::now() + timeout;
        let p = self.init_producer_id(sender, deadline, None).await.inspect_err(|e| self.remember(e))?;
        sender.new_epoch(p);
        self.lock().phase = Phase::Ready;
        Ok(())
    }

    pub(super) fn begin(&self) -> Result<()> {
        let mut st = self.lock();
        match &st.phase {
            Phase::Ready => {
                st.phase = Phase::InTransaction;
                st.added.clear();
                st.started = false;
                Ok(())
            }
            Phase::Fatal(e) => Err(e.clone()),
            Phase::Uninitialized => Err(Error::State("begin_transaction: call init_transactions first".into())),
            Phase::Abortable(_) => {
                Err(Error::State("begin_transaction: the failed transaction must be aborted first".into()))
            }
            _ => Err(Error::State("begin_transaction: a transaction is already in progress".into())),
        }
    }

    /// Adds partitions to the transaction before their first batch is sent.
    pub(super) async fn add_partitions(
        &self,
        sender: &impl Sender,
        tps: &[TopicPartition],
        deadline: Instant,
    ) -> Result<()> {
        if let Phase::Abortable(e) | Phase::Fatal(e) = &self.lock().phase {
            return Err(e.clone());
        }
        let (pid, epoch) = sender.producer().ok_or_else(|| Error::State("no producer id".into()))?;
        let mut by_topic: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
        for tp in tps {
            by_topic.entry(tp.topic.as_str()).or_default().push(tp.partition);
        }
        let topics: Vec<AddPartitionsToTxnTopic> = by_topic
            .into_iter()
            .map(|(t, ps)| AddPartitionsToTxnTopic::default().with_name(TopicName(s(t))).with_partitions(ps))
            .collect();
        let req = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(s(&self.id)))
            .with_v3_and_below_producer_id(ProducerId(pid))
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(topics);
        self.with_coordinator(sender, deadline, "AddPartitionsToTxn", |conn| {
            let req = req.clone();
            async move {
                let version = conn.version_of::<AddPartitionsToTxnRequest>()?.min(MAX_ADD_PARTITIONS_VERSION);
                let resp = conn.send_at(&req, version).await?;
                if resp.error_code != 0 {
                    return Err(Error::from_code(resp.error_code, None, "AddPartitionsToTxn"));
                }
                // One partition's error fails them all: OPERATION_NOT_ATTEMPTED marks the
                // others, so the first real error is the one to report.
                let mut first = None;
                for t in &resp.results_by_topic_v3_and_below {
                    for p in &t.results_by_partition {
                        let code = p.partition_error_code;
                        if code != 0 && code != E::OperationNotAttempted.code() && first.is_none() {
                            first = Some(Error::from_code(
                                code,
                                None,
                                format!("AddPartitionsToTxn {}-{}", t.name.0, p.partition_index),
                            ));
                        }
                    }
                }
                first.map_or(Ok(()), Err)
            }
        })
        .await?;
        let mut st = self.lock();
        st.added.extend(tps.iter().cloned());
        st.started = true;
        Ok(())
    }

    pub(super) async fn send_offsets(
        &self,
        sender: &impl Sender,
        offsets: &[TopicPartitionOffset],
        group: &ConsumerGroupMetadata,
        timeout: Duration,
    ) -> Result<()> {
        let _call = self.calls.lock().await;
        self.expect_in_transaction("send_offsets_to_transaction")?;
        if offsets.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + timeout;
        let (pid, epoch) = sender.producer().ok_or_else(|| Error::State("no producer id".into()))?;
        let add = AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s(&self.id)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(s(&group.group_id)));
        let result = self
            .with_coordinator(sender, deadline, "AddOffsetsToTxn", |conn| {
                let add = add.clone();
                async move {
                    let resp = conn.send(&add).await?;
                    if resp.error_code != 0 {
                        return Err(Error::from_code(resp.error_code, None, "AddOffsetsToTxn"));
                    }
                    Ok(())
                }
            })
            .await;
        self.settle_call(result)?;
        self.lock().started = true;
        let result = self.txn_offset_commit(sender, offsets, group, (pid, epoch), deadline).await;
        self.settle_call(result)
    }

    async fn txn_offset_commit(
        &self,
        sender: &impl Sender,
        offsets: &[TopicPartitionOffset],
        group: &ConsumerGroupMetadata,
        (pid, epoch): (i64, i16),
        deadline: Instant,
    ) -> Result<()> {
        let mut by_topic: std::collections::BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = Default::default();
        for o in offsets {
            by_topic.entry(o.topic()).or_default().push(
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(o.partition())
                    .with_committed_offset(o.offset)
                    .with_committed_leader_epoch(-1)
                    .with_committed_metadata(Some(s(o.metadata.as_deref().unwrap_or("")))),
            );
        }
        let req = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s(&self.id)))
            .with_group_id(GroupId(s(&group.group_id)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(group.generation_id)
            .with_member_id(s(&group.member_id))
            .with_group_instance_id(group.group_instance_id.as_deref().map(s))
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        TxnOffsetCommitRequestTopic::default().with_name(TopicName(s(t))).with_partitions(ps)
                    })
                    .collect(),
            );
        let cluster = sender.cluster();
        let started = Instant::now();
        loop {
            let attempt = async {
                let conn = coordinator::find(cluster, &group.group_id).await?;
                let resp = conn.send(&req).await?;
                for t in &resp.topics {
                    for p in &t.partitions {
                        if p.error_code != 0 {
                            return Err(Error::from_code(
                                p.error_code,
                                None,
                                format!(
                                    "TxnOffsetCommit {}-{} for group {}",
                                    t.name.0, p.partition_index, group.group_id
                                ),
                            ));
                        }
                    }
                }
                Ok(())
            };
            match attempt.await {
                Err(e) if retriable(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(backoff(&e, cluster)).await;
                }
                Err(e) if retriable(&e) => return Err(timed_out("TxnOffsetCommit", started, e)),
                other => return other,
            }
        }
    }

    pub(super) async fn commit(&self, sender: &impl Sender, timeout: Duration) -> Result<()> {
        let _call = self.calls.lock().await;
        {
            let mut st = self.lock();
            match &st.phase {
                Phase::InTransaction | Phase::Committing => st.phase = Phase::Committing,
                Phase::Abortable(e) => return Err(Error::TxnAbortable(Box::new(e.clone()))),
                Phase::Fatal(e) => return Err(e.clone()),
                Phase::Aborting => {
                    return Err(Error::State("commit_transaction: the transaction is being aborted".into()));
                }
                _ => return Err(Error::State("commit_transaction: no transaction in progress".into())),
            }
        }
        let deadline = Instant::now() + timeout;
        // Every record of the transaction must be written before it commits.
        match tokio::time::timeout_at(deadline, sender.flush()).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::Timeout {
                    what: "commit_transaction: records still unacknowledged (call it again to go on)".into(),
                    ms: timeout.as_millis() as u64,
                });
            }
        }
        // A record that failed made the transaction abortable meanwhile.
        if let Phase::Abortable(e) = &self.lock().phase {
            return Err(Error::TxnAbortable(Box::new(e.clone())));
        }
        if self.lock().started {
            let result = self.end_txn(sender, true, deadline).await;
            self.settle_call(result)?;
        }
        self.finish();
        Ok(())
    }

    pub(super) async fn abort(&self, sender: &impl Sender, timeout: Duration) -> Result<()> {
        let _call = self.calls.lock().await;
        {
            let mut st = self.lock();
            match &st.phase {
                Phase::InTransaction | Phase::Abortable(_) | Phase::Aborting => st.phase = Phase::Aborting,
                Phase::Fatal(e) => return Err(e.clone()),
                Phase::Committing => {
                    return Err(Error::State(
                        "abort_transaction: a commit is in progress; call commit_transaction again".into(),
                    ));
                }
                _ => return Err(Error::State("abort_transaction: no transaction in progress".into())),
            }
        }
        let deadline = Instant::now() + timeout;
        // Nothing more of the transaction is written; what is in flight is waited for, so
        // that the abort marker follows it.
        sender.abandon_waiting(Error::Purged);
        if tokio::time::timeout_at(deadline, sender.flush()).await.is_err() {
            return Err(Error::Timeout {
                what: "abort_transaction: records in flight (call it again to go on)".into(),
                ms: timeout.as_millis() as u64,
            });
        }
        if self.lock().started {
            let result = self.end_txn(sender, false, deadline).await;
            self.settle_call(result)?;
        }
        // A batch that failed or was dropped left its partition's sequence with a gap: the
        // next transaction starts under a new epoch (KIP-360).
        if sender.bump_needed() {
            let current = sender.producer();
            let p = self.init_producer_id(sender, deadline, current).await;
            sender.new_epoch(self.settle_call(p)?);
        }
        self.finish();
        Ok(())
    }

    fn finish(&self) {
        let mut st = self.lock();
        st.phase = Phase::Ready;
        st.added.clear();
        st.started = false;
    }

    fn expect_in_transaction(&self, call: &str) -> Result<()> {
        match &self.lock().phase {
            Phase::InTransaction => Ok(()),
            Phase::Abortable(e) => Err(Error::TxnAbortable(Box::new(e.clone()))),
            Phase::Fatal(e) => Err(e.clone()),
            _ => Err(Error::State(format!("{call}: no transaction in progress"))),
        }
    }

    /// Sorts a call's failure: fatal and abortable failures change the phase; timeouts and
    /// state errors leave it (the call may be made again).
    fn settle_call<T>(&self, result: Result<T>) -> Result<T> {
        result.map_err(|e| {
            let e = classify(&self.id, e);
            self.remember(&e);
            e
        })
    }

    fn remember(&self, e: &Error) {
        let mut st = self.lock();
        if e.is_fatal() {
            st.phase = Phase::Fatal(e.clone());
        } else if let Error::TxnAbortable(cause) = e {
            if !matches!(st.phase, Phase::Fatal(_)) {
                st.phase = Phase::Abortable((**cause).clone());
            }
        }
    }

    async fn end_txn(&self, sender: &impl Sender, commit: bool, deadline: Instant) -> Result<()> {
        let (pid, epoch) = sender.producer().ok_or_else(|| Error::State("no producer id".into()))?;
        let req = EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(&self.id)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit);
        self.with_coordinator(sender, deadline, "EndTxn", |conn| {
            let req = req.clone();
            async move {
                let version = conn.version_of::<EndTxnRequest>()?.min(MAX_END_TXN_VERSION);
                let resp = conn.send_at(&req, version).await?;
                if resp.error_code != 0 {
                    return Err(Error::from_code(
                        resp.error_code,
                        None,
                        if commit { "EndTxn(commit)" } else { "EndTxn(abort)" },
                    ));
                }
                Ok(())
            }
        })
        .await
    }

    /// InitProducerId for this `transactional.id`: a first id and epoch, or with `current`
    /// the next epoch of that id (InitProducerId v3+, KIP-360).
    async fn init_producer_id(
        &self,
        sender: &impl Sender,
        deadline: Instant,
        current: Option<(i64, i16)>,
    ) -> Result<(i64, i16)> {
        self.with_coordinator(sender, deadline, "InitProducerId", |conn| async move {
            super::sender::init_producer_id(&conn, Some(&self.id), self.timeout_ms, current).await
        })
        .await
        .map_err(|e| classify(&self.id, e))
    }

    /// Runs `op` against the transaction coordinator until it succeeds, fails for good, or
    /// `deadline` passes; finds the coordinator again when it moved.
    async fn with_coordinator<'a, T, F, Fut>(
        &'a self,
        sender: &'a impl Sender,
        deadline: Instant,
        what: &str,
        mut op: F,
    ) -> Result<T>
    where
        F: FnMut(Arc<BrokerConnection>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let cluster = sender.cluster();
        let started = Instant::now();
        loop {
            let attempt = async {
                let conn = self.coordinator_connection(cluster).await?;
                op(conn).await
            };
            let e = match attempt.await {
                Err(e) if retriable(&e) => e,
                other => return other,
            };
            if moved(&e) {
                *self.coordinator.lock().await = None;
            }
            if Instant::now() >= deadline {
                return Err(timed_out(what, started, e));
            }
            tracing::debug!(transactional_id = %self.id, error = %e, "{what} retried");
            tokio::time::sleep(backoff(&e, cluster).min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    async fn coordinator_connection(&self, cluster: &Cluster) -> Result<Arc<BrokerConnection>> {
        let mut cached = self.coordinator.lock().await;
        if let Some(conn) = cached.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(conn));
        }
        let conn = coordinator::find_transaction(cluster, &self.id).await?;
        *cached = Some(Arc::clone(&conn));
        Ok(conn)
    }
}

/// Errors a transaction call retries until its timeout.
fn retriable(e: &Error) -> bool {
    match e.kafka_code() {
        Some(E::ConcurrentTransactions | E::CoordinatorLoadInProgress | E::UnknownTopicOrPartition) => true,
        Some(code) => code.is_retriable() || coordinator::is_coordinator_error(code),
        None => matches!(e, Error::Connection { .. } | Error::Timeout { .. }),
    }
}

fn moved(e: &Error) -> bool {
    matches!(e, Error::Connection { .. }) || e.kafka_code().is_some_and(coordinator::is_coordinator_error)
}

/// CONCURRENT_TRANSACTIONS only means the previous transaction's markers are still being
/// written: ask again soon, as the Java client does (20 ms), not after a full backoff.
fn backoff(e: &Error, cluster: &Cluster) -> Duration {
    if e.kafka_code() == Some(E::ConcurrentTransactions) {
        Duration::from_millis(20).min(cluster.retry_backoff())
    } else {
        cluster.retry_backoff()
    }
}

fn timed_out(what: &str, started: Instant, last: Error) -> Error {
    Error::Timeout {
        what: format!("{what} (last error: {last}; call again to go on)"),
        ms: started.elapsed().as_millis() as u64,
    }
}

/// What a coordinator's answer means for the producer, as Kafka's Java client decides it:
/// fenced and authorization failures of the `transactional.id` are fatal; failures of one
/// transaction's contents (a topic or group it may not use, a zombie consumer's offsets) make
/// it abortable; retriable errors and local ones stay as they are.
fn classify(transactional_id: &str, e: Error) -> Error {
    let Some(code) = e.kafka_code() else { return e };
    match code {
        E::ProducerFenced | E::InvalidProducerEpoch | E::TransactionalIdNotFound => {
            Error::Fenced(format!("transactional.id {transactional_id:?}: {e}"))
        }
        E::TransactionalIdAuthorizationFailed
        | E::ClusterAuthorizationFailed
        | E::InvalidTransactionTimeout
        | E::UnsupportedVersion
        | E::UnsupportedForMessageFormat
        | E::InvalidTxnState => Error::Fatal(Box::new(e)),
        E::TopicAuthorizationFailed
        | E::GroupAuthorizationFailed
        | E::UnknownMemberId
        | E::IllegalGeneration
        | E::FencedInstanceId
        | E::UnknownProducerId
        | E::InvalidProducerIdMapping
        | E::TransactionAbortable
        | E::RebalanceInProgress => Error::TxnAbortable(Box::new(e)),
        _ if retriable(&e) => e,
        _ => Error::TxnAbortable(Box::new(e)),
    }
}
