//! The topics this broker holds: names, ids, partitions and per-topic config, persisted in
//! `topics.json` so they survive restarts. Each partition owns its log behind its own lock;
//! fetches waiting for data register here to be woken by the next append.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::config::apply_topic_config;
use crate::error::{Error, Result};
use crate::log::{LogConfig, PartitionLog, SegmentFiles, disk};

const TOPICS_FILE: &str = "topics.json";

/// Kafka's rule for topic names.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| Err(Error::InvalidTopic { name: name.to_owned(), reason: reason.to_owned() });
    if name.is_empty() {
        return invalid("empty");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are not allowed");
    }
    if name.len() > 249 {
        return invalid("longer than 249 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// `name` as it appears in metric names, where '.' becomes '_'.
fn fold_metric_name(name: &str) -> String {
    name.replace('.', "_")
}

/// An error's text without the "invalid config: " its display adds.
fn message_of(e: Error) -> String {
    match e {
        Error::InvalidConfig(m) => m,
        other => other.to_string(),
    }
}

/// A partition holds one descriptor open: its active segment's log. Index files are opened
/// only while a flush writes them, and older segments' logs only when read, in the broker's
/// [`SegmentFiles`] cache, whose cap the budget reserves separately.
const DESCRIPTORS_PER_PARTITION: u64 = 1;

/// The share of the open-file limit the broker keeps for sealed segments' files opened by
/// reads (one eighth), and the bounds on it.
const SEGMENT_FILES_SHARE: u64 = 8;
const MIN_SEGMENT_FILES: u64 = 16;
const MAX_SEGMENT_FILES: u64 = 4096;

/// How many sealed segments' files the broker keeps open at once: an eighth of the soft
/// open-file limit (a reader of an evicted segment opens it again), within bounds. Enough for
/// the segments consumers catching up and the cleaner are reading at a time, while leaving
/// the limit to active segments and connections.
fn segment_files_cap(limit: Option<u64>) -> usize {
    let cap =
        limit.map_or(MAX_SEGMENT_FILES, |l| (l / SEGMENT_FILES_SHARE).clamp(MIN_SEGMENT_FILES, MAX_SEGMENT_FILES));
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// Refuses to open `new_partitions` more partitions when their descriptors, with room for the
/// sealed-segment cache to fill up, would not fit in the process's limit with a quarter of it
/// left for connections and everything else: better a clear error up front than "Too many
/// open files" half-way through creating a topic.
fn check_descriptor_budget(new_partitions: i32, files: &SegmentFiles) -> Result<()> {
    let Some(limit) = descriptor_limit() else { return Ok(()) };
    let open = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0);
    let cache_room = files.cap().saturating_sub(files.open_count()) as u64;
    let needed = new_partitions.max(0) as u64 * DESCRIPTORS_PER_PARTITION;
    let budget = limit - limit / 4;
    if open + cache_room + needed > budget {
        return Err(Error::InvalidPartitions(format!(
            "{new_partitions} new partitions need about {needed} file descriptors; {open} are open, {cache_room} \
             more are kept for reading older segments, and the process may have {limit} (RLIMIT_NOFILE), a \
             quarter of which is kept for connections: raise the limit or create fewer partitions"
        )));
    }
    Ok(())
}

fn descriptor_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One partition: its log (None once the topic is deleted) and the fetches waiting on it.
#[derive(Debug)]
pub struct Partition {
    pub topic: String,
    pub index: i32,
    log: Mutex<Option<PartitionLog>>,
    waiters: Mutex<Vec<Weak<Notify>>>,
}

impl Partition {
    /// Runs `f` with the log locked. Never hold across an await: the lock guards blocking
    /// file operations only.
    pub fn with_log<T>(&self, f: impl FnOnce(&mut PartitionLog) -> Result<T>) -> Result<T> {
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(log) => f(log),
            None => Err(Error::UnknownTopicOrPartition(format!("{}-{}", self.topic, self.index))),
        }
    }

    /// Compacts this partition's log once (see `log::clean`); the log stays readable and
    /// writable meanwhile.
    pub fn clean(
        &self,
        options: &crate::log::CleaningOptions,
        throttle: &crate::log::Throttle,
        cancel: &std::sync::atomic::AtomicBool,
        now_ms: i64,
    ) -> std::io::Result<Option<crate::log::CleanerStats>> {
        crate::log::clean(&self.log, options, throttle, cancel, now_ms)
    }

    /// Wakes every fetch waiting on this partition (data was appended).
    pub fn wake_waiters(&self) {
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|p| p.into_inner()));
        for w in waiters {
            if let Some(n) = w.upgrade() {
                n.notify_one();
            }
        }
    }

    /// Registers a waiting fetch; dead registrations of finished fetches are pruned here.
    pub fn register_waiter(&self, notify: &Arc<Notify>) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        waiters.retain(|w| w.strong_count() > 0);
        waiters.push(Arc::downgrade(notify));
    }

    fn close(&self) -> Result<()> {
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = guard.as_mut() {
            log.close().map_err(Error::io(format!("closing {}", log.dir().display())))?;
        }
        Ok(())
    }

    fn take_log(&self) -> Option<PartitionLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    partitions: RwLock<Vec<Arc<Partition>>>,
    settings: RwLock<TopicSettings>,
}

