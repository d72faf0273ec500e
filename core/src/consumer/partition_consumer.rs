//! A consumer of explicitly assigned partitions: positions, seeks, pause/resume, and a fetch
//! loop that long-polls each leader. [`super::Consumer`] adds group membership on top.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use tokio::task::JoinSet;

use crate::cluster::Cluster;
use crate::config::ClientConfig;
use crate::error::{Error, Result};

use super::{ConsumerRecord, Offset, Tp};

/// One leader's connection and the partitions (with positions) to fetch from it.
type LeaderFetch = (Arc<crate::connection::BrokerConnection>, Vec<(Tp, i64)>);

/// Reads assigned partitions. Not `Clone`: one owner drives its positions.
#[derive(Debug)]
pub struct PartitionConsumer {
    cluster: Arc<Cluster>,
    positions: BTreeMap<Tp, i64>,
    paused: BTreeSet<Tp>,
    /// Last high watermark seen per partition, for lag.
    high_watermarks: HashMap<Tp, i64>,
    buffer: VecDeque<ConsumerRecord>,
    reset: Offset,
    reset_is_error: bool,
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
    partition_max_bytes: i32,
}

impl PartitionConsumer {
    pub fn new(config: ClientConfig) -> Result<Self> {
        Self::with_cluster(Cluster::new(&config)?, config)
    }

    /// Shares the group consumer's view of the cluster and its connections.
    pub(crate) fn with_cluster(cluster: Arc<Cluster>, config: ClientConfig) -> Result<Self> {
        let reset = match config.get("auto.offset.reset") {
            Some("earliest" | "smallest") => Offset::Beginning,
            _ => Offset::End,
        };
        Ok(PartitionConsumer {
            cluster,
            positions: BTreeMap::new(),
            paused: BTreeSet::new(),
            high_watermarks: HashMap::new(),
            buffer: VecDeque::new(),
            reset,
            reset_is_error: config.get("auto.offset.reset") == Some("error"),
            max_wait_ms: config.int("fetch.max.wait.ms") as i32,
            min_bytes: config.int("fetch.min.bytes") as i32,
            max_bytes: config.int("fetch.max.bytes") as i32,
            partition_max_bytes: config.int("max.partition.fetch.bytes") as i32,
        })
    }

    /// Replaces the assignment with these partitions, each starting where given.
    pub async fn assign(&mut self, partitions: impl IntoIterator<Item = (String, i32, Offset)>) -> Result<()> {
        self.positions.clear();
        self.buffer.clear();
        for (topic, partition, offset) in partitions {
            self.cluster.leader(&topic, partition).await?;
            let at = self.resolve(&topic, partition, offset).await?;
            self.positions.insert((topic, partition), at);
        }
        Ok(())
    }

    /// Adds partitions to the assignment, each starting where given.
    pub(crate) async fn add(&mut self, partitions: impl IntoIterator<Item = (Tp, Offset)>) -> Result<()> {
        for ((topic, partition), offset) in partitions {
            // A partition just created or whose leader is moving answers retriably for a
            // moment: look again until request.timeout.ms.
            let deadline = tokio::time::Instant::now() + self.cluster.request_timeout();
            let at = loop {
                match self.resolve(&topic, partition, offset).await {
                    Err(e) if e.is_retriable() && tokio::time::Instant::now() < deadline => {
                        self.cluster.invalidate(&topic);
                        tokio::time::sleep(self.cluster.retry_backoff()).await;
                    }
                    other => break other?,
                }
            };
            self.positions.insert((topic, partition), at);
        }
        Ok(())
    }

    /// Drops partitions from the assignment, with anything buffered for them.
    pub(crate) fn remove(&mut self, partitions: &[Tp]) {
        for tp in partitions {
            self.positions.remove(tp);
            self.paused.remove(tp);
        }
        self.buffer.retain(|r| !partitions.iter().any(|(t, p)| *t == r.topic && *p == r.partition));
    }

    /// Whether no assigned partition can be fetched (none assigned, or all paused): `poll`
    /// then returns at once, so a caller looping on it must wait elsewhere.
    pub(crate) fn nothing_to_fetch(&self) -> bool {
        self.positions.len() == self.paused.len()
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        self.positions.keys().cloned().collect()
    }

