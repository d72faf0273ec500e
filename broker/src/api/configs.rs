//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs on TOPIC, BROKER and GROUP
//! resources, as Kafka 4.1 answers them. Topic configs are the topic's overrides; broker
//! configs are static except the dynamic ones ([`crate::dynamic_config`]), set on `""` (the
//! cluster-wide default) or on this broker's node id; group configs are a KIP-848 group's own
//! session timeout and heartbeat interval.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::*;

use super::{NONE, str_bytes};
use crate::config::{BrokerConfig, describe_active_topic_config, describe_topic_config};
use crate::dynamic_config::{self as dynamic, Stored};
use crate::error::Error;
use crate::server::BrokerState;
use crate::topics::Topic;

pub(super) const RESOURCE_TOPIC: i8 = 2;
pub(super) const RESOURCE_BROKER: i8 = 4;
pub(super) const RESOURCE_GROUP: i8 = 32;

/// Where a described value comes from (DescribeConfigs `config_source`).
const SOURCE_TOPIC_CONFIG: i8 = 1;
const SOURCE_DYNAMIC_BROKER_CONFIG: i8 = 2;
const SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const SOURCE_STATIC_BROKER_CONFIG: i8 = 4;
const SOURCE_DEFAULT_CONFIG: i8 = 5;
const SOURCE_GROUP_CONFIG: i8 = 8;

/// IncrementalAlterConfigs operations.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// Why one resource was not described or altered: a Kafka error code and its message.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) code: i16,
    pub(super) message: String,
}

fn invalid_request(message: impl Into<String>) -> Refusal {
    Refusal { code: ResponseError::InvalidRequest.code(), message: message.into() }
}

fn invalid_config(message: impl Into<String>) -> Refusal {
    Refusal { code: ResponseError::InvalidConfig.code(), message: message.into() }
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Refusal {
        let code = e.code();
        let message = match e {
            Error::InvalidConfig(m) => m,
            other => other.to_string(),
        };
        Refusal { code, message }
    }
}

/// One described config: its value, where it comes from and, highest precedence first, every
/// level that sets it (its synonyms).
struct Described {
    name: String,
    value: String,
    source: i8,
    read_only: bool,
    synonyms: Vec<(String, String, i8)>,
}

impl Described {
    /// The config as its highest-precedence level has it.
    fn from_levels(name: &str, read_only: bool, synonyms: Vec<(String, String, i8)>) -> Described {
        let (value, source) = synonyms.first().map(|(_, v, s)| (v.clone(), *s)).unwrap_or_default();
        Described { name: name.to_owned(), value, source, read_only, synonyms }
    }

    fn entry(self, with_synonyms: bool) -> DescribeConfigsResourceResult {
        let synonyms = match with_synonyms {
            true => self
                .synonyms
                .into_iter()
                .map(|(name, value, source)| {
                    DescribeConfigsSynonym::default()
                        .with_name(str_bytes(name))
                        .with_value(Some(str_bytes(value)))
                        .with_source(source)
                })
                .collect(),
            false => Vec::new(),
        };
        DescribeConfigsResourceResult::default()
            .with_name(str_bytes(self.name))
            .with_value(Some(str_bytes(self.value)))
            .with_read_only(self.read_only)
            .with_config_source(self.source)
            .with_synonyms(synonyms)
    }
}

