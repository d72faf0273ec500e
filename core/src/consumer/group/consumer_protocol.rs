//! KIP-848 membership (`group.protocol=consumer`): the coordinator computes every member's
//! assignment; a member heartbeats its subscription and what it holds, and is told what to
//! hold. There is no join round and no group-wide barrier: a member gives up the partitions
//! its assignment no longer lists, says so in its next heartbeat, and only then do they go to
//! their new owner.
//!
//! Two owners, as in the classic protocol: the heartbeat task owns the conversation with the
//! coordinator (member id, epoch, interval); the poll path owns the partitions (callbacks,
//! commits before revoking, the fetcher). They meet in [`Exchange`]: the task leaves the
//! latest assignment there, the poll path leaves what it holds after reconciling and wakes
//! the task so the coordinator hears it at once rather than a heartbeat interval later.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::*;
use uuid::Uuid;

use super::{Group, GroupProtocol, Shared, s};
use crate::error::{Error, Result};

/// Partitions by topic id, as ConsumerGroupHeartbeat names them.
pub(crate) type IdPartitions = Vec<(Uuid, Vec<i32>)>;

/// Member epochs with a meaning of their own.
const JOINING: i32 = 0;
const LEAVING: i32 = -1;
/// A static member leaving for a while: the coordinator keeps its partitions for the session.
const LEAVING_STATIC: i32 = -2;

#[derive(Debug, Default)]
pub(crate) struct Exchange {
    /// Topic names subscribed to; `None` until the poll path first subscribes.
    subscription: Option<Vec<String>>,
    /// What the member holds, as reconciled by the poll path.
    owned: IdPartitions,
    /// An assignment the coordinator sent that the poll path has not taken yet.
    target: Option<IdPartitions>,
}

impl Group {
    fn exchange(&self) -> std::sync::MutexGuard<'_, Exchange> {
        self.shared.reconcile.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes to `topics` (joining at the next heartbeat, sent at once).
    pub(crate) fn subscribe_topics(&self, topics: Vec<String>) {
        self.shared.closed.store(false, Ordering::Release);
        self.exchange().subscription = Some(topics);
        self.ensure_heartbeat();
        self.shared.wake.notify_one();
    }

    /// The poll path has reported what it lost: the member may join again now.
    pub(crate) fn lost_released(&self) {
        self.shared.wake.notify_one();
    }

    /// The assignment the coordinator sent last, once.
    pub(crate) fn take_target(&self) -> Option<IdPartitions> {
        self.exchange().target.take()
    }

    /// What the member holds now; the coordinator hears it at once when it changed.
    pub(crate) fn report_owned(&self, mut owned: IdPartitions) {
        for (_, ps) in &mut owned {
            ps.sort_unstable();
        }
        owned.sort();
        let mut x = self.exchange();
        if x.owned != owned {
            x.owned = owned;
            drop(x);
            self.shared.wake.notify_one();
        }
    }
}

/// Leaves the group: epoch -1, or -2 for a static member (its partitions wait for it).
pub(super) async fn leave(group: &Group) -> Result<()> {
    let st = &group.shared.settings;
    let (member_id, epoch) = {
        let m = group.membership();
        (m.member_id.clone(), m.generation)
    };
    {
        let mut x = group.exchange();
        x.owned.clear();
        x.target = None;
    }
    if member_id.is_empty() || epoch <= JOINING {
        return Ok(());
    }
    let leaving = if st.instance_id.is_some() { LEAVING_STATIC } else { LEAVING };
    let coordinator = group.coordinator().await?;
    let req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(&st.group_id)))
        .with_member_id(s(&member_id))
        .with_member_epoch(leaving)
        .with_instance_id(st.instance_id.as_deref().map(s));
    let resp = coordinator.send(&req).await?;
    group.membership().generation = JOINING;
    match E::try_from_code(resp.error_code) {
        // Already gone from the coordinator's view: nothing left to leave.
        None | Some(E::UnknownMemberId | E::FencedMemberEpoch) => Ok(()),
        Some(code) => {
            Err(Error::kafka(code, resp.error_message.map(|m| m.to_string()), format!("leaving group {}", st.group_id)))
        }
    }
}

/// What one heartbeat's answer means for the loop.
enum Next {
    /// Heartbeat again after this long (or when woken).
    After(Duration),
    /// The group is closed to this member for good (the error is kept for `poll`).
    Stop,
}

/// Heartbeats while subscribed; joins with epoch 0, rejoins after being fenced (once the
/// poll path has let go of what it held), leaves when the application stops polling.
pub(super) async fn heartbeat_loop(sh: Arc<Shared>) {
    let group = Group { shared: Arc::clone(&sh), heartbeat: Arc::new(std::sync::Mutex::new(None)) };
    let st = &sh.settings;
    let max_poll = Duration::from_millis(st.max_poll_interval_ms as u64);
    let mut due = tokio::time::Instant::now();
    // What the coordinator asks for once it has answered.
    let mut interval = st.heartbeat_interval;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = sh.wake.notified() => {}
        }
        if sh.closed.load(Ordering::Acquire) {
            return;
        }
        let retry = tokio::time::Instant::now() + st.retry_backoff;
        // Fenced or left: the poll path reports the partitions lost before this member
        // joins again with nothing (it wakes this task when it has).
        if sh.lost.load(Ordering::Acquire) {
            due = retry;
            continue;
        }
        if sh.last_poll.lock().unwrap_or_else(|p| p.into_inner()).elapsed() > max_poll {
            if group.membership().generation > JOINING {
                tracing::warn!(group = %st.group_id, "max.poll.interval.ms exceeded: leaving the group");
                if let Err(e) = leave(&group).await {
                    tracing::debug!(group = %st.group_id, error = %e, "leaving after max.poll.interval.ms");
                }
                drop_membership(&group);
            }
            due = retry;
            continue;
        }
        due = match heartbeat_once(&group, &mut interval).await {
            Ok(Next::After(wait)) => tokio::time::Instant::now() + wait,
            Ok(Next::Stop) => return,
            Err(e) => {
                tracing::debug!(group = %st.group_id, error = %e, "heartbeat failed; finding the coordinator again");
                group.forget_coordinator();
                retry
            }
        };
    }
}