    /// Stops fetching these partitions (positions are kept) until [`resume`](Self::resume).
    pub fn pause(&mut self, partitions: &[(String, i32)]) {
        for tp in partitions {
            if self.positions.contains_key(tp) {
                self.paused.insert(tp.clone());
            }
        }
        self.buffer.retain(|r| !partitions.iter().any(|(t, p)| *t == r.topic && *p == r.partition));
    }

    pub fn resume(&mut self, partitions: &[(String, i32)]) {
        for tp in partitions {
            self.paused.remove(tp);
        }
    }

    /// Records between this consumer's position and the partition's high watermark, as of
    /// the last fetch of it.
    pub fn lag(&self, topic: &str, partition: i32) -> Option<i64> {
        let tp = (topic.to_owned(), partition);
        Some((self.high_watermarks.get(&tp)? - self.position(topic, partition)?).max(0))
    }

    /// Moves a partition's position; records buffered for it are dropped.
    pub async fn seek(&mut self, topic: &str, partition: i32, offset: Offset) -> Result<()> {
        let key = (topic.to_owned(), partition);
        if !self.positions.contains_key(&key) {
            return Err(Error::UnknownTopicOrPartition(format!("{topic}-{partition} is not assigned")));
        }
        let at = self.resolve(topic, partition, offset).await?;
        self.buffer.retain(|r| !(r.topic == topic && r.partition == partition));
        self.positions.insert(key, at);
        Ok(())
    }

