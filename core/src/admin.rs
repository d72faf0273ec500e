//! The admin client: topics, partitions, configs, the cluster, consumer groups and their
//! offsets, offsets by time, record deletion. Requests go where Kafka wants them: topic
//! changes to the controller, group requests to the group's coordinator, offsets and
//! deletions to each partition's leader, group listings to every broker.

mod acls;

pub use acls::{AclBinding, AclFilter, AclOperation, AclPermission, PatternType, ResourceType};

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::cluster::Cluster;
use crate::config::ClientConfig;
use crate::coordinator::{self, Member};
use crate::error::{Error, Result};
use crate::{TopicPartition, TopicPartitionOffset};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn check(code: i16, message: Option<&StrBytes>, context: impl Into<String>) -> Result<()> {
    if code == 0 { Ok(()) } else { Err(Error::from_code(code, message.map(|m| m.to_string()), context)) }
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    /// -1 for the broker's `num.partitions`.
    pub partitions: i32,
    /// -1 for the broker's default.
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    pub fn new(name: impl Into<String>, partitions: i32) -> NewTopic {
        NewTopic { name: name.into(), partitions, replication_factor: -1, configs: Vec::new() }
    }

    pub fn replication_factor(mut self, rf: i16) -> NewTopic {
        self.replication_factor = rf;
        self
    }

    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> NewTopic {
        self.configs.push((key.into(), value.into()));
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicListing {
    pub name: String,
    pub id: uuid::Uuid,
    pub partitions: i32,
    pub internal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: String,
    pub controller: i32,
    pub brokers: Vec<BrokerInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    /// Decoded from the consumer protocol; empty for other protocol types.
    pub assignment: Vec<TopicPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    /// The assignor in use, e.g. `range`.
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// Which offset `list_offsets` looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    /// The first offset whose timestamp is at or after this (ms since the epoch).
    Timestamp(i64),
}

/// One result per named item (topic or group), in request order.
pub type Results = Vec<(String, Result<()>)>;

/// Administration of a cluster. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Admin {
    cluster: Arc<Cluster>,
    timeout_ms: i32,
}

impl Admin {
    pub fn new(config: ClientConfig) -> Result<Admin> {
        Ok(Admin {
            cluster: Cluster::without_auto_create(&config)?,
            timeout_ms: config.int("request.timeout.ms") as i32,
        })
    }

    /// The controller (topic changes go there; in KRaft any broker forwards them).
    async fn controller(&self) -> Result<Arc<crate::connection::BrokerConnection>> {
        let conn = self.cluster.any_connection().await?;
        let resp = conn.send(&MetadataRequest::default().with_topics(Some(Vec::new()))).await?;
        if resp.controller_id.0 >= 0 {
            self.cluster.refresh(&[]).await.ok();
            if let Ok(c) = self.cluster.broker(resp.controller_id.0).await {
                return Ok(c);
            }
        }
        Ok(conn)
    }

    pub async fn create_topics(&self, topics: &[NewTopic]) -> Result<Results> {
        use create_topics_request::{CreatableTopic, CreatableTopicConfig};
        let conn = self.controller().await?;
        let req = CreateTopicsRequest::default().with_timeout_ms(self.timeout_ms).with_topics(
            topics
                .iter()
                .map(|t| {
                    CreatableTopic::default()
                        .with_name(TopicName(s(&t.name)))
                        .with_num_partitions(t.partitions)
                        .with_replication_factor(t.replication_factor)
                        .with_configs(
                            t.configs
                                .iter()
                                .map(|(k, v)| CreatableTopicConfig::default().with_name(s(k)).with_value(Some(s(v))))
                                .collect(),
                        )
                })
                .collect(),
        );
        let resp = conn.send(&req).await?;
        let mut out: Results = Vec::new();
        for t in topics {
            let r = resp.topics.iter().find(|r| r.name.0.as_str() == t.name);
            let result = match r {
                Some(r) => check(r.error_code, r.error_message.as_ref(), format!("creating topic {}", t.name)),
                None => Err(Error::Protocol {
                    broker: conn.addr().to_owned(),
                    reason: format!("no result for topic {}", t.name),
                }),
            };
            if result.is_ok() {
                self.cluster.invalidate(&t.name);
            }
            out.push((t.name.clone(), result));
        }
        Ok(out)
    }

    pub async fn delete_topics(&self, names: &[&str]) -> Result<Results> {
        let conn = self.controller().await?;
        let version = conn.version_of::<DeleteTopicsRequest>()?;
        let req = if version >= 6 {
            DeleteTopicsRequest::default().with_timeout_ms(self.timeout_ms).with_topics(
                names
                    .iter()
                    .map(|n| delete_topics_request::DeleteTopicState::default().with_name(Some(TopicName(s(n)))))
                    .collect(),
            )
        } else {
            DeleteTopicsRequest::default()
                .with_timeout_ms(self.timeout_ms)
                .with_topic_names(names.iter().map(|n| TopicName(s(n))).collect())
        };
        let resp = conn.send(&req).await?;
        Ok(names
            .iter()
            .map(|n| {
                self.cluster.invalidate(n);
                let r = resp.responses.iter().find(|r| r.name.as_ref().is_some_and(|x| x.0.as_str() == *n));
                let result = match r {
                    Some(r) => check(r.error_code, r.error_message.as_ref(), format!("deleting topic {n}")),
                    None => Err(Error::Protocol {
                        broker: conn.addr().to_owned(),
                        reason: format!("no result for topic {n}"),
                    }),
                };
                (n.to_string(), result)
            })
            .collect())
    }

    /// Grows topics to the given partition counts.
    pub async fn create_partitions(&self, counts: &[(&str, i32)]) -> Result<Results> {
        let conn = self.controller().await?;
        let req = CreatePartitionsRequest::default().with_timeout_ms(self.timeout_ms).with_topics(
            counts
                .iter()
                .map(|(t, n)| {
                    create_partitions_request::CreatePartitionsTopic::default()
                        .with_name(TopicName(s(t)))
                        .with_count(*n)
                        .with_assignments(None)
                })
                .collect(),
        );
        let resp = conn.send(&req).await?;
        Ok(counts
            .iter()
            .map(|(t, _)| {
                self.cluster.invalidate(t);
                let r = resp.results.iter().find(|r| r.name.0.as_str() == *t);
                let result = match r {
                    Some(r) => check(r.error_code, r.error_message.as_ref(), format!("adding partitions to {t}")),
                    None => Err(Error::Protocol {
                        broker: conn.addr().to_owned(),
                        reason: format!("no result for topic {t}"),
                    }),
                };
                (t.to_string(), result)
            })
            .collect())
    }

    /// Every topic, sorted by name.
    pub async fn list_topics(&self) -> Result<Vec<TopicListing>> {
        let conn = self.cluster.any_connection().await?;
        let resp =
            conn.send(&MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false)).await?;
        let mut out: Vec<TopicListing> = resp
            .topics
            .iter()
            .filter(|t| t.error_code == 0)
            .filter_map(|t| {
                Some(TopicListing {
                    name: t.name.as_ref()?.0.to_string(),
                    id: t.topic_id,
                    partitions: t.partitions.len() as i32,
                    internal: t.is_internal,
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let conn = self.cluster.any_connection().await?;
        let resp = conn.send(&MetadataRequest::default().with_topics(Some(Vec::new()))).await?;
        let mut brokers: Vec<BrokerInfo> = resp
            .brokers
            .iter()
            .map(|b| BrokerInfo { id: b.node_id.0, host: b.host.to_string(), port: b.port })
            .collect();
        brokers.sort_by_key(|b| b.id);
        Ok(ClusterDescription {
            cluster_id: resp.cluster_id.map(|c| c.to_string()).unwrap_or_default(),
            controller: resp.controller_id.0,
            brokers,
        })
    }

    /// A topic's effective configs, `(name, value)` sorted by name.
    pub async fn describe_topic_configs(&self, topic: &str) -> Result<Vec<(String, String)>> {
        const TOPIC: i8 = 2;
        let conn = self.cluster.any_connection().await?;
        let req = DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(s(topic))
                .with_configuration_keys(None),
        ]);
        let resp = conn.send(&req).await?;
        let r = resp.results.first().ok_or_else(|| Error::Protocol {
            broker: conn.addr().to_owned(),
            reason: "empty DescribeConfigs".into(),
        })?;
        check(r.error_code, r.error_message.as_ref(), format!("describing configs of {topic}"))?;
        let mut out: Vec<(String, String)> = r
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string()).unwrap_or_default()))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Sets (`Some`) or resets to the default (`None`) topic configs (IncrementalAlterConfigs).
    pub async fn alter_topic_configs(&self, topic: &str, changes: &[(&str, Option<&str>)]) -> Result<()> {
        use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
        const TOPIC: i8 = 2;
        let conn = self.controller().await?;
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default().with_resource_type(TOPIC).with_resource_name(s(topic)).with_configs(
                changes
                    .iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(s(k))
                            .with_config_operation(if v.is_some() { 0 } else { 1 })
                            .with_value(v.map(s))
                    })
                    .collect(),
            ),
        ]);
        let resp = conn.send(&req).await?;
        for r in &resp.responses {
            check(r.error_code, r.error_message.as_ref(), format!("altering configs of {topic}"))?;
        }
        Ok(())
    }

    /// Groups known to every broker, sorted by id.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>> {
        self.cluster.refresh(&[]).await?;
        let conn = self.cluster.any_connection().await?;
        let resp = conn.send(&MetadataRequest::default().with_topics(Some(Vec::new()))).await?;
        let mut out = Vec::new();
        for b in &resp.brokers {
            let broker = self.cluster.broker(b.node_id.0).await?;
            let listed = broker.send(&ListGroupsRequest::default()).await?;
            check(listed.error_code, None, format!("ListGroups on broker {}", b.node_id.0))?;
            out.extend(listed.groups.iter().map(|g| GroupListing {
                group_id: g.group_id.0.to_string(),
                protocol_type: g.protocol_type.to_string(),
                state: g.group_state.to_string(),
            }));
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(out)
    }

    pub async fn describe_groups(&self, groups: &[&str]) -> Result<Vec<GroupDescription>> {
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let conn = coordinator::find(&self.cluster, group).await?;
            let resp = conn.send(&DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))])).await?;
            let g = resp.groups.first().ok_or_else(|| Error::Protocol {
                broker: conn.addr().to_owned(),
                reason: "empty DescribeGroups".into(),
            })?;
            check(g.error_code, g.error_message.as_ref(), format!("describing group {group}"))?;
            let consumer = g.protocol_type.as_str() == "consumer";
            out.push(GroupDescription {
                group_id: group.to_string(),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
                protocol: g.protocol_data.to_string(),
                members: g
                    .members
                    .iter()
                    .map(|m| MemberDescription {
                        member_id: m.member_id.to_string(),
                        instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                        client_id: m.client_id.to_string(),
                        host: m.client_host.to_string(),
                        assignment: if consumer {
                            crate::consumer::decode_assignment(m.member_assignment.clone()).unwrap_or_default()
                        } else {
                            Vec::new()
                        },
                    })
                    .collect(),
            });
        }
        Ok(out)
    }

    pub async fn delete_groups(&self, groups: &[&str]) -> Result<Results> {
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let conn = coordinator::find(&self.cluster, group).await?;
            let resp = conn.send(&DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(group))])).await?;
            let code = resp.results.first().map_or(E::UnknownServerError.code(), |r| r.error_code);
            out.push((group.to_string(), check(code, None, format!("deleting group {group}"))));
        }
        Ok(out)
    }

    /// Every committed offset of a group, sorted; metadata `None` where it is empty.
    pub async fn list_group_offsets(&self, group: &str) -> Result<Vec<TopicPartitionOffset>> {
        let offsets = coordinator::with_retries(&self.cluster, group, |conn| async move {
            coordinator::fetch_offsets(&conn, group, None, false).await
        })
        .await?;
        Ok(offsets
            .into_iter()
            .filter_map(|(tp, v)| {
                v.map(|(o, m)| TopicPartitionOffset {
                    metadata: Some(m).filter(|m| !m.is_empty()),
                    ..tp.with_offset(o)
                })
            })
            .collect())
    }

    /// Sets a group's committed offsets (each the next offset to read, with its metadata).
    /// The group must have no active members, as in Kafka.
    pub async fn alter_group_offsets(&self, group: &str, offsets: &[TopicPartitionOffset]) -> Result<()> {
        coordinator::with_retries(&self.cluster, group, |conn| async move {
            coordinator::commit(&conn, group, &Member::none(), offsets).await
        })
        .await
    }

    /// Moves a group's offsets on every partition of `topic` to `to` (earliest, latest or a
    /// time); returns what was committed.
    pub async fn reset_group_offsets(
        &self,
        group: &str,
        topic: &str,
        to: OffsetSpec,
    ) -> Result<Vec<TopicPartitionOffset>> {
        let meta = self.cluster.topic(topic).await?;
        let tps: Vec<TopicPartition> = (0..meta.leaders.len() as i32).map(|p| TopicPartition::new(topic, p)).collect();
        let offsets: Vec<TopicPartitionOffset> =
            self.list_offsets(&tps, to).await?.into_iter().map(|(tp, o)| tp.with_offset(o)).collect();
        self.alter_group_offsets(group, &offsets).await?;
        Ok(offsets)
    }

    /// Offsets of partitions by `spec`. For a timestamp with no record at or after it, the
    /// log end offset, as consumers seeking by time expect.
    pub async fn list_offsets(&self, tps: &[TopicPartition], spec: OffsetSpec) -> Result<Vec<(TopicPartition, i64)>> {
        let timestamp = match spec {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(t) => t,
        };
        let mut out = Vec::with_capacity(tps.len());
        for tp in tps {
            let mut offset = self.list_offset(&tp.topic, tp.partition, timestamp).await?;
            if offset < 0 {
                offset = self.list_offset(&tp.topic, tp.partition, -1).await?;
            }
            out.push((tp.clone(), offset));
        }
        Ok(out)
    }

    async fn list_offset(&self, topic: &str, partition: i32, timestamp: i64) -> Result<i64> {
        use list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
        let (_, conn) = self.cluster.leader(topic, partition).await?;
        let req = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
            ListOffsetsTopic::default().with_name(TopicName(s(topic))).with_partitions(vec![
                ListOffsetsPartition::default().with_partition_index(partition).with_timestamp(timestamp),
            ]),
        ]);
        let resp = conn.send(&req).await?;
        let p = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| Error::Protocol { broker: conn.addr().to_owned(), reason: "empty ListOffsets".into() })?;
        check(p.error_code, None, format!("ListOffsets {topic}-{partition}"))?;
        Ok(p.offset)
    }

    /// Deletes records below each offset; returns each partition's new log start.
    pub async fn delete_records(&self, before: &[(TopicPartition, i64)]) -> Result<Vec<(TopicPartition, i64)>> {
        use delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
        let mut out = Vec::with_capacity(before.len());
        for (tp, offset) in before {
            let (topic, partition) = (&tp.topic, tp.partition);
            let (_, conn) = self.cluster.leader(topic, partition).await?;
            let req = DeleteRecordsRequest::default().with_timeout_ms(self.timeout_ms).with_topics(vec![
                DeleteRecordsTopic::default().with_name(TopicName(s(topic))).with_partitions(vec![
                    DeleteRecordsPartition::default().with_partition_index(partition).with_offset(*offset),
                ]),
            ]);
            let resp = conn.send(&req).await?;
            let p = resp.topics.first().and_then(|t| t.partitions.first()).ok_or_else(|| Error::Protocol {
                broker: conn.addr().to_owned(),
                reason: "empty DeleteRecords".into(),
            })?;
            check(p.error_code, None, format!("DeleteRecords {topic}-{partition}"))?;
            out.push((tp.clone(), p.low_watermark));
        }
        Ok(out)
    }

    /// Waits until metadata shows `topic` with all its partitions led, e.g. after creating it.
    pub async fn wait_for_topic(&self, topic: &str, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.cluster.invalidate(topic);
            if let Ok(meta) = self.cluster.topic(topic).await {
                if !meta.leaders.is_empty() && meta.leaders.iter().all(|l| *l >= 0) {
                    // Kafka names a leader a moment before it serves the partition: ready
                    // when every partition answers ListOffsets.
                    let mut serving = true;
                    for p in 0..meta.leaders.len() as i32 {
                        if self.list_offset(topic, p, -1).await.is_err() {
                            serving = false;
                            break;
                        }
                    }
                    if serving {
                        return Ok(());
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("topic {topic} to be ready"),
                    ms: timeout.as_millis() as u64,
                });
            }
            tokio::time::sleep(self.cluster.retry_backoff()).await;
        }
    }
}
