//! A consumer of explicitly assigned partitions: positions, seeks, pause/resume, and a fetch
//! pipeline that keeps a long-poll to each leader in flight while the application works
//! through what earlier fetches returned. [`super::Consumer`] adds group membership on top.

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
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::time::Instant;

use crate::TopicPartition;
use crate::cluster::Cluster;
use crate::config::ClientConfig;
use crate::connection::BrokerConnection;
use crate::error::{Error, Result};

use super::{ConsumerRecord, Offset};

/// One leader's connection and the partitions (with fetch offsets) to ask it for.
type LeaderFetch = (Arc<BrokerConnection>, Vec<(TopicPartition, i64)>);

/// Reads assigned partitions. Not `Clone`: one owner drives its positions.
///
/// Fetches run ahead of `poll`: when a leader answers, the next fetch to it goes out on the
/// following `poll`, and the broker's long-poll and the transfer run while the application
/// works through the records already here. The answer is decoded by the `poll` that takes
/// it in, on the consumer's task (a task per fetch that decoded in parallel was measured
/// slower on 2 cores: one more cross-thread hop per fetch). Read-ahead stops while the records
/// not yet returned reach `queued.max.messages.kbytes` or `queued.min.messages`. Positions
/// (what `position` reports and commits store) are those of records `poll` returned, never
/// of records merely fetched.
#[derive(Debug)]
pub struct PartitionConsumer {
    cluster: Arc<Cluster>,
    /// Where the next fetch of each assigned partition starts: past anything buffered.
    fetch_positions: BTreeMap<TopicPartition, i64>,
    paused: BTreeSet<TopicPartition>,
    /// Last high watermark seen per partition, for lag.
    high_watermarks: HashMap<TopicPartition, i64>,
    /// Records fetched and not yet returned, each with its partition's slot in `slots`.
    buffer: VecDeque<(usize, ConsumerRecord)>,
    /// Partitions with records in `buffer`: how many, and the offset `poll` has reached.
    /// Indexed by slot so that `poll` updates them without hashing the topic name.
    slots: Vec<Option<Buffered>>,
    slot_of: HashMap<TopicPartition, usize>,
    free_slots: Vec<usize>,
    buffered_bytes: usize,
    /// The fetch requests sent, each answering for the offsets it asked.
    in_flight: InFlight,
    /// The offset an in-flight fetch asked for, per partition: a partition whose fetch
    /// position still equals it needs no other fetch.
    requested: HashMap<TopicPartition, i64>,
    /// Some fetchable partition may have no fetch in flight (one came back, a seek, a resume,
    /// an assignment): `send_fetches` has work.
    fetch_needed: bool,
    /// Leaders could not be found: not before this instant again.
    retry_at: Option<Instant>,
    reset: Offset,
    reset_is_error: bool,
    settings: FetchSettings,
}

#[derive(Debug)]
struct Buffered {
    tp: TopicPartition,
    records: usize,
    /// The offset after the last record `poll` returned, or where the fetch of the first
    /// buffered record started.
    position: i64,
}

#[derive(Debug, Clone, Copy)]
struct FetchSettings {
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
    partition_max_bytes: i32,
    queue_max_bytes: usize,
    queue_max_records: usize,
    /// `isolation.level=read_committed`: fetches stop at the last stable offset and drop the
    /// records of aborted transactions.
    read_committed: bool,
}

/// What one fetch request brought back: for each partition asked (with the offset asked),
/// its records or error; or the request's own failure.
#[derive(Debug)]
struct Fetched {
    asked: Vec<(TopicPartition, i64)>,
    result: Result<Vec<PartitionFetched>>,
}

