//! The coordinator's state and every operation on it. Owned by one task (see `mod.rs`), so no
//! locks: requests arrive as closures, timers as calls to [`Coordinator::fire_timers`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use bytes::Bytes;
use kafka_protocol::ResponseError as E;
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use super::consumer_group;
use super::state::{Group, GroupState, InitialDelay, Member};
use super::store::{GroupStore, OffsetValue, StoreKey, StoreValue};
use super::*;
use crate::error::Result;
use crate::log::now_ms;

#[derive(Debug)]
pub(crate) struct Coordinator {
    pub(crate) settings: GroupSettings,
    /// Per-group settings (GROUP config resources) over `settings`.
    pub(crate) overrides: std::sync::Arc<GroupConfigOverrides>,
    groups: HashMap<String, Group>,
    store: GroupStore,
    timers: BinaryHeap<Reverse<(Instant, String)>>,
}

fn code(e: E) -> i16 {
    e.code()
}

fn join_error(error: E, member_id: &str) -> JoinResponse {
    JoinResponse { error: error.code(), member_id: member_id.to_owned(), generation: -1, ..Default::default() }
}

impl Coordinator {
    pub(crate) fn new(settings: GroupSettings, store: GroupStore, recovered: super::store::Recovered) -> Coordinator {
        let now = Instant::now();
        let mut groups = HashMap::new();
        for (id, value) in recovered.groups {
            groups.insert(id.clone(), Group::restore(id, value, now));
        }
        for (id, offsets) in recovered.offsets {
            groups.entry(id.clone()).or_insert_with(|| Group::new(id, now_ms())).offsets = offsets;
        }
        let mut c = Coordinator { settings, overrides: Default::default(), groups, store, timers: BinaryHeap::new() };
        let ids: Vec<String> = c.groups.keys().cloned().collect();
        for id in ids {
            c.reschedule(&id);
        }
        c
    }

    /// The earliest queued timer.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Queues a timer entry if the group's next deadline is earlier than any already queued.
    fn reschedule(&mut self, id: &str) {
        let Some(group) = self.groups.get_mut(id) else { return };
        let Some(deadline) = group.next_deadline() else { return };
        if group.scheduled.is_none_or(|s| deadline < s) {
            group.scheduled = Some(deadline);
            self.timers.push(Reverse((deadline, id.to_owned())));
        }
    }