#[derive(Debug, Clone)]
struct TopicSettings {
    /// Per-topic overrides (at creation or altered since), on top of the broker defaults.
    overrides: BTreeMap<String, String>,
    log_config: LogConfig,
}

impl Topic {
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        let parts = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        usize::try_from(index).ok().and_then(|i| parts.get(i).cloned())
    }

    pub fn partition_count(&self) -> usize {
        self.partitions.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn log_config(&self) -> LogConfig {
        self.settings.read().unwrap_or_else(|p| p.into_inner()).log_config.clone()
    }

    pub fn overrides(&self) -> BTreeMap<String, String> {
        self.settings.read().unwrap_or_else(|p| p.into_inner()).overrides.clone()
    }
}

#[derive(Serialize, Deserialize)]
struct TopicRecord {
    name: String,
    id: Uuid,
    partitions: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

/// All topics. Topic creation, deletion and growth are serialized by `admin`; lookups take
/// a read lock only.
#[derive(Debug)]
pub struct TopicRegistry {
    data_dir: PathBuf,
    /// The broker's topic defaults: static settings with the dynamic ones over them.
    defaults: RwLock<LogConfig>,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    admin: Mutex<()>,
    /// Sealed segments' open files, capped across every partition.
    segment_files: Arc<SegmentFiles>,
}

fn partition_dir(data_dir: &Path, topic: &str, index: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{index}"))
}

impl TopicRegistry {
    /// Loads the topics recorded in `data_dir`, recovering each partition's log.
    pub fn open(data_dir: &Path, defaults: LogConfig) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(Error::io(format!("creating data dir {}", data_dir.display())))?;
        let registry = TopicRegistry {
            data_dir: data_dir.to_owned(),
            defaults: RwLock::new(defaults),
            segment_files: SegmentFiles::new(segment_files_cap(descriptor_limit())),
            topics: RwLock::new(HashMap::new()),
            admin: Mutex::new(()),
        };
        let path = data_dir.join(TOPICS_FILE);
        let records: Vec<TopicRecord> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Config(format!("{} is not valid: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
        };
        let now = crate::log::now_ms();
        let mut topics = HashMap::new();
        for rec in records {
            let log_config = registry.topic_log_config(&rec.configs)?;
            let mut partitions = Vec::new();
            for index in 0..rec.partitions {
                partitions.push(registry.open_partition(&rec.name, index, &log_config, now)?);
            }
            topics.insert(
                rec.name.clone(),
                Arc::new(Topic {
                    name: rec.name,
                    id: rec.id,
                    partitions: RwLock::new(partitions),
                    settings: RwLock::new(TopicSettings { overrides: rec.configs, log_config }),
                }),
            );
        }
        *registry.topics.write().unwrap_or_else(|p| p.into_inner()) = topics;
        Ok(registry)
    }

    fn topic_log_config(&self, overrides: &BTreeMap<String, String>) -> Result<LogConfig> {
        let defaults = self.defaults.read().unwrap_or_else(|p| p.into_inner()).clone();
        Self::log_config_over(defaults, overrides)
    }

