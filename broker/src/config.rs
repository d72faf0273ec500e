//! Broker settings: defaults, an optional TOML file and command-line overrides, all under the
//! names Kafka operators know. An unknown key is an error, never ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
pub use crate::group::GroupSettings;
pub use crate::security::{ClientAuth, ListenerSpec, SecurityProtocol, TlsSettings, Users};
pub use crate::txn::TxnSettings;

/// ACL enforcement settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthorizerSettings {
    /// ACLs are enforced (`authorizer.class.name` set to the StandardAuthorizer).
    pub enabled: bool,
    /// Principals allowed everything, e.g. `User:admin`.
    pub super_users: Vec<String>,
    /// Whether a resource without any ACL is open to everyone (Kafka's default: false).
    pub allow_everyone_if_no_acl_found: bool,
}

/// The `authorizer.class.name` values that turn ACLs on (Kafka's KRaft and ZooKeeper-era names).
const AUTHORIZERS: &[&str] =
    &["org.apache.kafka.metadata.authorizer.StandardAuthorizer", "kafka.security.authorizer.AclAuthorizer"];

/// The SASL mechanisms this broker implements. All but OAUTHBEARER are enabled by default:
/// its tokens are checked the way Kafka's default (unsecured, for testing) validator does.
pub const SASL_MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];
const DEFAULT_SASL_MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];
use crate::log::{CleanupPolicy, LogConfig, TimestampType};

/// The log cleaner's settings (`log.cleaner.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerSettings {
    /// `log.cleaner.enable`: run the cleaner threads (compacted topics are not compacted without).
    pub enable: bool,
    /// `log.cleaner.threads`.
    pub threads: usize,
    /// `log.cleaner.backoff.ms`: sleep this long when no log needs cleaning.
    pub backoff_ms: u64,
    /// `log.cleaner.io.max.bytes.per.second`: bytes read plus written by all cleaner threads.
    pub io_max_bytes_per_second: f64,
    /// `log.cleaner.dedupe.buffer.size`: memory for the key maps of all cleaner threads.
    pub dedupe_buffer_size: usize,
}

impl Default for CleanerSettings {
    fn default() -> Self {
        CleanerSettings {
            enable: true,
            threads: 1,
            backoff_ms: 15_000,
            io_max_bytes_per_second: DEFAULT_CLEANER_IO_BYTES_PER_SECOND,
            dedupe_buffer_size: 128 << 20,
        }
    }
}

/// Kafka leaves the cleaner's I/O unbounded; a single node serves clients from the same disk,
/// so the bundled broker bounds it by default.
const DEFAULT_CLEANER_IO_BYTES_PER_SECOND: f64 = 100.0 * 1024.0 * 1024.0;

