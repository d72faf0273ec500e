//! KIP-848 consumer groups (`group.protocol=consumer`): the broker assigns partitions and
//! members reconcile through ConsumerGroupHeartbeat.
//!
//! Every membership or subscription change bumps the group epoch; the target assignment is
//! recomputed for that epoch (uniform and sticky). A member moves to the new epoch only after
//! it has given up the partitions its target no longer has, and it receives a partition only
//! once no other member still holds it, so a partition is never read by two members at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kafka_protocol::ResponseError as E;
use tokio::time::{Duration, Instant};

/// Topic name and partition.
pub(crate) type Tp = (String, i32);

/// A topic as the coordinator needs it: id (heartbeats name topics by id) and partition count.
#[derive(Debug, Clone)]
pub(crate) struct TopicInfo {
    pub(crate) name: String,
    pub(crate) id: uuid::Uuid,
    pub(crate) partitions: i32,
}

#[derive(Debug)]
pub(crate) struct HeartbeatRequest {
    pub(crate) group_id: String,
    pub(crate) member_id: String,
    pub(crate) member_epoch: i32,
    pub(crate) instance_id: Option<String>,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) subscribed_topic_names: Option<Vec<String>>,
    pub(crate) subscribed_topic_regex: Option<String>,
    pub(crate) server_assignor: Option<String>,
    /// What the member says it owns now (`None`: unchanged since its last heartbeat).
    pub(crate) owned: Option<Vec<(uuid::Uuid, Vec<i32>)>>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    /// Every topic of the broker, as of this request.
    pub(crate) topics: Vec<TopicInfo>,
}

#[derive(Debug, Default)]
pub(crate) struct HeartbeatResponse {
    pub(crate) error: i16,
    pub(crate) message: Option<String>,
    pub(crate) member_id: String,
    pub(crate) member_epoch: i32,
    pub(crate) heartbeat_interval_ms: i32,
    /// The member's assignment, when it changed (by topic id).
    pub(crate) assignment: Option<Vec<(uuid::Uuid, Vec<i32>)>>,
}

impl HeartbeatResponse {
    pub(crate) fn error(e: E, message: impl Into<String>) -> Self {
        HeartbeatResponse { error: e.code(), message: Some(message.into()), member_epoch: -1, ..Default::default() }
    }
}

#[derive(Debug)]
pub(crate) struct ConsumerMember {
    pub(crate) id: String,
    pub(crate) epoch: i32,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) subscribed: Vec<String>,
    pub(crate) regex: Option<(String, regex::Regex)>,
    pub(crate) rebalance_timeout: Duration,
    /// What the member holds, as far as the coordinator knows.
    pub(crate) current: BTreeSet<Tp>,
    /// Taken out of `current` but not yet confirmed given up: still the member's.
    pub(crate) revoking: BTreeSet<Tp>,
    pub(crate) revoke_deadline: Option<Instant>,
    pub(crate) session_deadline: Instant,
    /// The assignment last sent, to send it again only when it changes.
    pub(crate) last_sent: Option<BTreeSet<Tp>>,
}

impl ConsumerMember {
    fn subscribes_to(&self, topic: &str) -> bool {
        self.subscribed.iter().any(|t| t == topic) || self.regex.as_ref().is_some_and(|(_, r)| r.is_match(topic))
    }

    fn holds(&self) -> impl Iterator<Item = &Tp> {
        self.current.iter().chain(self.revoking.iter())
    }
}

/// The KIP-848 side of a group.
#[derive(Debug, Default)]
pub(crate) struct ConsumerGroup {
    pub(crate) epoch: i32,
    pub(crate) assignment_epoch: i32,
    pub(crate) members: HashMap<String, ConsumerMember>,
    pub(crate) target: HashMap<String, BTreeSet<Tp>>,
    /// Partition counts of the subscribed topics the target was computed from.
    pub(crate) metadata: BTreeMap<String, i32>,
}

/// Settings of consumer groups (`group.consumer.*`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConsumerGroupSettings {
    pub(crate) session_timeout: Duration,
    pub(crate) heartbeat_interval_ms: i32,
}