    fn log_config_over(mut cfg: LogConfig, overrides: &BTreeMap<String, String>) -> Result<LogConfig> {
        for (k, v) in overrides {
            apply_topic_config(&mut cfg, k, v)?;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn open_partition(&self, topic: &str, index: i32, cfg: &LogConfig, now: i64) -> Result<Arc<Partition>> {
        let dir = partition_dir(&self.data_dir, topic, index);
        let log = PartitionLog::open_in(&dir, cfg.clone(), now, &self.segment_files)
            .map_err(Error::io(format!("opening log {}", dir.display())))?;
        Ok(Arc::new(Partition {
            topic: topic.to_owned(),
            index,
            log: Mutex::new(Some(log)),
            waiters: Mutex::new(Vec::new()),
        }))
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.read().unwrap_or_else(|p| p.into_inner()).values().find(|t| t.id == id).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = self.topics.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Creates a topic. With `validate_only`, checks everything and creates nothing.
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>> {
        validate_topic_name(name)?;
        if partitions <= 0 {
            return Err(Error::InvalidPartitions(format!("{partitions} partitions requested; must be at least 1")));
        }
        let log_config = self.topic_log_config(&configs)?;
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        if self.get(name).is_some() {
            return Err(Error::TopicAlreadyExists(name.to_owned()));
        }
        // Kafka's rule: '.' and '_' read the same in metric names, so `a.b` and `a_b` cannot both exist.
        let folded = fold_metric_name(name);
        if let Some(other) = self.all().into_iter().find(|t| fold_metric_name(&t.name) == folded) {
            return Err(Error::InvalidTopic {
                name: name.to_owned(),
                reason: format!(
                    "collides with existing topic {:?} ('.' and '_' are the same in metric names)",
                    other.name
                ),
            });
        }
        check_descriptor_budget(partitions, &self.segment_files)?;
        let topic = Arc::new(Topic {
            name: name.to_owned(),
            id: Uuid::new_v4(),
            partitions: RwLock::new(Vec::new()),
            settings: RwLock::new(TopicSettings { overrides: configs, log_config }),
        });
        if validate_only {
            return Ok(topic);
        }
        let parts = self.open_new_partitions(name, 0..partitions, &topic.log_config())?;
        // Recorded before it is published: a producer must never write to a topic that a
        // failed topics.json write would then take away.
        let record = TopicRecord { name: name.to_owned(), id: topic.id, partitions, configs: topic.overrides() };
        if let Err(e) = self.persist_with(|records| records.push(record)) {
            // Not recorded, so not created: nothing of it may outlive this call.
            self.discard_partitions(parts);
            return Err(e);
        }
        *topic.partitions.write().unwrap_or_else(|p| p.into_inner()) = parts;
        self.topics.write().unwrap_or_else(|p| p.into_inner()).insert(name.to_owned(), Arc::clone(&topic));
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Opens fresh, empty logs for partitions `indexes` of `topic`. All or nothing: on a
    /// failure every directory made here is removed again.
    fn open_new_partitions(
        &self,
        topic: &str,
        indexes: std::ops::Range<i32>,
        cfg: &LogConfig,
    ) -> Result<Vec<Arc<Partition>>> {
        let now = crate::log::now_ms();
        let mut parts = Vec::with_capacity(indexes.len());
        for index in indexes {
            let opened = (|| {
                // A directory left by an earlier topic of this name must not leak its records.
                let dir = partition_dir(&self.data_dir, topic, index);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(Error::io(format!("clearing {}", dir.display())))?;
                }
                self.open_partition(topic, index, cfg, now)
            })();
            match opened {
                Ok(p) => parts.push(p),
                Err(e) => {
                    self.discard_partitions(parts);
                    let _ = std::fs::remove_dir_all(partition_dir(&self.data_dir, topic, index));
                    return Err(e);
                }
            }
        }
        Ok(parts)
    }

    /// Closes and removes partitions that were never made visible.
    fn discard_partitions(&self, parts: Vec<Arc<Partition>>) {
        for p in parts {
            let dir = partition_dir(&self.data_dir, &p.topic, p.index);
            drop(p.take_log());
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir = %dir.display(), error = %e, "removing a partition that was not created failed");
                }
            }
        }
    }

    /// Deletes a topic and its data. Fetches already reading keep what they read.
    pub fn delete(&self, name: &str) -> Result<Arc<Topic>> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self
            .topics
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
            .ok_or_else(|| Error::UnknownTopicOrPartition(name.to_owned()))?;
        self.persist()?;
        for p in topic.partitions() {
            if let Some(log) = p.take_log() {
                let dir = log.dir().to_owned();
                drop(log);
                std::fs::remove_dir_all(&dir).map_err(Error::io(format!("deleting {}", dir.display())))?;
            }
            p.wake_waiters();
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Grows a topic to `total` partitions.
    pub fn add_partitions(&self, name: &str, total: i32, validate_only: bool) -> Result<()> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self.get(name).ok_or_else(|| Error::UnknownTopicOrPartition(name.to_owned()))?;
        let current = topic.partition_count() as i32;
        if total <= current {
            return Err(Error::InvalidPartitions(format!(
                "topic {name} has {current} partitions; the new count {total} must be larger"
            )));
        }
        check_descriptor_budget(total - current, &self.segment_files)?;
        if validate_only {
            return Ok(());
        }
        let new = self.open_new_partitions(name, current..total, &topic.log_config())?;
        let recorded = self.persist_with(|records| {
            if let Some(r) = records.iter_mut().find(|r| r.name == name) {
                r.partitions = total;
            }
        });
        if let Err(e) = recorded {
            self.discard_partitions(new);
            return Err(e);
        }
        topic.partitions.write().unwrap_or_else(|p| p.into_inner()).extend(new);
        Ok(())
    }