#[derive(Debug)]
struct PartitionFetched {
    tp: TopicPartition,
    error_code: i16,
    /// The high watermark, or under read_committed the last stable offset: where lag ends.
    high_watermark: i64,
    records: Vec<ConsumerRecord>,
    bytes: usize,
    next: i64,
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
            fetch_positions: BTreeMap::new(),
            paused: BTreeSet::new(),
            high_watermarks: HashMap::new(),
            buffer: VecDeque::new(),
            slots: Vec::new(),
            slot_of: HashMap::new(),
            free_slots: Vec::new(),
            buffered_bytes: 0,
            in_flight: InFlight::default(),
            requested: HashMap::new(),
            fetch_needed: false,
            retry_at: None,
            reset,
            reset_is_error: config.get("auto.offset.reset") == Some("error"),
            settings: FetchSettings {
                max_wait_ms: config.int("fetch.max.wait.ms") as i32,
                min_bytes: config.int("fetch.min.bytes") as i32,
                max_bytes: config.int("fetch.max.bytes") as i32,
                partition_max_bytes: config.int("max.partition.fetch.bytes") as i32,
                queue_max_bytes: config.int("queued.max.messages.kbytes") as usize * 1024,
                queue_max_records: config.int("queued.min.messages") as usize,
                read_committed: config.get("isolation.level") == Some("read_committed"),
            },
        })
    }

    /// Replaces the assignment with these partitions, each starting where given.
    pub async fn assign(&mut self, partitions: impl IntoIterator<Item = (TopicPartition, Offset)>) -> Result<()> {
        let all: Vec<TopicPartition> = self.fetch_positions.keys().cloned().collect();
        self.remove(&all);
        for (tp, offset) in partitions {
            self.cluster.leader(&tp.topic, tp.partition).await?;
            let at = self.resolve(&tp.topic, tp.partition, offset).await?;
            self.fetch_positions.insert(tp, at);
        }
        self.fetch_needed = true;
        Ok(())
    }

    /// Adds partitions to the assignment, each starting where given.
    pub(crate) async fn add(&mut self, partitions: impl IntoIterator<Item = (TopicPartition, Offset)>) -> Result<()> {
        for (tp, offset) in partitions {
            // A partition just created or whose leader is moving answers retriably for a
            // moment: look again until request.timeout.ms.
            let deadline = Instant::now() + self.cluster.request_timeout();
            let at = loop {
                match self.resolve(&tp.topic, tp.partition, offset).await {
                    Err(e) if e.is_retriable() && Instant::now() < deadline => {
                        self.cluster.invalidate(&tp.topic);
                        tokio::time::sleep(self.cluster.retry_backoff()).await;
                    }
                    other => break other?,
                }
            };
            self.fetch_positions.insert(tp, at);
        }
        self.fetch_needed = true;
        Ok(())
    }

    /// Drops partitions from the assignment, with anything fetched for them. Fetches in
    /// flight for them are left to finish; what they bring is dropped.
    pub(crate) fn remove(&mut self, partitions: &[TopicPartition]) {
        self.drop_buffered(partitions);
        for tp in partitions {
            self.fetch_positions.remove(tp);
            self.paused.remove(tp);
            self.requested.remove(tp);
        }
    }

    /// Whether no assigned partition can be fetched (none assigned, or all paused) and
    /// nothing is buffered: `poll` then returns at once, so a caller looping on it must
    /// wait elsewhere.
    pub(crate) fn nothing_to_fetch(&self) -> bool {
        self.buffer.is_empty() && self.fetch_positions.len() == self.paused.len()
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.fetch_positions.keys().cloned().collect()
    }

    /// Stops fetching these partitions until [`resume`](Self::resume). Records fetched for
    /// them but not yet returned are dropped, and fetched again after the resume: the
    /// position stays at the next record `poll` would have returned.
    pub fn pause(&mut self, partitions: &[TopicPartition]) {
        let held: Vec<TopicPartition> =
            partitions.iter().filter(|tp| self.fetch_positions.contains_key(*tp)).cloned().collect();
        self.drop_buffered(&held);
        self.paused.extend(held);
    }

    pub fn resume(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.fetch_needed |= self.paused.remove(tp);
        }
    }

    /// Records between this consumer's position and the partition's high watermark (under
    /// read_committed its last stable offset), as of the last fetch of it.
    pub fn lag(&self, topic: &str, partition: i32) -> Option<i64> {
        let tp = TopicPartition::new(topic, partition);
        Some((self.high_watermarks.get(&tp)? - self.position(topic, partition)?).max(0))
    }

    /// Moves a partition's position; records fetched for it and not yet returned are dropped.
    pub async fn seek(&mut self, topic: &str, partition: i32, offset: Offset) -> Result<()> {
        let key = TopicPartition::new(topic, partition);
        if !self.fetch_positions.contains_key(&key) {
            return Err(Error::UnknownTopicOrPartition(format!("{topic}-{partition} is not assigned")));
        }
        let at = self.resolve(topic, partition, offset).await?;
        self.drop_buffered(std::slice::from_ref(&key));
        self.fetch_positions.insert(key, at);
        self.fetch_needed = true;
        Ok(())
    }

    /// The offset of the next record this consumer will return for a partition.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        let tp = TopicPartition::new(topic, partition);
        match self.slot_of.get(&tp).and_then(|&s| self.slots[s].as_ref()) {
            Some(b) => Some(b.position),
            None => self.fetch_positions.get(&tp).copied(),
        }
    }

    /// Records fetched ahead and not yet returned by `poll`, and their bytes (keys, values,
    /// headers): what `queued.min.messages` and `queued.max.messages.kbytes` bound.
    pub fn queued(&self) -> (usize, usize) {
        (self.buffer.len(), self.buffered_bytes)
    }

    /// `(earliest, latest)` offsets of a partition: latest is the high watermark whatever
    /// the isolation level, as librdkafka's `query_watermark_offsets` answers.
    pub async fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        Ok((self.list_offset(topic, partition, -2, false).await?, self.list_offset(topic, partition, -1, false).await?))
    }

    async fn resolve(&self, topic: &str, partition: i32, offset: Offset) -> Result<i64> {
        match offset {
            Offset::At(o) => Ok(o),
            Offset::Beginning => self.list_offset(topic, partition, -2, false).await,
            // The end a read_committed consumer can read to is the last stable offset.
            Offset::End => self.list_offset(topic, partition, -1, self.settings.read_committed).await,
            Offset::Timestamp(ts) => match self.offset_for_time(topic, partition, ts).await? {
                Some(o) => Ok(o),
                None => self.list_offset(topic, partition, -1, self.settings.read_committed).await,
            },
            // Only a group consumer knows committed offsets; `Consumer` turns this into `At`
            // before it gets here.
            Offset::Committed => Err(Error::Config {
                key: "group.id".into(),
                reason: format!("{topic}-{partition}: starting at the committed offset needs a consumer group"),
            }),
        }
    }

    /// The first offset whose record's timestamp is at or after the time given with each
    /// partition (ms since the epoch); `None` where no record is that recent.
    pub async fn offsets_for_times(
        &self,
        partitions: &[(TopicPartition, i64)],
    ) -> Result<Vec<(TopicPartition, Option<i64>)>> {
        let mut out = Vec::with_capacity(partitions.len());
        for (tp, ts) in partitions {
            out.push((tp.clone(), self.offset_for_time(&tp.topic, tp.partition, *ts).await?));
        }
        Ok(out)
    }

    async fn offset_for_time(&self, topic: &str, partition: i32, timestamp: i64) -> Result<Option<i64>> {
        if timestamp < 0 {
            return Err(Error::Config {
                key: "timestamp".into(),
                reason: format!("{topic}-{partition}: {timestamp} is before 1970"),
            });
        }
        // Kafka answers -1 when no record is at or after the time.
        Ok(Some(self.list_offset(topic, partition, timestamp, false).await?).filter(|o| *o >= 0))
    }

    async fn list_offset(&self, topic: &str, partition: i32, timestamp: i64, committed: bool) -> Result<i64> {
        let (_, conn) = self.cluster.leader(topic, partition).await?;
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(committed as i8)
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_partitions(vec![
                        ListOffsetsPartition::default().with_partition_index(partition).with_timestamp(timestamp),
                    ]),
            ]);
        let resp = conn.send(&req).await?;
        let p = resp.topics.first().and_then(|t| t.partitions.first()).ok_or_else(|| Error::Protocol {
            broker: conn.addr().to_owned(),
            reason: "empty ListOffsets response".into(),
        })?;
        if p.error_code != 0 {
            return Err(Error::from_code(p.error_code, None, format!("ListOffsets {topic}-{partition}")));
        }
        Ok(p.offset)
    }

    /// The next record, waiting up to `timeout` for one to arrive.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Option<ConsumerRecord>> {
        // Read the clock only when there is something to wait for: most polls find a record.
        let mut deadline = None;
        loop {
            // Fetches that finished while the application worked: take their records in and
            // send the next ones, so the network and decoding stay ahead of the application.
            while let Some(done) = std::future::poll_fn(|cx| Poll::Ready(self.in_flight.poll_next(cx))).await {
                self.take_in(done).await?;
            }
            if self.fetch_needed
                && self.below_read_ahead_limits()
                && self.retry_at.is_none_or(|at| Instant::now() >= at)
            {
                self.send_fetches().await?;
            }
            if let Some(r) = self.pop_buffered() {
                return Ok(Some(r));
            }
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + timeout);
            if self.in_flight.is_empty() {
                let now = Instant::now();
                match self.retry_at {
                    // Leaders unknown for now: look again after the backoff.
                    Some(at) if self.fetch_needed && now < deadline => tokio::time::sleep_until(at.min(deadline)).await,
                    _ => return Ok(None),
                }
                continue;
            }
            let next = std::future::poll_fn(|cx| match self.in_flight.poll_next(cx) {
                Some(done) => Poll::Ready(done),
                None => Poll::Pending,
            });
            match tokio::time::timeout_at(deadline, next).await {
                Ok(done) => self.take_in(done).await?,
                Err(_) => return Ok(None),
            }
        }
    }

    /// A record already fetched, if any, without taking in finished fetches or sending new
    /// ones (the next `poll` does).
    pub(crate) fn pop_buffered(&mut self) -> Option<ConsumerRecord> {
        let (slot, r) = self.buffer.pop_front()?;
        self.buffered_bytes -= record_bytes(&r);
        if let Some(b) = self.slots[slot].as_mut() {
            b.records -= 1;
            b.position = r.offset + 1;
            if b.records == 0 {
                // The position is the fetch position now: whatever the fetch skipped after
                // this record (control records, compacted gaps) is behind it too.
                self.free_slot(slot);
            }
        }
        Some(r)
    }

    fn free_slot(&mut self, slot: usize) -> Option<Buffered> {
        let b = self.slots[slot].take()?;
        self.slot_of.remove(&b.tp);
        self.free_slots.push(slot);
        Some(b)
    }

    fn below_read_ahead_limits(&self) -> bool {
        self.buffered_bytes < self.settings.queue_max_bytes && self.buffer.len() < self.settings.queue_max_records
    }

    /// Drops buffered records of these partitions; their fetch positions go back to the
    /// next record `poll` would have returned.
    fn drop_buffered(&mut self, partitions: &[TopicPartition]) {
        let mut dropped = Vec::new();
        for tp in partitions {
            if let Some(b) = self.slot_of.get(tp).copied().and_then(|s| {
                dropped.push(s);
                self.free_slot(s)
            }) {
                self.fetch_positions.insert(tp.clone(), b.position);
            }
        }
        if !dropped.is_empty() {
            let mut freed = 0;
            self.buffer.retain(|(slot, r)| {
                let keep = !dropped.contains(slot);
                if !keep {
                    freed += record_bytes(r);
                }
                keep
            });
            self.buffered_bytes -= freed;
            self.fetch_needed = true;
        }
    }

    /// The slot of a partition's buffered records; a new one starting at `position` when it
    /// has none buffered.
    fn slot_for(&mut self, tp: &TopicPartition, position: i64) -> usize {
        if let Some(&slot) = self.slot_of.get(tp) {
            return slot;
        }
        let b = Some(Buffered { tp: tp.clone(), records: 0, position });
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.slots[slot] = b;
                slot
            }
            None => {
                self.slots.push(b);
                self.slots.len() - 1
            }
        };
        self.slot_of.insert(tp.clone(), slot);
        slot
    }

    /// Sends a fetch to the leader of every fetchable partition that has none in flight.
    async fn send_fetches(&mut self) -> Result<()> {
        let mut by_leader: HashMap<i32, LeaderFetch> = HashMap::new();
        let mut unreachable = false;
        for (tp, &pos) in &self.fetch_positions {
            if self.paused.contains(tp) || self.requested.get(tp) == Some(&pos) {
                continue;
            }
            match self.cluster.leader(&tp.topic, tp.partition).await {
                Ok((leader, conn)) => {
                    by_leader.entry(leader).or_insert_with(|| (conn, Vec::new())).1.push((tp.clone(), pos))
                }
                // A leader that is moving or down: skip the partition for now.
                Err(e) if e.is_retriable() => {
                    tracing::debug!(topic = %tp.topic, partition = tp.partition, error = %e, "no leader to fetch from");
                    self.cluster.invalidate(&tp.topic);
                    unreachable = true;
                }
                Err(e) => return Err(e),
            }
        }
        self.fetch_needed = unreachable;
        self.retry_at = unreachable.then(|| Instant::now() + self.cluster.retry_backoff());
        for (_, (conn, asked)) in by_leader {
            let mut topics: BTreeMap<&str, (uuid::Uuid, Vec<FetchPartition>)> = BTreeMap::new();
            for (tp, pos) in &asked {
                let entry = match topics.entry(tp.topic.as_str()) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert((self.cluster.topic(&tp.topic).await?.id, Vec::new()))
                    }
                };
                entry.1.push(
                    FetchPartition::default()
                        .with_partition(tp.partition)
                        .with_fetch_offset(*pos)
                        .with_partition_max_bytes(self.settings.partition_max_bytes)
                        .with_log_start_offset(-1)
                        .with_current_leader_epoch(-1)
                        .with_last_fetched_epoch(-1),
                );
            }
            let ids: HashMap<uuid::Uuid, String> =
                topics.iter().map(|(name, (id, _))| (*id, (*name).to_owned())).collect();
            let req = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(self.settings.max_wait_ms)
                .with_min_bytes(self.settings.min_bytes)
                .with_max_bytes(self.settings.max_bytes)
                .with_isolation_level(self.settings.read_committed as i8)
                .with_session_id(0)
                .with_session_epoch(-1)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, (id, ps))| {
                            FetchTopic::default()
                                .with_topic(TopicName(StrBytes::from_string(t.to_owned())))
                                .with_topic_id(id)
                                .with_partitions(ps)
                        })
                        .collect(),
                );
            for (tp, pos) in &asked {
                self.requested.insert(tp.clone(), *pos);
            }
            // Queued on the connection now; the answer is awaited (and decoded) by `poll`, on
            // the consumer's own task: one task hop from the connection's reader, not two.
            let sent = conn.version_of::<FetchRequest>().and_then(|v| Ok((conn.enqueue(&req, v, true)?, v)));
            let read_committed = self.settings.read_committed;
            self.in_flight.push(Box::pin(async move {
                let result = match sent {
                    Ok((Some(rx), version)) => match conn.wait::<FetchRequest>(rx, version).await {
                        Ok(resp) => decode_response(resp, &ids, &asked, read_committed),
                        Err(e) => Err(e),
                    },
                    Ok((None, _)) => Err(Error::Closed),
                    Err(e) => Err(e),
                };
                Fetched { asked, result }
            }));
        }
        Ok(())
    }

    /// Takes in a finished fetch: records of partitions whose fetch position is still the
    /// offset asked go to the buffer; the rest (seeked, paused, removed since) are dropped.
    async fn take_in(&mut self, done: Fetched) -> Result<()> {
        for (tp, pos) in &done.asked {
            if self.requested.get(tp) == Some(pos) {
                self.requested.remove(tp);
            }
        }
        self.fetch_needed = true;
        let partitions = match done.result {
            Ok(p) => p,
            // The leader went away mid-fetch: find the new one on the next fetch.
            Err(e) if e.is_retriable() => {
                tracing::debug!(error = %e, "fetch failed; refreshing leaders");
                for (tp, _) in &done.asked {
                    self.cluster.invalidate(&tp.topic);
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        for (p, (_, asked)) in partitions.into_iter().zip(&done.asked) {
            let tp = p.tp;
            if self.fetch_positions.get(&tp) != Some(asked) || self.paused.contains(&tp) {
                continue;
            }
            if p.high_watermark >= 0 {
                self.high_watermarks.insert(tp.clone(), p.high_watermark);
            }
            match ResponseError::try_from_code(p.error_code) {
                None => {}
                Some(ResponseError::OffsetOutOfRange) if !self.reset_is_error => {
                    let at = self.resolve(&tp.topic, tp.partition, self.reset).await?;
                    self.fetch_positions.insert(tp, at);
                    continue;
                }
                Some(code) if code.is_retriable() => {
                    self.cluster.invalidate(&tp.topic);
                    continue;
                }
                Some(code) => return Err(Error::kafka(code, None, format!("fetching {tp}"))),
            }
            if !p.records.is_empty() {
                let slot = self.slot_for(&tp, *asked);
                self.slots[slot].as_mut().expect("a slot in use").records += p.records.len();
                self.buffered_bytes += p.bytes;
                self.buffer.extend(p.records.into_iter().map(|r| (slot, r)));
            }
            self.fetch_positions.insert(tp, p.next);
        }
        Ok(())
    }
}

/// Fetch requests in flight, polled by the consumer's task (a handful: one per leader).
#[derive(Default)]
struct InFlight(Vec<Pin<Box<dyn Future<Output = Fetched> + Send + Sync>>>);

impl InFlight {
    fn push(&mut self, fetch: Pin<Box<dyn Future<Output = Fetched> + Send + Sync>>) {
        self.0.push(fetch);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A fetch that has finished, if any (registering `cx` for the others).
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Option<Fetched> {
        for i in 0..self.0.len() {
            if let Poll::Ready(done) = self.0[i].as_mut().poll(cx) {
                drop(self.0.swap_remove(i));
                return Some(done);
            }
        }
        None
    }
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} fetches in flight", self.0.len())
    }
}

/// What a buffered record counts against `queued.max.messages.kbytes`.
fn record_bytes(r: &ConsumerRecord) -> usize {
    let len = |b: &Option<Bytes>| b.as_ref().map_or(0, |b| b.len());
    len(&r.key) + len(&r.value) + r.headers.iter().map(|(k, v)| k.len() + len(v)).sum::<usize>()
}

/// Decodes a fetch response: one entry per partition asked, in the order asked.
fn decode_response(
    resp: kafka_protocol::messages::FetchResponse,
    ids: &HashMap<uuid::Uuid, String>,
    asked: &[(TopicPartition, i64)],
    read_committed: bool,
) -> Result<Vec<PartitionFetched>> {
    if resp.error_code != 0 {
        return Err(Error::from_code(resp.error_code, None, "fetch"));
    }
    let mut by_tp: HashMap<TopicPartition, kafka_protocol::messages::fetch_response::PartitionData> = HashMap::new();
    for t in resp.responses {
        // v13+ answers by topic id, earlier versions by name.
        let topic = if t.topic.0.is_empty() {
            ids.get(&t.topic_id).cloned().unwrap_or_default()
        } else {
            t.topic.0.to_string()
        };
        for p in t.partitions {
            by_tp.insert(TopicPartition::new(&topic, p.partition_index), p);
        }
    }
    asked
        .iter()
        .map(|(tp, pos)| {
            let mut out = PartitionFetched {
                tp: tp.clone(),
                error_code: 0,
                high_watermark: -1,
                records: Vec::new(),
                bytes: 0,
                next: *pos,
            };
            // A partition the broker left out of its answer: nothing new, ask again.
            if let Some(p) = by_tp.remove(tp) {
                out.error_code = p.error_code;
                out.high_watermark = p.high_watermark;
                let mut aborted = None;
                if read_committed {
                    if p.last_stable_offset >= 0 {
                        out.high_watermark = p.last_stable_offset;
                    }
                    let list = p.aborted_transactions.unwrap_or_default();
                    aborted = Some(AbortedTransactions::new(list.iter().map(|a| (a.first_offset, a.producer_id.0))));
                }
                if p.error_code == 0 {
                    let records = p.records.unwrap_or_default();
                    out.next = decode_into(tp, *pos, records, aborted.as_mut(), &mut out.records, &mut out.bytes)?;
                }
            }
            Ok(out)
        })
        .collect()
}

/// The aborted transactions a read_committed fetch answered with, met in offset order: a
/// transactional batch is dropped while its producer has an aborted transaction that began at
/// or before it and whose abort marker has not been passed yet.
#[derive(Debug)]
struct AbortedTransactions {
    /// `(first offset, producer id)`, latest first, so the next to begin pops off the end.
    upcoming: Vec<(i64, i64)>,
    open: std::collections::HashSet<i64>,
}

impl AbortedTransactions {
    fn new(list: impl Iterator<Item = (i64, i64)>) -> Self {
        let mut upcoming: Vec<(i64, i64)> = list.collect();
        upcoming.sort_unstable_by(|a, b| b.cmp(a));
        AbortedTransactions { upcoming, open: Default::default() }
    }

    /// Opens every aborted transaction that began at or before `last_offset`.
    fn reach(&mut self, last_offset: i64) {
        while let Some(&(first, pid)) = self.upcoming.last() {
            if first > last_offset {
                break;
            }
            self.open.insert(pid);
            self.upcoming.pop();
        }
    }
}

/// The header fields of a v2 record batch read before decoding it: base offset, last offset,
/// attributes and producer id (byte positions of Kafka's RecordBatch layout).
fn batch_header(batch: &[u8]) -> Option<(i64, i64, i16, i64)> {
    const HEADER: usize = 61;
    if batch.len() < HEADER || batch[16] != 2 {
        return None;
    }
    let i64_at = |at: usize| i64::from_be_bytes(batch[at..at + 8].try_into().expect("8 bytes"));
    let base = i64_at(0);
    let last_delta = i32::from_be_bytes(batch[23..27].try_into().expect("4 bytes"));
    let attributes = i16::from_be_bytes(batch[21..23].try_into().expect("2 bytes"));
    Some((base, base + i64::from(last_delta), attributes, i64_at(43)))
}

const TRANSACTIONAL: i16 = 0x10;
const CONTROL: i16 = 0x20;

/// Decodes the whole batches in a fetch response into `out`, skipping records below `pos`
/// (a batch is served whole from its start), control batches, the batches of aborted
/// transactions (when `aborted` is given: read_committed) and a partial batch cut at the end;
/// adds what they count against the read-ahead limit to `out_bytes`. Returns the next
/// position: past every whole batch, so a fetch ending in skipped batches moves on.
fn decode_into(
    tp: &TopicPartition,
    mut pos: i64,
    mut bytes: Bytes,
    mut aborted: Option<&mut AbortedTransactions>,
    out: &mut Vec<ConsumerRecord>,
    out_bytes: &mut usize,
) -> Result<i64> {
    while bytes.remaining() >= 12 {
        let len = i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        let total = len.max(0) as usize + 12;
        if bytes.remaining() < total {
            break;
        }
        let mut one = bytes.split_to(total);
        let mut batch_end = None;
        if let Some((_, last, attributes, producer_id)) = batch_header(&one) {
            batch_end = Some(last + 1);
            if let Some(aborted) = aborted.as_deref_mut() {
                aborted.reach(last);
                if attributes & CONTROL != 0 {
                    // The marker ends the producer's transaction, aborted or not.
                    aborted.open.remove(&producer_id);
                } else if attributes & TRANSACTIONAL != 0 && aborted.open.contains(&producer_id) {
                    pos = pos.max(last + 1);
                    continue;
                }
            }
            if attributes & CONTROL != 0 || last < pos {
                pos = pos.max(last + 1);
                continue;
            }
        }
        let set = RecordBatchDecoder::decode(&mut one)
            .map_err(|e| Error::Protocol { broker: tp.to_string(), reason: format!("record batch: {e}") })?;
        out.reserve(set.records.len());
        for r in set.records {
            if r.offset < pos || r.control {
                continue;
            }
            pos = r.offset + 1;
            let record = ConsumerRecord {
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r.headers.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            };
            *out_bytes += record_bytes(&record);
            out.push(record);
        }
        // Records compacted away at the batch's end leave its last offset behind them.
        if let Some(end) = batch_end {
            pos = pos.max(end);
        }
    }
    Ok(pos)
}
