//! Dynamic configs: what IncrementalAlterConfigs and AlterConfigs change at run time on BROKER
//! resources (KIP-226: `""` is the cluster-wide default, the node id this broker) and on GROUP
//! resources (KIP-848), kept in `dynamic-configs.json` in the data dir and applied over the
//! static config at every start. Precedence is Kafka's: per-broker dynamic > cluster-default
//! dynamic > static (config file, command line) > default.
//!
//! Group configs live here rather than in the group coordinator's log, as Kafka keeps them in
//! its metadata log rather than in `__consumer_offsets`: a group's config exists whether or not
//! the group does, and every config change is one atomic file replacement.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde::{Deserialize, Serialize};

use crate::config::{BrokerConfig, GroupSettings, apply_topic_config};
use crate::error::{Error, Result};
use crate::group::{ConsumerOverride, GroupConfigOverrides};
use crate::log::disk;

const FILE: &str = "dynamic-configs.json";

/// A config's type as Kafka declares it, for its "Invalid value" messages.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// A 32-bit integer, with its least value.
    Int(Option<i64>),
    /// A 64-bit integer, with its least value.
    Long(Option<i64>),
    /// A number within these bounds.
    Double(f64, f64),
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// A comma-separated list of these strings: APPEND and SUBTRACT apply.
    ListOf(&'static [&'static str]),
}

const POLICIES: &[&str] = &["compact", "delete"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

/// The broker settings that may change at run time (Kafka's `DynamicLogConfig` and
/// `LogCleaner` reconfigurable configs that this broker has), with Kafka's type of each.
pub(crate) const DYNAMIC_BROKER_CONFIGS: &[(&str, Kind)] = &[
    ("log.segment.bytes", Kind::Int(Some(1))),
    ("log.roll.ms", Kind::Long(Some(1))),
    ("log.retention.ms", Kind::Long(None)),
    ("log.retention.bytes", Kind::Long(None)),
    ("message.max.bytes", Kind::Int(Some(0))),
    ("log.flush.interval.messages", Kind::Long(Some(1))),
    ("log.flush.interval.ms", Kind::Long(None)),
    ("log.index.interval.bytes", Kind::Int(Some(0))),
    ("log.message.timestamp.type", Kind::OneOf(TIMESTAMP_TYPES)),
    ("log.cleanup.policy", Kind::ListOf(POLICIES)),
    ("log.cleaner.min.cleanable.ratio", Kind::Double(0.0, 1.0)),
    ("log.cleaner.delete.retention.ms", Kind::Long(Some(0))),
    ("log.cleaner.min.compaction.lag.ms", Kind::Long(Some(0))),
    ("log.cleaner.max.compaction.lag.ms", Kind::Long(Some(1))),
    // The cleaner's own: a change restarts the cleaner threads with the new settings.
    ("log.cleaner.threads", Kind::Int(Some(0))),
    ("log.cleaner.dedupe.buffer.size", Kind::Long(None)),
    ("log.cleaner.io.max.bytes.per.second", Kind::Double(f64::MIN_POSITIVE, f64::MAX)),
    ("log.cleaner.backoff.ms", Kind::Long(Some(0))),
];

/// Each topic config and the broker setting that is its default (Kafka's synonyms).
pub(crate) const TOPIC_SYNONYMS: &[(&str, &str)] = &[
    ("segment.bytes", "log.segment.bytes"),
    ("segment.ms", "log.roll.ms"),
    ("retention.ms", "log.retention.ms"),
    ("retention.bytes", "log.retention.bytes"),
    ("max.message.bytes", "message.max.bytes"),
    ("flush.messages", "log.flush.interval.messages"),
    ("flush.ms", "log.flush.interval.ms"),
    ("index.interval.bytes", "log.index.interval.bytes"),
    ("message.timestamp.type", "log.message.timestamp.type"),
    ("cleanup.policy", "log.cleanup.policy"),
    ("min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio"),
    ("delete.retention.ms", "log.cleaner.delete.retention.ms"),
    ("min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms"),
    ("max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms"),
];

/// The broker setting a topic config defaults to.
pub(crate) fn broker_synonym(topic_key: &str) -> Option<&'static str> {
    TOPIC_SYNONYMS.iter().find(|(t, _)| *t == topic_key).map(|(_, b)| *b)
}