/// Everything a broker needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// Address to bind; port 0 picks a free port.
    pub listen: String,
    /// `host:port` that Metadata reports; defaults to the bound address.
    pub advertised_listener: Option<String>,
    pub data_dir: PathBuf,
    /// `node.id`.
    pub node_id: i32,
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics asking for -1.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// Topic defaults (`log.*`, `message.max.bytes`).
    pub log: LogConfig,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: u64,
    /// `producer.id.expiration.ms`: a partition forgets an idempotent producer this long after
    /// its last batch (unless it has a transaction open there).
    pub producer_id_expiration_ms: i64,
    /// `producer.id.expiration.check.interval.ms`.
    pub producer_id_expiration_check_interval_ms: u64,
    /// `socket.request.max.bytes`: larger request frames close the connection.
    pub socket_request_max_bytes: usize,
    /// `connections.max.idle.ms`: a connection waiting this long for a request is closed, and a
    /// request frame must arrive whole within this long of its first byte.
    pub connections_max_idle_ms: u64,
    /// `max.connections`: open client connections across all listeners; more are accepted and
    /// closed at once. Defaults to three quarters of the open-file soft limit (`RLIMIT_NOFILE`).
    pub max_connections: usize,
    /// `max.connections.per.ip`: open connections from one client address (default unlimited,
    /// 2147483647, as in Kafka).
    pub max_connections_per_ip: usize,
    /// The group coordinator's settings (`group.*`, `offsets.*`).
    pub groups: GroupSettings,
    /// The transaction coordinator's settings (`transaction.*`).
    pub transactions: TxnSettings,
    /// `listeners` (`NAME://host:port,...`); when unset, one PLAINTEXT listener on `listen`.
    pub listeners: Option<String>,
    /// `listener.security.protocol.map` (`NAME:PROTOCOL,...`).
    pub listener_protocol_map: String,
    /// `advertised.listeners` (`NAME://host:port,...`): what Metadata reports per listener.
    pub advertised_listeners: Option<String>,
    /// `ssl.*`: the TLS server settings of SSL and SASL_SSL listeners.
    pub tls: TlsSettings,
    /// `listener.name.<name>.ssl.client.auth`: per-listener override of `ssl.client.auth`.
    pub listener_client_auth: BTreeMap<String, ClientAuth>,
    /// `sasl.enabled.mechanisms`.
    pub sasl_mechanisms: Vec<String>,
    /// `users.<name> = "<password>"`: SASL users, kept as salted SCRAM credentials.
    pub users: Users,
    /// `authorizer.class.name`, `super.users`, `allow.everyone.if.no.acl.found`.
    pub authorizer: AuthorizerSettings,
    /// `connections.max.reauth.ms`: SASL session lifetime (KIP-368); 0 keeps sessions forever.
    pub max_reauth_ms: i64,
    /// `log.cleaner.*`: compaction of `cleanup.policy=compact` topics.
    pub cleaner: CleanerSettings,
    /// `schema.registry.listeners`: where to serve the Schema Registry (`http://host:port`,
    /// `https://host:port`); off when `None`.
    pub schema_registry_listeners: Option<String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: "127.0.0.1:9092".into(),
            advertised_listener: None,
            data_dir: PathBuf::from("./ferrokafka-data"),
            node_id: 1,
            num_partitions: 1,
            auto_create_topics: true,
            log: LogConfig::default(),
            retention_check_interval_ms: 300_000,
            producer_id_expiration_ms: 86_400_000,
            producer_id_expiration_check_interval_ms: 600_000,
            socket_request_max_bytes: 104_857_600,
            connections_max_idle_ms: 600_000,
            max_connections: crate::connection_limits::default_max_connections(),
            max_connections_per_ip: crate::connection_limits::UNLIMITED,
            groups: GroupSettings::default(),
            transactions: TxnSettings::default(),
            listeners: None,
            listener_protocol_map: String::new(),
            advertised_listeners: None,
            tls: TlsSettings::default(),
            listener_client_auth: BTreeMap::new(),
            sasl_mechanisms: DEFAULT_SASL_MECHANISMS.iter().map(|m| (*m).to_owned()).collect(),
            users: Users::default(),
            max_reauth_ms: 0,
            authorizer: AuthorizerSettings::default(),
            cleaner: CleanerSettings::default(),
            schema_registry_listeners: None,
        }
    }
}

