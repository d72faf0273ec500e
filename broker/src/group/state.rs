//! One classic consumer group: its members, its place in the rebalance state machine and its
//! committed offsets. Plain data plus the decisions that need no I/O; the coordinator drives it.

use std::collections::HashMap;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use super::consumer_group::ConsumerGroup;
use super::store::{GroupValue, MemberValue, OffsetValue};
use super::{JoinResponse, SyncResponse};

/// Kafka's group states, with the names DescribeGroups and ListGroups report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    /// Protocols in the member's order of preference, with their metadata.
    pub(crate) protocols: Vec<(String, Bytes)>,
    pub(crate) assignment: Bytes,
    /// A JoinGroup waiting for the rebalance to complete.
    pub(crate) join_reply: Option<oneshot::Sender<JoinResponse>>,
    /// A SyncGroup waiting for the leader's assignments.
    pub(crate) sync_reply: Option<oneshot::Sender<SyncResponse>>,
    pub(crate) heartbeat_deadline: Instant,
    /// Order of joining, so the first member to join a fresh group leads it.
    pub(crate) joined_seq: u64,
}

impl Member {
    pub(crate) fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    pub(crate) fn same_protocols(&self, other: &[(String, Bytes)]) -> bool {
        self.protocols.as_slice() == other
    }

    /// Members blocked on us are not expected to heartbeat.
    pub(crate) fn is_waiting(&self) -> bool {
        self.join_reply.is_some() || self.sync_reply.is_some()
    }

    pub(crate) fn to_value(&self) -> MemberValue {
        MemberValue {
            member_id: self.id.clone(),
            instance_id: self.instance_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            session_timeout_ms: self.session_timeout.as_millis() as i32,
            rebalance_timeout_ms: self.rebalance_timeout.as_millis() as i32,
            protocols: self.protocols.iter().map(|(n, m)| (n.clone(), m.to_vec())).collect(),
            assignment: self.assignment.to_vec(),
        }
    }

    pub(crate) fn from_value(v: MemberValue, now: Instant, seq: u64) -> Member {
        let session_timeout = Duration::from_millis(v.session_timeout_ms.max(0) as u64);
        Member {
            id: v.member_id,
            instance_id: v.instance_id,
            client_id: v.client_id,
            client_host: v.client_host,
            session_timeout,
            rebalance_timeout: Duration::from_millis(v.rebalance_timeout_ms.max(0) as u64),
            protocols: v.protocols.into_iter().map(|(n, m)| (n, Bytes::from(m))).collect(),
            assignment: Bytes::from(v.assignment),
            join_reply: None,
            sync_reply: None,
            heartbeat_deadline: now + session_timeout,
            joined_seq: seq,
        }
    }
}

/// The first rebalance of an empty group waits `group.initial.rebalance.delay.ms` for more
/// members, extended while members keep arriving, up to the rebalance timeout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InitialDelay {
    pub(crate) until: Instant,
    pub(crate) max: Instant,
    pub(crate) members_at_start: usize,
}

#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) state: GroupState,
    /// Wall-clock ms of the last state change (offset expiry of empty groups counts from it).
    pub(crate) state_timestamp_ms: i64,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) generation: i32,
    pub(crate) leader: Option<String>,
    pub(crate) members: HashMap<String, Member>,
    /// `group.instance.id` → member id of static members.
    pub(crate) static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they rejoin or time out.
    pub(crate) pending_members: HashMap<String, Instant>,
    pub(crate) rebalance_deadline: Option<Instant>,
    pub(crate) initial_delay: Option<InitialDelay>,
    /// While completing a rebalance: when the leader must have sent its assignments.
    pub(crate) sync_deadline: Option<Instant>,
    pub(crate) offsets: HashMap<(String, i32), OffsetValue>,
    pub(crate) next_seq: u64,
    /// The earliest time a timer entry for this group is queued for.
    pub(crate) scheduled: Option<Instant>,
    /// Membership under the KIP-848 consumer protocol (empty for classic groups).
    pub(crate) consumer: ConsumerGroup,
}

impl Group {
    pub(crate) fn new(id: String, now_ms: i64) -> Group {
        Group {
            id,
            state: GroupState::Empty,
            state_timestamp_ms: now_ms,
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: HashMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            rebalance_deadline: None,
            initial_delay: None,
            sync_deadline: None,
            offsets: HashMap::new(),
            next_seq: 0,
            scheduled: None,
            consumer: ConsumerGroup::default(),
        }
    }