/// The topic config a broker setting is the default of.
pub(crate) fn topic_synonym(broker_key: &str) -> Option<&'static str> {
    TOPIC_SYNONYMS.iter().find(|(_, b)| *b == broker_key).map(|(t, _)| *t)
}

/// Whether `key` may be set on a BROKER resource.
pub(crate) fn is_dynamic(key: &str) -> bool {
    DYNAMIC_BROKER_CONFIGS.iter().any(|(k, _)| *k == key)
}

/// Kafka's default of a list config, where APPEND and SUBTRACT start when nothing is set at
/// the level they change: the built-in default, not the effective value (so APPEND
/// `compact` to a topic without an override gives `delete,compact` whatever the broker's
/// default is, as on Kafka). `None` for a config that is not a list.
pub(crate) fn list_default(key: &str) -> Option<&'static str> {
    match key {
        "cleanup.policy" | "log.cleanup.policy" => Some("delete"),
        _ => None,
    }
}

/// APPEND (`append`) or SUBTRACT a list of values to or from `current`, as Kafka does: appended
/// values not already present go at the end; subtracted ones are removed; order is kept.
pub(crate) fn edit_list(current: &str, values: &str, append: bool) -> String {
    let mut items: Vec<&str> = current.split(',').filter(|s| !s.is_empty()).collect();
    for v in values.split(',') {
        if append {
            if !v.is_empty() && !items.contains(&v) {
                items.push(v);
            }
        } else {
            items.retain(|i| *i != v);
        }
    }
    items.join(",")
}

/// Checks `value` against `key`'s type, with Kafka's words:
/// `Invalid value abc for configuration log.retention.ms: Not a number of type LONG`.
fn check_kind(key: &str, value: &str, kind: Kind) -> std::result::Result<(), String> {
    let invalid = |v: &str, why: String| Err(format!("Invalid value {v} for configuration {key}: {why}"));
    let v = value.trim();
    match kind {
        Kind::Int(min) | Kind::Long(min) => {
            let parsed = match kind {
                Kind::Int(_) => v.parse::<i32>().map(i64::from).ok(),
                _ => v.parse::<i64>().ok(),
            };
            let Some(n) = parsed else {
                let ty = if matches!(kind, Kind::Int(_)) { "INT" } else { "LONG" };
                return invalid(v, format!("Not a number of type {ty}"));
            };
            match min {
                Some(m) if n < m => invalid(v, format!("Value must be at least {m}")),
                _ => Ok(()),
            }
        }
        Kind::Double(lo, hi) => match v.parse::<f64>() {
            Ok(n) if n.is_nan() || n < lo => invalid(v, format!("Value must be at least {lo}")),
            Ok(n) if n > hi => invalid(v, format!("Value must be no more than {hi}")),
            Ok(_) => Ok(()),
            Err(_) => invalid(v, "Not a number of type DOUBLE".into()),
        },
        Kind::OneOf(allowed) => match allowed.contains(&v) {
            true => Ok(()),
            false => invalid(v, format!("String must be one of: {}", allowed.join(", "))),
        },
        Kind::ListOf(allowed) => match v.split(',').map(str::trim).find(|i| !i.is_empty() && !allowed.contains(i)) {
            Some(bad) => invalid(bad, format!("String must be one of: {}", allowed.join(", "))),
            None => Ok(()),
        },
    }
}

/// Applies one dynamic broker setting to `config`, checked as Kafka checks it.
fn apply_broker_setting(config: &mut BrokerConfig, key: &str, value: &str) -> std::result::Result<(), String> {
    let Some((_, kind)) = DYNAMIC_BROKER_CONFIGS.iter().find(|(k, _)| *k == key) else {
        return Err(format!("Cannot update these configs dynamically: Set({key})"));
    };
    check_kind(key, value, *kind)?;
    let applied = match topic_synonym(key) {
        // Applied to the log defaults without checking them against each other yet: a request
        // may change both compaction lags, and they are checked together once all are in.
        Some(topic_key) => apply_topic_config(&mut config.log, topic_key, value),
        None => config.set(key, value),
    };
    applied.map_err(|e| {
        let why = match e {
            Error::Config(m) | Error::InvalidConfig(m) => m,
            other => other.to_string(),
        };
        format!("Invalid value {value} for configuration {key}: {why}")
    })
}