    /// Changes a topic's overrides to what `edit` makes of the current ones (a config it
    /// leaves out goes back to the broker default). Open logs take the new settings at once;
    /// they are persisted with the topic. With `validate_only`, checks and changes nothing.
    pub fn alter_configs(
        &self,
        name: &str,
        edit: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>>,
        validate_only: bool,
    ) -> Result<()> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self.get(name).ok_or_else(|| Error::UnknownTopicOrPartition(name.to_owned()))?;
        let overrides = edit(&topic.overrides())?;
        let log_config = self.topic_log_config(&overrides)?;
        if validate_only {
            return Ok(());
        }
        // Recorded first: a change that cannot be persisted is not made.
        self.persist_with(|records| {
            if let Some(r) = records.iter_mut().find(|r| r.name == name) {
                r.configs = overrides.clone();
            }
        })?;
        tracing::info!(topic = name, ?overrides, "altered topic configs");
        *topic.settings.write().unwrap_or_else(|p| p.into_inner()) =
            TopicSettings { overrides, log_config: log_config.clone() };
        for p in topic.partitions() {
            p.with_log(|log| {
                log.set_config(log_config.clone());
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Replaces the broker's topic defaults (a dynamic broker config changed): every topic
    /// without its own override of a setting takes the new default at once, open logs
    /// included, and so do topics created from now on. A topic whose settings the new defaults
    /// would make invalid refuses the change. `record` persists the change once it is known to
    /// apply; if it fails, nothing changes. With `validate_only`, checks and changes nothing.
    pub fn change_defaults(
        &self,
        defaults: &LogConfig,
        validate_only: bool,
        record: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let mut planned = Vec::new();
        for topic in self.all() {
            let cfg = Self::log_config_over(defaults.clone(), &topic.overrides()).map_err(|e| {
                Error::InvalidConfig(format!("topic {} with the new defaults: {}", topic.name, message_of(e)))
            })?;
            planned.push((topic, cfg));
        }
        if validate_only {
            return Ok(());
        }
        record()?;
        *self.defaults.write().unwrap_or_else(|p| p.into_inner()) = defaults.clone();
        for (topic, cfg) in planned {
            let mut settings = topic.settings.write().unwrap_or_else(|p| p.into_inner());
            if settings.log_config == cfg {
                continue;
            }
            settings.log_config = cfg.clone();
            drop(settings);
            for p in topic.partitions() {
                // A partition of a topic being deleted has no log any more: nothing to change.
                let _ = p.with_log(|log| {
                    log.set_config(cfg.clone());
                    Ok(())
                });
            }
        }
        Ok(())
    }

    /// The broker's topic defaults as they stand.
    pub fn defaults(&self) -> LogConfig {
        self.defaults.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn persist(&self) -> Result<()> {
        self.persist_with(|_| {})
    }

    /// Writes topics.json as the registry stands, changed by `change` first: a topic or
    /// partitions not published yet are recorded before anyone can write to them.
    fn persist_with(&self, change: impl FnOnce(&mut Vec<TopicRecord>)) -> Result<()> {
        let mut records: Vec<TopicRecord> = self
            .all()
            .iter()
            .map(|t| TopicRecord {
                name: t.name.clone(),
                id: t.id,
                partitions: t.partition_count() as i32,
                configs: t.overrides(),
            })
            .collect();
        change(&mut records);
        let json = serde_json::to_vec_pretty(&records).map_err(|e| Error::Config(e.to_string()))?;
        disk::replace_file(&self.data_dir.join(TOPICS_FILE), &json, true).map_err(Error::io("writing topics.json"))
    }

    /// Every partition of every topic.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.all().iter().flat_map(|t| t.partitions()).collect()
    }

    /// Flushes and closes every log it can, marking each a clean stop. A log that cannot be
    /// flushed (a full or failing disk) is left unmarked, so the next start recovers it; the
    /// others still close cleanly. Returns how many could not.
    pub fn close(&self) -> usize {
        let mut failed = 0;
        for p in self.all_partitions() {
            if let Err(e) = p.close() {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "flushing at shutdown failed; the next start recovers this log");
                failed += 1;
            }
        }
        failed
    }
}