/// The keys a config file or `--set` accepts, with what each means (printed by `--help`).
pub const KEYS: &[(&str, &str)] = &[
    (
        "listen",
        "address to bind, host:port (port 0 picks a free one); one PLAINTEXT listener unless `listeners` is set",
    ),
    ("listeners", "NAME://host:port,... e.g. PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094 (overrides listen)"),
    (
        "listener.security.protocol.map",
        "NAME:PROTOCOL,... for listener names that are not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    ),
    ("advertised.listeners", "NAME://host:port,...: what Metadata reports to clients of each listener"),
    ("ssl.certificate.location", "PEM certificate chain of SSL / SASL_SSL listeners"),
    ("ssl.key.location", "PEM private key (unencrypted) of that certificate"),
    ("ssl.ca.location", "PEM CA certificates that client certificates must chain to (mutual TLS)"),
    ("ssl.client.auth", "none, requested or required: whether TLS clients must present a certificate (default none)"),
    (
        "listener.name.<name>.ssl.client.auth",
        "ssl.client.auth for one listener, e.g. listener.name.mtls.ssl.client.auth = \"required\"",
    ),
    (
        "sasl.enabled.mechanisms",
        "SASL mechanisms of SASL listeners (default PLAIN,SCRAM-SHA-256,SCRAM-SHA-512; also OAUTHBEARER with unsecured JWTs, for testing)",
    ),
    ("users.<name>", "a SASL user and its password (PLAIN and SCRAM; stored salted), e.g. [users] alice = \"...\""),
    (
        "authorizer.class.name",
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer turns ACLs on; empty (default) off",
    ),
    ("super.users", "principals allowed everything, separated by ';', e.g. User:admin;User:CN=ops"),
    (
        "allow.everyone.if.no.acl.found",
        "with ACLs on, whether a resource without any ACL is open to all (default false)",
    ),
    (
        "connections.max.reauth.ms",
        "SASL session lifetime; clients re-authenticate before it ends (KIP-368; default 0, never)",
    ),
    (
        "schema.registry.listeners",
        "serve a Confluent-compatible Schema Registry, e.g. http://127.0.0.1:8081 (port 0 picks one; https:// \
         uses the ssl.* certificate; without a scheme, https when one is set); kept in the topic _schemas (default off)",
    ),
    ("advertised.listener", "host:port that Metadata reports to clients"),
    ("data.dir", "directory holding the logs and broker metadata"),
    ("node.id", "this broker's id in Metadata (default 1)"),
    ("num.partitions", "partitions of auto-created topics (default 1)"),
    (
        "auto.create.topics.enable",
        "create a topic a Metadata request names that does not exist, as Kafka 4 does (Produce to an unknown topic is refused) (default true)",
    ),
    ("log.segment.bytes", "roll a segment past this size (default 1073741824)"),
    ("log.roll.ms", "roll a segment this old (default 604800000, 7 days)"),
    ("log.retention.ms", "delete segments older than this, -1 never (default 604800000)"),
    ("log.retention.hours", "the same in hours"),
    ("log.retention.bytes", "delete old segments past this partition size, -1 never (default -1)"),
    ("log.retention.check.interval.ms", "how often retention runs (default 300000)"),
    (
        "producer.id.expiration.ms",
        "forget an idempotent producer's sequence state in a partition this long after its last batch, \
         unless it has a transaction open there (default 86400000)",
    ),
    ("producer.id.expiration.check.interval.ms", "how often expired producer state is removed (default 600000)"),
    ("message.max.bytes", "largest record batch accepted (default 1048588)"),
    ("log.cleanup.policy", "delete, compact or compact,delete: the default cleanup.policy of topics (default delete)"),
    ("log.cleaner.enable", "run the log cleaner, which compacts cleanup.policy=compact topics (default true)"),
    ("log.cleaner.threads", "cleaner threads, each cleaning one log at a time (default 1)"),
    ("log.cleaner.backoff.ms", "how long a cleaner thread sleeps when no log needs cleaning (default 15000)"),
    (
        "log.cleaner.io.max.bytes.per.second",
        "bytes read plus written per second by all cleaner threads (default 104857600; Kafka's is unlimited)",
    ),
    (
        "log.cleaner.dedupe.buffer.size",
        "memory for the cleaners' key maps, split between the threads; about 32 bytes a key (default 134217728)",
    ),
    (
        "log.cleaner.min.cleanable.ratio",
        "default min.cleanable.dirty.ratio: clean a log once this share of it is dirty (default 0.5)",
    ),
    (
        "log.cleaner.delete.retention.ms",
        "default delete.retention.ms: keep tombstones this long after cleaning (default 86400000)",
    ),
    (
        "log.cleaner.min.compaction.lag.ms",
        "default min.compaction.lag.ms: never compact records younger than this (default 0)",
    ),
    (
        "log.cleaner.max.compaction.lag.ms",
        "default max.compaction.lag.ms: compact records older than this whatever the ratio (default 9223372036854775807)",
    ),
    ("log.flush.interval.messages", "fsync after this many records; -1 never by count (default -1)"),
    ("log.flush.interval.ms", "fsync data older than this; -1 never by time (default 1000)"),
    ("log.index.interval.bytes", "bytes between offset index entries (default 4096)"),
    ("log.message.timestamp.type", "CreateTime or LogAppendTime (default CreateTime)"),
    ("socket.request.max.bytes", "largest request frame accepted (default 104857600)"),
    (
        "connections.max.idle.ms",
        "close a connection that has sent no request for this long; a request must also arrive whole \
         within this long of its first byte (default 600000, 10 minutes)",
    ),
    (
        "max.connections",
        "most client connections open at once, all listeners together; more are accepted and closed \
         (default: three quarters of the open-file soft limit, RLIMIT_NOFILE, leaving the rest for logs)",
    ),
    ("max.connections.per.ip", "most connections open at once from one client address (default 2147483647)"),
    (
        "group.initial.rebalance.delay.ms",
        "wait this long for more members before the first rebalance of an empty group (default 0: \
         the first consumer starts at once, which suits tests and small deployments; Kafka uses 3000)",
    ),
    ("group.min.session.timeout.ms", "shortest session.timeout.ms a member may ask for (default 6000)"),
    ("group.max.session.timeout.ms", "longest session.timeout.ms a member may ask for (default 1800000)"),
    ("group.max.size", "most members in one group (default 2147483647)"),
    ("offsets.retention.minutes", "keep committed offsets of an empty group this long (default 10080, 7 days)"),
    ("offsets.retention.check.interval.ms", "how often expired offsets are removed (default 600000)"),
    ("offset.metadata.max.bytes", "largest metadata string of a committed offset (default 4096)"),
    ("group.consumer.session.timeout.ms", "KIP-848 consumer groups: drop a member silent this long (default 45000)"),
    (
        "group.consumer.heartbeat.interval.ms",
        "KIP-848 consumer groups: heartbeat interval given to members (default 5000)",
    ),
    (
        "group.consumer.min.session.timeout.ms",
        "shortest consumer.session.timeout.ms a group's own config may set (default 45000, or \
         group.consumer.session.timeout.ms when that is shorter)",
    ),
    (
        "group.consumer.max.session.timeout.ms",
        "longest consumer.session.timeout.ms a group's own config may set (default 60000, or \
         group.consumer.session.timeout.ms when that is longer)",
    ),
    (
        "group.consumer.min.heartbeat.interval.ms",
        "shortest consumer.heartbeat.interval.ms a group's own config may set (default 5000, or \
         group.consumer.heartbeat.interval.ms when that is shorter)",
    ),
    (
        "group.consumer.max.heartbeat.interval.ms",
        "longest consumer.heartbeat.interval.ms a group's own config may set (default 15000, or \
         group.consumer.heartbeat.interval.ms when that is longer)",
    ),
    (
        "transaction.max.timeout.ms",
        "longest transaction.timeout.ms a producer may ask for; longer is INVALID_TRANSACTION_TIMEOUT (default 900000)",
    ),
    (
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        "how often transactions past their timeout are aborted, unfinished ends retried and expired \
         transactional ids removed (default 10000)",
    ),
    (
        "transactional.id.expiration.ms",
        "forget a transactional id without a transaction this long after its last change (default 604800000)",
    ),
];

fn parse<T: std::str::FromStr>(key: &str, value: &str, what: &str) -> Result<T> {
    value.trim().parse().map_err(|_| Error::Config(format!("{key}: {value:?} is not {what}")))
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::Config(format!("{key}: {value:?} is not true or false"))),
    }
}

