//! Requests to a group coordinator that the consumer and the admin client both make:
//! finding it, committing offsets and reading them back.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::backoff::retry_until;
use crate::cluster::Cluster;
use crate::connection::BrokerConnection;
use crate::error::{Error, Result};
use crate::{TopicPartition, TopicPartitionOffset};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// Errors that mean "ask who the coordinator is again".
pub(crate) fn is_coordinator_error(e: E) -> bool {
    matches!(e, E::CoordinatorNotAvailable | E::NotCoordinator | E::CoordinatorLoadInProgress)
}

/// Who commits: a group member in its generation, or nobody (generation -1: a consumer that
/// assigns its partitions itself, or an admin).
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) generation: i32,
    pub(crate) instance_id: Option<String>,
}

impl Member {
    pub(crate) fn none() -> Member {
        Member { id: String::new(), generation: -1, instance_id: None }
    }
}

/// Finds the coordinator of `group` and opens a connection of its own to it. While the
/// cluster answers that the coordinator is not available yet (e.g. a fresh Kafka creating
/// its offsets topic), asks again, for up to `request.timeout.ms`.
pub(crate) async fn find(cluster: &Cluster, group: &str) -> Result<Arc<BrokerConnection>> {
    let deadline = tokio::time::Instant::now() + cluster.request_timeout();
    retry_until(deadline, cluster.retry_backoff(), moved, || find_once(cluster, group, KeyType::Group)).await
}

/// Which coordinator FindCoordinator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    Group = 0,
    Transaction = 1,
}

/// Finds the transaction coordinator of `transactional_id`, as [`find`] finds a group's.
pub(crate) async fn find_transaction(cluster: &Cluster, transactional_id: &str) -> Result<Arc<BrokerConnection>> {
    let deadline = tokio::time::Instant::now() + cluster.request_timeout();
    retry_until(deadline, cluster.retry_backoff(), moved, || find_once(cluster, transactional_id, KeyType::Transaction))
        .await
}

fn moved(e: &Error) -> bool {
    e.kafka_code().is_some_and(is_coordinator_error)
}

/// Runs `op` against the group's coordinator, finding it again (and retrying) when the
/// answer says the coordinator moved or is loading.
pub(crate) async fn with_retries<T, F, Fut>(cluster: &Cluster, group: &str, mut op: F) -> Result<T>
where
    F: FnMut(Arc<BrokerConnection>) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let deadline = tokio::time::Instant::now() + cluster.request_timeout();
    loop {
        let conn = find(cluster, group).await?;
        match op(conn).await {
            Err(e) if moved(&e) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(cluster.retry_backoff()).await
            }
            other => return other,
        }
    }
}

async fn find_once(cluster: &Cluster, group: &str, key_type: KeyType) -> Result<Arc<BrokerConnection>> {
    let conn = cluster.any_connection().await?;
    let version = conn.version_of::<FindCoordinatorRequest>()?;
    let req = if version >= 4 {
        FindCoordinatorRequest::default().with_key_type(key_type as i8).with_coordinator_keys(vec![s(group)])
    } else {
        FindCoordinatorRequest::default().with_key_type(key_type as i8).with_key(s(group))
    };
    let resp = conn.send(&req).await?;
    let (code, host, port) = match resp.coordinators.first() {
        Some(c) if version >= 4 => (c.error_code, c.host.to_string(), c.port),
        _ => (resp.error_code, resp.host.to_string(), resp.port),
    };
    if code != 0 {
        let what = if key_type == KeyType::Group { "group" } else { "transactional.id" };
        return Err(Error::from_code(code, None, format!("FindCoordinator for {what} {group}")));
    }
    cluster.dedicated_connection(&format!("{host}:{port}")).await
}