/// The broker settings DescribeConfigs lists for the broker, each with its value in `c`.
fn broker_value(c: &BrokerConfig, key: &str) -> Option<String> {
    let log_value = |topic_key: &str| {
        describe_active_topic_config(&c.log).into_iter().find(|(k, _)| *k == topic_key).map(|(_, v)| v)
    };
    if let Some((topic_key, _)) = dynamic::TOPIC_SYNONYMS.iter().find(|(_, b)| *b == key) {
        return log_value(topic_key);
    }
    let g = &c.groups;
    Some(match key {
        "node.id" => c.node_id.to_string(),
        "num.partitions" => c.num_partitions.to_string(),
        "auto.create.topics.enable" => c.auto_create_topics.to_string(),
        "log.retention.check.interval.ms" => c.retention_check_interval_ms.to_string(),
        "log.cleaner.enable" => c.cleaner.enable.to_string(),
        "log.cleaner.threads" => c.cleaner.threads.to_string(),
        "log.cleaner.backoff.ms" => c.cleaner.backoff_ms.to_string(),
        "log.cleaner.io.max.bytes.per.second" => c.cleaner.io_max_bytes_per_second.to_string(),
        "log.cleaner.dedupe.buffer.size" => c.cleaner.dedupe_buffer_size.to_string(),
        "producer.id.expiration.ms" => c.producer_id_expiration_ms.to_string(),
        "socket.request.max.bytes" => c.socket_request_max_bytes.to_string(),
        "connections.max.idle.ms" => c.connections_max_idle_ms.to_string(),
        "max.connections" => c.max_connections.to_string(),
        "max.connections.per.ip" => c.max_connections_per_ip.to_string(),
        "group.initial.rebalance.delay.ms" => g.initial_rebalance_delay_ms.to_string(),
        "group.min.session.timeout.ms" => g.min_session_timeout_ms.to_string(),
        "group.max.session.timeout.ms" => g.max_session_timeout_ms.to_string(),
        "group.max.size" => g.max_size.to_string(),
        "offsets.retention.minutes" => (g.offsets_retention_ms / 60_000).to_string(),
        "offset.metadata.max.bytes" => g.offset_metadata_max_bytes.to_string(),
        "group.consumer.session.timeout.ms" => g.consumer_session_timeout_ms.to_string(),
        "group.consumer.heartbeat.interval.ms" => g.consumer_heartbeat_interval_ms.to_string(),
        "group.consumer.min.session.timeout.ms" => g.consumer_min_session_timeout_ms.to_string(),
        "group.consumer.max.session.timeout.ms" => g.consumer_max_session_timeout_ms.to_string(),
        "group.consumer.min.heartbeat.interval.ms" => g.consumer_min_heartbeat_interval_ms.to_string(),
        "group.consumer.max.heartbeat.interval.ms" => g.consumer_max_heartbeat_interval_ms.to_string(),
        "transaction.max.timeout.ms" => c.transactions.max_timeout_ms.to_string(),
        "transactional.id.expiration.ms" => c.transactions.id_expiration_ms.to_string(),
        _ => return None,
    })
}

/// What DescribeConfigs lists for this broker, in order.
const BROKER_DESCRIBED: &[&str] = &[
    "node.id",
    "num.partitions",
    "auto.create.topics.enable",
    "log.segment.bytes",
    "log.roll.ms",
    "log.retention.ms",
    "log.retention.bytes",
    "log.retention.check.interval.ms",
    "message.max.bytes",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.index.interval.bytes",
    "log.message.timestamp.type",
    "log.cleanup.policy",
    "log.cleaner.enable",
    "log.cleaner.threads",
    "log.cleaner.backoff.ms",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.min.cleanable.ratio",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms",
    "producer.id.expiration.ms",
    "socket.request.max.bytes",
    "connections.max.idle.ms",
    "max.connections",
    "max.connections.per.ip",
    "group.initial.rebalance.delay.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "group.max.size",
    "offsets.retention.minutes",
    "offset.metadata.max.bytes",
    "group.consumer.session.timeout.ms",
    "group.consumer.heartbeat.interval.ms",
    "group.consumer.min.session.timeout.ms",
    "group.consumer.max.session.timeout.ms",
    "group.consumer.min.heartbeat.interval.ms",
    "group.consumer.max.heartbeat.interval.ms",
    "transaction.max.timeout.ms",
    "transactional.id.expiration.ms",
];