/// `-1` (or any negative) means "never" for these count settings.
fn parse_count_or_never(key: &str, value: &str) -> Result<u64> {
    let v: i64 = parse(key, value, "an integer")?;
    Ok(if v < 0 { u64::MAX } else { v as u64 })
}

fn parse_positive<T>(key: &str, value: &str) -> Result<T>
where
    T: std::str::FromStr + PartialOrd + Default,
{
    let v: T = parse(key, value, "a positive integer")?;
    if v <= T::default() {
        return Err(Error::Config(format!("{key}: {value:?} must be positive")));
    }
    Ok(v)
}

impl BrokerConfig {
    /// Applies one setting by its Kafka name.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "listen" => self.listen = value.to_owned(),
            "advertised.listener" => self.advertised_listener = Some(value.to_owned()),
            "data.dir" => self.data_dir = PathBuf::from(value),
            "node.id" => self.node_id = parse(key, value, "an integer")?,
            "num.partitions" => self.num_partitions = parse_positive(key, value)?,
            "auto.create.topics.enable" => self.auto_create_topics = parse_bool(key, value)?,
            "log.segment.bytes" => self.log.segment_bytes = parse_positive(key, value)?,
            "log.roll.ms" => self.log.segment_ms = parse_positive(key, value)?,
            "log.retention.ms" => self.log.retention_ms = parse(key, value, "an integer")?,
            "log.retention.hours" => {
                let h: i64 = parse(key, value, "an integer")?;
                self.log.retention_ms = if h < 0 { -1 } else { h * 3_600_000 };
            }
            "log.retention.bytes" => self.log.retention_bytes = parse(key, value, "an integer")?,
            "log.retention.check.interval.ms" => self.retention_check_interval_ms = parse_positive(key, value)?,
            "producer.id.expiration.ms" => self.producer_id_expiration_ms = parse_positive(key, value)?,
            "producer.id.expiration.check.interval.ms" => {
                self.producer_id_expiration_check_interval_ms = parse_positive(key, value)?
            }
            "message.max.bytes" => self.log.max_message_bytes = parse_positive(key, value)?,
            "log.flush.interval.messages" => self.log.flush_interval_messages = parse_count_or_never(key, value)?,
            "log.flush.interval.ms" => self.log.flush_interval_ms = parse(key, value, "an integer")?,
            "log.index.interval.bytes" => self.log.index_interval_bytes = parse_positive(key, value)?,
            "log.message.timestamp.type" => self.log.timestamp_type = parse_timestamp_type(key, value)?,
            "log.cleanup.policy" => {
                self.log.cleanup_policy = CleanupPolicy::parse(value).ok_or_else(|| {
                    Error::Config(format!("{key}: {value:?} is not delete, compact or compact,delete"))
                })?
            }
            "log.cleaner.enable" => self.cleaner.enable = parse_bool(key, value)?,
            "log.cleaner.threads" => self.cleaner.threads = parse_positive(key, value)?,
            "log.cleaner.backoff.ms" => self.cleaner.backoff_ms = parse_positive(key, value)?,
            "log.cleaner.io.max.bytes.per.second" => {
                let rate: f64 = parse(key, value, "a number")?;
                if rate.is_nan() || rate <= 0.0 {
                    return Err(Error::Config(format!("{key}: {value:?} must be positive")));
                }
                self.cleaner.io_max_bytes_per_second = rate;
            }
            "log.cleaner.dedupe.buffer.size" => self.cleaner.dedupe_buffer_size = parse_positive(key, value)?,
            "log.cleaner.min.cleanable.ratio"
            | "log.cleaner.delete.retention.ms"
            | "log.cleaner.min.compaction.lag.ms"
            | "log.cleaner.max.compaction.lag.ms" => {
                let topic_key = crate::dynamic_config::topic_synonym(key).expect("a topic default");
                apply_topic_config(&mut self.log, topic_key, value).map_err(|e| Error::Config(e.to_string()))?;
                self.log.validate().map_err(|e| Error::Config(e.to_string()))?;
            }
            "socket.request.max.bytes" => self.socket_request_max_bytes = parse_positive(key, value)?,
            // Kafka reads a negative idle limit as "never"; refused here, since idle and stalled
            // connections would then be kept forever, which is what this limit is for.
            "connections.max.idle.ms" => self.connections_max_idle_ms = parse_positive(key, value)?,
            "max.connections" => self.max_connections = parse_positive(key, value)?,
            "max.connections.per.ip" => self.max_connections_per_ip = parse_positive(key, value)?,
            "group.initial.rebalance.delay.ms" => {
                self.groups.initial_rebalance_delay_ms = parse(key, value, "a non-negative integer")?
            }
            "group.min.session.timeout.ms" => self.groups.min_session_timeout_ms = parse_positive(key, value)?,
            "group.max.session.timeout.ms" => self.groups.max_session_timeout_ms = parse_positive(key, value)?,
            "group.max.size" => self.groups.max_size = parse_positive(key, value)?,
            "offsets.retention.minutes" => {
                let minutes: i64 = parse_positive(key, value)?;
                self.groups.offsets_retention_ms = minutes.saturating_mul(60_000);
            }
            "offsets.retention.check.interval.ms" => {
                self.groups.offsets_retention_check_interval_ms = parse_positive(key, value)?
            }
            "offset.metadata.max.bytes" => self.groups.offset_metadata_max_bytes = parse_positive(key, value)?,
            "group.consumer.session.timeout.ms" => {
                self.groups.consumer_session_timeout_ms = parse_positive(key, value)?
            }
            "group.consumer.heartbeat.interval.ms" => {
                self.groups.consumer_heartbeat_interval_ms = parse_positive(key, value)?
            }
            "group.consumer.min.session.timeout.ms" => {
                self.groups.consumer_min_session_timeout_ms = parse_positive(key, value)?
            }
            "group.consumer.max.session.timeout.ms" => {
                self.groups.consumer_max_session_timeout_ms = parse_positive(key, value)?
            }
            "group.consumer.min.heartbeat.interval.ms" => {
                self.groups.consumer_min_heartbeat_interval_ms = parse_positive(key, value)?
            }
            "group.consumer.max.heartbeat.interval.ms" => {
                self.groups.consumer_max_heartbeat_interval_ms = parse_positive(key, value)?
            }
            "transaction.max.timeout.ms" => self.transactions.max_timeout_ms = parse_positive(key, value)?,
            "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                self.transactions.abort_check_interval_ms = parse_positive(key, value)?
            }
            "transactional.id.expiration.ms" => self.transactions.id_expiration_ms = parse_positive(key, value)?,
            // Checked together with the protocol map at start (file keys arrive in any order).
            "listeners" => self.listeners = Some(value.to_owned()),
            "listener.security.protocol.map" => {
                crate::security::parse_protocol_map(value)?;
                self.listener_protocol_map = value.to_owned()
            }
            "advertised.listeners" => self.advertised_listeners = Some(value.to_owned()),
            "ssl.certificate.location" => self.tls.certificate = Some(PathBuf::from(value)),
            "ssl.key.location" => self.tls.key = Some(PathBuf::from(value)),
            "ssl.ca.location" => self.tls.ca = Some(PathBuf::from(value)),
            "ssl.client.auth" => self.tls.client_auth = parse_client_auth(key, value)?,
            _ if key.starts_with("listener.name.") && key.ends_with(".ssl.client.auth") => {
                let name = &key["listener.name.".len()..key.len() - ".ssl.client.auth".len()];
                self.listener_client_auth.insert(name.to_ascii_uppercase(), parse_client_auth(key, value)?);
            }
            "sasl.enabled.mechanisms" => {
                let mechanisms: Vec<String> =
                    value.split(',').map(|m| m.trim().to_ascii_uppercase()).filter(|m| !m.is_empty()).collect();
                if let Some(m) = mechanisms.iter().find(|m| !SASL_MECHANISMS.contains(&m.as_str())) {
                    return Err(Error::Config(format!("{key}: {m} is not one of {}", SASL_MECHANISMS.join(", "))));
                }
                self.sasl_mechanisms = mechanisms;
            }
            "authorizer.class.name" => {
                let v = value.trim();
                if !v.is_empty() && !AUTHORIZERS.contains(&v) {
                    return Err(Error::Config(format!(
                        "{key}: {v:?} is not empty or one of {}",
                        AUTHORIZERS.join(", ")
                    )));
                }
                self.authorizer.enabled = !v.is_empty();
            }
            "super.users" => {
                let users: Vec<String> =
                    value.split(';').map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect();
                if let Some(bad) = users.iter().find(|u| !u.contains(':')) {
                    return Err(Error::Config(format!("{key}: {bad:?} is not a principal like User:alice")));
                }
                self.authorizer.super_users = users;
            }
            "allow.everyone.if.no.acl.found" => {
                self.authorizer.allow_everyone_if_no_acl_found = parse_bool(key, value)?
            }
            "connections.max.reauth.ms" => self.max_reauth_ms = parse(key, value, "an integer")?,
            "schema.registry.listeners" => {
                let v = value.trim();
                self.schema_registry_listeners = (!v.is_empty()).then(|| v.to_owned());
            }
            _ if key.starts_with("users.") => self.users.add(&key["users.".len()..], value)?,
            _ => {
                let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
                return Err(Error::Config(format!("unknown setting {key:?}; known settings: {}", known.join(", "))));
            }
        }
        Ok(())
    }

    /// Applies the settings in a TOML file. Dotted keys may be written bare
    /// (`num.partitions = 3`, which TOML reads as nested tables) or quoted.
    pub fn apply_file(&mut self, path: &Path) -> Result<()> {
        let text =
            std::fs::read_to_string(path).map_err(Error::io(format!("reading config file {}", path.display())))?;
        let table: toml::Table = text.parse().map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let mut flat = BTreeMap::new();
        flatten("", &toml::Value::Table(table), &mut flat)?;
        for (key, value) in flat {
            // Accept the command-line spelling of the broker's own settings too.
            let key = match key.as_str() {
                "data-dir" => "data.dir".to_owned(),
                "advertised-listener" => "advertised.listener".to_owned(),
                _ => key,
            };
            self.set(&key, &value).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        }
        Ok(())
    }

    /// The listeners to open: `listeners`, or one PLAINTEXT listener on `listen`.
    pub fn listener_specs(&self) -> Result<Vec<ListenerSpec>> {
        match &self.listeners {
            Some(l) => crate::security::parse_listeners(l, &self.listener_protocol_map),
            None => Ok(vec![ListenerSpec {
                name: "PLAINTEXT".into(),
                protocol: SecurityProtocol::Plaintext,
                addr: self.listen.clone(),
            }]),
        }
    }

    /// What Metadata reports to clients of listener `name` bound at `bound`.
    pub fn advertised_for(&self, name: &str, index: usize, bound: std::net::SocketAddr) -> (String, i32) {
        if let Some(adv) = &self.advertised_listeners {
            for entry in adv.split(',').map(str::trim) {
                if let Some((n, addr)) = entry.split_once("://") {
                    if n.eq_ignore_ascii_case(name) {
                        if let Some((host, port)) = addr.rsplit_once(':') {
                            if let Ok(port) = port.parse() {
                                return (host.trim_matches(['[', ']']).to_owned(), port);
                            }
                        }
                    }
                }
            }
        }
        if index == 0 {
            return self.advertised(bound);
        }
        (bound.ip().to_string(), bound.port() as i32)
    }

    /// The address clients should be told to connect to.
    pub fn advertised(&self, bound: std::net::SocketAddr) -> (String, i32) {
        if let Some(adv) = &self.advertised_listener {
            if let Some((host, port)) = adv.rsplit_once(':') {
                if let Ok(port) = port.parse() {
                    return (host.trim_matches(['[', ']']).to_owned(), port);
                }
            }
        }
        (bound.ip().to_string(), bound.port() as i32)
    }
}

