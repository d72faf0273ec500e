//! The group coordinator: classic consumer-group membership (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup) and committed offsets, stored durably.
//!
//! All group state is owned by one task. Request handlers send it closures over a channel
//! and await the answer; JoinGroup and SyncGroup hand it a reply channel that is completed
//! when the rebalance gets that far. Timers (sessions, rebalance and initial delays) run in
//! the same task, so there is no lock and no race between a heartbeat and its expiry.

mod consumer_group;
mod coordinator;
mod state;
mod store;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::time::{Duration, Instant};

use crate::error::Result;
use crate::log::LogConfig;
pub(crate) use consumer_group::{HeartbeatRequest as ConsumerHeartbeat, TopicInfo};
pub(crate) use coordinator::Coordinator;
use store::GroupStore;
pub(crate) use store::OffsetValue;

/// Coordinator settings, under Kafka's names in [`crate::BrokerConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSettings {
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `group.max.size`.
    pub max_size: usize,
    /// `offsets.retention.minutes`, in ms.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`.
    pub offsets_retention_check_interval_ms: u64,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
    /// `group.consumer.session.timeout.ms` (KIP-848 groups).
    pub consumer_session_timeout_ms: u64,
    /// `group.consumer.heartbeat.interval.ms` (KIP-848 groups).
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.min.session.timeout.ms`: the shortest a group's own
    /// `consumer.session.timeout.ms` may be.
    pub consumer_min_session_timeout_ms: i32,
    /// `group.consumer.max.session.timeout.ms`.
    pub consumer_max_session_timeout_ms: i32,
    /// `group.consumer.min.heartbeat.interval.ms`: the shortest a group's own
    /// `consumer.heartbeat.interval.ms` may be.
    pub consumer_min_heartbeat_interval_ms: i32,
    /// `group.consumer.max.heartbeat.interval.ms`.
    pub consumer_max_heartbeat_interval_ms: i32,
}

impl GroupSettings {
    pub(crate) fn consumer_group(&self) -> consumer_group::ConsumerGroupSettings {
        consumer_group::ConsumerGroupSettings {
            session_timeout: Duration::from_millis(self.consumer_session_timeout_ms),
            heartbeat_interval_ms: self.consumer_heartbeat_interval_ms,
        }
    }

    /// The bounds of a group's `consumer.session.timeout.ms`. Kafka refuses to start when
    /// `group.consumer.session.timeout.ms` lies outside them; here they widen to take it in,
    /// so a broker configured with a short session (tests) needs no min setting too.
    pub(crate) fn consumer_session_timeout_bounds(&self) -> (i64, i64) {
        let own = self.consumer_session_timeout_ms.min(i64::MAX as u64) as i64;
        (
            i64::from(self.consumer_min_session_timeout_ms).min(own),
            i64::from(self.consumer_max_session_timeout_ms).max(own),
        )
    }

    /// The bounds of a group's `consumer.heartbeat.interval.ms`, widened likewise.
    pub(crate) fn consumer_heartbeat_interval_bounds(&self) -> (i64, i64) {
        let own = i64::from(self.consumer_heartbeat_interval_ms);
        (
            i64::from(self.consumer_min_heartbeat_interval_ms).min(own),
            i64::from(self.consumer_max_heartbeat_interval_ms).max(own),
        )
    }
}

/// Per-group settings (GROUP config resources, KIP-848): what a group's own
/// `consumer.session.timeout.ms` and `consumer.heartbeat.interval.ms` are, when set. Shared
/// between the dynamic config store, which replaces it on every change, and the coordinator,
/// which reads it at each ConsumerGroupHeartbeat.
#[derive(Debug, Default)]
pub(crate) struct GroupConfigOverrides(std::sync::RwLock<HashMap<String, ConsumerOverride>>);

/// One group's overrides; `None` takes the broker's setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ConsumerOverride {
    pub(crate) session_timeout_ms: Option<i32>,
    pub(crate) heartbeat_interval_ms: Option<i32>,
}

impl GroupConfigOverrides {
    pub(crate) fn replace(&self, all: HashMap<String, ConsumerOverride>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = all;
    }

    /// `base` (the broker's settings) with group `id`'s overrides.
    pub(crate) fn consumer_settings(
        &self,
        id: &str,
        base: consumer_group::ConsumerGroupSettings,
    ) -> consumer_group::ConsumerGroupSettings {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        let Some(o) = map.get(id) else { return base };
        consumer_group::ConsumerGroupSettings {
            session_timeout: o
                .session_timeout_ms
                .map_or(base.session_timeout, |ms| Duration::from_millis(ms.max(0) as u64)),
            heartbeat_interval_ms: o.heartbeat_interval_ms.unwrap_or(base.heartbeat_interval_ms),
        }
    }
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings {
            initial_rebalance_delay_ms: 0,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            max_size: i32::MAX as usize,
            offsets_retention_ms: 7 * 24 * 3600 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_min_session_timeout_ms: 45_000,
            consumer_max_session_timeout_ms: 60_000,
            consumer_min_heartbeat_interval_ms: 5_000,
            consumer_max_heartbeat_interval_ms: 15_000,
        }
    }
}

#[derive(Debug)]
pub(crate) struct JoinRequest {
    pub(crate) group_id: String,
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout_ms: i32,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a member without an id is first given one (KIP-394).
    pub(crate) require_known_member_id: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct JoinedMember {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) metadata: Bytes,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct JoinResponse {
    pub(crate) error: i16,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: String,
    pub(crate) member_id: String,
    pub(crate) members: Vec<JoinedMember>,
    pub(crate) skip_assignment: bool,
}

#[derive(Debug)]
pub(crate) struct SyncRequest {
    pub(crate) group_id: String,
    pub(crate) generation: i32,
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SyncResponse {
    pub(crate) error: i16,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) assignment: Bytes,
}

impl SyncResponse {
    pub(crate) fn error(e: kafka_protocol::ResponseError) -> SyncResponse {
        SyncResponse { error: e.code(), ..Default::default() }
    }

    pub(crate) fn ok(protocol_type: Option<String>, protocol_name: Option<String>, assignment: Bytes) -> SyncResponse {
        SyncResponse { error: 0, protocol_type, protocol_name, assignment }
    }
}

#[derive(Debug)]
pub(crate) struct CommitOffset {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: Option<String>,
}

#[derive(Debug)]
pub(crate) struct CommitRequest {
    pub(crate) group_id: String,
    pub(crate) generation: i32,
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    /// OffsetCommit v2-4 `retention_time_ms`; -1 for the broker's retention.
    pub(crate) retention_ms: i64,
    pub(crate) offsets: Vec<CommitOffset>,
}

/// Per topic, per partition: the committed offset, if any.
pub(crate) type FetchedOffsets = Vec<(String, Vec<(i32, Option<OffsetValue>)>)>;

#[derive(Debug, Clone)]
pub(crate) struct ListedGroup {
    pub(crate) group_id: String,
    pub(crate) protocol_type: String,
    pub(crate) state: &'static str,
    /// `classic` or `consumer` (KIP-848).
    pub(crate) group_type: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct DescribedGroup {
    pub(crate) state: &'static str,
    pub(crate) protocol_type: String,
    pub(crate) protocol: String,
    pub(crate) members: Vec<DescribedMember>,
}

#[derive(Debug, Clone)]
pub(crate) struct DescribedMember {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) metadata: Bytes,
    pub(crate) assignment: Bytes,
}

use crate::mailbox::{Job, Mailbox};

/// A cheap handle to the coordinator task.
pub(crate) type GroupCoordinator = Mailbox<Coordinator>;

/// Opens the durable store (replaying it) and returns the handle and the task to spawn.
pub(crate) fn open(
    data_dir: &Path,
    log_defaults: &LogConfig,
    settings: GroupSettings,
    overrides: Arc<GroupConfigOverrides>,
) -> Result<(GroupCoordinator, CoordinatorTask)> {
    let (store, recovered) = GroupStore::open(data_dir, log_defaults)?;
    let groups = recovered.groups.len();
    let mut coordinator = Coordinator::new(settings, store, recovered);
    coordinator.overrides = overrides;
    tracing::debug!(groups, "group coordinator loaded");
    let (handle, jobs) = Mailbox::new();
    Ok((handle, CoordinatorTask { coordinator, jobs }))
}

/// The task owning all group state.
#[derive(Debug)]
pub(crate) struct CoordinatorTask {
    coordinator: Coordinator,
    jobs: mpsc::Receiver<Job<Coordinator>>,
}

impl CoordinatorTask {
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>, flush_every: Duration) {
        let c = &mut self.coordinator;
        let mut flush_tick = tokio::time::interval(flush_every);
        flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut expiry_tick =
            tokio::time::interval(Duration::from_millis(c.settings.offsets_retention_check_interval_ms.max(1)));
        expiry_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let far = Duration::from_secs(3600);
        loop {
            let next = c.next_timer().unwrap_or_else(|| Instant::now() + far);
            tokio::select! {
                _ = crate::server::stopped(&mut shutdown) => break,
                job = self.jobs.recv() => match job {
                    Some(job) => crate::mailbox::run(job, c, "group coordinator"),
                    None => break,
                },
                _ = tokio::time::sleep_until(next) => c.fire_timers(Instant::now()),
                _ = flush_tick.tick() => {
                    if let Err(e) = c.flush_if_due(crate::log::now_ms()) {
                        tracing::warn!(error = %e, "flushing the group coordinator log failed");
                    }
                }
                _ = expiry_tick.tick() => c.expire_offsets(crate::log::now_ms()),
            }
        }
        // Pending joins and syncs are answered by their dropped reply channels.
        self.jobs.close();
        if let Err(e) = c.close() {
            tracing::error!(error = %e, "flushing the group coordinator log at shutdown failed; the next start recovers it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::CoordinatorGone;

    #[tokio::test]
    async fn a_panicking_request_does_not_stop_the_coordinator() {
        let dir = tempfile::tempdir().unwrap();
        let (handle, task) = open(dir.path(), &LogConfig::default(), GroupSettings::default(), Arc::default()).unwrap();
        let (stop, shutdown) = watch::channel(false);
        let running = tokio::spawn(task.run(shutdown, Duration::from_secs(1)));
        let failed: Result<(), CoordinatorGone> = handle.call(|_| panic!("a bug in one request")).await;
        assert!(failed.is_err(), "the panicking request gets no answer");
        assert_eq!(handle.call(|_| 7).await.ok(), Some(7), "the next request is served");
        stop.send(true).unwrap();
        running.await.unwrap();
    }
}