    pub(crate) fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((t, _))) = self.timers.peek() {
            if *t > now {
                break;
            }
            let Some(Reverse((_, id))) = self.timers.pop() else { break };
            let Some(group) = self.groups.get_mut(&id) else { continue };
            group.scheduled = None;
            self.on_group_timer(&id, now);
            self.reschedule(&id);
        }
    }

    fn persist(&mut self, id: &str) {
        let Some(group) = self.groups.get(id) else { return };
        let entry = (StoreKey::Group { group: id.to_owned() }, Some(StoreValue::Group(group.to_value())));
        if let Err(e) = self.store.write(&[entry]) {
            tracing::error!(group = id, error = %e, "could not store group metadata");
        }
    }

    // ---- JoinGroup -------------------------------------------------------------------------

    pub(crate) fn join(&mut self, req: JoinRequest, reply: oneshot::Sender<JoinResponse>) {
        let now = Instant::now();
        if req.group_id.is_empty() {
            let _ = reply.send(join_error(E::InvalidGroupId, &req.member_id));
            return;
        }
        let s = &self.settings;
        if req.session_timeout_ms < s.min_session_timeout_ms || req.session_timeout_ms > s.max_session_timeout_ms {
            let _ = reply.send(join_error(E::InvalidSessionTimeout, &req.member_id));
            return;
        }
        if !req.member_id.is_empty() && !self.groups.contains_key(&req.group_id) {
            let _ = reply.send(join_error(E::UnknownMemberId, &req.member_id));
            return;
        }
        let id = req.group_id.clone();
        let group = self.groups.entry(id.clone()).or_insert_with(|| Group::new(id.clone(), now_ms()));
        if group.is_consumer_protocol() {
            let _ = reply.send(join_error(E::InconsistentGroupProtocol, &req.member_id));
            return;
        }
        let known_static = req.instance_id.as_ref().and_then(|i| group.static_members.get(i)).cloned();
        let is_rejoin = !req.member_id.is_empty() && group.members.contains_key(&req.member_id);
        let supported = if is_rejoin && group.members.len() == 1 {
            group.protocol_type.as_deref() == Some(req.protocol_type.as_str()) && !req.protocols.is_empty()
        } else if let Some(old) = known_static.as_ref().filter(|_| group.members.len() == 1) {
            group.members.contains_key(old) && !req.protocols.is_empty()
        } else {
            group.supports(&req.protocol_type, &req.protocols)
        };
        if !supported {
            let _ = reply.send(join_error(E::InconsistentGroupProtocol, &req.member_id));
            self.drop_if_unused(&id);
            return;
        }
        if req.member_id.is_empty() {
            self.join_new_member(req, reply, now);
        } else {
            self.join_known_member(req, reply, now);
        }
        self.reschedule(&id);
    }

    fn join_new_member(&mut self, req: JoinRequest, reply: oneshot::Sender<JoinResponse>, now: Instant) {
        let id = req.group_id.clone();
        let prefix = req.instance_id.as_deref().unwrap_or(&req.client_id);
        let member_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
        let group = self.groups.get_mut(&id).expect("group exists");
        if let Some(instance) = req.instance_id.clone() {
            if let Some(old_id) = group.static_members.get(&instance).cloned() {
                self.replace_static_member(&id, &old_id, member_id, req, reply, now);
                return;
            }
        } else if req.require_known_member_id {
            // KIP-394: hand out the id first; the member joins for real with it.
            group.pending_members.insert(member_id.clone(), now + session(&req));
            let _ = reply.send(join_error(E::MemberIdRequired, &member_id));
            return;
        }
        self.add_member_and_rebalance(&id, member_id, req, reply, now);
    }

    fn join_known_member(&mut self, req: JoinRequest, reply: oneshot::Sender<JoinResponse>, now: Instant) {
        let id = req.group_id.clone();
        let group = self.groups.get_mut(&id).expect("group exists");
        if group.pending_members.remove(&req.member_id).is_some() {
            let member_id = req.member_id.clone();
            self.add_member_and_rebalance(&id, member_id, req, reply, now);
            return;
        }
        if let Some(instance) = &req.instance_id {
            if group.static_members.get(instance).is_some_and(|m| *m != req.member_id) {
                let _ = reply.send(join_error(E::FencedInstanceId, &req.member_id));
                return;
            }
        }
        let Some(member) = group.members.get_mut(&req.member_id) else {
            let _ = reply.send(join_error(E::UnknownMemberId, &req.member_id));
            return;
        };
        let same = member.same_protocols(&req.protocols);
        let is_leader = group.leader.as_deref() == Some(req.member_id.as_str());
        match group.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(&id, req, reply, now),
            GroupState::CompletingRebalance if same => {
                // A JoinGroup response got lost: answer again with the current generation.
                member.heartbeat_deadline = now + member.session_timeout;
                let response = self.current_join_response(&id, &req.member_id, is_leader);
                let _ = reply.send(response);
            }
            GroupState::Stable if same && !is_leader => {
                member.heartbeat_deadline = now + member.session_timeout;
                let response = self.current_join_response(&id, &req.member_id, false);
                let _ = reply.send(response);
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(&id, req, reply, now)
            }
            GroupState::Empty => {
                let _ = reply.send(join_error(E::UnknownMemberId, &req.member_id));
            }
        }
    }

    fn current_join_response(&self, id: &str, member_id: &str, with_members: bool) -> JoinResponse {
        let group = &self.groups[id];
        let protocol = group.protocol_name.clone().unwrap_or_default();
        JoinResponse {
            error: 0,
            generation: group.generation,
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol_name.clone(),
            leader: group.leader.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members: if with_members { joined_members(group, &protocol) } else { Vec::new() },
            skip_assignment: false,
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        id: &str,
        member_id: String,
        req: JoinRequest,
        reply: oneshot::Sender<JoinResponse>,
        now: Instant,
    ) {
        let max_size = self.settings.max_size;
        let group = self.groups.get_mut(id).expect("group exists");
        if group.members.len() >= max_size {
            let _ = reply.send(join_error(E::GroupMaxSizeReached, &member_id));
            return;
        }
        if group.members.is_empty() {
            group.protocol_type = Some(req.protocol_type.clone());
        }
        let seq = group.next_seq;
        group.next_seq += 1;
        if let Some(instance) = &req.instance_id {
            group.static_members.insert(instance.clone(), member_id.clone());
        }
        group.members.insert(
            member_id.clone(),
            Member {
                id: member_id.clone(),
                instance_id: req.instance_id.clone(),
                client_id: req.client_id.clone(),
                client_host: req.client_host.clone(),
                session_timeout: session(&req),
                rebalance_timeout: rebalance(&req),
                protocols: req.protocols,
                assignment: Bytes::new(),
                join_reply: Some(reply),
                sync_reply: None,
                heartbeat_deadline: now + session_timeout_of(req.session_timeout_ms),
                joined_seq: seq,
            },
        );
        if group.leader.is_none() {
            group.leader = Some(member_id);
        }
        self.maybe_prepare_rebalance(id, now, "a member joined");
        self.check_join_complete(id, now);
    }

    fn update_member_and_rebalance(
        &mut self,
        id: &str,
        req: JoinRequest,
        reply: oneshot::Sender<JoinResponse>,
        now: Instant,
    ) {
        let (session_timeout, rebalance_timeout) = (session(&req), rebalance(&req));
        let group = self.groups.get_mut(id).expect("group exists");
        if let Some(member) = group.members.get_mut(&req.member_id) {
            member.protocols = req.protocols;
            member.session_timeout = session_timeout;
            member.rebalance_timeout = rebalance_timeout;
            member.client_id = req.client_id;
            member.client_host = req.client_host;
            if let Some(old) = member.join_reply.replace(reply) {
                let _ = old.send(join_error(E::UnknownMemberId, &req.member_id));
            }
        }
        self.maybe_prepare_rebalance(id, now, "a member rejoined");
        self.check_join_complete(id, now);
    }

    fn replace_static_member(
        &mut self,
        id: &str,
        old_id: &str,
        new_id: String,
        req: JoinRequest,
        reply: oneshot::Sender<JoinResponse>,
        now: Instant,
    ) {
        let group = self.groups.get_mut(id).expect("group exists");
        let Some(mut member) = group.members.remove(old_id) else {
            let _ = reply.send(join_error(E::UnknownMemberId, &req.member_id));
            return;
        };
        // The old incarnation is fenced: whatever it was waiting for ends now.
        if let Some(old) = member.join_reply.take() {
            let _ = old.send(join_error(E::FencedInstanceId, old_id));
        }
        if let Some(old) = member.sync_reply.take() {
            let _ = old.send(SyncResponse::error(E::FencedInstanceId));
        }
        let previous_leader = group.leader.clone().unwrap_or_default();
        if group.leader.as_deref() == Some(old_id) {
            group.leader = Some(new_id.clone());
        }
        let protocols_changed = !member.same_protocols(&req.protocols);
        member.id = new_id.clone();
        member.protocols = req.protocols.clone();
        member.session_timeout = session(&req);
        member.rebalance_timeout = rebalance(&req);
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.heartbeat_deadline = now + member.session_timeout;
        if let Some(instance) = &req.instance_id {
            group.static_members.insert(instance.clone(), new_id.clone());
        }
        tracing::info!(group = id, old = old_id, new = %new_id, "static member rejoined");
        match group.state {
            GroupState::Stable => {
                let selected_before = group.protocol_name.clone();
                group.members.insert(new_id.clone(), member);
                if !protocols_changed || group.select_protocol() == selected_before {
                    let response = JoinResponse {
                        error: 0,
                        generation: group.generation,
                        protocol_type: group.protocol_type.clone(),
                        protocol_name: group.protocol_name.clone(),
                        // The old leader id, so a returning leader does not reassign a stable
                        // group: it syncs as a follower and gets its old assignment back.
                        leader: previous_leader,
                        member_id: new_id,
                        members: Vec::new(),
                        skip_assignment: false,
                    };
                    let _ = reply.send(response);
                    self.persist(id);
                } else {
                    group.members.get_mut(&new_id).expect("just inserted").join_reply = Some(reply);
                    self.prepare_rebalance(id, now, "a static member rejoined with other protocols");
                    self.check_join_complete(id, now);
                }
            }
            GroupState::CompletingRebalance | GroupState::PreparingRebalance => {
                member.join_reply = Some(reply);
                group.members.insert(new_id, member);
                self.maybe_prepare_rebalance(id, now, "a static member rejoined during a rebalance");
                if self.groups[id].is(GroupState::CompletingRebalance) {
                    self.prepare_rebalance(id, now, "a static member rejoined during a rebalance");
                }
                self.check_join_complete(id, now);
            }
            GroupState::Empty => {
                member.join_reply = Some(reply);
                group.members.insert(new_id, member);
                self.maybe_prepare_rebalance(id, now, "a static member joined");
                self.check_join_complete(id, now);
            }
        }
    }

    fn maybe_prepare_rebalance(&mut self, id: &str, now: Instant, reason: &str) {
        let group = &self.groups[id];
        if matches!(group.state, GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty) {
            self.prepare_rebalance(id, now, reason);
        }
    }

    fn prepare_rebalance(&mut self, id: &str, now: Instant, reason: &str) {
        let initial_delay = Duration::from_millis(self.settings.initial_rebalance_delay_ms);
        let group = self.groups.get_mut(id).expect("group exists");
        if group.is(GroupState::CompletingRebalance) {
            // Assignments of the aborted generation are void; waiting syncs learn to rejoin.
            for m in group.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(r) = m.sync_reply.take() {
                    let _ = r.send(SyncResponse::error(E::RebalanceInProgress));
                }
            }
        }
        group.sync_deadline = None;
        let max = now + group.max_rebalance_timeout();
        if group.is(GroupState::Empty) && !initial_delay.is_zero() {
            group.initial_delay = Some(InitialDelay {
                until: (now + initial_delay).min(max),
                max,
                members_at_start: group.members.len(),
            });
            group.rebalance_deadline = None;
        } else {
            group.rebalance_deadline = Some(max);
        }
        group.set_state(GroupState::PreparingRebalance, now_ms());
        tracing::debug!(group = id, generation = group.generation, reason, "preparing rebalance");
    }

    /// Completes the join phase once every known member has rejoined (and no initial delay runs).
    fn check_join_complete(&mut self, id: &str, now: Instant) {
        let Some(group) = self.groups.get(id) else { return };
        if group.is(GroupState::PreparingRebalance) && group.initial_delay.is_none() && group.all_joined() {
            self.complete_join(id, now);
        }
    }

    fn complete_join(&mut self, id: &str, now: Instant) {
        let group = self.groups.get_mut(id).expect("group exists");
        // Dynamic members that did not rejoin in time are out; static ones keep their place
        // until their session runs out.
        let laggards: Vec<String> = group
            .members
            .values()
            .filter(|m| m.join_reply.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for m in laggards {
            tracing::info!(group = id, member = %m, "member did not rejoin in time");
            group.members.remove(&m);
        }
        group.pending_members.clear();
        group.rebalance_deadline = None;
        group.initial_delay = None;
        group.generation += 1;
        if group.members.values().all(|m| m.join_reply.is_none()) {
            // Nobody waiting (all gone, or only absent static members).
            if group.members.is_empty() {
                group.protocol_name = None;
                group.protocol_type = if group.offsets.is_empty() { None } else { group.protocol_type.take() };
                group.leader = None;
                group.set_state(GroupState::Empty, now_ms());
                self.persist(id);
            } else {
                group.set_state(GroupState::CompletingRebalance, now_ms());
                group.sync_deadline = Some(now + group.max_rebalance_timeout());
            }
            return;
        }
        let protocol = group.select_protocol();
        group.protocol_name = protocol.clone();
        let leader_ok =
            group.leader.as_ref().and_then(|l| group.members.get(l)).is_some_and(|m| m.join_reply.is_some());
        if !leader_ok {
            group.leader = group
                .members
                .values()
                .filter(|m| m.join_reply.is_some())
                .min_by_key(|m| m.joined_seq)
                .map(|m| m.id.clone());
        }
        group.set_state(GroupState::CompletingRebalance, now_ms());
        group.sync_deadline = Some(now + group.max_rebalance_timeout());
        let protocol = protocol.unwrap_or_default();
        let all = joined_members(group, &protocol);
        let leader = group.leader.clone().unwrap_or_default();
        let generation = group.generation;
        let protocol_type = group.protocol_type.clone();
        tracing::info!(group = id, generation, members = group.members.len(), %protocol, %leader, "rebalance: join complete");
        for m in group.members.values_mut() {
            let Some(reply) = m.join_reply.take() else { continue };
            m.heartbeat_deadline = now + m.session_timeout;
            let _ = reply.send(JoinResponse {
                error: 0,
                generation,
                protocol_type: protocol_type.clone(),
                protocol_name: Some(protocol.clone()),
                leader: leader.clone(),
                member_id: m.id.clone(),
                members: if m.id == leader { all.clone() } else { Vec::new() },
                skip_assignment: false,
            });
        }
    }

    // ---- SyncGroup -------------------------------------------------------------------------

    pub(crate) fn sync(&mut self, req: SyncRequest, reply: oneshot::Sender<SyncResponse>) {
        let now = Instant::now();
        let id = req.group_id.clone();
        let Some(group) = self.groups.get_mut(&id) else {
            let _ = reply.send(SyncResponse::error(E::UnknownMemberId));
            return;
        };
        if let Some(err) = member_check(group, &req.member_id, req.instance_id.as_deref()) {
            let _ = reply.send(SyncResponse::error(err));
            return;
        }
        if req.generation != group.generation {
            let _ = reply.send(SyncResponse::error(E::IllegalGeneration));
            return;
        }
        let type_mismatch = req.protocol_type.as_ref().is_some_and(|t| group.protocol_type.as_ref() != Some(t));
        let name_mismatch = req.protocol_name.as_ref().is_some_and(|n| group.protocol_name.as_ref() != Some(n));
        if type_mismatch || name_mismatch {
            let _ = reply.send(SyncResponse::error(E::InconsistentGroupProtocol));
            return;
        }
        match group.state {
            GroupState::Empty => {
                let _ = reply.send(SyncResponse::error(E::UnknownMemberId));
            }
            GroupState::PreparingRebalance => {
                let _ = reply.send(SyncResponse::error(E::RebalanceInProgress));
            }
            GroupState::Stable => {
                let member = group.members.get_mut(&req.member_id).expect("checked");
                member.heartbeat_deadline = now + member.session_timeout;
                let _ = reply.send(SyncResponse::ok(
                    group.protocol_type.clone(),
                    group.protocol_name.clone(),
                    member.assignment.clone(),
                ));
            }
            GroupState::CompletingRebalance => {
                let is_leader = group.leader.as_deref() == Some(req.member_id.as_str());
                let member = group.members.get_mut(&req.member_id).expect("checked");
                member.heartbeat_deadline = now + member.session_timeout;
                if let Some(old) = member.sync_reply.replace(reply) {
                    let _ = old.send(SyncResponse::error(E::RebalanceInProgress));
                }
                if is_leader {
                    let assignments: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                    for m in group.members.values_mut() {
                        m.assignment = assignments.get(&m.id).cloned().unwrap_or_default();
                    }
                    group.sync_deadline = None;
                    group.set_state(GroupState::Stable, now_ms());
                    let (pt, pn) = (group.protocol_type.clone(), group.protocol_name.clone());
                    for m in group.members.values_mut() {
                        if let Some(r) = m.sync_reply.take() {
                            m.heartbeat_deadline = now + m.session_timeout;
                            let _ = r.send(SyncResponse::ok(pt.clone(), pn.clone(), m.assignment.clone()));
                        }
                    }
                    tracing::info!(group = %id, generation = group.generation, "rebalance: group stable");
                    self.persist(&id);
                }
            }
        }
        self.reschedule(&id);
    }

    // ---- Heartbeat, LeaveGroup -------------------------------------------------------------

    pub(crate) fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> i16 {
        let now = Instant::now();
        let Some(group) = self.groups.get_mut(group_id) else { return code(E::UnknownMemberId) };
        if let Some(err) = member_check(group, member_id, instance_id) {
            return code(err);
        }
        let state = group.state;
        let current = group.generation;
        let member = group.members.get_mut(member_id).expect("checked");
        match state {
            GroupState::Empty => code(E::UnknownMemberId),
            GroupState::PreparingRebalance => {
                member.heartbeat_deadline = now + member.session_timeout;
                code(E::RebalanceInProgress)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                if generation != current {
                    return code(E::IllegalGeneration);
                }
                member.heartbeat_deadline = now + member.session_timeout;
                0
            }
        }
    }

    /// LeaveGroup for each (member id, instance id); returns the top-level error and one per member.
    pub(crate) fn leave(&mut self, group_id: &str, leaving: Vec<(String, Option<String>)>) -> (i16, Vec<i16>) {
        let now = Instant::now();
        let Some(group) = self.groups.get_mut(group_id) else {
            return (code(E::UnknownMemberId), leaving.iter().map(|_| code(E::UnknownMemberId)).collect());
        };
        let mut results = Vec::with_capacity(leaving.len());
        let mut removed = Vec::new();
        for (member_id, instance_id) in leaving {
            // A static member may leave by instance id alone (admin tools do this).
            let target = match &instance_id {
                Some(instance) => match group.static_members.get(instance) {
                    Some(current) if member_id.is_empty() || *current == member_id => Some(current.clone()),
                    Some(_) => {
                        results.push(code(E::FencedInstanceId));
                        continue;
                    }
                    None => None,
                },
                None => Some(member_id.clone()),
            };
            match target {
                Some(m) if group.members.contains_key(&m) => {
                    removed.push(m);
                    results.push(0);
                }
                Some(m) if group.pending_members.remove(&m).is_some() => results.push(0),
                _ => results.push(code(E::UnknownMemberId)),
            }
        }
        for m in &removed {
            tracing::info!(group = group_id, member = %m, "member left the group");
        }
        if !removed.is_empty() {
            self.remove_members(group_id, &removed, now, "members left");
        } else {
            self.check_join_complete(group_id, now);
        }
        self.reschedule(group_id);
        (0, results)
    }

    fn remove_members(&mut self, id: &str, members: &[String], now: Instant, reason: &str) {
        let Some(group) = self.groups.get_mut(id) else { return };
        for member_id in members {
            let Some(mut m) = group.members.remove(member_id) else { continue };
            if let Some(instance) = &m.instance_id {
                if group.static_members.get(instance) == Some(member_id) {
                    group.static_members.remove(instance);
                }
            }
            if let Some(r) = m.join_reply.take() {
                let _ = r.send(join_error(E::UnknownMemberId, member_id));
            }
            if let Some(r) = m.sync_reply.take() {
                let _ = r.send(SyncResponse::error(E::UnknownMemberId));
            }
            if group.leader.as_deref() == Some(member_id.as_str()) {
                group.leader = None;
            }
        }
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(id, now, reason),
            GroupState::PreparingRebalance => {}
            GroupState::Empty => return,
        }
        if self.groups[id].members.is_empty() && self.groups[id].initial_delay.is_none() {
            // Nobody left to wait for.
            self.complete_join(id, now);
        } else {
            self.check_join_complete(id, now);
        }
    }

    fn on_group_timer(&mut self, id: &str, now: Instant) {
        let Some(group) = self.groups.get_mut(id) else { return };
        if group.consumer.expire(id, now) && group.consumer.members.is_empty() {
            group.state_timestamp_ms = now_ms();
        }
        group.pending_members.retain(|_, deadline| *deadline > now);
        if let Some(delay) = group.initial_delay {
            if delay.until <= now {
                let arrived = group.members.len() > delay.members_at_start;
                if arrived && delay.until < delay.max {
                    let step = Duration::from_millis(self.settings.initial_rebalance_delay_ms);
                    group.initial_delay = Some(InitialDelay {
                        until: (now + step).min(delay.max),
                        max: delay.max,
                        members_at_start: group.members.len(),
                    });
                } else {
                    group.initial_delay = None;
                    group.rebalance_deadline = Some(delay.max.max(now));
                    self.check_join_complete(id, now);
                }
            }
        }
        let Some(group) = self.groups.get_mut(id) else { return };
        if group.is(GroupState::PreparingRebalance) && group.rebalance_deadline.is_some_and(|d| d <= now) {
            self.complete_join(id, now);
        }
        let Some(group) = self.groups.get_mut(id) else { return };
        if group.is(GroupState::CompletingRebalance) && group.sync_deadline.is_some_and(|d| d <= now) {
            // The leader never sent assignments: drop whoever has not synced and start over.
            let stragglers: Vec<String> =
                group.members.values().filter(|m| m.sync_reply.is_none()).map(|m| m.id.clone()).collect();
            tracing::info!(group = id, ?stragglers, "members did not sync in time");
            group.sync_deadline = None;
            self.remove_members(id, &stragglers, now, "members did not sync in time");
        }
        let Some(group) = self.groups.get_mut(id) else { return };
        let expired: Vec<String> = group
            .members
            .values()
            .filter(|m| !m.is_waiting() && m.heartbeat_deadline <= now)
            .map(|m| m.id.clone())
            .collect();
        if !expired.is_empty() {
            tracing::info!(group = id, ?expired, "session timeout: removing members");
            self.remove_members(id, &expired, now, "session timeout");
        }
        if self.groups.get(id).is_some_and(|g| g.is(GroupState::PreparingRebalance)) {
            self.check_join_complete(id, now);
        }
    }

    // ---- Offsets ---------------------------------------------------------------------------

    /// OffsetCommit. `offsets` are (topic, partition, offset, leader epoch, metadata); returns
    /// one error code per entry, in order.
    pub(crate) fn commit(&mut self, req: CommitRequest) -> Vec<i16> {
        let now = Instant::now();
        let n = req.offsets.len();
        let all = |e: E| vec![e.code(); n];
        if req.group_id.is_empty() {
            return all(E::InvalidGroupId);
        }
        let group = match self.groups.get_mut(&req.group_id) {
            Some(g) => g,
            None if req.generation < 0 => {
                self.groups.insert(req.group_id.clone(), Group::new(req.group_id.clone(), now_ms()));
                self.groups.get_mut(&req.group_id).expect("inserted")
            }
            None => return all(E::IllegalGeneration),
        };
        if let Some(instance) = &req.instance_id {
            if group.static_members.get(instance).is_some_and(|m| *m != req.member_id) {
                return all(E::FencedInstanceId);
            }
        }
        if group.is_consumer_protocol() {
            if let Some(e) = group.consumer.check_commit(&req.member_id, req.generation) {
                return all(e);
            }
        }
        let standalone = req.generation < 0 && group.is(GroupState::Empty);
        if group.is_consumer_protocol() {
            // Checked above against the member epoch.
        } else if !standalone {
            if group.is(GroupState::CompletingRebalance) {
                return all(E::RebalanceInProgress);
            }
            let Some(member) = group.members.get_mut(&req.member_id) else { return all(E::UnknownMemberId) };
            if req.generation != group.generation {
                return all(E::IllegalGeneration);
            }
            // A commit is a sign of life.
            member.heartbeat_deadline = now + member.session_timeout;
        }
        let max_meta = self.settings.offset_metadata_max_bytes;
        let commit_ts = now_ms();
        let mut results = Vec::with_capacity(n);
        let mut entries = Vec::with_capacity(n);
        let mut accepted = Vec::with_capacity(n);
        for o in req.offsets {
            if o.metadata.as_ref().is_some_and(|m| m.len() > max_meta) {
                results.push(code(E::OffsetMetadataTooLarge));
                continue;
            }
            let value = OffsetValue {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata,
                commit_timestamp_ms: commit_ts,
                expire_timestamp_ms: (req.retention_ms > 0).then(|| commit_ts + req.retention_ms),
            };
            entries.push((
                StoreKey::Offset { group: req.group_id.clone(), topic: o.topic.clone(), partition: o.partition },
                Some(StoreValue::Offset(value.clone())),
            ));
            accepted.push(((o.topic, o.partition), value));
            results.push(0);
        }
        // Stored first, then visible: a commit the store refused must not be served either.
        if let Err(e) = self.store.write(&entries) {
            tracing::error!(group = %req.group_id, error = %e, "could not store offsets");
            return all(E::KafkaStorageError);
        }
        group.offsets.extend(accepted);
        self.maybe_compact();
        results
    }

    /// KIP-447: whether the member sending TxnOffsetCommit for `group_id` is current, as
    /// OffsetCommit checks it; a negative generation (a producer without group metadata) is
    /// accepted as Kafka accepts it. Returns an error code, 0 when accepted.
    pub(crate) fn check_txn_member(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> i16 {
        if group_id.is_empty() {
            return code(E::InvalidGroupId);
        }
        let Some(group) = self.groups.get(group_id) else {
            return if generation < 0 { 0 } else { code(E::IllegalGeneration) };
        };
        if let Some(instance) = instance_id {
            if group.static_members.get(instance).is_some_and(|m| m != member_id) {
                return code(E::FencedInstanceId);
            }
        }
        if generation < 0 && member_id.is_empty() {
            return 0;
        }
        if group.is_consumer_protocol() {
            return group.consumer.check_commit(member_id, generation).map_or(0, code);
        }
        if !group.members.contains_key(member_id) {
            return code(E::UnknownMemberId);
        }
        if generation != group.generation {
            return code(E::IllegalGeneration);
        }
        0
    }

    /// Applies the offsets of a committed transaction.
    pub(crate) fn commit_transactional(&mut self, offsets: Vec<crate::txn::PendingOffset>) -> Result<(), i16> {
        let mut entries = Vec::with_capacity(offsets.len());
        for o in &offsets {
            entries.push((
                StoreKey::Offset { group: o.group.clone(), topic: o.topic.clone(), partition: o.partition },
                Some(StoreValue::Offset(o.value.clone())),
            ));
        }
        if let Err(e) = self.store.write(&entries) {
            tracing::error!(error = %e, "could not store transactional offsets");
            return Err(code(E::KafkaStorageError));
        }
        for o in offsets {
            let group = self.groups.entry(o.group.clone()).or_insert_with(|| Group::new(o.group.clone(), now_ms()));
            group.offsets.insert((o.topic, o.partition), o.value);
        }
        self.maybe_compact();
        Ok(())
    }

    /// OffsetFetch for one group; `None` topics means every committed offset.
    pub(crate) fn fetch_offsets(&self, group_id: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> FetchedOffsets {
        let group = self.groups.get(group_id);
        let lookup = |topic: &str, p: i32| group.and_then(|g| g.offsets.get(&(topic.to_owned(), p))).cloned();
        let mut out: FetchedOffsets = Vec::new();
        match topics {
            Some(topics) => {
                for (topic, partitions) in topics {
                    let parts = partitions.into_iter().map(|p| (p, lookup(&topic, p))).collect();
                    out.push((topic, parts));
                }
            }
            None => {
                let mut by_topic: std::collections::BTreeMap<String, Vec<(i32, Option<OffsetValue>)>> =
                    Default::default();
                if let Some(g) = group {
                    for ((t, p), v) in &g.offsets {
                        by_topic.entry(t.clone()).or_default().push((*p, Some(v.clone())));
                    }
                }
                for (t, mut parts) in by_topic {
                    parts.sort_by_key(|(p, _)| *p);
                    out.push((t, parts));
                }
            }
        }
        out
    }

    fn maybe_compact(&mut self) {
        let live: usize = self.groups.values().map(|g| g.offsets.len() + 1).sum();
        if !self.store.wants_compaction(live) {
            return;
        }
        let mut entries = Vec::with_capacity(live);
        for (id, g) in &self.groups {
            if !(g.members.is_empty() && g.generation == 0 && g.protocol_type.is_none()) {
                entries.push((StoreKey::Group { group: id.clone() }, StoreValue::Group(g.to_value())));
            }
            for ((t, p), v) in &g.offsets {
                entries.push((
                    StoreKey::Offset { group: id.clone(), topic: t.clone(), partition: *p },
                    StoreValue::Offset(v.clone()),
                ));
            }
        }
        match self.store.compact(entries) {
            Ok(()) => tracing::info!(live, "compacted the group coordinator log"),
            Err(e) => tracing::error!(error = %e, "compacting the group coordinator log failed"),
        }
    }

    /// Drops offsets past retention (`offsets.retention.minutes`): for an empty group counted
    /// from when it became empty, for a standalone committer from each commit, for a live
    /// consumer group only for topics no member subscribes to any more (KIP-211, KIP-496).
    /// Empty groups left with no offsets are deleted.
    pub(crate) fn expire_offsets(&mut self, now_ms: i64) {
        let retention = self.settings.offsets_retention_ms;
        let mut tombstones = Vec::new();
        let mut dead = Vec::new();
        for (id, g) in self.groups.iter_mut() {
            let empty = g.is(GroupState::Empty) && !g.is_consumer_protocol();
            if g.is_consumer_protocol() {
                continue;
            }
            let subscribed = if empty { None } else { g.subscribed_topics() };
            if !empty && subscribed.is_none() {
                continue;
            }
            let uses_group_management = g.protocol_type.is_some();
            let state_ts = g.state_timestamp_ms;
            g.offsets.retain(|(topic, partition), v| {
                let expired = match v.expire_timestamp_ms {
                    Some(at) => at <= now_ms,
                    None if empty && uses_group_management => state_ts + retention <= now_ms,
                    None if empty => v.commit_timestamp_ms + retention <= now_ms,
                    None => {
                        !subscribed.as_ref().is_some_and(|s| s.contains(topic))
                            && v.commit_timestamp_ms + retention <= now_ms
                    }
                };
                if expired {
                    tombstones.push((
                        StoreKey::Offset { group: id.clone(), topic: topic.clone(), partition: *partition },
                        None,
                    ));
                }
                !expired
            });
            if empty && g.offsets.is_empty() && g.has_no_members() {
                dead.push(id.clone());
            }
        }
        for id in dead {
            self.groups.remove(&id);
            tombstones.push((StoreKey::Group { group: id }, None));
        }
        if !tombstones.is_empty() {
            tracing::info!(records = tombstones.len(), "expired committed offsets and empty groups");
            if let Err(e) = self.store.write(&tombstones) {
                tracing::error!(error = %e, "could not store offset expiry");
            }
        }
    }

    // ---- Admin -----------------------------------------------------------------------------

    pub(crate) fn list(&self) -> Vec<ListedGroup> {
        let mut out: Vec<ListedGroup> = self
            .groups
            .values()
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state_name(),
                group_type: if g.is_consumer_protocol() { "consumer" } else { "classic" },
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    pub(crate) fn describe(&self, group_id: &str) -> Option<DescribedGroup> {
        let g = self.groups.get(group_id)?;
        let stable = g.is(GroupState::Stable);
        let protocol = g.protocol_name.clone().unwrap_or_default();
        let mut members: Vec<&Member> = g.members.values().collect();
        members.sort_by_key(|m| m.joined_seq);
        Some(DescribedGroup {
            state: g.state_name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable { protocol.clone() } else { String::new() },
            members: members
                .into_iter()
                .map(|m| DescribedMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable { m.metadata_for(&protocol) } else { Bytes::new() },
                    assignment: if stable { m.assignment.clone() } else { Bytes::new() },
                })
                .collect(),
        })
    }

    /// ConsumerGroupHeartbeat (KIP-848).
    pub(crate) fn consumer_heartbeat(
        &mut self,
        req: consumer_group::HeartbeatRequest,
    ) -> consumer_group::HeartbeatResponse {
        use consumer_group::HeartbeatResponse as R;
        if req.group_id.is_empty() {
            return R::error(E::InvalidGroupId, "the group id is empty");
        }
        let now = Instant::now();
        let settings = self.overrides.consumer_settings(&req.group_id, self.settings.consumer_group());
        let id = req.group_id.clone();
        let group = self.groups.entry(id.clone()).or_insert_with(|| Group::new(id.clone(), now_ms()));
        if !group.members.is_empty() || !group.pending_members.is_empty() {
            return R::error(E::GroupIdNotFound, format!("group {id} is a classic group with members"));
        }
        let response = group.consumer.heartbeat(req, settings, now);
        if group.consumer.members.is_empty() {
            group.state_timestamp_ms = now_ms();
        }
        self.reschedule(&id);
        response
    }

    /// ConsumerGroupDescribe: `None` for a group that is not a consumer-protocol group.
    pub(crate) fn describe_consumer_group(&self, group_id: &str) -> Option<&Group> {
        self.groups.get(group_id).filter(|g| g.is_consumer_protocol() || g.consumer.epoch > 0)
    }

    pub(crate) fn delete_group(&mut self, group_id: &str) -> i16 {
        let Some(g) = self.groups.get(group_id) else { return code(E::GroupIdNotFound) };
        if !g.is(GroupState::Empty) || !g.has_no_members() {
            return code(E::NonEmptyGroup);
        }
        let g = self.groups.remove(group_id).expect("present");
        let mut tombstones: Vec<(StoreKey, Option<StoreValue>)> = g
            .offsets
            .keys()
            .map(|(t, p)| (StoreKey::Offset { group: group_id.to_owned(), topic: t.clone(), partition: *p }, None))
            .collect();
        tombstones.push((StoreKey::Group { group: group_id.to_owned() }, None));
        match self.store.write(&tombstones) {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!(group = group_id, error = %e, "could not store group deletion");
                code(E::KafkaStorageError)
            }
        }
    }

    /// OffsetDelete: the group-level error, then one error per (topic, partition).
    pub(crate) fn delete_offsets(&mut self, group_id: &str, partitions: Vec<(String, i32)>) -> (i16, Vec<i16>) {
        let Some(g) = self.groups.get_mut(group_id) else { return (code(E::GroupIdNotFound), Vec::new()) };
        let subscribed = if g.is(GroupState::Empty) {
            Default::default()
        } else {
            match g.subscribed_topics() {
                Some(s) => s,
                None => return (code(E::NonEmptyGroup), Vec::new()),
            }
        };
        let mut results = Vec::with_capacity(partitions.len());
        let mut tombstones = Vec::new();
        for (topic, p) in partitions {
            if subscribed.contains(&topic) {
                results.push(code(E::GroupSubscribedToTopic));
                continue;
            }
            if g.offsets.remove(&(topic.clone(), p)).is_some() {
                tombstones.push((StoreKey::Offset { group: group_id.to_owned(), topic, partition: p }, None));
            }
            results.push(0);
        }
        if let Err(e) = self.store.write(&tombstones) {
            tracing::error!(group = group_id, error = %e, "could not store offset deletion");
            return (code(E::KafkaStorageError), results);
        }
        (0, results)
    }

    pub(crate) fn flush_if_due(&mut self, now_ms: i64) -> Result<()> {
        self.store.flush_if_due(now_ms)
    }

    pub(crate) fn close(&mut self) -> Result<()> {
        // Persist the members of stable groups, so they can carry on after a clean restart.
        let ids: Vec<String> =
            self.groups.iter().filter(|(_, g)| g.is(GroupState::Stable)).map(|(k, _)| k.clone()).collect();
        for id in ids {
            self.persist(&id);
        }
        self.store.close()
    }

    /// Removes a group created by a request that turned out invalid.
    fn drop_if_unused(&mut self, id: &str) {
        if self.groups.get(id).is_some_and(|g| g.has_no_members() && g.offsets.is_empty() && g.generation == 0) {
            self.groups.remove(id);
        }
    }
}