impl ConsumerGroup {
    pub(crate) fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.assignment_epoch < self.epoch {
            "Assigning"
        } else if self.members.values().any(|m| {
            m.epoch < self.assignment_epoch || m.current != self.target.get(&m.id).cloned().unwrap_or_default()
        }) {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// One heartbeat: join, leave, or keep reconciling.
    pub(crate) fn heartbeat(
        &mut self,
        req: HeartbeatRequest,
        settings: ConsumerGroupSettings,
        now: Instant,
    ) -> HeartbeatResponse {
        if let Some(assignor) = req.server_assignor.as_deref() {
            if !matches!(assignor, "uniform" | "range") {
                return HeartbeatResponse::error(
                    E::UnsupportedAssignor,
                    format!("server assignor {assignor:?}: this broker has uniform and range"),
                );
            }
        }
        let by_id: HashMap<uuid::Uuid, &TopicInfo> = req.topics.iter().map(|t| (t.id, t)).collect();
        if req.member_epoch == -1 || req.member_epoch == -2 {
            if self.members.remove(&req.member_id).is_some() {
                self.target.remove(&req.member_id);
                self.epoch += 1;
                tracing::info!(group = %req.group_id, member = %req.member_id, epoch = self.epoch, "consumer left the group");
            }
            return HeartbeatResponse {
                member_id: req.member_id,
                member_epoch: req.member_epoch,
                ..Default::default()
            };
        }
        let member_id = if req.member_epoch == 0 {
            let id = if req.member_id.is_empty() { uuid::Uuid::new_v4().to_string() } else { req.member_id.clone() };
            if let Some(instance) = &req.instance_id {
                if self.members.values().any(|m| m.instance_id.as_ref() == Some(instance) && m.id != id) {
                    return HeartbeatResponse::error(
                        E::UnreleasedInstanceId,
                        format!("instance {instance} is still held by another member"),
                    );
                }
            }
            if !self.members.contains_key(&id) {
                self.members.insert(
                    id.clone(),
                    ConsumerMember {
                        id: id.clone(),
                        epoch: 0,
                        instance_id: req.instance_id.clone(),
                        client_id: req.client_id.clone(),
                        client_host: req.client_host.clone(),
                        subscribed: Vec::new(),
                        regex: None,
                        rebalance_timeout: Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64),
                        current: BTreeSet::new(),
                        revoking: BTreeSet::new(),
                        revoke_deadline: None,
                        session_deadline: now,
                        last_sent: None,
                    },
                );
                self.epoch += 1;
                tracing::info!(group = %req.group_id, member = %id, epoch = self.epoch, "consumer joined the group");
            }
            id
        } else {
            let Some(m) = self.members.get(&req.member_id) else {
                return HeartbeatResponse::error(
                    E::UnknownMemberId,
                    format!("member {} is not in group {}", req.member_id, req.group_id),
                );
            };
            if req.member_epoch > m.epoch || req.member_epoch < m.epoch - 1 {
                return HeartbeatResponse::error(
                    E::FencedMemberEpoch,
                    format!("member epoch {} does not match the coordinator's {}", req.member_epoch, m.epoch),
                );
            }
            req.member_id.clone()
        };
        let member = self.members.get_mut(&member_id).expect("present");
        member.session_deadline = now + settings.session_timeout;
        if req.member_epoch == 0 {
            // A (re)joining member starts over: it holds nothing until told.
            member.last_sent = None;
        }
        let mut changed = false;
        if let Some(names) = req.subscribed_topic_names {
            if names != member.subscribed {
                member.subscribed = names;
                changed = true;
            }
        }
        if let Some(pattern) = req.subscribed_topic_regex {
            let same = member.regex.as_ref().is_some_and(|(p, _)| *p == pattern);
            if !same {
                if pattern.is_empty() {
                    member.regex = None;
                } else {
                    match regex::Regex::new(&format!("^(?:{pattern})$")) {
                        Ok(r) => member.regex = Some((pattern, r)),
                        Err(e) => {
                            return HeartbeatResponse::error(E::InvalidRegularExpression, format!("{pattern:?}: {e}"));
                        }
                    }
                }
                changed = true;
            }
        }
        if let Some(owned) = &req.owned {
            // What the member reports holding: partitions it no longer lists are released.
            let owned: BTreeSet<Tp> = owned
                .iter()
                .filter_map(|(id, ps)| by_id.get(id).map(|t| (t.name.clone(), ps.clone())))
                .flat_map(|(name, ps)| ps.into_iter().map(move |p| (name.clone(), p)))
                .collect();
            member.revoking.retain(|tp| owned.contains(tp));
            member.current.retain(|tp| owned.contains(tp));
            if member.revoking.is_empty() {
                member.revoke_deadline = None;
            }
        }
        if changed {
            self.epoch += 1;
        }
        // Metadata of subscribed topics: new partitions or topics change the target.
        let metadata: BTreeMap<String, i32> = req
            .topics
            .iter()
            .filter(|t| self.members.values().any(|m| m.subscribes_to(&t.name)))
            .map(|t| (t.name.clone(), t.partitions))
            .collect();
        if metadata != self.metadata {
            self.metadata = metadata;
            self.epoch += 1;
        }
        if self.assignment_epoch < self.epoch {
            self.compute_target();
            self.assignment_epoch = self.epoch;
        }
        self.reconcile(&member_id, now);
        let member = self.members.get_mut(&member_id).expect("present");
        let assignment = if member.last_sent.as_ref() != Some(&member.current) {
            member.last_sent = Some(member.current.clone());
            let mut by_topic: BTreeMap<uuid::Uuid, Vec<i32>> = BTreeMap::new();
            for (name, p) in &member.current {
                if let Some(t) = req.topics.iter().find(|t| t.name == *name) {
                    by_topic.entry(t.id).or_default().push(*p);
                }
            }
            Some(by_topic.into_iter().collect())
        } else {
            None
        };
        HeartbeatResponse {
            error: 0,
            message: None,
            member_id,
            member_epoch: member.epoch,
            heartbeat_interval_ms: settings.heartbeat_interval_ms,
            assignment,
        }
    }