    /// The offset of the next record this consumer will return for a partition.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        let buffered = self.buffer.iter().find(|r| r.topic == topic && r.partition == partition).map(|r| r.offset);
        buffered.or_else(|| self.positions.get(&(topic.to_owned(), partition)).copied())
    }

    /// `(earliest, latest)` offsets of a partition.
    pub async fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        Ok((self.list_offset(topic, partition, -2).await?, self.list_offset(topic, partition, -1).await?))
    }

    async fn resolve(&self, topic: &str, partition: i32, offset: Offset) -> Result<i64> {
        match offset {
            Offset::At(o) => Ok(o),
            Offset::Beginning => self.list_offset(topic, partition, -2).await,
            Offset::End => self.list_offset(topic, partition, -1).await,
            // Only a group consumer knows committed offsets; `Consumer` turns this into `At`
            // before it gets here.
            Offset::Committed => Err(Error::Config {
                key: "group.id".into(),
                reason: format!("{topic}-{partition}: starting at the committed offset needs a consumer group"),
            }),
        }
    }

    async fn list_offset(&self, topic: &str, partition: i32, timestamp: i64) -> Result<i64> {
        let (_, conn) = self.cluster.leader(topic, partition).await?;
        let req = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(partition).with_timestamp(timestamp)]),
        ]);
        let resp = conn.send(&req).await?;
        let p = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| Error::Protocol { broker: conn.addr().to_owned(), reason: "empty ListOffsets response".into() })?;
        if p.error_code != 0 {
            return Err(Error::code(p.error_code, None, format!("ListOffsets {topic}-{partition}")));
        }
        Ok(p.offset)
    }

    /// The next record, waiting up to `timeout` for one to arrive.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Option<ConsumerRecord>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(r) = self.buffer.pop_front() {
                return Ok(Some(r));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline || self.positions.len() == self.paused.len() {
                return Ok(None);
            }
            let wait = (deadline - now).as_millis().min(self.max_wait_ms as u128) as i32;
            self.fetch_once(wait).await?;
        }
    }

    /// One fetch round: a request to every leader of an assigned partition, concurrently.
    async fn fetch_once(&mut self, max_wait_ms: i32) -> Result<()> {
        let mut by_leader: HashMap<i32, LeaderFetch> = HashMap::new();
        let mut unreachable = false;
        for ((topic, partition), &pos) in self.positions.iter().filter(|(tp, _)| !self.paused.contains(*tp)) {
            match self.cluster.leader(topic, *partition).await {
                Ok((leader, conn)) => by_leader.entry(leader).or_insert_with(|| (conn, Vec::new())).1.push(((topic.clone(), *partition), pos)),
                // A leader that is moving or down: skip the partition this round, look again next.
                Err(e) if e.is_retriable() => {
                    tracing::debug!(%topic, partition, error = %e, "no leader to fetch from");
                    self.cluster.invalidate(topic);
                    unreachable = true;
                }
                Err(e) => return Err(e),
            }
        }
        if by_leader.is_empty() && unreachable {
            tokio::time::sleep(self.cluster.retry_backoff()).await;
            return Ok(());
        }
        let mut ids: HashMap<uuid::Uuid, String> = HashMap::new();
        for (topic, _) in self.positions.keys() {
            ids.insert(self.cluster.topic(topic).await?.id, topic.clone());
        }
        let mut requests = JoinSet::new();
        for (_, (conn, parts)) in by_leader {
            let fetched_topics: Vec<String> = parts.iter().map(|((t, _), _)| t.clone()).collect();
            let mut topics: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
            for ((topic, partition), pos) in &parts {
                topics.entry(topic.clone()).or_default().push(
                    FetchPartition::default()
                        .with_partition(*partition)
                        .with_fetch_offset(*pos)
                        .with_partition_max_bytes(self.partition_max_bytes)
                        .with_log_start_offset(-1)
                        .with_current_leader_epoch(-1)
                        .with_last_fetched_epoch(-1),
                );
            }
            let req = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(max_wait_ms)
                .with_min_bytes(self.min_bytes)
                .with_max_bytes(self.max_bytes)
                .with_session_id(0)
                .with_session_epoch(-1)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            let id = ids.iter().find(|(_, name)| **name == t).map(|(id, _)| *id).unwrap_or_default();
                            FetchTopic::default().with_topic(TopicName(StrBytes::from_string(t))).with_topic_id(id).with_partitions(ps)
                        })
                        .collect(),
                );
            requests.spawn(async move { (conn.send(&req).await, fetched_topics) });
        }
        while let Some(joined) = requests.join_next().await {
            let (resp, fetched_topics) = joined.map_err(|_| Error::Closed)?;
            let resp = match resp {
                Ok(r) => r,
                // The leader went away mid-fetch: find the new one next round.
                Err(e) if e.is_retriable() => {
                    tracing::debug!(error = %e, "fetch failed; refreshing leaders");
                    for t in &fetched_topics {
                        self.cluster.invalidate(t);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            for t in resp.responses {
                // v13+ answers by topic id, earlier versions by name.
                let topic = if t.topic.0.is_empty() { ids.get(&t.topic_id).cloned().unwrap_or_default() } else { t.topic.0.to_string() };
                for p in t.partitions {
                    let tp = (topic.clone(), p.partition_index);
                    let Some(&pos) = self.positions.get(&tp) else { continue };
                    if p.high_watermark >= 0 {
                        self.high_watermarks.insert(tp.clone(), p.high_watermark);
                    }
                    match ResponseError::try_from_code(p.error_code) {
                        None => {}
                        Some(ResponseError::OffsetOutOfRange) if !self.reset_is_error => {
                            let at = self.resolve(&tp.0, tp.1, self.reset).await?;
                            self.positions.insert(tp, at);
                            continue;
                        }
                        Some(code) if code.is_retriable() => {
                            self.cluster.invalidate(&tp.0);
                            continue;
                        }
                        Some(code) => return Err(Error::kafka(code, None, format!("fetching {}-{}", tp.0, tp.1))),
                    }
                    let next = decode_into(&tp, pos, p.records.unwrap_or_default(), &mut self.buffer)?;
                    self.positions.insert(tp, next);
                }
            }
        }
        Ok(())
    }
}

/// Decodes the whole batches in a fetch response into `out`, skipping records below `pos`
/// (a batch is served whole from its start) and a partial batch cut at the end. Returns the
/// next position.
fn decode_into(tp: &Tp, mut pos: i64, mut bytes: Bytes, out: &mut VecDeque<ConsumerRecord>) -> Result<i64> {
    while bytes.remaining() >= 12 {
        let len = i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        let total = len.max(0) as usize + 12;
        if bytes.remaining() < total {
            break;
        }
        let mut one = bytes.split_to(total);
        let set = RecordBatchDecoder::decode(&mut one)
            .map_err(|e| Error::Protocol { broker: format!("{}-{}", tp.0, tp.1), reason: format!("record batch: {e}") })?;
        for r in set.records {
            if r.offset < pos || r.control {
                continue;
            }
            pos = r.offset + 1;
            out.push_back(ConsumerRecord {
                topic: tp.0.clone(),
                partition: tp.1,
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r.headers.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            });
        }
    }
    Ok(pos)
}