fn parse_client_auth(key: &str, value: &str) -> Result<ClientAuth> {
    match value.trim() {
        "none" => Ok(ClientAuth::None),
        "requested" => Ok(ClientAuth::Requested),
        "required" => Ok(ClientAuth::Required),
        _ => Err(Error::Config(format!("{key}: {value:?} is not none, requested or required"))),
    }
}

fn parse_timestamp_type(key: &str, value: &str) -> Result<TimestampType> {
    match value.trim() {
        "CreateTime" => Ok(TimestampType::CreateTime),
        "LogAppendTime" => Ok(TimestampType::LogAppendTime),
        _ => Err(Error::Config(format!("{key}: {value:?} is not CreateTime or LogAppendTime"))),
    }
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, String>) -> Result<()> {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out)?;
            }
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        toml::Value::Integer(i) => {
            out.insert(prefix.to_owned(), i.to_string());
        }
        toml::Value::Boolean(b) => {
            out.insert(prefix.to_owned(), b.to_string());
        }
        other => return Err(Error::Config(format!("{prefix}: unsupported value {other}"))),
    }
    Ok(())
}

/// The topic-level settings [`apply_topic_config`] accepts.
pub const TOPIC_CONFIG_KEYS: &[&str] = &[
    "segment.bytes",
    "segment.ms",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "message.timestamp.type",
    "cleanup.policy",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "compression.type",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "max.compaction.lag.ms",
    "min.compaction.lag.ms",
    "min.cleanable.dirty.ratio",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "preallocate",
    "segment.index.bytes",
    "segment.jitter.ms",
    "compression.gzip.level",
    "local.retention.ms",
    "local.retention.bytes",
];

