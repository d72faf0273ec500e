//! Consumers. [`Consumer`] subscribes through a consumer group (or takes a manual
//! assignment), tracks positions and commits offsets; [`PartitionConsumer`] reads explicitly
//! assigned partitions without a group.

mod assignor;
mod group;
mod partition_consumer;
pub mod runner;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use partition_consumer::PartitionConsumer;
pub use runner::{Control, PauseTarget, Round, Runner};

use crate::cluster::Cluster;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::{TopicPartition, TopicPartitionOffset};
pub(crate) use assignor::decode_assignment;
use assignor::{Assignor, RebalanceProtocol};
use group::{Group, GroupProtocol, GroupSettings, IdPartitions};

pub(crate) fn validate_assignors(list: &str) -> Result<()> {
    Assignor::parse_list(list).map(|_| ())
}

/// Where to start reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    Beginning,
    End,
    At(i64),
    /// The first record whose timestamp is at or after this (ms since the epoch); the log
    /// end when there is none.
    Timestamp(i64),
    /// The group's committed offset; without one, `auto.offset.reset` decides (and
    /// `auto.offset.reset=error` makes it an error naming the partition).
    Committed,
}

/// A record read from Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// A change of the partitions a group member holds, given to the rebalance listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    /// These partitions are now this member's; reading starts at their committed offsets.
    Assigned(Vec<TopicPartition>),
    /// These partitions are being handed to another member. Called before they are released:
    /// with auto commit on, their positions have just been committed.
    Revoked(Vec<TopicPartition>),
    /// The membership was lost (session timeout, fenced generation, poll interval exceeded):
    /// these partitions may already be another member's; committing them is no longer possible.
    Lost(Vec<TopicPartition>),
}

type Listener = Box<dyn FnMut(&RebalanceEvent, &mut RebalanceCommits) + Send>;

/// Given to a listener registered with [`Consumer::on_rebalance_committing`]: commits asked
/// for here are sent, and awaited, right after the listener returns, while the partitions
/// are still this member's (before a revoked partition is released, before the rejoin).
/// A commit that fails is returned by the next `poll`. On [`RebalanceEvent::Lost`] nothing
/// is committed: the partitions may already be another member's.
#[derive(Debug, Default)]
pub struct RebalanceCommits {
    positions: Vec<(TopicPartition, i64)>,
    staged: Vec<TopicPartitionOffset>,
    handled: bool,
}

impl RebalanceCommits {
    /// The next offset `poll` would return for a partition held now.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.positions.iter().find(|(tp, _)| tp.topic == topic && tp.partition == partition).map(|(_, o)| *o)
    }

    /// Every partition held now with its position.
    pub fn positions(&self) -> impl Iterator<Item = (&TopicPartition, i64)> {
        self.positions.iter().map(|(tp, o)| (tp, *o))
    }

    /// Commits the positions of every partition held now (what `poll` has returned).
    pub fn commit(&mut self) {
        self.staged.extend(self.positions.iter().map(|(tp, o)| tp.clone().with_offset(*o)));
    }

    /// Commits explicit offsets, each the next offset to read, with its metadata.
    pub fn commit_offsets(&mut self, offsets: &[TopicPartitionOffset]) {
        self.staged.extend_from_slice(offsets);
    }

    /// The listener delivered this event to the application itself: it is not also queued
    /// for [`Consumer::take_rebalance_events`].
    pub fn mark_handled(&mut self) {
        self.handled = true;
    }
}

