//! Membership of a consumer group: finding the coordinator, offset commits and fetches, and
//! either protocol. Classic (here): JoinGroup/SyncGroup (the leader runs the assignor), a
//! background heartbeat, LeaveGroup. KIP-848 `group.protocol=consumer`: see
//! [`consumer_protocol`].
//!
//! The consumer's poll path drives joins and reconciliation (so rebalance callbacks run on
//! the caller's task); the heartbeat task keeps the session alive and raises flags, or hands
//! over assignments, that the poll path acts on.

mod consumer_protocol;

pub(crate) use consumer_protocol::IdPartitions;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::task::JoinHandle;

use super::assignor::{self, Assignor, RebalanceProtocol, Subscription};
use crate::cluster::Cluster;
use crate::connection::BrokerConnection;
use crate::coordinator;
use crate::error::{Error, Result};
use crate::{TopicPartition, TopicPartitionOffset};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

#[derive(Debug, Clone)]
pub(crate) struct GroupSettings {
    pub(crate) group_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) session_timeout_ms: i32,
    /// `max.poll.interval.ms`, which is also the rebalance timeout, as in the Java client.
    pub(crate) max_poll_interval_ms: i32,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) assignors: Vec<Assignor>,
    pub(crate) retry_backoff: Duration,
    pub(crate) protocol: GroupProtocol,
    /// `isolation.level=read_committed`: offsets a transaction is committing are waited for.
    pub(crate) require_stable: bool,
}

/// `group.protocol`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GroupProtocol {
    /// JoinGroup/SyncGroup; a member (the leader) assigns.
    Classic,
    /// KIP-848: the coordinator assigns (with `group.remote.assignor`, or its default) and
    /// members reconcile through ConsumerGroupHeartbeat.
    Consumer { remote_assignor: Option<String> },
}

#[derive(Debug, Default)]
struct Membership {
    member_id: String,
    /// Classic: the generation. KIP-848: the member epoch (0 while joining).
    generation: i32,
    /// Classic: between a completed SyncGroup and the next rebalance.
    stable: bool,
    coordinator: Option<Arc<BrokerConnection>>,
}

#[derive(Debug)]
struct Shared {
    settings: GroupSettings,
    cluster: Arc<Cluster>,
    membership: Mutex<Membership>,
    /// The coordinator asked for a rejoin (REBALANCE_IN_PROGRESS).
    rejoin: AtomicBool,
    /// The membership is gone (session expired, fenced generation, poll interval exceeded):
    /// what was assigned is lost, not revoked.
    lost: AtomicBool,
    fatal: Mutex<Option<Error>>,
    last_poll: Mutex<Instant>,
    closed: AtomicBool,
    /// `group.protocol=consumer`: what the poll path and the heartbeat task hand each other.
    reconcile: Mutex<consumer_protocol::Exchange>,
    /// Wakes the KIP-848 heartbeat task at once (a new subscription, an acknowledgement).
    wake: tokio::sync::Notify,
}

/// A consumer's membership in one group. Cheap to clone (commits can run on other tasks).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    shared: Arc<Shared>,
    heartbeat: Arc<Mutex<Option<JoinHandle<()>>>>,
}

/// What a completed join handed this member.
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) assigned: Vec<TopicPartition>,
    pub(crate) protocol: RebalanceProtocol,
}

use crate::coordinator::is_coordinator_error;

impl Group {
    pub(crate) fn new(cluster: Arc<Cluster>, settings: GroupSettings) -> Group {
        Group {
            shared: Arc::new(Shared {
                settings,
                cluster,
                membership: Mutex::new(Membership { generation: -1, ..Default::default() }),
                rejoin: AtomicBool::new(false),
                lost: AtomicBool::new(false),
                fatal: Mutex::new(None),
                last_poll: Mutex::new(Instant::now()),
                closed: AtomicBool::new(false),
                reconcile: Mutex::new(Default::default()),
                wake: tokio::sync::Notify::new(),
            }),
            heartbeat: Arc::new(Mutex::new(None)),
        }
    }

    fn membership(&self) -> std::sync::MutexGuard<'_, Membership> {
        self.shared.membership.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn group_id(&self) -> &str {
        &self.shared.settings.group_id
    }