    /// Rebuilds a group from its stored record: members of a stable generation come back
    /// stable, with a fresh session to reconnect in.
    pub(crate) fn restore(id: String, value: GroupValue, now: Instant) -> Group {
        let mut group = Group::new(id, value.state_timestamp_ms);
        group.protocol_type = value.protocol_type;
        group.protocol_name = value.protocol_name;
        group.generation = value.generation;
        group.leader = value.leader;
        for m in value.members {
            let seq = group.next_seq;
            group.next_seq += 1;
            let member = Member::from_value(m, now, seq);
            if let Some(instance) = &member.instance_id {
                group.static_members.insert(instance.clone(), member.id.clone());
            }
            group.members.insert(member.id.clone(), member);
        }
        group.state = if group.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
        if group.members.is_empty() {
            group.leader = None;
            group.protocol_name = None;
        }
        group
    }

    pub(crate) fn to_value(&self) -> GroupValue {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.joined_seq);
        GroupValue {
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            generation: self.generation,
            leader: self.leader.clone(),
            state_timestamp_ms: self.state_timestamp_ms,
            members: members.into_iter().map(Member::to_value).collect(),
        }
    }

    pub(crate) fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    pub(crate) fn set_state(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp_ms = now_ms;
    }

    pub(crate) fn has_no_members(&self) -> bool {
        self.members.is_empty() && self.pending_members.is_empty() && self.consumer.members.is_empty()
    }

    /// Whether the group runs the KIP-848 consumer protocol (it has such members).
    pub(crate) fn is_consumer_protocol(&self) -> bool {
        !self.consumer.members.is_empty()
    }

    /// The state name ListGroups and DescribeGroups report, for either protocol.
    pub(crate) fn state_name(&self) -> &'static str {
        if self.is_consumer_protocol() { self.consumer.state() } else { self.state.name() }
    }

    /// Protocol names every current member supports.
    fn candidate_protocols(&self) -> Vec<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else { return Vec::new() };
        let mut candidates: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in members {
            candidates.retain(|c| m.protocols.iter().any(|(n, _)| n == c));
        }
        candidates
    }

    /// Whether a member speaking these protocols may join.
    pub(crate) fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let candidates = self.candidate_protocols();
        protocols.iter().any(|(n, _)| candidates.contains(n))
    }

    /// Kafka's vote: among the protocols all members support, each member votes for the one it
    /// prefers most; the most votes wins, ties going to the leader's preference.
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        let preference: Vec<&str> = match self.leader.as_ref().and_then(|l| self.members.get(l)) {
            Some(leader) => leader.protocols.iter().map(|(n, _)| n.as_str()).collect(),
            None => candidates.iter().map(String::as_str).collect(),
        };
        let best = votes.values().copied().max()?;
        preference.into_iter().find(|p| votes.get(p) == Some(&best)).map(str::to_owned)
    }

    pub(crate) fn max_rebalance_timeout(&self) -> Duration {
        self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or(Duration::ZERO)
    }

    pub(crate) fn all_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.join_reply.is_some())
    }

    /// The earliest moment something in this group may time out.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let members = self.members.values().filter(|m| !m.is_waiting()).map(|m| m.heartbeat_deadline);
        let pending = self.pending_members.values().copied();
        let delay = self.initial_delay.map(|d| d.until);
        members
            .chain(pending)
            .chain(delay)
            .chain(self.rebalance_deadline)
            .chain(self.sync_deadline)
            .chain(self.consumer.next_deadline())
            .min()
    }

    /// Topics the members of a consumer-protocol group subscribe to, from their metadata.
    pub(crate) fn subscribed_topics(&self) -> Option<std::collections::HashSet<String>> {
        use kafka_protocol::messages::ConsumerProtocolSubscription;
        use kafka_protocol::protocol::Decodable;
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = std::collections::HashSet::new();
        for m in self.members.values() {
            let mut meta = m.metadata_for(protocol);
            if meta.len() < 2 {
                continue;
            }
            let version = i16::from_be_bytes([meta[0], meta[1]]);
            bytes::Buf::advance(&mut meta, 2);
            // Versions newer than we know are read as the newest: fields are only ever appended.
            let version = version.clamp(0, 3);
            match ConsumerProtocolSubscription::decode(&mut meta, version) {
                Ok(sub) => topics.extend(sub.topics.into_iter().map(|t| t.to_string())),
                Err(_) => return None,
            }
        }
        Some(topics)
    }
}