/// What is kept in `dynamic-configs.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stored {
    /// BROKER resource `""`: the cluster-wide defaults.
    #[serde(default)]
    pub(crate) cluster_default: BTreeMap<String, String>,
    /// BROKER resources by node id; only this broker's apply here.
    #[serde(default)]
    pub(crate) brokers: BTreeMap<i32, BTreeMap<String, String>>,
    /// GROUP resources by group id.
    #[serde(default)]
    pub(crate) groups: BTreeMap<String, BTreeMap<String, String>>,
}

/// The dynamic configs as they stand, and the broker settings they make.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) stored: Stored,
    /// The static config with the cluster defaults and this broker's settings over it.
    pub(crate) effective: BrokerConfig,
}

/// The dynamic configs of this broker. Readers take a snapshot; writers serialize on
/// [`DynamicConfigs::lock`], persist, then [`DynamicConfigs::install`].
#[derive(Debug)]
pub(crate) struct DynamicConfigs {
    path: PathBuf,
    static_config: BrokerConfig,
    current: RwLock<Arc<Snapshot>>,
    writer: Mutex<()>,
    groups: Arc<GroupConfigOverrides>,
}

impl DynamicConfigs {
    /// Loads `dynamic-configs.json` from the data dir. A stored setting that no longer applies
    /// (not dynamic, or a value this broker refuses) is logged and ignored, as Kafka does.
    pub(crate) fn open(static_config: &BrokerConfig) -> Result<DynamicConfigs> {
        let path = static_config.data_dir.join(FILE);
        let mut stored: Stored = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Config(format!("{} is not valid: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Stored::default(),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
        };
        let mut effective = static_config.clone();
        apply_leniently(&mut effective, "cluster default", &mut stored.cluster_default);
        if let Some(mine) = stored.brokers.get_mut(&static_config.node_id) {
            apply_leniently(&mut effective, "this broker", mine);
        }
        if let Err(e) = effective.log.validate() {
            tracing::error!(error = %e, "the dynamic log settings contradict each other; the static ones apply");
            effective = static_config.clone();
        }
        let configs = DynamicConfigs {
            path,
            static_config: static_config.clone(),
            current: RwLock::new(Arc::new(Snapshot { stored: Stored::default(), effective: effective.clone() })),
            writer: Mutex::new(()),
            groups: Arc::default(),
        };
        configs.install(stored, effective);
        Ok(configs)
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Held by a change from its first read to its install, so changes never interleave.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The config file and command line, without any dynamic setting.
    pub(crate) fn static_config(&self) -> &BrokerConfig {
        &self.static_config
    }

    /// The per-group settings the group coordinator reads.
    pub(crate) fn group_overrides(&self) -> Arc<GroupConfigOverrides> {
        Arc::clone(&self.groups)
    }

    /// The broker settings `stored` makes, every setting checked; the message says what is
    /// wrong as Kafka words it.
    pub(crate) fn effective_of(&self, stored: &Stored) -> std::result::Result<BrokerConfig, String> {
        let mut effective = self.static_config.clone();
        let mine = stored.brokers.get(&self.static_config.node_id);
        for level in [Some(&stored.cluster_default), mine].into_iter().flatten() {
            for (k, v) in level {
                apply_broker_setting(&mut effective, k, v)?;
            }
        }
        effective.log.validate().map_err(|e| match e {
            Error::InvalidConfig(m) => m,
            other => other.to_string(),
        })?;
        Ok(effective)
    }

    /// Writes `stored` to the data dir, atomically and durably.
    pub(crate) fn persist(&self, stored: &Stored) -> Result<()> {
        let json = serde_json::to_vec_pretty(stored).map_err(|e| Error::Config(e.to_string()))?;
        disk::replace_file(&self.path, &json, true).map_err(Error::io(format!("writing {FILE}")))
    }

    /// Makes `stored` (already persisted) and the settings it makes the current ones.
    pub(crate) fn install(&self, stored: Stored, effective: BrokerConfig) {
        let groups = stored.groups.iter().map(|(id, configs)| (id.clone(), consumer_override(configs))).collect();
        self.groups.replace(groups);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Snapshot { stored, effective });
    }
}

/// Applies the settings of one level at start, dropping (and logging) those that fail.
fn apply_leniently(effective: &mut BrokerConfig, level: &str, settings: &mut BTreeMap<String, String>) {
    settings.retain(|k, v| match apply_broker_setting(effective, k, v) {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(level, key = %k, value = %v, error = %e, "a stored dynamic broker config is ignored");
            false
        }
    });
}