/// The levels a broker setting `key` is set at, highest precedence first: this broker's
/// dynamic setting, the cluster-wide dynamic default, the static config (when it differs from
/// the default) and the default.
fn broker_levels(state: &BrokerState, stored: &Stored, key: &str) -> Vec<(String, String, i8)> {
    let mut levels = Vec::new();
    let node = state.config.node_id;
    if let Some(v) = stored.brokers.get(&node).and_then(|m| m.get(key)) {
        levels.push((key.to_owned(), v.clone(), SOURCE_DYNAMIC_BROKER_CONFIG));
    }
    if let Some(v) = stored.cluster_default.get(key) {
        levels.push((key.to_owned(), v.clone(), SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG));
    }
    let static_value = broker_value(state.dynamic.static_config(), key);
    let default_value = broker_value(&BrokerConfig::default(), key);
    if let Some(v) = static_value.filter(|v| Some(v) != default_value.as_ref()) {
        levels.push((key.to_owned(), v, SOURCE_STATIC_BROKER_CONFIG));
    }
    if let Some(v) = default_value {
        levels.push((key.to_owned(), v, SOURCE_DEFAULT_CONFIG));
    }
    levels
}

/// Every config of a topic, as DescribeConfigs and CreateTopics report them: the topic's own
/// override, else its broker default at the level that sets it.
fn topic_described(state: &BrokerState, topic: &Topic) -> Vec<Described> {
    let overrides = topic.overrides();
    let snapshot = state.dynamic.snapshot();
    describe_topic_config(&topic.log_config(), &overrides)
        .into_iter()
        .map(|(key, effective)| {
            let mut levels = Vec::new();
            if let Some(v) = overrides.get(key) {
                levels.push((key.to_owned(), parsed_form(key, v), SOURCE_TOPIC_CONFIG));
            }
            match dynamic::broker_synonym(key) {
                Some(broker_key) => levels.extend(broker_levels(state, &snapshot.stored, broker_key)),
                None if levels.is_empty() => levels.push((key.to_owned(), effective, SOURCE_DEFAULT_CONFIG)),
                None => {}
            }
            Described::from_levels(key, false, levels)
        })
        .collect()
}

/// A topic config's value as Kafka reports it, parsed: trimmed, and a list's items trimmed
/// and joined by commas in their order (`delete, compact` is `delete,compact`).
fn parsed_form(key: &str, value: &str) -> String {
    match dynamic::list_default(key) {
        Some(_) => value.split(',').map(str::trim).filter(|i| !i.is_empty()).collect::<Vec<_>>().join(","),
        None => value.trim().to_owned(),
    }
}

/// A topic's configs as CreateTopics reports them: (name, value, source).
pub(super) fn topic_configs(state: &BrokerState, topic: &Topic) -> Vec<(String, String, i8)> {
    topic_described(state, topic).into_iter().map(|d| (d.name, d.value, d.source)).collect()
}

/// Which BROKER resource `name` is: `None` the cluster-wide default, `Some` this broker.
fn broker_resource(state: &BrokerState, name: &str, describing: bool) -> Result<Option<i32>, Refusal> {
    if name.is_empty() {
        return Ok(None);
    }
    let node = state.config.node_id;
    let Ok(id) = name.parse::<i32>() else {
        return Err(invalid_request(match describing {
            true => format!("Broker id must be an integer, but it is: {name}"),
            false => format!("Node id must be an integer, but it is: {name}"),
        }));
    };
    if id != node {
        return Err(invalid_request(match describing {
            true => format!("Unexpected broker id, expected {node} or empty string, but received {name}"),
            false => format!("Unexpected broker id, expected {node}, but received {name}"),
        }));
    }
    Ok(Some(id))
}