/// The partitions are gone with the membership: the poll path reports them lost, then the
/// member joins again (epoch 0, same member id, as KIP-848 asks).
fn drop_membership(group: &Group) {
    group.membership().generation = JOINING;
    {
        let mut x = group.exchange();
        x.target = None;
        x.owned.clear();
    }
    group.shared.lost.store(true, Ordering::Release);
}

async fn heartbeat_once(group: &Group, interval: &mut Duration) -> Result<Next> {
    let sh = &group.shared;
    let st = &sh.settings;
    let GroupProtocol::Consumer { remote_assignor } = &st.protocol else { return Ok(Next::Stop) };
    let coordinator = group.coordinator().await?;
    let version = match coordinator.version_of::<ConsumerGroupHeartbeatRequest>() {
        Ok(v) => v,
        Err(_) => {
            fatal(
                group,
                Error::Config {
                    key: "group.protocol".into(),
                    reason: format!(
                        "consumer needs ConsumerGroupHeartbeat (KIP-848, Kafka 4.0+), which broker {} does not offer: use group.protocol=classic",
                        coordinator.addr()
                    ),
                },
            );
            return Ok(Next::Stop);
        }
    };
    let (member_id, epoch) = {
        let mut m = group.membership();
        // From version 1 the member names itself, and keeps the name across rejoins.
        if m.member_id.is_empty() && version >= 1 {
            m.member_id = Uuid::new_v4().to_string();
        }
        (m.member_id.clone(), m.generation.max(JOINING))
    };
    let (subscription, owned) = {
        let x = group.exchange();
        (x.subscription.clone().unwrap_or_default(), x.owned.clone())
    };
    // Every heartbeat carries the full state (subscription, what is held): valid at any
    // epoch, and nothing to resend after an error.
    let req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(&st.group_id)))
        .with_member_id(s(&member_id))
        .with_member_epoch(epoch)
        .with_instance_id(st.instance_id.as_deref().map(s))
        .with_rebalance_timeout_ms(st.max_poll_interval_ms)
        .with_subscribed_topic_names(Some(subscription.iter().map(|t| TopicName(s(t))).collect()))
        .with_server_assignor(remote_assignor.as_deref().map(s))
        .with_topic_partitions(Some(
            owned
                .iter()
                .map(|(id, ps)| TopicPartitions::default().with_topic_id(*id).with_partitions(ps.clone()))
                .collect(),
        ));
    let resp = coordinator.send(&req).await?;
    let message = resp.error_message.as_ref().map(|m| m.to_string());
    let what = || format!("ConsumerGroupHeartbeat for group {}", st.group_id);
    match E::try_from_code(resp.error_code) {
        None => {}
        Some(code @ (E::FencedMemberEpoch | E::UnknownMemberId)) => {
            tracing::warn!(group = %st.group_id, ?code, message, "fenced by the coordinator: partitions lost, rejoining");
            if code == E::UnknownMemberId && version == 0 {
                group.membership().member_id.clear();
            }
            drop_membership(group);
            return Ok(Next::After(Duration::ZERO));
        }
        Some(c) if super::is_coordinator_error(c) => {
            group.forget_coordinator();
            return Ok(Next::After(st.retry_backoff));
        }
        Some(code @ (E::FencedInstanceId | E::UnreleasedInstanceId)) => {
            let reason =
                message.unwrap_or_else(|| format!("another consumer holds group.instance.id in group {}", st.group_id));
            fatal(group, Error::kafka(code, Some(reason), what()));
            return Ok(Next::Stop);
        }
        Some(code) if code.is_retriable() => {
            tracing::debug!(group = %st.group_id, ?code, message, "heartbeat refused for now");
            return Ok(Next::After(st.retry_backoff));
        }
        // UNSUPPORTED_ASSIGNOR, GROUP_ID_NOT_FOUND (a classic group of that name), INVALID_REQUEST,
        // GROUP_MAX_SIZE_REACHED, authorization: nothing a retry would change.
        Some(code) => {
            fatal(group, Error::kafka(code, message, what()));
            return Ok(Next::Stop);
        }
    }
    if resp.heartbeat_interval_ms > 0 {
        *interval = Duration::from_millis(resp.heartbeat_interval_ms as u64);
    }
    {
        let mut m = group.membership();
        if let Some(id) = resp.member_id.as_ref().filter(|id| !id.is_empty()) {
            m.member_id = id.to_string();
        }
        if m.generation != resp.member_epoch {
            tracing::debug!(group = %st.group_id, epoch = resp.member_epoch, "member epoch");
        }
        m.generation = resp.member_epoch;
    }
    if let Some(assignment) = resp.assignment {
        let target: IdPartitions =
            assignment.topic_partitions.into_iter().map(|t| (t.topic_id, t.partitions)).collect();
        tracing::debug!(group = %st.group_id, ?target, "assignment");
        group.exchange().target = Some(target);
    }
    Ok(Next::After(*interval))
}

fn fatal(group: &Group, e: Error) {
    tracing::error!(group = %group.shared.settings.group_id, error = %e, "the group membership ended");
    *group.shared.fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
}