/// The configs Kafka 4.1 lists for a GROUP resource, with the defaults of those this broker
/// does not take from its own settings. Only the `consumer.` ones can be set: this broker
/// has no share groups and no streams groups.
pub(crate) const GROUP_CONFIGS: &[(&str, Option<&str>)] = &[
    ("consumer.session.timeout.ms", None),
    ("consumer.heartbeat.interval.ms", None),
    ("share.session.timeout.ms", Some("45000")),
    ("share.heartbeat.interval.ms", Some("5000")),
    ("share.record.lock.duration.ms", Some("30000")),
    ("share.auto.offset.reset", Some("latest")),
    ("share.isolation.level", Some("read_uncommitted")),
    ("streams.session.timeout.ms", Some("45000")),
    ("streams.heartbeat.interval.ms", Some("5000")),
    ("streams.num.standby.replicas", Some("0")),
];

const CONSUMER_SESSION: &str = "consumer.session.timeout.ms";
const CONSUMER_HEARTBEAT: &str = "consumer.heartbeat.interval.ms";

/// Every GROUP config with its value for a group with `overrides`: (name, value, set for the
/// group).
pub(crate) fn group_config_values(
    settings: &GroupSettings,
    overrides: Option<&BTreeMap<String, String>>,
) -> Vec<(&'static str, String, bool)> {
    GROUP_CONFIGS
        .iter()
        .map(|(name, default)| match overrides.and_then(|o| o.get(*name)) {
            Some(v) => (*name, v.clone(), true),
            None => {
                let value = match (*name, default) {
                    (CONSUMER_SESSION, _) => settings.consumer_session_timeout_ms.to_string(),
                    (CONSUMER_HEARTBEAT, _) => settings.consumer_heartbeat_interval_ms.to_string(),
                    (_, d) => d.unwrap_or_default().to_owned(),
                };
                (*name, value, false)
            }
        })
        .collect()
}

/// Whether `key` is a GROUP config (an unknown one is INVALID_CONFIG).
pub(crate) fn is_group_config(key: &str) -> bool {
    GROUP_CONFIGS.iter().any(|(k, _)| *k == key)
}

/// Checks a group's whole set of configs as Kafka's GroupConfig does: known names, integers of
/// at least 1, within the broker's `group.consumer.{min,max}.*` bounds, and a session longer
/// than the heartbeat interval. The message is Kafka's (INVALID_CONFIG).
pub(crate) fn check_group_configs(
    settings: &GroupSettings,
    configs: &BTreeMap<String, String>,
) -> std::result::Result<(), String> {
    for key in configs.keys() {
        if !is_group_config(key) {
            return Err(format!("Unknown group config name: {key}"));
        }
        if key != CONSUMER_SESSION && key != CONSUMER_HEARTBEAT {
            return Err(format!(
                "{key} cannot be set: this broker has no {} groups",
                key.split('.').next().unwrap_or_default()
            ));
        }
    }
    let int = |key: &str, default: i64| -> std::result::Result<i64, String> {
        match configs.get(key) {
            None => Ok(default),
            Some(v) => {
                check_kind(key, v, Kind::Int(Some(1)))?;
                Ok(v.trim().parse::<i64>().unwrap_or(default))
            }
        }
    };
    let heartbeat = int(CONSUMER_HEARTBEAT, i64::from(settings.consumer_heartbeat_interval_ms))?;
    let session = int(CONSUMER_SESSION, settings.consumer_session_timeout_ms.min(i32::MAX as u64) as i64)?;
    let (min_hb, max_hb) = settings.consumer_heartbeat_interval_bounds();
    let (min_session, max_session) = settings.consumer_session_timeout_bounds();
    if heartbeat < min_hb {
        return Err(format!(
            "{CONSUMER_HEARTBEAT} must be greater than or equal to group.consumer.min.heartbeat.interval.ms"
        ));
    }
    if heartbeat > max_hb {
        return Err(format!(
            "{CONSUMER_HEARTBEAT} must be less than or equal to group.consumer.max.heartbeat.interval.ms"
        ));
    }
    if session < min_session {
        return Err(format!(
            "{CONSUMER_SESSION} must be greater than or equal to group.consumer.min.session.timeout.ms"
        ));
    }
    if session > max_session {
        return Err(format!("{CONSUMER_SESSION} must be less than or equal to group.consumer.max.session.timeout.ms"));
    }
    if session <= heartbeat {
        return Err(format!("{CONSUMER_SESSION} must be greater than {CONSUMER_HEARTBEAT}"));
    }
    Ok(())
}