/// A consumer's place in its group, for a transactional producer that commits the consumer's
/// offsets in its transaction ([`crate::Producer::send_offsets_to_transaction`]): the
/// coordinator refuses the commit of a member whose generation is over (a zombie, KIP-447).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    pub group_id: String,
    /// The generation (the member epoch under `group.protocol=consumer`); -1 outside one.
    pub generation_id: i32,
    /// Empty outside a generation.
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata naming only the group: the offsets are committed whatever the generation
    /// (what kafkajs's `sendOffsets({ consumerGroupId })` and the pre-KIP-447 API give).
    pub fn group_only(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// A consumer: `subscribe` to topics through the group named by `group.id`, or `assign`
/// partitions by hand. Positions advance as [`poll`](Consumer::poll) returns records;
/// commits store them in the group.
pub struct Consumer {
    fetcher: PartitionConsumer,
    cluster: std::sync::Arc<Cluster>,
    group: Option<Group>,
    /// Topic names, and patterns (starting with `^`, as in librdkafka) matched against every
    /// topic's whole name.
    subscription: Vec<String>,
    patterns: Vec<regex::Regex>,
    /// What the subscription resolved to at the last join: topic → partition count. A change
    /// (new partitions, a new matching topic) triggers a rejoin, so the leader reassigns.
    resolved: BTreeMap<String, usize>,
    last_metadata_check: Instant,
    metadata_interval: Duration,
    /// Partitions held through the group.
    owned: BTreeSet<TopicPartition>,
    join_needed: bool,
    protocol: RebalanceProtocol,
    auto_commit: Option<Duration>,
    last_auto_commit: Instant,
    reset: Offset,
    /// `auto.offset.reset=error`: a partition without a committed offset is an error, not a
    /// silent start at either end.
    reset_is_error: bool,
    /// In a mutex only to make `Consumer` `Sync` (it is reached through `&mut self` alone).
    listener: Option<std::sync::Mutex<Listener>>,
    /// A commit asked for inside a rebalance listener that failed, for the next `poll`.
    listener_commit_error: Option<Error>,
    /// Rebalance events for [`Consumer::take_rebalance_events`], once asked for.
    events: Option<Vec<RebalanceEvent>>,
    /// When `poll` last did the group upkeep.
    last_upkeep: tokio::time::Instant,
    /// `group.protocol=consumer`: an assignment naming topics this consumer's metadata does
    /// not know yet (just created); retried after a metadata refresh.
    pending_target: Option<IdPartitions>,
    pending_retry: Instant,
}

/// See [`Consumer::poll`].
const UPKEEP_EVERY: Duration = Duration::from_millis(1);

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group", &self.group.as_ref().map(|g| g.group_id().to_owned()))
            .field("subscription", &self.subscription)
            .field("owned", &self.owned)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    pub fn new(config: ClientConfig) -> Result<Consumer> {
        config.validate_consumer()?;
        let cluster = Cluster::new(&config)?;
        let fetcher = PartitionConsumer::with_cluster(std::sync::Arc::clone(&cluster), config.clone())?;
        let assignors =
            Assignor::parse_list(config.get("partition.assignment.strategy").unwrap_or("range,roundrobin"))?;
        let protocol = assignors[0].protocol();
        let group_protocol = match config.get("group.protocol") {
            Some("consumer") => {
                GroupProtocol::Consumer { remote_assignor: config.get("group.remote.assignor").map(str::to_owned) }
            }
            _ => GroupProtocol::Classic,
        };
        let group = config.get("group.id").map(|id| {
            Group::new(
                std::sync::Arc::clone(&cluster),
                GroupSettings {
                    group_id: id.to_owned(),
                    instance_id: config.get("group.instance.id").map(str::to_owned),
                    session_timeout_ms: config.int("session.timeout.ms") as i32,
                    max_poll_interval_ms: config.int("max.poll.interval.ms") as i32,
                    heartbeat_interval: config.duration("heartbeat.interval.ms"),
                    assignors,
                    retry_backoff: config.duration("retry.backoff.ms"),
                    protocol: group_protocol,
                    require_stable: config.get("isolation.level") == Some("read_committed"),
                },
            )
        });
        let auto_commit =
            (group.is_some() && config.flag("enable.auto.commit")).then(|| config.duration("auto.commit.interval.ms"));
        let reset = match config.get("auto.offset.reset") {
            Some("earliest" | "smallest") => Offset::Beginning,
            _ => Offset::End,
        };
        Ok(Consumer {
            fetcher,
            cluster,
            group,
            subscription: Vec::new(),
            patterns: Vec::new(),
            resolved: BTreeMap::new(),
            last_metadata_check: Instant::now(),
            metadata_interval: config.duration("topic.metadata.refresh.interval.ms"),
            owned: BTreeSet::new(),
            join_needed: false,
            protocol,
            auto_commit,
            last_auto_commit: Instant::now(),
            reset,
            reset_is_error: config.get("auto.offset.reset") == Some("error"),
            listener: None,
            listener_commit_error: None,
            events: None,
            last_upkeep: tokio::time::Instant::now(),
            pending_target: None,
            pending_retry: Instant::now(),
        })
    }

    /// Called on every assignment change, from inside `poll`, on the caller's task.
    pub fn on_rebalance(&mut self, mut listener: impl FnMut(&RebalanceEvent) + Send + 'static) {
        self.listener = Some(std::sync::Mutex::new(Box::new(move |e, _| listener(e))));
    }

    /// Like [`on_rebalance`](Consumer::on_rebalance), and the listener may commit through
    /// [`RebalanceCommits`]: e.g. the positions of revoked partitions, so their next owner
    /// starts exactly there.
    pub fn on_rebalance_committing(
        &mut self,
        listener: impl FnMut(&RebalanceEvent, &mut RebalanceCommits) + Send + 'static,
    ) {
        self.listener = Some(std::sync::Mutex::new(Box::new(listener)));
    }

    /// Keeps every rebalance event (in the order they happened) for
    /// [`take_rebalance_events`](Consumer::take_rebalance_events), beside any listener: the
    /// way for a caller that cannot be called back from inside `poll` (another language's
    /// event loop) to learn of them. An event a committing listener marks handled is not kept.
    pub fn queue_rebalance_events(&mut self) {
        self.events.get_or_insert_with(Vec::new);
    }

    /// The rebalance events since the last call, oldest first (empty unless
    /// [`queue_rebalance_events`](Consumer::queue_rebalance_events) was called).
    pub fn take_rebalance_events(&mut self) -> Vec<RebalanceEvent> {
        self.events.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn group(&self) -> Result<&Group> {
        self.group.as_ref().ok_or_else(|| Error::Config {
            key: "group.id".into(),
            reason: "subscribing and committing need a consumer group".into(),
        })
    }

    /// Joins the group (at the next `poll`) with these topics. A name starting with `^` is a
    /// regular expression matched against whole topic names (librdkafka's convention); topics
    /// created later that match are picked up within `topic.metadata.refresh.interval.ms`.
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        self.group()?;
        if topics.is_empty() {
            return Err(Error::Config { key: "subscription".into(), reason: "no topics given".into() });
        }
        let mut patterns = Vec::new();
        for t in topics.iter().filter(|t| t.starts_with('^')) {
            let anchored = format!("^(?:{})$", &t[1..]);
            patterns.push(regex::Regex::new(&anchored).map_err(|e| Error::Config {
                key: "subscription".into(),
                reason: format!("{t:?} is not a valid regular expression: {e}"),
            })?);
        }
        self.subscription = topics.iter().map(|t| t.to_string()).collect();
        self.patterns = patterns;
        self.join_needed = true;
        Ok(())
    }

    /// The topics the subscription names now, with their partition counts. Takes what it
    /// needs by value, so `poll`'s future holds no `&Consumer` (keeping it `Send`).
    fn resolve_subscription(
        &self,
    ) -> impl std::future::Future<Output = Result<BTreeMap<String, usize>>> + Send + 'static {
        let cluster = std::sync::Arc::clone(&self.cluster);
        let patterns = self.patterns.clone();
        let names: Vec<String> = self.subscription.iter().filter(|t| !t.starts_with('^')).cloned().collect();
        async move {
            let mut out = BTreeMap::new();
            if !patterns.is_empty() {
                for (name, partitions) in cluster.all_topics().await? {
                    if patterns.iter().any(|p| p.is_match(&name)) {
                        out.insert(name, partitions);
                    }
                }
            }
            for name in names {
                cluster.invalidate(&name);
                if let Ok(meta) = cluster.topic(&name).await {
                    out.insert(name, meta.leaders.len());
                }
            }
            Ok(out)
        }
    }

    /// Leaves the group and drops the assignment.
    pub async fn unsubscribe(&mut self) -> Result<()> {
        self.release_all(true).await;
        self.subscription.clear();
        self.join_needed = false;
        self.pending_target = None;
        if let Some(g) = &self.group {
            g.leave().await?;
        }
        Ok(())
    }

    /// Reads these partitions without group membership (commits still go to `group.id`).
    /// [`Offset::Committed`] starts at the offset committed in `group.id` (without a
    /// `group.id` nothing is committed: `auto.offset.reset` decides).
    pub async fn assign(&mut self, partitions: impl IntoIterator<Item = (TopicPartition, Offset)>) -> Result<()> {
        let partitions: Vec<(TopicPartition, Offset)> = partitions.into_iter().collect();
        let wants_committed: Vec<TopicPartition> =
            partitions.iter().filter(|(_, o)| *o == Offset::Committed).map(|(tp, _)| tp.clone()).collect();
        let mut starts: BTreeMap<TopicPartition, Offset> = BTreeMap::new();
        if !wants_committed.is_empty() {
            let (found, missing) = self.committed_starts(&wants_committed).await?;
            if let Some(e) = missing {
                return Err(e);
            }
            starts = found.into_iter().collect();
        }
        self.subscription.clear();
        self.join_needed = false;
        let resolved = partitions.into_iter().map(|(tp, o)| {
            let o = if o == Offset::Committed { starts.get(&tp).copied().unwrap_or(self.reset) } else { o };
            (tp, o)
        });
        self.fetcher.assign(resolved.collect::<Vec<_>>()).await
    }

    /// Where each partition starts from its committed offset, falling back to
    /// `auto.offset.reset`. With `auto.offset.reset=error`, partitions without a committed
    /// offset are left out of the starts and reported in the error.
    async fn committed_starts(&self, tps: &[TopicPartition]) -> Result<(Vec<(TopicPartition, Offset)>, Option<Error>)> {
        let committed = match &self.group {
            Some(g) => g.committed(tps).await?,
            None => Default::default(),
        };
        let mut starts = Vec::with_capacity(tps.len());
        let mut missing = Vec::new();
        for tp in tps {
            match committed.get(tp).cloned().flatten() {
                Some((offset, _)) => starts.push((tp.clone(), Offset::At(offset))),
                None if self.reset_is_error => missing.push(tp.to_string()),
                None => starts.push((tp.clone(), self.reset)),
            }
        }
        let error = (!missing.is_empty()).then(|| {
            Error::kafka(
                kafka_protocol::ResponseError::OffsetOutOfRange,
                Some("no committed offset and auto.offset.reset=error".into()),
                format!("starting {}", missing.join(", ")),
            )
        });
        Ok((starts, error))
    }

    /// The partitions currently read.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.fetcher.assignment()
    }

    /// The next record, waiting up to `timeout`. Group work (joining, rebalance callbacks,
    /// auto commits) happens here, on the caller's task.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Option<ConsumerRecord>> {
        // Records already fetched go out without the group upkeep below (more clock reads,
        // locks, the rebalance and commit checks) when it ran less than UPKEEP_EVERY ago.
        let now = tokio::time::Instant::now();
        if now.duration_since(self.last_upkeep) < UPKEEP_EVERY && self.listener_commit_error.is_none() {
            if let Some(r) = self.fetcher.pop_buffered() {
                return Ok(Some(r));
            }
        }
        self.last_upkeep = now;
        let deadline = now + timeout;
        loop {
            if let Some(g) = &self.group {
                g.note_poll();
                if let Some(e) = g.take_fatal() {
                    return Err(e);
                }
            }
            if let Some(e) = self.listener_commit_error.take() {
                return Err(e);
            }
            self.maintain_group().await?;
            self.maybe_auto_commit().await;
            let now = tokio::time::Instant::now();
            // Short slices, so a rebalance is noticed within one fetch wait.
            let slice = (deadline.saturating_duration_since(now)).min(Duration::from_millis(500));
            if let Some(r) = self.fetcher.poll(slice).await? {
                return Ok(Some(r));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            if self.fetcher.nothing_to_fetch() && !self.join_needed {
                // Nothing to read (no partitions assigned, or all paused): wait for the group a
                // bit rather than spin, which would starve the heartbeat on a one-thread runtime.
                tokio::time::sleep(slice.min(Duration::from_millis(100))).await;
            }
        }
    }

    /// Up to `max` records, waiting up to `timeout` for the first; the rest are those already
    /// fetched, taken without waiting. The shape every binding's batch call sits on
    /// (confluent-kafka's `consume(n)`, kafkajs's rounds, C's poll).
    pub async fn poll_batch(&mut self, max: usize, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        if let Some(first) = self.poll(timeout).await? {
            out.reserve(max.min(1024));
            out.push(first);
            while out.len() < max {
                match self.fetcher.pop_buffered() {
                    Some(r) => out.push(r),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// Joins or rejoins when the group asks, calling the listener around the change.
    async fn maintain_group(&mut self) -> Result<()> {
        let Some(group) = self.group.clone() else { return Ok(()) };
        if self.subscription.is_empty() {
            return Ok(());
        }
        if let GroupProtocol::Consumer { .. } = group.protocol() {
            return self.reconcile(&group).await;
        }
        if group.take_lost() && self.lose_all().await {
            self.join_needed = true;
        }
        if !self.join_needed && self.last_metadata_check.elapsed() >= self.metadata_interval {
            self.last_metadata_check = Instant::now();
            if self.resolve_subscription().await? != self.resolved {
                tracing::info!(group = group.group_id(), "subscribed topics or their partitions changed: rejoining");
                self.join_needed = true;
            }
        }
        if !(self.join_needed || group.rejoin_requested()) {
            return Ok(());
        }
        if self.protocol == RebalanceProtocol::Eager {
            self.release_all(true).await;
        }
        let owned: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        self.resolved = self.resolve_subscription().await?;
        self.last_metadata_check = Instant::now();
        let topics: Vec<String> = self.resolved.keys().cloned().collect();
        let joined = group.join(&topics, &owned).await?;
        self.join_needed = false;
        self.protocol = joined.protocol;
        let assigned: BTreeSet<TopicPartition> = joined.assigned.into_iter().collect();
        let revoked: Vec<TopicPartition> = self.owned.difference(&assigned).cloned().collect();
        let added: Vec<TopicPartition> = assigned.difference(&self.owned).cloned().collect();
        if !revoked.is_empty() {
            self.revoke(revoked, true).await;
            // Cooperative: what was given up can now go to its new owner in another round.
            self.join_needed = true;
        }
        if !added.is_empty() {
            let missing = self.start(&added).await?;
            // Partitions without a start (auto.offset.reset=error) stay owned but unread, as
            // in librdkafka: the error is reported once, and the group still sees them held.
            self.owned.extend(added.iter().cloned());
            self.notify(RebalanceEvent::Assigned(added)).await;
            if let Some(e) = missing {
                return Err(e);
            }
        }
        Ok(())
    }

    /// `group.protocol=consumer`: hands the subscription to the heartbeat task and moves what
    /// this member holds to the coordinator's latest assignment — revoked partitions first
    /// (commit, listener, release), then new ones — and reports what it holds afterwards.
    async fn reconcile(&mut self, group: &Group) -> Result<()> {
        if group.take_lost() {
            self.pending_target = None;
            self.lose_all().await;
            group.lost_released();
        }
        let recheck = self.last_metadata_check.elapsed() >= self.metadata_interval;
        if self.join_needed || recheck {
            self.last_metadata_check = Instant::now();
            let resolved = self.resolve_subscription().await?;
            if self.join_needed || resolved != self.resolved {
                // Named topics go as named (the coordinator follows them, even before they
                // exist); patterns as the topics they match now.
                let mut names: BTreeSet<String> =
                    self.subscription.iter().filter(|t| !t.starts_with('^')).cloned().collect();
                names.extend(resolved.keys().cloned());
                self.resolved = resolved;
                group.subscribe_topics(names.into_iter().collect());
                self.join_needed = false;
            }
        }
        if let Some(target) = group.take_target() {
            self.pending_target = Some(target);
            self.pending_retry = Instant::now();
        }
        if self.pending_target.is_none() || self.pending_retry > Instant::now() {
            return Ok(());
        }
        let target_ids = self.pending_target.take().unwrap_or_default();
        let ids: Vec<uuid::Uuid> = target_ids.iter().map(|(id, _)| *id).collect();
        let mut names = self.cluster.names_of(&ids);
        if names.len() < ids.len() {
            self.cluster.refresh(&[]).await?;
            names = self.cluster.names_of(&ids);
        }
        let target: BTreeSet<TopicPartition> = target_ids
            .iter()
            .filter_map(|(id, ps)| names.get(id).map(|n| ps.iter().map(move |p| TopicPartition::new(n, *p))))
            .flatten()
            .collect();
        if names.len() < ids.len() {
            // Kept, and the rest of the assignment taken meanwhile: a topic created a moment
            // ago may not be in the metadata this client was given yet.
            tracing::debug!(group = group.group_id(), "assignment names topics not in metadata yet; retrying");
            self.pending_target = Some(target_ids.clone());
            self.pending_retry = Instant::now() + self.cluster.retry_backoff();
        }
        let revoked: Vec<TopicPartition> = self.owned.difference(&target).cloned().collect();
        let added: Vec<TopicPartition> = target.difference(&self.owned).cloned().collect();
        self.revoke(revoked, true).await;
        let mut result = Ok(());
        if !added.is_empty() {
            match self.start(&added).await {
                Ok(missing) => {
                    self.owned.extend(added.iter().cloned());
                    self.notify(RebalanceEvent::Assigned(added)).await;
                    // auto.offset.reset=error: held but unread, reported once (as classic).
                    result = missing.map_or(Ok(()), Err);
                }
                // Committed offsets out of reach for now (the coordinator moving): the new
                // partitions are taken at the next try; what was revoked is reported now.
                Err(e) if e.is_retriable() => {
                    tracing::debug!(group = group.group_id(), error = %e, "starting assigned partitions; retrying");
                    self.pending_target = Some(target_ids.clone());
                    self.pending_retry = Instant::now() + self.cluster.retry_backoff();
                }
                Err(e) => result = Err(e),
            }
        }
        group.report_owned(held(&target_ids, &names, &self.owned));
        result
    }

    /// Starts reading newly assigned partitions at their committed offsets; the error names
    /// partitions without one under `auto.offset.reset=error`.
    async fn start(&mut self, tps: &[TopicPartition]) -> Result<Option<Error>> {
        let (starts, missing) = self.committed_starts(tps).await?;
        self.fetcher.add(starts).await?;
        Ok(missing)
    }

    /// Eager protocol: everything is given up before rejoining.
    async fn release_all(&mut self, commit: bool) {
        let all: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        self.revoke(all, commit).await;
    }

    /// Gives `tps` up: their positions committed first (with auto commit, when `commit`),
    /// then the listener told, while they are still held; then they are no longer read.
    async fn revoke(&mut self, tps: Vec<TopicPartition>, commit: bool) {
        if tps.is_empty() {
            return;
        }
        if commit {
            self.commit_before_release(&tps).await;
        }
        self.notify(RebalanceEvent::Revoked(tps.clone())).await;
        self.fetcher.remove(&tps);
        for tp in &tps {
            self.owned.remove(tp);
        }
    }

    /// The membership is gone: what was held is reported lost (nothing is committed: the
    /// partitions may be another member's already). Whether anything was held.
    async fn lose_all(&mut self) -> bool {
        if self.owned.is_empty() {
            return false;
        }
        let lost: Vec<TopicPartition> = std::mem::take(&mut self.owned).into_iter().collect();
        self.fetcher.remove(&lost);
        self.notify(RebalanceEvent::Lost(lost)).await;
        true
    }

    async fn commit_before_release(&mut self, tps: &[TopicPartition]) {
        if self.auto_commit.is_none() {
            return;
        }
        let offsets = self.positions_of(tps);
        if let Some(g) = &self.group {
            if let Err(e) = g.commit(&offsets).await {
                tracing::warn!(error = %e, "commit before revoking partitions failed");
            }
        }
    }

    /// Calls the listener (no lock of the group's is held), then sends what it committed, and
    /// queues the event when events are queued.
    async fn notify(&mut self, event: RebalanceEvent) {
        tracing::debug!(?event, "rebalance");
        let handled = self.call_listener(&event).await;
        if let (Some(events), false) = (self.events.as_mut(), handled) {
            events.push(event);
        }
    }

    /// Whether the listener marked the event handled.
    async fn call_listener(&mut self, event: &RebalanceEvent) -> bool {
        let Some(l) = self.listener.as_mut() else { return false };
        let held = self.fetcher.assignment();
        let mut commits = RebalanceCommits {
            positions: held
                .iter()
                .filter_map(|tp| self.fetcher.position(&tp.topic, tp.partition).map(|o| (tp.clone(), o)))
                .collect(),
            staged: Vec::new(),
            handled: false,
        };
        (l.get_mut().unwrap_or_else(|p| p.into_inner()))(event, &mut commits);
        if commits.staged.is_empty() {
            return commits.handled;
        }
        if matches!(event, RebalanceEvent::Lost(_)) {
            tracing::warn!(
                "commit asked for in a listener for lost partitions: not sent, they may be another member's"
            );
            return commits.handled;
        }
        let result = match &self.group {
            Some(g) => g.commit(&commits.staged).await,
            None => self.group().map(|_| ()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "commit from the rebalance listener failed");
            self.listener_commit_error = Some(e);
        }
        commits.handled
    }

    fn positions_of(&self, tps: &[TopicPartition]) -> Vec<TopicPartitionOffset> {
        tps.iter()
            .filter_map(|tp| self.fetcher.position(&tp.topic, tp.partition).map(|o| tp.clone().with_offset(o)))
            .collect()
    }

    async fn maybe_auto_commit(&mut self) {
        let Some(every) = self.auto_commit else { return };
        if self.last_auto_commit.elapsed() < every {
            return;
        }
        self.last_auto_commit = Instant::now();
        if let Err(e) = self.commit().await {
            tracing::warn!(error = %e, "auto commit failed");
        }
    }

    /// Commits the positions of every assigned partition (what `poll` has returned), waits
    /// for the group coordinator to store them, and returns what was stored.
    pub async fn commit(&mut self) -> Result<Vec<TopicPartitionOffset>> {
        let offsets = self.positions_of(&self.fetcher.assignment());
        self.group()?.commit(&offsets).await?;
        Ok(offsets)
    }

    /// Commits explicit offsets, each the next offset to read, with its metadata; returns
    /// what was stored.
    pub async fn commit_offsets(&self, offsets: &[TopicPartitionOffset]) -> Result<Vec<TopicPartitionOffset>> {
        self.group()?.commit(offsets).await?;
        Ok(offsets.to_vec())
    }

    /// Commits the current positions on a task of its own; await the handle for what was
    /// stored.
    pub fn commit_async(&self) -> Result<tokio::task::JoinHandle<Result<Vec<TopicPartitionOffset>>>> {
        let offsets = self.positions_of(&self.fetcher.assignment());
        let group = self.group()?.clone();
        Ok(tokio::spawn(async move { group.commit(&offsets).await.map(|()| offsets) }))
    }

    /// Committed offsets (with metadata) of partitions; `None` where nothing is committed.
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Option<(i64, String)>)>> {
        let map = self.group()?.committed(partitions).await?;
        Ok(partitions.iter().map(|tp| (tp.clone(), map.get(tp).cloned().flatten())).collect())
    }

    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.fetcher.position(topic, partition)
    }

    /// Moves a held partition's position. [`Offset::Committed`] goes back to the group's
    /// committed offset (`auto.offset.reset` without one): how an exactly-once loop rewinds
    /// after aborting a transaction.
    pub async fn seek(&mut self, topic: &str, partition: i32, offset: Offset) -> Result<()> {
        let offset = if offset == Offset::Committed {
            let tp = TopicPartition::new(topic, partition);
            let (found, missing) = self.committed_starts(std::slice::from_ref(&tp)).await?;
            if let Some(e) = missing {
                return Err(e);
            }
            found.into_iter().find(|(t, _)| *t == tp).map_or(self.reset, |(_, o)| o)
        } else {
            offset
        };
        self.fetcher.seek(topic, partition, offset).await
    }

    pub fn pause(&mut self, partitions: &[TopicPartition]) {
        self.fetcher.pause(partitions)
    }

    pub fn resume(&mut self, partitions: &[TopicPartition]) {
        self.fetcher.resume(partitions)
    }

    /// Records not yet read of a partition, as of its last fetch.
    pub fn lag(&self, topic: &str, partition: i32) -> Option<i64> {
        self.fetcher.lag(topic, partition)
    }

    /// Records fetched ahead and not yet returned by `poll`, and their bytes.
    pub fn queued(&self) -> (usize, usize) {
        self.fetcher.queued()
    }

    pub async fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        self.fetcher.watermarks(topic, partition).await
    }

    /// The first offset whose record's timestamp is at or after the given time (ms since the
    /// epoch), per `(partition, time)`; `None` where no record is that recent. To start
    /// reading there, `seek` (or `assign`) with [`Offset::Timestamp`].
    pub async fn offsets_for_times(
        &self,
        partitions: &[(TopicPartition, i64)],
    ) -> Result<Vec<(TopicPartition, Option<i64>)>> {
        self.fetcher.offsets_for_times(partitions).await
    }

    /// This member's group, generation and ids for
    /// [`send_offsets_to_transaction`](crate::Producer::send_offsets_to_transaction); `None`
    /// without a `group.id`.
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        let g = self.group.as_ref()?;
        let member_id = g.member_id();
        Some(ConsumerGroupMetadata {
            group_id: g.group_id().to_owned(),
            generation_id: if member_id.is_empty() { -1 } else { g.generation() },
            member_id,
            group_instance_id: g.instance_id().map(str::to_owned),
        })
    }

    /// The member id and generation in the group, once joined.
    pub fn group_membership(&self) -> Option<(String, i32)> {
        self.group.as_ref().map(|g| (g.member_id(), g.generation())).filter(|(m, _)| !m.is_empty())
    }

    /// Commits (with auto commit on), gives the partitions back and leaves the group, so the
    /// others take over at once rather than after the session timeout. Returns the rebalance
    /// events of that last release not yet taken (when events are queued). A LeaveGroup that
    /// fails (the coordinator away) is logged, not returned: the partitions are released
    /// either way and the membership ends at the session timeout, and the caller still gets
    /// the events to hand on.
    pub async fn close(mut self) -> Result<Vec<RebalanceEvent>> {
        if self.auto_commit.is_some() && !self.owned.is_empty() {
            if let Err(e) = self.commit().await {
                tracing::warn!(error = %e, "final commit failed");
            }
        }
        self.release_all(false).await;
        if let Some(g) = &self.group {
            if let Err(e) = g.leave().await {
                tracing::warn!(group = g.group_id(), error = %e, "leaving the group failed; the session timeout ends the membership");
            }
        }
        Ok(self.take_rebalance_events())
    }
}

/// What is held, by topic id, as the coordinator's assignment named it.
fn held(
    target: &IdPartitions,
    names: &std::collections::HashMap<uuid::Uuid, String>,
    owned: &BTreeSet<TopicPartition>,
) -> IdPartitions {
    target
        .iter()
        .filter_map(|(id, ps)| {
            let name = names.get(id)?;
            let held: Vec<i32> =
                ps.iter().copied().filter(|p| owned.contains(&TopicPartition::new(name, *p))).collect();
            (!held.is_empty()).then_some((*id, held))
        })
        .collect()
}