fn describe_one(
    state: &BrokerState,
    resource_type: i8,
    name: &str,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<Described>, Refusal> {
    match resource_type {
        RESOURCE_TOPIC => {
            let topic = state.topics.get(name).ok_or_else(|| Refusal {
                code: ResponseError::UnknownTopicOrPartition.code(),
                message: format!("topic {name} does not exist"),
            })?;
            Ok(topic_described(state, &topic).into_iter().filter(|d| wanted(&d.name)).collect())
        }
        RESOURCE_BROKER => {
            let snapshot = state.dynamic.snapshot();
            match broker_resource(state, name, true)? {
                // The cluster-wide defaults that are set, and nothing else (as Kafka).
                None => Ok(snapshot
                    .stored
                    .cluster_default
                    .iter()
                    .filter(|(k, _)| wanted(k))
                    .map(|(k, v)| {
                        let level = (k.clone(), v.clone(), SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG);
                        Described::from_levels(k, false, vec![level])
                    })
                    .collect()),
                Some(_) => Ok(BROKER_DESCRIBED
                    .iter()
                    .filter(|k| wanted(k))
                    .map(|k| {
                        Described::from_levels(k, !dynamic::is_dynamic(k), broker_levels(state, &snapshot.stored, k))
                    })
                    .collect()),
            }
        }
        RESOURCE_GROUP => {
            if name.is_empty() {
                return Err(invalid_request("Group name must not be empty"));
            }
            // Any group id is described, existing or not: its own settings, else the defaults.
            let snapshot = state.dynamic.snapshot();
            let own = snapshot.stored.groups.get(name);
            Ok(dynamic::group_config_values(&state.config.groups, own)
                .into_iter()
                .filter(|(k, _, _)| wanted(k))
                .map(|(k, v, set)| {
                    let source = if set { SOURCE_GROUP_CONFIG } else { SOURCE_DEFAULT_CONFIG };
                    Described::from_levels(k, false, vec![(k.to_owned(), v, source)])
                })
                .collect())
        }
        other => Err(invalid_request(format!("resource type {other} is not supported"))),
    }
}

pub(super) fn describe_configs(state: &BrokerState, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            // Null (and, leniently, an empty list) asks for every config.
            let keys = r.configuration_keys.clone();
            let wanted = |name: &str| {
                keys.as_ref().is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| k.as_str() == name))
            };
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match describe_one(state, r.resource_type, &r.resource_name, &wanted) {
                Ok(configs) => result
                    .with_error_code(NONE)
                    .with_configs(configs.into_iter().map(|d| d.entry(req.include_synonyms)).collect()),
                Err(refusal) => {
                    result.with_error_code(refusal.code).with_error_message(Some(str_bytes(refusal.message)))
                }
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// One config change of a request, however it came.
struct Change {
    name: String,
    op: i8,
    value: Option<String>,
}

/// The checks Kafka makes of every resource before anything else: each config named once,
/// and a value for every operation but DELETE.
fn check_changes(changes: &[Change]) -> Result<(), Refusal> {
    let mut seen = std::collections::HashSet::new();
    if !changes.iter().all(|c| seen.insert(c.name.as_str())) {
        return Err(invalid_request("Error due to duplicate config keys"));
    }
    let nulls: Vec<&str> =
        changes.iter().filter(|c| c.op != DELETE && c.value.is_none()).map(|c| c.name.as_str()).collect();
    if !nulls.is_empty() {
        return Err(invalid_request(format!("Null value not supported for : {}", nulls.join(", "))));
    }
    if let Some(c) = changes.iter().find(|c| !(SET..=SUBTRACT).contains(&c.op)) {
        return Err(invalid_request(format!("Unknown operations type {}", c.op)));
    }
    Ok(())
}

/// How a resource type words APPEND or SUBTRACT on a config that is not a list: Kafka's
/// brokers check BROKER resources themselves, its controller the others.
#[derive(Clone, Copy)]
enum Checker {
    Broker,
    Controller,
}

/// The configs of one resource after `changes`, from `current` (the ones set at that level).
/// With `replace` (AlterConfigs), the result is the changes alone.
fn edited(
    current: &BTreeMap<String, String>,
    changes: &[Change],
    replace: bool,
    checker: Checker,
) -> Result<BTreeMap<String, String>, Refusal> {
    let mut configs = if replace { BTreeMap::new() } else { current.clone() };
    for c in changes {
        let value = c.value.clone().unwrap_or_default();
        match c.op {
            SET => {
                configs.insert(c.name.clone(), value);
            }
            DELETE => {
                configs.remove(&c.name);
            }
            op => {
                let append = op == APPEND;
                let Some(default) = dynamic::list_default(&c.name) else {
                    return Err(invalid_config(match checker {
                        Checker::Broker => format!(
                            "Config value {} is not allowed for config key: {}",
                            if append { "append" } else { "subtract" },
                            c.name
                        ),
                        Checker::Controller => format!(
                            "Can't {} to key {} because its type is not LIST.",
                            if append { "APPEND" } else { "SUBTRACT" },
                            c.name
                        ),
                    }));
                };
                let start = configs.get(&c.name).cloned().unwrap_or_else(|| default.to_owned());
                configs.insert(c.name.clone(), dynamic::edit_list(&start, &value, append));
            }
        }
    }
    Ok(configs)
}

/// Alters one resource's configs; `replace` for AlterConfigs, which sets the whole set.
fn alter_one(
    state: &BrokerState,
    resource_type: i8,
    name: &str,
    changes: &[Change],
    replace: bool,
    validate_only: bool,
) -> Result<(), Refusal> {
    check_changes(changes)?;
    match resource_type {
        RESOURCE_TOPIC => {
            if name.is_empty() {
                return Err(invalid_request("Default topic resources are not allowed."));
            }
            let mut refused = None;
            let result = state.topics.alter_configs(
                name,
                |current| {
                    edited(current, changes, replace, Checker::Controller).map_err(|r| {
                        let message = r.message.clone();
                        refused = Some(r);
                        Error::InvalidConfig(message)
                    })
                },
                validate_only,
            );
            match (result, refused) {
                (Ok(()), _) => Ok(()),
                (Err(_), Some(refusal)) => Err(refusal),
                (Err(e), None) => Err(e.into()),
            }
        }
        RESOURCE_BROKER => alter_broker(state, name, changes, replace, validate_only),
        RESOURCE_GROUP => alter_group(state, name, changes, replace, validate_only),
        other => Err(invalid_request(format!("Unknown resource type {other}"))),
    }
}

/// Kafka's checks of a change of the cleaner's settings.
fn check_cleaner_change(
    old: &crate::config::CleanerSettings,
    new: &crate::config::CleanerSettings,
) -> Result<(), Refusal> {
    if old.threads != new.threads {
        if new.threads < 1 {
            return Err(invalid_request("Log cleaner threads should be at least 1"));
        }
        if new.threads < old.threads / 2 {
            return Err(invalid_request(format!(
                "Log cleaner threads cannot be reduced to less than half the current value {}",
                old.threads
            )));
        }
        if new.threads > old.threads * 2 {
            return Err(invalid_request(format!(
                "Log cleaner threads cannot be increased to more than double the current value {}",
                old.threads
            )));
        }
    }
    let changed = old.threads != new.threads || old.dedupe_buffer_size != new.dedupe_buffer_size;
    if changed && new.dedupe_buffer_size / new.threads.max(1) < 1 << 20 {
        return Err(invalid_request(
            "requirement failed: log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread.",
        ));
    }
    Ok(())
}

/// A BROKER resource: the cluster-wide default (`""`) or this broker's dynamic settings.
/// Checked whole, persisted, then applied: topics without their own override take the new
/// defaults at once, and the cleaner restarts with new settings of its own.
fn alter_broker(
    state: &BrokerState,
    name: &str,
    changes: &[Change],
    replace: bool,
    validate_only: bool,
) -> Result<(), Refusal> {
    let level = broker_resource(state, name, false)?;
    let _writer = state.dynamic.lock();
    let snapshot = state.dynamic.snapshot();
    let mut stored = snapshot.stored.clone();
    let current = match level {
        None => stored.cluster_default.clone(),
        Some(id) => stored.brokers.get(&id).cloned().unwrap_or_default(),
    };
    let new = edited(&current, changes, replace, Checker::Broker)?;
    let fixed: Vec<&str> = new.keys().map(String::as_str).filter(|k| !dynamic::is_dynamic(k)).collect();
    if !fixed.is_empty() {
        return Err(invalid_request(format!("Cannot update these configs dynamically: Set({})", fixed.join(", "))));
    }
    match level {
        None => stored.cluster_default = new,
        Some(id) if new.is_empty() => {
            stored.brokers.remove(&id);
        }
        Some(id) => {
            stored.brokers.insert(id, new);
        }
    }
    let effective = state.dynamic.effective_of(&stored).map_err(invalid_request)?;
    check_cleaner_change(&snapshot.effective.cleaner, &effective.cleaner)?;
    state.topics.change_defaults(&effective.log, validate_only, || state.dynamic.persist(&stored))?;
    if validate_only {
        return Ok(());
    }
    let cleaner = effective.cleaner.clone();
    tracing::info!(resource = name, changes = ?changes_names(changes), "altered dynamic broker configs");
    state.dynamic.install(stored, effective);
    if let Err(e) = state.cleaner.reconfigure(&cleaner) {
        tracing::error!(error = %e, "restarting the log cleaner with its new settings failed");
    }
    Ok(())
}

fn changes_names(changes: &[Change]) -> Vec<&str> {
    changes.iter().map(|c| c.name.as_str()).collect()
}

/// A GROUP resource: a KIP-848 group's own session timeout and heartbeat interval, checked
/// against the broker's bounds, persisted, and read by the coordinator at the group's next
/// heartbeat.
fn alter_group(
    state: &BrokerState,
    name: &str,
    changes: &[Change],
    replace: bool,
    validate_only: bool,
) -> Result<(), Refusal> {
    if name.is_empty() {
        return Err(invalid_request("Default group resources are not allowed."));
    }
    let _writer = state.dynamic.lock();
    let snapshot = state.dynamic.snapshot();
    let mut stored = snapshot.stored.clone();
    let current = stored.groups.get(name).cloned().unwrap_or_default();
    let new = edited(&current, changes, replace, Checker::Controller)?;
    dynamic::check_group_configs(&state.config.groups, &new).map_err(invalid_config)?;
    if validate_only {
        return Ok(());
    }
    if new.is_empty() {
        stored.groups.remove(name);
    } else {
        stored.groups.insert(name.to_owned(), new);
    }
    state.dynamic.persist(&stored)?;
    tracing::info!(group = name, changes = ?changes_names(changes), "altered group configs");
    state.dynamic.install(stored, snapshot.effective.clone());
    Ok(())
}

/// Resources named more than once are refused, each of them (Kafka's rule).
fn repeated<'a>(resources: impl Iterator<Item = (i8, &'a str)>) -> HashMap<(i8, String), usize> {
    let mut counts = HashMap::new();
    for (t, n) in resources {
        *counts.entry((t, n.to_owned())).or_insert(0) += 1;
    }
    counts.retain(|_, n| *n > 1);
    counts
}

