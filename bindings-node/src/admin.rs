//! `kafka.admin()`: kafkajs's admin methods over the core's `Admin`. Offsets are strings, as
//! in kafkajs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferrokafka::TopicPartition;
use ferrokafka::admin::{NewTopic, OffsetSpec};
use napi::Env;
use napi::bindgen_prelude::{AsyncBlock, Function};
use napi_derive::napi;

use crate::callbacks::JsFn;
use crate::config::{RetryOptions, Settings};
use crate::errors::{Error, Result, promise};
use crate::events::{ClientEvents, Emitter};

/// `kafka.admin(config)`.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct AdminConfig {
    pub retry: Option<RetryOptions>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    pub name: String,
    pub value: String,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct TopicConfig {
    pub topic: String,
    /// Default: the broker's `num.partitions`.
    pub num_partitions: Option<i32>,
    /// Default: the broker's.
    pub replication_factor: Option<i32>,
    /// Not supported by the core: any value is refused.
    #[napi(ts_type = "object[]")]
    pub replica_assignment: Option<serde_json::Value>,
    pub config_entries: Option<Vec<ConfigEntry>>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct CreateTopicsOptions {
    pub topics: Vec<TopicConfig>,
    /// Not supported by the core: `true` is refused.
    pub validate_only: Option<bool>,
    /// Wait until every new partition has a leader (default true).
    pub wait_for_leaders: Option<bool>,
    pub timeout: Option<u32>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct DeleteTopicsOptions {
    pub topics: Vec<String>,
    pub timeout: Option<u32>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct TopicPartitionsCount {
    pub topic: String,
    pub count: i32,
    /// Not supported by the core: any value is refused.
    #[napi(ts_type = "number[][]")]
    pub assignments: Option<serde_json::Value>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct CreatePartitionsOptions {
    pub topic_partitions: Vec<TopicPartitionsCount>,
    /// Not supported by the core: `true` is refused.
    pub validate_only: Option<bool>,
    pub timeout: Option<u32>,
}

#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct FetchTopicMetadataOptions {
    /// Default: every topic.
    pub topics: Option<Vec<String>>,
}

/// A partition in `fetchTopicMetadata`. The core's admin client does not report leaders or
/// replicas: `leader` is -1 and the replica lists are empty.
#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct PartitionMetadataOut {
    pub partition_error_code: i32,
    pub partition_id: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
}

#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct TopicMetadata {
    pub name: String,
    pub partitions: Vec<PartitionMetadataOut>,
}

#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct TopicsMetadata {
    pub topics: Vec<TopicMetadata>,
}

#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct TopicOffsets {
    pub partition: i32,
    /// The same as `high`.
    pub offset: String,
    pub high: String,
    pub low: String,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct PartitionOffset {
    pub partition: i32,
    pub offset: String,
}

#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct BrokerDescription {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct ClusterDescription {
    pub brokers: Vec<BrokerDescription>,
    pub controller: Option<i32>,
    pub cluster_id: String,
}

#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct GroupOverview {
    pub group_id: String,
    pub protocol_type: String,
}

#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct GroupOverviews {
    pub groups: Vec<GroupOverview>,
}

#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct TopicPartitions {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// A member in `describeGroups`. kafkajs gives `memberMetadata`/`memberAssignment` as raw
/// bytes to decode; the core decodes the assignment, given here as `assignment`.
#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    pub group_instance_id: Option<String>,
    pub assignment: Vec<TopicPartitions>,
}

#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub error_code: i32,
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct GroupDescriptions {
    pub groups: Vec<GroupDescription>,
}

#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct DeleteGroupResult {
    pub group_id: String,
    pub error_code: i32,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct FetchOffsetsOptions {
    pub group_id: String,
    /// Default: every topic the group has offsets for.
    pub topics: Option<Vec<String>>,
    /// Accepted for kafkajs compatibility: offsets reset by this client are already resolved.
    pub resolve_offsets: Option<bool>,
}

#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct PartitionCommitted {
    pub partition: i32,
    /// `-1` where the group has no offset.
    pub offset: String,
    pub metadata: Option<String>,
}