    pub(crate) fn instance_id(&self) -> Option<&str> {
        self.shared.settings.instance_id.as_deref()
    }

    pub(crate) fn generation(&self) -> i32 {
        self.membership().generation
    }

    pub(crate) fn member_id(&self) -> String {
        self.membership().member_id.clone()
    }

    pub(crate) fn note_poll(&self) {
        *self.shared.last_poll.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    pub(crate) fn take_fatal(&self) -> Option<Error> {
        self.shared.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn rejoin_requested(&self) -> bool {
        self.shared.rejoin.load(Ordering::Acquire)
    }

    pub(crate) fn take_lost(&self) -> bool {
        self.shared.lost.swap(false, Ordering::AcqRel)
    }

    /// The coordinator connection, found and connected when needed.
    async fn coordinator(&self) -> Result<Arc<BrokerConnection>> {
        if let Some(c) = self.membership().coordinator.clone().filter(|c| !c.is_closed()) {
            return Ok(c);
        }
        let coordinator = coordinator::find(&self.shared.cluster, &self.shared.settings.group_id).await?;
        self.membership().coordinator = Some(Arc::clone(&coordinator));
        Ok(coordinator)
    }

    fn forget_coordinator(&self) {
        self.membership().coordinator = None;
    }

    fn reset_member(&self) {
        let mut m = self.membership();
        m.member_id.clear();
        m.generation = -1;
        m.stable = false;
    }

    /// Joins (or rejoins) the group subscribed to `topics`, owning `owned`, and returns the
    /// assignment of the new generation. Retries what Kafka says to retry.
    pub(crate) async fn join(&self, topics: &[String], owned: &[TopicPartition]) -> Result<Joined> {
        let sh = &self.shared;
        let st = &sh.settings;
        // A consumer that unsubscribed (which leaves) and subscribes again.
        self.shared.closed.store(false, Ordering::Release);
        self.shared.rejoin.store(false, Ordering::Release);
        self.membership().stable = false;
        let deadline = Instant::now() + Duration::from_millis(st.max_poll_interval_ms as u64) * 2;
        loop {
            if let Some(e) = self.take_fatal() {
                return Err(e);
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: format!("joining group {}", st.group_id),
                    ms: st.max_poll_interval_ms as u64 * 2,
                });
            }
            match self.join_once(topics, owned).await {
                Ok(Some(joined)) => {
                    self.membership().stable = true;
                    self.ensure_heartbeat();
                    return Ok(joined);
                }
                Ok(None) => continue, // asked to rejoin at once
                Err(e) => {
                    match e.kafka_code() {
                        Some(c) if is_coordinator_error(c) => self.forget_coordinator(),
                        Some(E::UnknownMemberId | E::IllegalGeneration) => self.reset_member(),
                        Some(E::FencedInstanceId) => return Err(e),
                        Some(E::RebalanceInProgress) => continue,
                        Some(c) if !c.is_retriable() => return Err(e),
                        _ if !e.is_retriable() => return Err(e),
                        _ => self.forget_coordinator(),
                    }
                    tracing::debug!(group = %st.group_id, error = %e, "join failed; retrying");
                    tokio::time::sleep(st.retry_backoff).await;
                }
            }
        }
    }