fn outcome(result: Result<(), Refusal>) -> (i16, Option<kafka_protocol::protocol::StrBytes>) {
    match result {
        Ok(()) => (NONE, None),
        Err(r) => (r.code, Some(str_bytes(r.message))),
    }
}

pub(super) fn incremental_alter_configs(
    state: &BrokerState,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    use incremental_alter_configs_response::AlterConfigsResourceResponse;
    let repeated = repeated(req.resources.iter().map(|r| (r.resource_type, r.resource_name.as_str())));
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let result = if repeated.contains_key(&(r.resource_type, r.resource_name.to_string())) {
                Err(invalid_request("Each resource must appear at most once."))
            } else {
                let changes: Vec<Change> = r
                    .configs
                    .iter()
                    .map(|c| Change {
                        name: c.name.to_string(),
                        op: c.config_operation,
                        value: c.value.as_ref().map(|v| v.to_string()),
                    })
                    .collect();
                alter_one(state, r.resource_type, &r.resource_name, &changes, false, req.validate_only)
            };
            let (code, message) = outcome(result);
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

pub(super) fn alter_configs(state: &BrokerState, req: AlterConfigsRequest) -> AlterConfigsResponse {
    use alter_configs_response::AlterConfigsResourceResponse;
    let repeated = repeated(req.resources.iter().map(|r| (r.resource_type, r.resource_name.as_str())));
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let result = if repeated.contains_key(&(r.resource_type, r.resource_name.to_string())) {
                Err(invalid_request("Each resource must appear at most once."))
            } else {
                // AlterConfigs sets the resource's whole set of configs.
                let changes: Vec<Change> = r
                    .configs
                    .iter()
                    .map(|c| Change {
                        name: c.name.to_string(),
                        op: SET,
                        value: c.value.as_ref().map(|v| v.to_string()),
                    })
                    .collect();
                alter_one(state, r.resource_type, &r.resource_name, &changes, true, req.validate_only)
            };
            let (code, message) = outcome(result);
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}