#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct TopicCommitted {
    pub topic: String,
    pub partitions: Vec<PartitionCommitted>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct ResetOffsetsOptions {
    pub group_id: String,
    pub topic: String,
    /// To the earliest offsets; default: the latest.
    pub earliest: Option<bool>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct SetOffsetsOptions {
    pub group_id: String,
    pub topic: String,
    pub partitions: Vec<PartitionOffset>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct DeleteTopicRecordsOptions {
    pub topic: String,
    /// Records before `offset` are deleted; `-1` deletes all.
    pub partitions: Vec<PartitionOffset>,
}

#[napi]
pub struct Admin {
    settings: Settings,
    events: Arc<Emitter>,
    /// The core client, made by the first call and kept until `disconnect`: its connections
    /// (and their TLS handshakes and SASL authentications) serve every call in between.
    core: Arc<std::sync::Mutex<Option<ferrokafka::Admin>>>,
}

fn offset_of(s: &str) -> Result<i64> {
    s.trim().parse().map_err(|_| Error::invalid(format!("offset: {s:?} is not an integer")))
}

/// The core's admin client, made where it runs (it connects lazily, on the runtime).
fn core(settings: &Settings) -> Result<ferrokafka::Admin> {
    Ok(ferrokafka::Admin::new(settings.client_config()?)?)
}

/// Partition count of each topic, by name.
async fn partition_counts(admin: &ferrokafka::Admin) -> Result<HashMap<String, i32>> {
    Ok(admin.list_topics().await?.into_iter().map(|t| (t.name, t.partitions)).collect())
}

async fn partitions_of(admin: &ferrokafka::Admin, topic: &str) -> Result<i32> {
    partition_counts(admin)
        .await?
        .get(topic)
        .copied()
        .ok_or_else(|| Error::Core(ferrokafka::Error::UnknownTopicOrPartition(topic.to_owned())))
}

/// Fails with the first item's error, as kafkajs throws for a failed item.
fn first_error(results: ferrokafka::admin::Results) -> Result<()> {
    for (_, r) in results {
        r?;
    }
    Ok(())
}

impl Admin {
    pub(crate) fn create(mut settings: Settings, config: AdminConfig) -> Result<Admin> {
        settings.retry(config.retry.as_ref());
        settings.client_config()?;
        Ok(Admin { settings, events: Arc::new(Emitter::client("admin")), core: Arc::default() })
    }

    /// Runs `work` with a core admin client, as a promise.
    fn run<T, F, Fut>(&self, env: &Env, work: F) -> napi::Result<AsyncBlock<T>>
    where
        T: napi::bindgen_prelude::ToNapiValue + Send + 'static,
        F: FnOnce(ferrokafka::Admin) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        let (settings, slot) = (self.settings.clone(), Arc::clone(&self.core));
        promise(env, async move {
            let admin = {
                let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
                match slot.as_ref() {
                    Some(admin) => admin.clone(),
                    None => slot.insert(core(&settings)?).clone(),
                }
            };
            work(admin).await
        })
    }
}

#[napi]
impl Admin {
    /// Checks that a broker answers.
    #[napi(catch_unwind)]
    pub fn connect(&self, env: Env) -> napi::Result<AsyncBlock<()>> {
        let events = Arc::clone(&self.events);
        self.run(&env, |admin| async move {
            admin.describe_cluster().await?;
            events.emit(&ClientEvents::of("admin").connect, serde_json::Value::Null);
            Ok(())
        })
    }

    #[napi(catch_unwind)]
    pub fn disconnect(&self, env: Env) -> napi::Result<AsyncBlock<()>> {
        let events = Arc::clone(&self.events);
        // Calls still running keep their clone; the next call after this connects afresh.
        self.core.lock().unwrap_or_else(|p| p.into_inner()).take();
        promise(&env, async move {
            events.emit(&ClientEvents::of("admin").disconnect, serde_json::Value::Null);
            Ok(())
        })
    }

    /// Every topic name.
    #[napi(catch_unwind)]
    pub fn list_topics(&self, env: Env) -> napi::Result<AsyncBlock<Vec<String>>> {
        self.run(&env, |admin| async move { Ok(admin.list_topics().await?.into_iter().map(|t| t.name).collect()) })
    }

    /// Resolves to `true` when every topic was created, `false` when some already existed;
    /// any other failure rejects.
    #[napi(catch_unwind)]
    pub fn create_topics(&self, env: Env, options: CreateTopicsOptions) -> napi::Result<AsyncBlock<bool>> {
        let checked = (|| {
            if options.validate_only == Some(true) {
                return Err(Error::not_implemented("validateOnly: not supported by ferrokafka's admin client"));
            }
            options
                .topics
                .iter()
                .map(|t| {
                    if t.replica_assignment.as_ref().is_some_and(|v| !v.is_null()) {
                        return Err(Error::not_implemented(
                            "replicaAssignment: not supported by ferrokafka's admin client",
                        ));
                    }
                    let mut nt = NewTopic::new(&t.topic, t.num_partitions.unwrap_or(-1))
                        .replication_factor(t.replication_factor.unwrap_or(-1) as i16);
                    for c in t.config_entries.iter().flatten() {
                        nt = nt.config(&c.name, &c.value);
                    }
                    Ok(nt)
                })
                .collect::<Result<Vec<_>>>()
        })();
        let wait = options.wait_for_leaders.unwrap_or(true);
        let timeout = Duration::from_millis(options.timeout.unwrap_or(5000).into());
        self.run(&env, move |admin| async move {
            let topics = checked?;
            let mut all_created = true;
            for (name, result) in admin.create_topics(&topics).await? {
                match result {
                    Ok(()) if wait => admin.wait_for_topic(&name, timeout).await?,
                    Ok(()) => {}
                    // TOPIC_ALREADY_EXISTS: kafkajs resolves to false rather than failing.
                    Err(e) if e.kafka_code().map(|c| c.code()) == Some(36) => all_created = false,
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(all_created)
        })
    }

    #[napi(catch_unwind)]
    pub fn delete_topics(&self, env: Env, options: DeleteTopicsOptions) -> napi::Result<AsyncBlock<()>> {
        self.run(&env, move |admin| async move {
            let names: Vec<&str> = options.topics.iter().map(String::as_str).collect();
            first_error(admin.delete_topics(&names).await?)
        })
    }

    /// Grows topics to `count` partitions each.
    #[napi(catch_unwind)]
    pub fn create_partitions(&self, env: Env, options: CreatePartitionsOptions) -> napi::Result<AsyncBlock<bool>> {
        self.run(&env, move |admin| async move {
            if options.validate_only == Some(true) {
                return Err(Error::not_implemented("validateOnly: not supported by ferrokafka's admin client"));
            }
            if options.topic_partitions.iter().any(|t| t.assignments.as_ref().is_some_and(|v| !v.is_null())) {
                return Err(Error::not_implemented("assignments: not supported by ferrokafka's admin client"));
            }
            let counts: Vec<(&str, i32)> =
                options.topic_partitions.iter().map(|t| (t.topic.as_str(), t.count)).collect();
            first_error(admin.create_partitions(&counts).await?)?;
            Ok(true)
        })
    }

    #[napi(catch_unwind)]
    pub fn fetch_topic_metadata(
        &self,
        env: Env,
        options: Option<FetchTopicMetadataOptions>,
    ) -> napi::Result<AsyncBlock<TopicsMetadata>> {
        self.run(&env, move |admin| async move {
            let counts = partition_counts(&admin).await?;
            let names: Vec<String> = match options.and_then(|o| o.topics) {
                Some(t) => t,
                None => {
                    let mut all: Vec<String> = counts.keys().cloned().collect();
                    all.sort();
                    all
                }
            };
            let mut topics = Vec::with_capacity(names.len());
            for name in names {
                let n = *counts
                    .get(&name)
                    .ok_or_else(|| Error::Core(ferrokafka::Error::UnknownTopicOrPartition(name.clone())))?;
                let partitions = (0..n)
                    .map(|partition_id| PartitionMetadataOut {
                        partition_error_code: 0,
                        partition_id,
                        leader: -1,
                        replicas: Vec::new(),
                        isr: Vec::new(),
                        offline_replicas: Vec::new(),
                    })
                    .collect();
                topics.push(TopicMetadata { name, partitions });
            }
            Ok(TopicsMetadata { topics })
        })
    }

    /// Low and high watermarks of every partition of `topic`.
    #[napi(catch_unwind)]
    pub fn fetch_topic_offsets(&self, env: Env, topic: String) -> napi::Result<AsyncBlock<Vec<TopicOffsets>>> {
        self.run(&env, move |admin| async move {
            let n = partitions_of(&admin, &topic).await?;
            let tps: Vec<TopicPartition> = (0..n).map(|p| TopicPartition::new(&topic, p)).collect();
            let low = admin.list_offsets(&tps, OffsetSpec::Earliest).await?;
            let high = admin.list_offsets(&tps, OffsetSpec::Latest).await?;
            Ok(low
                .into_iter()
                .zip(high)
                .map(|((tp, low), (_, high))| TopicOffsets {
                    partition: tp.partition,
                    offset: high.to_string(),
                    high: high.to_string(),
                    low: low.to_string(),
                })
                .collect())
        })
    }

    /// The first offset at or after `timestamp` (ms) of every partition; the high watermark
    /// where there is none. Without `timestamp`: the high watermarks.
    #[napi(catch_unwind)]
    pub fn fetch_topic_offsets_by_timestamp(
        &self,
        env: Env,
        topic: String,
        timestamp: Option<f64>,
    ) -> napi::Result<AsyncBlock<Vec<PartitionOffset>>> {
        self.run(&env, move |admin| async move {
            let n = partitions_of(&admin, &topic).await?;
            let tps: Vec<TopicPartition> = (0..n).map(|p| TopicPartition::new(&topic, p)).collect();
            let spec = timestamp.map_or(OffsetSpec::Latest, |t| OffsetSpec::Timestamp(t as i64));
            Ok(admin
                .list_offsets(&tps, spec)
                .await?
                .into_iter()
                .map(|(tp, o)| PartitionOffset { partition: tp.partition, offset: o.to_string() })
                .collect())
        })
    }

    #[napi(catch_unwind)]
    pub fn describe_cluster(&self, env: Env) -> napi::Result<AsyncBlock<ClusterDescription>> {
        self.run(&env, move |admin| async move {
            let c = admin.describe_cluster().await?;
            Ok(ClusterDescription {
                brokers: c
                    .brokers
                    .into_iter()
                    .map(|b| BrokerDescription { node_id: b.id, host: b.host, port: b.port })
                    .collect(),
                controller: (c.controller >= 0).then_some(c.controller),
                cluster_id: c.cluster_id,
            })
        })
    }

    #[napi(catch_unwind)]
    pub fn list_groups(&self, env: Env) -> napi::Result<AsyncBlock<GroupOverviews>> {
        self.run(&env, move |admin| async move {
            let groups = admin.list_groups().await?;
            Ok(GroupOverviews {
                groups: groups
                    .into_iter()
                    .map(|g| GroupOverview { group_id: g.group_id, protocol_type: g.protocol_type })
                    .collect(),
            })
        })
    }

    #[napi(catch_unwind)]
    pub fn describe_groups(&self, env: Env, group_ids: Vec<String>) -> napi::Result<AsyncBlock<GroupDescriptions>> {
        self.run(&env, move |admin| async move {
            let ids: Vec<&str> = group_ids.iter().map(String::as_str).collect();
            let groups = admin.describe_groups(&ids).await?;
            Ok(GroupDescriptions {
                groups: groups
                    .into_iter()
                    .map(|g| GroupDescription {
                        error_code: 0,
                        group_id: g.group_id,
                        state: g.state,
                        protocol_type: g.protocol_type,
                        protocol: g.protocol,
                        members: g
                            .members
                            .into_iter()
                            .map(|m| {
                                let mut by_topic: Vec<TopicPartitions> = Vec::new();
                                for TopicPartition { topic, partition } in m.assignment {
                                    match by_topic.iter_mut().find(|t| t.topic == topic) {
                                        Some(t) => t.partitions.push(partition),
                                        None => by_topic.push(TopicPartitions { topic, partitions: vec![partition] }),
                                    }
                                }
                                MemberDescription {
                                    member_id: m.member_id,
                                    client_id: m.client_id,
                                    client_host: m.host,
                                    group_instance_id: m.instance_id,
                                    assignment: by_topic,
                                }
                            })
                            .collect(),
                    })
                    .collect(),
            })
        })
    }

    /// Deletes empty groups; rejects with the first group's error if any could not be deleted.
    #[napi(catch_unwind)]
    pub fn delete_groups(&self, env: Env, group_ids: Vec<String>) -> napi::Result<AsyncBlock<Vec<DeleteGroupResult>>> {
        self.run(&env, move |admin| async move {
            let ids: Vec<&str> = group_ids.iter().map(String::as_str).collect();
            let results = admin.delete_groups(&ids).await?;
            let mut out = Vec::with_capacity(results.len());
            for (group_id, r) in results {
                r?;
                out.push(DeleteGroupResult { group_id, error_code: 0 });
            }
            Ok(out)
        })
    }

    /// A group's committed offsets, per topic; `-1` for partitions without one.
    #[napi(catch_unwind)]
    pub fn fetch_offsets(
        &self,
        env: Env,
        options: FetchOffsetsOptions,
    ) -> napi::Result<AsyncBlock<Vec<TopicCommitted>>> {
        self.run(&env, move |admin| async move {
            let committed = admin.list_group_offsets(&options.group_id).await?;
            let topics: Vec<String> = match options.topics {
                Some(t) => t,
                None => {
                    let mut names: Vec<String> = committed.iter().map(|o| o.topic().to_owned()).collect();
                    names.dedup();
                    names
                }
            };
            let counts = partition_counts(&admin).await?;
            let mut out = Vec::with_capacity(topics.len());
            for topic in topics {
                let n = counts.get(&topic).copied().unwrap_or(0);
                let partitions = (0..n)
                    .map(|partition| {
                        let found = committed.iter().find(|o| o.topic() == topic && o.partition() == partition);
                        PartitionCommitted {
                            partition,
                            offset: found.map_or(-1, |o| o.offset).to_string(),
                            metadata: found.and_then(|o| o.metadata.clone()),
                        }
                    })
                    .collect();
                out.push(TopicCommitted { topic, partitions });
            }
            Ok(out)
        })
    }

    /// Moves a group's offsets on every partition of `topic` to the earliest or latest.
    #[napi(catch_unwind)]
    pub fn reset_offsets(&self, env: Env, options: ResetOffsetsOptions) -> napi::Result<AsyncBlock<()>> {
        self.run(&env, move |admin| async move {
            let to = if options.earliest == Some(true) { OffsetSpec::Earliest } else { OffsetSpec::Latest };
            admin.reset_group_offsets(&options.group_id, &options.topic, to).await?;
            Ok(())
        })
    }

    /// Sets a group's offsets; the group must have no active members.
    #[napi(catch_unwind)]
    pub fn set_offsets(&self, env: Env, options: SetOffsetsOptions) -> napi::Result<AsyncBlock<()>> {
        self.run(&env, move |admin| async move {
            let offsets = options
                .partitions
                .iter()
                .map(|p| Ok(TopicPartition::new(&options.topic, p.partition).with_offset(offset_of(&p.offset)?)))
                .collect::<Result<Vec<_>>>()?;
            admin.alter_group_offsets(&options.group_id, &offsets).await?;
            Ok(())
        })
    }

    #[napi(catch_unwind)]
    pub fn delete_topic_records(&self, env: Env, options: DeleteTopicRecordsOptions) -> napi::Result<AsyncBlock<()>> {
        self.run(&env, move |admin| async move {
            let mut before = Vec::with_capacity(options.partitions.len());
            for p in &options.partitions {
                let tp = TopicPartition::new(&options.topic, p.partition);
                let offset = match offset_of(&p.offset)? {
                    -1 => admin.list_offsets(std::slice::from_ref(&tp), OffsetSpec::Latest).await?[0].1,
                    o => o,
                };
                before.push((tp, offset));
            }
            admin.delete_records(&before).await?;
            Ok(())
        })
    }

    /// `admin.events`: the names `on` accepts.
    #[napi(getter)]
    pub fn events(&self) -> ClientEvents {
        ClientEvents::of("admin")
    }

    /// Adds an event listener; returns the function that removes it.
    #[napi(
        catch_unwind,
        ts_args_type = "eventName: string, listener: (event: InstrumentationEvent) => void",
        ts_return_type = "() => void"
    )]
    pub fn on<'env>(
        &self,
        env: &'env Env,
        event_name: String,
        listener: JsFn<'_>,
    ) -> napi::Result<Function<'env, (), ()>> {
        self.events.on(env, event_name, listener)
    }
}