/// Applies one topic-level override (CreateTopics configs) onto the broker's defaults.
pub fn apply_topic_config(log: &mut LogConfig, key: &str, value: &str) -> Result<()> {
    let bad = |what: &str| Error::InvalidConfig(format!("{key}={value:?}: {what}"));
    let int = |v: &str| v.trim().parse::<i64>().map_err(|_| bad("not an integer"));
    match key {
        "segment.bytes" => log.segment_bytes = int(value)?.try_into().map_err(|_| bad("must be positive"))?,
        "segment.ms" => log.segment_ms = int(value)?,
        "retention.ms" => log.retention_ms = int(value)?,
        "retention.bytes" => log.retention_bytes = int(value)?,
        "max.message.bytes" => log.max_message_bytes = int(value)?.try_into().map_err(|_| bad("must be positive"))?,
        "flush.messages" => {
            let v = int(value)?;
            log.flush_interval_messages = if v < 0 { u64::MAX } else { v as u64 }
        }
        "flush.ms" => log.flush_interval_ms = int(value)?,
        "index.interval.bytes" => {
            log.index_interval_bytes = int(value)?.try_into().map_err(|_| bad("must be positive"))?
        }
        "message.timestamp.type" => {
            log.timestamp_type = parse_timestamp_type(key, value).map_err(|_| bad("CreateTime or LogAppendTime"))?
        }
        "cleanup.policy" => {
            log.cleanup_policy = CleanupPolicy::parse(value).ok_or_else(|| {
                let item = value.split(',').map(str::trim).find(|i| !matches!(*i, "" | "delete" | "compact"));
                Error::InvalidConfig(format!(
                    "Invalid value {} for configuration cleanup.policy: String must be one of: compact, delete",
                    item.unwrap_or(value)
                ))
            })?
        }
        "min.cleanable.dirty.ratio" => {
            log.min_cleanable_dirty_ratio = value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| bad("not a number between 0 and 1"))?
        }
        "min.compaction.lag.ms" => {
            log.min_compaction_lag_ms = Some(int(value)?).filter(|v| *v >= 0).ok_or_else(|| bad("must be >= 0"))?
        }
        "max.compaction.lag.ms" => {
            log.max_compaction_lag_ms = Some(int(value)?).filter(|v| *v >= 1).ok_or_else(|| bad("must be >= 1"))?
        }
        "delete.retention.ms" => {
            log.delete_retention_ms = Some(int(value)?).filter(|v| *v >= 0).ok_or_else(|| bad("must be >= 0"))?
        }
        // Accepted for compatibility with tools that always send them; a single node has no replicas.
        "min.insync.replicas" | "unclean.leader.election.enable" | "compression.type" => {}
        _ => match PASSIVE_TOPIC_CONFIGS.iter().find(|(k, _, _)| *k == key) {
            Some((_, _, kind)) => {
                let ok = match kind {
                    Passive::Int => value.trim().parse::<i64>().is_ok(),
                    Passive::Bool => matches!(value.trim(), "true" | "false"),
                };
                if !ok {
                    return Err(bad(match kind {
                        Passive::Int => "not an integer",
                        Passive::Bool => "not true or false",
                    }));
                }
            }
            None => return Err(Error::InvalidConfig(format!("unknown topic config {key:?}"))),
        },
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Passive {
    Int,
    Bool,
}

/// Topic configs Kafka defines that mean nothing on a single node without tiered storage (or that we do not enforce yet): accepted and reported like Kafka, so tools
/// that create topics with them work, with no effect. (name, Kafka's default, kind)
const PASSIVE_TOPIC_CONFIGS: &[(&str, &str, Passive)] = &[
    ("file.delete.delay.ms", "60000", Passive::Int),
    ("message.timestamp.after.max.ms", "3600000", Passive::Int),
    ("message.timestamp.before.max.ms", "9223372036854775807", Passive::Int),
    ("preallocate", "false", Passive::Bool),
    ("segment.index.bytes", "10485760", Passive::Int),
    ("segment.jitter.ms", "0", Passive::Int),
    ("compression.gzip.level", "-1", Passive::Int),
    ("local.retention.ms", "-2", Passive::Int),
    ("local.retention.bytes", "-2", Passive::Int),
];

/// The topic configs DescribeConfigs reports, with their current values (`overrides` gives
/// the values of the passive ones).
pub fn describe_topic_config(log: &LogConfig, overrides: &BTreeMap<String, String>) -> Vec<(&'static str, String)> {
    let mut out = describe_active_topic_config(log);
    out.push((
        "unclean.leader.election.enable",
        overrides.get("unclean.leader.election.enable").cloned().unwrap_or_else(|| "false".into()),
    ));
    for (k, default, _) in PASSIVE_TOPIC_CONFIGS {
        out.push((k, overrides.get(*k).cloned().unwrap_or_else(|| (*default).to_owned())));
    }
    out
}

pub(crate) fn describe_active_topic_config(log: &LogConfig) -> Vec<(&'static str, String)> {
    let never = |v: u64| if v == u64::MAX { "9223372036854775807".to_owned() } else { v.to_string() };
    vec![
        ("cleanup.policy", log.cleanup_policy.name().into()),
        ("min.cleanable.dirty.ratio", log.min_cleanable_dirty_ratio.to_string()),
        ("min.compaction.lag.ms", log.min_compaction_lag_ms.to_string()),
        ("max.compaction.lag.ms", log.max_compaction_lag_ms.to_string()),
        ("delete.retention.ms", log.delete_retention_ms.to_string()),
        ("compression.type", "producer".into()),
        ("segment.bytes", log.segment_bytes.to_string()),
        ("segment.ms", log.segment_ms.to_string()),
        ("retention.ms", log.retention_ms.to_string()),
        ("retention.bytes", log.retention_bytes.to_string()),
        ("max.message.bytes", log.max_message_bytes.to_string()),
        ("flush.messages", never(log.flush_interval_messages)),
        (
            "flush.ms",
            if log.flush_interval_ms < 0 { "9223372036854775807".into() } else { log.flush_interval_ms.to_string() },
        ),
        ("index.interval.bytes", log.index_interval_bytes.to_string()),
        (
            "message.timestamp.type",
            match log.timestamp_type {
                TimestampType::CreateTime => "CreateTime".into(),
                TimestampType::LogAppendTime => "LogAppendTime".into(),
            },
        ),
        ("min.insync.replicas", "1".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_accepts_bare_and_quoted_dotted_keys_and_rejects_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:0\"\nnum.partitions = 3\n\"log.segment.bytes\" = 1024\n").unwrap();
        let mut c = BrokerConfig::default();
        c.apply_file(&path).unwrap();
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.log.segment_bytes, 1024);
        assert_eq!(c.listen, "127.0.0.1:0");
        std::fs::write(&path, "num.partitionz = 3\n").unwrap();
        let err = c.apply_file(&path).unwrap_err().to_string();
        assert!(err.contains("num.partitionz"), "{err}");
        assert!(c.set("num.partitions", "-2").is_err());
        assert!(c.set("auto.create.topics.enable", "yes").is_err());
    }
}