    async fn join_once(&self, topics: &[String], owned: &[TopicPartition]) -> Result<Option<Joined>> {
        let st = &self.shared.settings;
        let coordinator = self.coordinator().await?;
        let (member_id, generation) = {
            let m = self.membership();
            (m.member_id.clone(), m.generation)
        };
        let metadata = assignor::encode_subscription(topics, owned, generation);
        let req = JoinGroupRequest::default()
            .with_group_id(GroupId(s(&st.group_id)))
            .with_session_timeout_ms(st.session_timeout_ms)
            .with_rebalance_timeout_ms(st.max_poll_interval_ms)
            .with_member_id(s(&member_id))
            .with_group_instance_id(st.instance_id.as_deref().map(s))
            .with_protocol_type(s("consumer"))
            .with_reason(None)
            .with_protocols(
                st.assignors
                    .iter()
                    .map(|a| {
                        join_group_request::JoinGroupRequestProtocol::default()
                            .with_name(s(a.name()))
                            .with_metadata(metadata.clone())
                    })
                    .collect(),
            );
        let wait = Duration::from_millis(st.max_poll_interval_ms as u64) + Duration::from_secs(5);
        let resp = coordinator.send_with_timeout(&req, wait).await.inspect_err(|_| self.forget_coordinator())?;
        match E::try_from_code(resp.error_code) {
            None => {}
            Some(E::MemberIdRequired) => {
                self.membership().member_id = resp.member_id.to_string();
                return Ok(None);
            }
            Some(code) => return Err(Error::kafka(code, None, format!("JoinGroup {}", st.group_id))),
        }
        let member_id = resp.member_id.to_string();
        let protocol_name = resp.protocol_name.as_ref().map(|p| p.to_string()).unwrap_or_default();
        let assignor = Assignor::from_name(&protocol_name).ok_or_else(|| Error::Protocol {
            broker: coordinator.addr().to_owned(),
            reason: format!("the group chose protocol {protocol_name:?}, which this consumer did not offer"),
        })?;
        {
            let mut m = self.membership();
            m.member_id = member_id.clone();
            m.generation = resp.generation_id;
        }
        let assignments = if resp.leader == resp.member_id && !resp.skip_assignment {
            self.lead(assignor, &resp.members).await?
        } else {
            Vec::new()
        };
        let sync = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&st.group_id)))
            .with_generation_id(resp.generation_id)
            .with_member_id(s(&member_id))
            .with_group_instance_id(st.instance_id.as_deref().map(s))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s(&protocol_name)))
            .with_assignments(
                assignments
                    .into_iter()
                    .map(|(m, a)| {
                        sync_group_request::SyncGroupRequestAssignment::default()
                            .with_member_id(s(&m))
                            .with_assignment(a)
                    })
                    .collect(),
            );
        let synced = coordinator.send_with_timeout(&sync, wait).await.inspect_err(|_| self.forget_coordinator())?;
        if synced.error_code != 0 {
            return Err(Error::from_code(synced.error_code, None, format!("SyncGroup {}", st.group_id)));
        }
        let assigned = assignor::decode_assignment(synced.assignment)?;
        tracing::debug!(group = %st.group_id, generation = resp.generation_id, ?assigned, "joined");
        Ok(Some(Joined { assigned, protocol: assignor.protocol() }))
    }

    /// As leader: decode every member's subscription, look up the partitions, assign.
    async fn lead(
        &self,
        assignor: Assignor,
        members: &[join_group_response::JoinGroupResponseMember],
    ) -> Result<Vec<(String, bytes::Bytes)>> {
        let mut subs = Vec::with_capacity(members.len());
        for m in members {
            let instance = m.group_instance_id.as_ref().map(|i| i.to_string());
            subs.push(assignor::decode_subscription(&m.member_id, instance, m.metadata.clone())?);
        }
        let mut partitions = BTreeMap::new();
        let topics: std::collections::BTreeSet<&String> = subs.iter().flat_map(|s| s.topics.iter()).collect();
        for topic in topics {
            // Fresh metadata: a rebalance is often caused by partitions just added.
            self.shared.cluster.invalidate(topic);
            match self.shared.cluster.topic(topic).await {
                Ok(meta) => {
                    partitions.insert(topic.clone(), meta.leaders.len() as i32);
                }
                // A subscribed topic that does not exist (yet) gets nobody.
                Err(e) if e.kafka_code() == Some(E::UnknownTopicOrPartition) => {}
                Err(e) => return Err(e),
            }
        }
        let mut assignment = assignor.assign(&partitions, &subs);
        if assignor.protocol() == RebalanceProtocol::Cooperative {
            assignor::hold_back_transfers(&mut assignment, &subs);
        }
        tracing::debug!(group = %self.shared.settings.group_id, ?assignment, "leader assigned");
        Ok(subs
            .iter()
            .map(|m: &Subscription| {
                let tps = assignment.get(&m.member_id).cloned().unwrap_or_default();
                (m.member_id.clone(), assignor::encode_assignment(&tps))
            })
            .collect())
    }

    pub(crate) fn protocol(&self) -> &GroupProtocol {
        &self.shared.settings.protocol
    }

    fn ensure_heartbeat(&self) {
        let mut slot = self.heartbeat.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_none_or(|h| h.is_finished()) {
            let shared = Arc::clone(&self.shared);
            *slot = Some(match shared.settings.protocol {
                GroupProtocol::Classic => tokio::spawn(heartbeat_loop(shared)),
                GroupProtocol::Consumer { .. } => tokio::spawn(consumer_protocol::heartbeat_loop(shared)),
            });
        }
    }

    /// Commits `offsets` (each the next offset to read) for this member's generation, or
    /// standalone when not in a generation.
    pub(crate) async fn commit(&self, offsets: &[TopicPartitionOffset]) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let st = &self.shared.settings;
        // The coordinator may move, be loading its offsets, or be unreachable for a moment (a
        // broker failing over): find it again and retry, as long as request.timeout.ms allows.
        let deadline = tokio::time::Instant::now() + self.shared.cluster.request_timeout();
        let result = loop {
            let member = {
                let m = self.membership();
                coordinator::Member {
                    id: m.member_id.clone(),
                    generation: m.generation,
                    instance_id: st.instance_id.clone(),
                }
            };
            let attempt = match self.coordinator().await {
                Ok(conn) => coordinator::commit(&conn, &st.group_id, &member, offsets).await,
                Err(e) => Err(e),
            };
            let transient = match &attempt {
                Err(e) => {
                    e.kafka_code().is_some_and(is_coordinator_error)
                        || matches!(e, Error::Connection { .. } | Error::Timeout { .. })
                }
                Ok(()) => false,
            };
            // KIP-848: the member epoch moved on between reading it and the commit arriving
            // (an assignment landed); the next attempt carries the new one.
            let stale = matches!(&attempt, Err(e) if e.kafka_code() == Some(E::StaleMemberEpoch));
            if stale && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(self.shared.settings.retry_backoff).await;
                continue;
            }
            if !transient || tokio::time::Instant::now() >= deadline {
                break attempt;
            }
            self.forget_coordinator();
            tokio::time::sleep(self.shared.settings.retry_backoff).await;
        };
        if let Err(e) = &result {
            match e.kafka_code() {
                Some(c) if is_coordinator_error(c) => self.forget_coordinator(),
                Some(E::UnknownMemberId | E::IllegalGeneration | E::RebalanceInProgress)
                    if st.protocol == GroupProtocol::Classic =>
                {
                    self.shared.rejoin.store(true, Ordering::Release)
                }
                None => self.forget_coordinator(),
                _ => {}
            }
        }
        result
    }

    /// Committed offsets (and metadata) of `tps`; `None` where nothing is committed. A
    /// read_committed member waits (up to `request.timeout.ms`) for offsets a transaction is
    /// still committing, so that it starts after what that transaction consumed.
    pub(crate) async fn committed(
        &self,
        tps: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<(i64, String)>>> {
        let deadline = Instant::now() + self.shared.cluster.request_timeout();
        loop {
            match self.committed_once(tps).await {
                Err(e) if e.kafka_code() == Some(E::UnstableOffsetCommit) && Instant::now() < deadline => {
                    tokio::time::sleep(self.shared.settings.retry_backoff).await;
                }
                other => return other,
            }
        }
    }

    async fn committed_once(&self, tps: &[TopicPartition]) -> Result<BTreeMap<TopicPartition, Option<(i64, String)>>> {
        let group = &self.shared.settings.group_id;
        let stable = self.shared.settings.require_stable;
        let conn = self.coordinator().await?;
        match coordinator::fetch_offsets(&conn, group, Some(tps), stable).await {
            Err(e) if e.kafka_code().is_some_and(is_coordinator_error) || e.kafka_code().is_none() => {
                // Moved, loading, or the connection broke: find it again, with retries.
                self.forget_coordinator();
                let cluster = &self.shared.cluster;
                coordinator::with_retries(cluster, group, |conn| async move {
                    coordinator::fetch_offsets(&conn, group, Some(tps), stable).await
                })
                .await
            }
            other => other,
        }
    }

    /// Leaves the group (static members do not: they keep their place for a restart).
    pub(crate) async fn leave(&self) -> Result<()> {
        self.shared.closed.store(true, Ordering::Release);
        if let Some(h) = self.heartbeat.lock().unwrap_or_else(|p| p.into_inner()).take() {
            h.abort();
        }
        if let GroupProtocol::Consumer { .. } = self.shared.settings.protocol {
            return consumer_protocol::leave(self).await;
        }
        let st = &self.shared.settings;
        let member_id = self.member_id();
        if st.instance_id.is_some() || member_id.is_empty() {
            return Ok(());
        }
        let coordinator = self.coordinator().await?;
        let version = coordinator.version_of::<LeaveGroupRequest>()?;
        let req = if version >= 3 {
            LeaveGroupRequest::default().with_group_id(GroupId(s(&st.group_id))).with_members(vec![
                leave_group_request::MemberIdentity::default()
                    .with_member_id(s(&member_id))
                    .with_reason(Some(s("the consumer is closing"))),
            ])
        } else {
            LeaveGroupRequest::default().with_group_id(GroupId(s(&st.group_id))).with_member_id(s(&member_id))
        };
        let resp = coordinator.send(&req).await?;
        self.reset_member();
        if resp.error_code != 0 {
            return Err(Error::from_code(resp.error_code, None, format!("LeaveGroup {}", st.group_id)));
        }
        Ok(())
    }
}