/// OffsetCommit of offsets (each the next offset to read); the first partition error wins.
pub(crate) async fn commit(
    conn: &BrokerConnection,
    group: &str,
    member: &Member,
    offsets: &[TopicPartitionOffset],
) -> Result<()> {
    let mut by_topic: BTreeMap<&str, Vec<offset_commit_request::OffsetCommitRequestPartition>> = BTreeMap::new();
    for o in offsets {
        by_topic.entry(o.topic()).or_default().push(
            offset_commit_request::OffsetCommitRequestPartition::default()
                .with_partition_index(o.partition())
                .with_committed_offset(o.offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(s(o.metadata.as_deref().unwrap_or("")))),
        );
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(member.generation)
        .with_member_id(s(&member.id))
        .with_group_instance_id(member.instance_id.as_deref().map(s))
        .with_retention_time_ms(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(TopicName(s(t)))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let resp = conn.send(&req).await?;
    for t in &resp.topics {
        for p in &t.partitions {
            if p.error_code != 0 {
                return Err(Error::from_code(
                    p.error_code,
                    None,
                    format!("OffsetCommit {}-{} for group {group}", t.name.0, p.partition_index),
                ));
            }
        }
    }
    Ok(())
}

/// OffsetFetch of `tps` (every committed partition when `None`): offset and metadata, or
/// `None` where nothing is committed. With `require_stable` (a read_committed consumer,
/// KIP-447) a partition whose offsets a transaction is still committing answers
/// UNSTABLE_OFFSET_COMMIT (retriable) instead of an offset the transaction may replace.
pub(crate) async fn fetch_offsets(
    conn: &BrokerConnection,
    group: &str,
    tps: Option<&[TopicPartition]>,
    require_stable: bool,
) -> Result<BTreeMap<TopicPartition, Option<(i64, String)>>> {
    let by_topic: Option<BTreeMap<&str, Vec<i32>>> = tps.map(|tps| {
        let mut by: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in tps {
            by.entry(tp.topic.as_str()).or_default().push(tp.partition);
        }
        by
    });
    let version = conn.version_of::<OffsetFetchRequest>()?;
    let stable = require_stable && version >= 7;
    let req = if version >= 8 {
        OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(GroupId(s(group))).with_topics(
                by_topic.as_ref().map(|by| {
                    by.iter()
                        .map(|(t, ps)| {
                            offset_fetch_request::OffsetFetchRequestTopics::default()
                                .with_name(TopicName(s(t)))
                                .with_partition_indexes(ps.clone())
                        })
                        .collect()
                }),
            ),
        ])
    } else {
        OffsetFetchRequest::default().with_group_id(GroupId(s(group))).with_topics(by_topic.as_ref().map(|by| {
            by.iter()
                .map(|(t, ps)| {
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(TopicName(s(t)))
                        .with_partition_indexes(ps.clone())
                })
                .collect()
        }))
    };
    let req = req.with_require_stable(stable);
    let resp = conn.send_at(&req, version).await?;
    let mut out = BTreeMap::new();
    let mut record = |topic: &str, p: i32, offset: i64, meta: Option<&StrBytes>, code: i16| -> Result<()> {
        if code != 0 {
            return Err(Error::from_code(code, None, format!("OffsetFetch {topic}-{p} for group {group}")));
        }
        let value = (offset >= 0).then(|| (offset, meta.map(|m| m.to_string()).unwrap_or_default()));
        out.insert(TopicPartition::new(topic, p), value);
        Ok(())
    };
    if version >= 8 {
        for g in &resp.groups {
            if g.error_code != 0 {
                return Err(Error::from_code(g.error_code, None, format!("OffsetFetch for group {group}")));
            }
            for t in &g.topics {
                for p in &t.partitions {
                    record(&t.name.0, p.partition_index, p.committed_offset, p.metadata.as_ref(), p.error_code)?;
                }
            }
        }
    } else {
        if resp.error_code != 0 {
            return Err(Error::from_code(resp.error_code, None, format!("OffsetFetch for group {group}")));
        }
        for t in &resp.topics {
            for p in &t.partitions {
                record(&t.name.0, p.partition_index, p.committed_offset, p.metadata.as_ref(), p.error_code)?;
            }
        }
    }
    Ok(out)
}