    /// Uniform and sticky: members keep what they have while balanced; the rest goes to the
    /// least loaded subscriber.
    fn compute_target(&mut self) {
        let mut ids: Vec<String> = self.members.keys().cloned().collect();
        ids.sort();
        let all: Vec<Tp> = self.metadata.iter().flat_map(|(t, &n)| (0..n).map(move |p| (t.clone(), p))).collect();
        let n = ids.len().max(1);
        let eligible = all.len();
        let (quota, mut extra) = (eligible / n, eligible % n);
        let mut target: HashMap<String, BTreeSet<Tp>> = HashMap::new();
        let mut taken = BTreeSet::new();
        for id in &ids {
            let m = &self.members[id];
            let previous = self.target.get(id).cloned().unwrap_or_default();
            let mut keep: Vec<Tp> = previous
                .into_iter()
                .filter(|tp| {
                    m.subscribes_to(&tp.0) && self.metadata.get(&tp.0).is_some_and(|&c| tp.1 < c) && !taken.contains(tp)
                })
                .collect();
            let cap = if keep.len() > quota && extra > 0 {
                extra -= 1;
                quota + 1
            } else {
                quota
            };
            keep.truncate(cap);
            taken.extend(keep.iter().cloned());
            target.insert(id.clone(), keep.into_iter().collect());
        }
        for tp in all.into_iter().filter(|tp| !taken.contains(tp)) {
            let best = ids
                .iter()
                .filter(|id| self.members[*id].subscribes_to(&tp.0))
                .min_by_key(|id| (target[*id].len(), (*id).clone()));
            if let Some(id) = best {
                target.get_mut(id).expect("entry").insert(tp);
            }
        }
        self.target = target;
    }

    /// Moves one member towards its target: revoke first, then take what others released.
    fn reconcile(&mut self, member_id: &str, now: Instant) {
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let held_by_others: BTreeSet<Tp> =
            self.members.values().filter(|m| m.id != member_id).flat_map(|m| m.holds().cloned()).collect();
        let assignment_epoch = self.assignment_epoch;
        let member = self.members.get_mut(member_id).expect("present");
        let revoke: BTreeSet<Tp> = member.current.difference(&target).cloned().collect();
        if !revoke.is_empty() {
            for tp in &revoke {
                member.current.remove(tp);
            }
            member.revoking.extend(revoke);
            member.revoke_deadline = Some(now + member.rebalance_timeout);
        }
        if !member.revoking.is_empty() {
            // Keeps its epoch until it confirms the revocation.
            return;
        }
        member.epoch = assignment_epoch;
        for tp in target {
            if !held_by_others.contains(&tp) {
                member.current.insert(tp);
            }
        }
    }

    /// Members past their session, or that did not revoke within their rebalance timeout.
    pub(crate) fn expire(&mut self, group_id: &str, now: Instant) -> bool {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.session_deadline <= now || m.revoke_deadline.is_some_and(|d| d <= now))
            .map(|m| m.id.clone())
            .collect();
        for id in &gone {
            tracing::info!(group = group_id, member = %id, "consumer fenced: session or revocation timeout");
            self.members.remove(id);
            self.target.remove(id);
        }
        if !gone.is_empty() {
            self.epoch += 1;
        }
        !gone.is_empty()
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.members.values().flat_map(|m| [Some(m.session_deadline), m.revoke_deadline]).flatten().min()
    }

    /// OffsetCommit by a member: its epoch must be current.
    pub(crate) fn check_commit(&self, member_id: &str, epoch: i32) -> Option<E> {
        match self.members.get(member_id) {
            None => Some(E::UnknownMemberId),
            Some(m) if epoch != m.epoch => Some(E::StaleMemberEpoch),
            Some(_) => None,
        }
    }
}