/// The member-level checks SyncGroup and Heartbeat share.
fn member_check(group: &Group, member_id: &str, instance_id: Option<&str>) -> Option<E> {
    if let Some(instance) = instance_id {
        if group.static_members.get(instance).is_some_and(|m| m != member_id) {
            return Some(E::FencedInstanceId);
        }
    }
    if !group.members.contains_key(member_id) {
        return Some(E::UnknownMemberId);
    }
    None
}

fn joined_members(group: &Group, protocol: &str) -> Vec<JoinedMember> {
    let mut members: Vec<&Member> = group.members.values().collect();
    members.sort_by_key(|m| m.joined_seq);
    members
        .into_iter()
        .map(|m| JoinedMember {
            member_id: m.id.clone(),
            instance_id: m.instance_id.clone(),
            metadata: m.metadata_for(protocol),
        })
        .collect()
}

fn session_timeout_of(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

fn session(req: &JoinRequest) -> Duration {
    session_timeout_of(req.session_timeout_ms)
}

fn rebalance(req: &JoinRequest) -> Duration {
    // JoinGroup v0 has no rebalance timeout: the session timeout stands in, as in Kafka.
    let ms = if req.rebalance_timeout_ms > 0 { req.rebalance_timeout_ms } else { req.session_timeout_ms };
    Duration::from_millis(ms.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coordinator(dir: &std::path::Path) -> Coordinator {
        let (store, recovered) = GroupStore::open(dir, &crate::log::LogConfig::default()).unwrap();
        Coordinator::new(GroupSettings::default(), store, recovered)
    }

    fn standalone_commit(c: &mut Coordinator, group: &str, offset: i64) -> Vec<i16> {
        c.commit(CommitRequest {
            group_id: group.into(),
            generation: -1,
            member_id: String::new(),
            instance_id: None,
            retention_ms: -1,
            offsets: vec![CommitOffset { topic: "t".into(), partition: 0, offset, leader_epoch: -1, metadata: None }],
        })
    }

    fn committed(c: &Coordinator, group: &str) -> Option<i64> {
        let fetched = c.fetch_offsets(group, Some(vec![("t".into(), vec![0])]));
        fetched[0].1[0].1.as_ref().map(|v| v.offset)
    }

    #[tokio::test]
    async fn offsets_expire_after_retention_and_the_expiry_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = coordinator(dir.path());
        assert_eq!(standalone_commit(&mut c, "old", 5), vec![0]);
        let now = now_ms();
        let retention = c.settings.offsets_retention_ms;

        c.expire_offsets(now + retention - 60_000);
        assert_eq!(committed(&c, "old"), Some(5), "kept within retention");
        c.expire_offsets(now + retention + 60_000);
        assert_eq!(committed(&c, "old"), None, "gone after retention");
        assert!(c.list().is_empty(), "an empty group without offsets is deleted");
        assert_eq!(standalone_commit(&mut c, "new", 8), vec![0]);
        c.close().unwrap();
        drop(c);

        let c = coordinator(dir.path());
        assert_eq!(committed(&c, "old"), None, "the expiry was stored");
        assert_eq!(committed(&c, "new"), Some(8));
    }
}