fn consumer_override(configs: &BTreeMap<String, String>) -> ConsumerOverride {
    let int = |key: &str| configs.get(key).and_then(|v| v.trim().parse::<i32>().ok()).filter(|v| *v > 0);
    ConsumerOverride { session_timeout_ms: int(CONSUMER_SESSION), heartbeat_interval_ms: int(CONSUMER_HEARTBEAT) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_edited_as_kafka_does() {
        assert_eq!(edit_list("delete", "compact", true), "delete,compact");
        assert_eq!(edit_list("delete,compact", "compact", true), "delete,compact");
        assert_eq!(edit_list("delete,compact", "delete", false), "compact");
        assert_eq!(edit_list("compact", "compact", false), "");
        assert_eq!(edit_list("", "delete", false), "");
    }

    #[test]
    fn values_are_checked_with_kafkas_words() {
        let mut c = BrokerConfig::default();
        assert_eq!(
            apply_broker_setting(&mut c, "log.retention.ms", "abc").unwrap_err(),
            "Invalid value abc for configuration log.retention.ms: Not a number of type LONG"
        );
        assert_eq!(
            apply_broker_setting(&mut c, "num.partitions", "3").unwrap_err(),
            "Cannot update these configs dynamically: Set(num.partitions)"
        );
        assert_eq!(
            apply_broker_setting(&mut c, "log.cleanup.policy", "compact,bogus").unwrap_err(),
            "Invalid value bogus for configuration log.cleanup.policy: String must be one of: compact, delete"
        );
        apply_broker_setting(&mut c, "log.retention.ms", "3600000").unwrap();
        apply_broker_setting(&mut c, "log.cleaner.min.cleanable.ratio", "0.25").unwrap();
        apply_broker_setting(&mut c, "log.cleaner.threads", "2").unwrap();
        assert_eq!((c.log.retention_ms, c.log.min_cleanable_dirty_ratio, c.cleaner.threads), (3_600_000, 0.25, 2));
    }

    #[test]
    fn group_configs_are_bounded_by_the_brokers_settings() {
        let s = GroupSettings::default();
        let set = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(check_group_configs(&s, &set(&[("consumer.session.timeout.ms", "50000")])).is_ok());
        assert_eq!(
            check_group_configs(&s, &set(&[("consumer.session.timeout.ms", "100")])).unwrap_err(),
            "consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"
        );
        assert_eq!(
            check_group_configs(&s, &set(&[("consumer.heartbeat.interval.ms", "x")])).unwrap_err(),
            "Invalid value x for configuration consumer.heartbeat.interval.ms: Not a number of type INT"
        );
        assert_eq!(check_group_configs(&s, &set(&[("foo", "1")])).unwrap_err(), "Unknown group config name: foo");
        // A broker configured below Kafka's minimum takes its own value as the bound.
        let short = GroupSettings { consumer_session_timeout_ms: 6000, consumer_heartbeat_interval_ms: 500, ..s };
        assert!(check_group_configs(&short, &set(&[("consumer.heartbeat.interval.ms", "1000")])).is_ok());
        assert_eq!(
            check_group_configs(&short, &set(&[("consumer.heartbeat.interval.ms", "7000")])).unwrap_err(),
            "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"
        );
    }
}