/// Keeps the session alive while stable; turns the coordinator's answers into flags for the
/// poll path, and leaves the group when the application stops polling (`max.poll.interval.ms`).
async fn heartbeat_loop(sh: Arc<Shared>) {
    let st = &sh.settings;
    let group = Group { shared: Arc::clone(&sh), heartbeat: Arc::new(Mutex::new(None)) };
    loop {
        tokio::time::sleep(st.heartbeat_interval).await;
        if sh.closed.load(Ordering::Acquire) {
            return;
        }
        let (stable, member_id, generation) = {
            let m = sh.membership.lock().unwrap_or_else(|p| p.into_inner());
            (m.stable, m.member_id.clone(), m.generation)
        };
        if !stable {
            continue;
        }
        let idle = sh.last_poll.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
        if idle > Duration::from_millis(st.max_poll_interval_ms as u64) {
            tracing::warn!(group = %st.group_id, ?idle, "max.poll.interval.ms exceeded: leaving the group");
            if st.instance_id.is_none() {
                let leaving = Group { shared: Arc::clone(&sh), heartbeat: Arc::new(Mutex::new(None)) };
                let _ = leave_only(&leaving, &member_id).await;
            }
            group.reset_member();
            sh.lost.store(true, Ordering::Release);
            continue;
        }
        let req = HeartbeatRequest::default()
            .with_group_id(GroupId(s(&st.group_id)))
            .with_generation_id(generation)
            .with_member_id(s(&member_id))
            .with_group_instance_id(st.instance_id.as_deref().map(s));
        let Ok(coordinator) = group.coordinator().await else { continue };
        let code = match coordinator.send(&req).await {
            Ok(r) => r.error_code,
            Err(_) => {
                group.forget_coordinator();
                continue;
            }
        };
        match E::try_from_code(code) {
            None => {}
            Some(E::RebalanceInProgress) => sh.rejoin.store(true, Ordering::Release),
            Some(E::UnknownMemberId | E::IllegalGeneration) => {
                group.reset_member();
                sh.lost.store(true, Ordering::Release);
                sh.rejoin.store(true, Ordering::Release);
            }
            Some(E::FencedInstanceId) => {
                *sh.fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(Error::kafka(
                    E::FencedInstanceId,
                    None,
                    format!("another consumer took group.instance.id in group {}", st.group_id),
                ));
                return;
            }
            Some(c) if is_coordinator_error(c) => group.forget_coordinator(),
            Some(c) => tracing::warn!(group = %st.group_id, code = ?c, "heartbeat failed"),
        }
    }
}

async fn leave_only(group: &Group, member_id: &str) -> Result<()> {
    let coordinator = group.coordinator().await?;
    let st = &group.shared.settings;
    let version = coordinator.version_of::<LeaveGroupRequest>()?;
    let req = if version >= 3 {
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s(&st.group_id)))
            .with_members(vec![leave_group_request::MemberIdentity::default().with_member_id(s(member_id))])
    } else {
        LeaveGroupRequest::default().with_group_id(GroupId(s(&st.group_id))).with_member_id(s(member_id))
    };
    coordinator.send(&req).await.map(|_| ())
}
