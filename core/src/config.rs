//! Client configuration under Kafka's property names. Every key is checked when set: an
//! unknown key or a bad value is an error naming the key and what it accepts.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::security::OAuthBearerTokenProvider;

use crate::error::{Error, Result};

mod builder;

pub use builder::{Acks, AutoOffsetReset, Compression, ConfigBuilder, GroupProtocol};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Int { min: i64, max: i64 },
    Bool,
    OneOf(&'static [&'static str]),
    Text,
}

/// A known key: its default (None = unset) and what it accepts.
struct Key {
    name: &'static str,
    default: Option<&'static str>,
    kind: Kind,
    doc: &'static str,
}

const I32: i64 = i32::MAX as i64;

macro_rules! keys {
    ($(($name:literal, $default:expr, $kind:expr, $doc:literal)),* $(,)?) => {
        const KEYS: &[Key] = &[$(Key { name: $name, default: $default, kind: $kind, doc: $doc }),*];
    };
}

keys![
    ("bootstrap.servers", None, Kind::Text, "host:port[,host:port...] to bootstrap from (required)"),
    ("client.id", Some("ferrokafka"), Kind::Text, "client id sent with every request"),
    ("request.timeout.ms", Some("30000"), Kind::Int { min: 1, max: I32 }, "how long to wait for a response"),
    ("socket.connection.setup.timeout.ms", Some("10000"), Kind::Int { min: 1, max: I32 }, "TCP connect timeout"),
    ("socket.nagle.disable", Some("true"), Kind::Bool, "set TCP_NODELAY"),
    ("reconnect.backoff.ms", Some("50"), Kind::Int { min: 0, max: I32 }, "first reconnect backoff"),
    ("reconnect.backoff.max.ms", Some("1000"), Kind::Int { min: 0, max: I32 }, "reconnect backoff cap"),
    ("metadata.max.age.ms", Some("300000"), Kind::Int { min: 1, max: I32 }, "refresh metadata at least this often"),
    ("retry.backoff.ms", Some("100"), Kind::Int { min: 0, max: I32 }, "wait between retries"),
    (
        "security.protocol",
        Some("PLAINTEXT"),
        Kind::OneOf(&[
            "PLAINTEXT",
            "SSL",
            "SASL_PLAINTEXT",
            "SASL_SSL",
            "plaintext",
            "ssl",
            "sasl_plaintext",
            "sasl_ssl"
        ]),
        "PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (SASL over TLS)"
    ),
    // TLS
    (
        "ssl.ca.location",
        None,
        Kind::Text,
        "PEM file of CA certificates that sign the broker's certificate (default: the system CA bundle)"
    ),
    ("ssl.ca.pem", None, Kind::Text, "the same as PEM text"),
    ("ssl.certificate.location", None, Kind::Text, "PEM file of this client's certificate chain, for mutual TLS"),
    ("ssl.certificate.pem", None, Kind::Text, "the same as PEM text"),
    (
        "ssl.key.location",
        None,
        Kind::Text,
        "PEM file of this client's private key (unencrypted PKCS#8, PKCS#1 or SEC1), for mutual TLS"
    ),
    ("ssl.key.pem", None, Kind::Text, "the same as PEM text"),
    (
        "ssl.endpoint.identification.algorithm",
        Some("https"),
        Kind::OneOf(&["https", "none"]),
        "https: the broker certificate must name the host connected to; none: skip that check (the chain is still verified)"
    ),
    // SASL
    (
        "sasl.mechanism",
        Some("PLAIN"),
        Kind::OneOf(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]),
        "SASL mechanism for SASL_PLAINTEXT / SASL_SSL (OAUTHBEARER needs set_oauthbearer_token_provider)"
    ),
    (
        "sasl.mechanisms",
        None,
        Kind::OneOf(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]),
        "librdkafka's name for sasl.mechanism"
    ),
    ("sasl.username", None, Kind::Text, "SASL PLAIN / SCRAM user name"),
    ("sasl.password", None, Kind::Text, "SASL PLAIN / SCRAM password"),
    // Producer
    ("acks", Some("all"), Kind::OneOf(&["0", "1", "all", "-1"]), "acknowledgements the leader waits for"),
    ("linger.ms", Some("5"), Kind::Int { min: 0, max: 900_000 }, "wait this long for a batch to fill"),
    ("batch.size", Some("1000000"), Kind::Int { min: 1, max: I32 }, "close a batch at this many bytes"),
    ("compression.type", Some("none"), Kind::OneOf(&["none", "gzip", "snappy", "lz4", "zstd"]), "batch compression"),
    ("enable.idempotence", Some("true"), Kind::Bool, "exactly-once delivery per partition (needs acks=all)"),
    ("retries", Some("2147483647"), Kind::Int { min: 0, max: I32 }, "retries of a failed batch"),
    ("delivery.timeout.ms", Some("120000"), Kind::Int { min: 1, max: I32 }, "give up on a record after this long"),
    ("transactional.id", None, Kind::Text, "makes the producer transactional (implies enable.idempotence)"),
    (
        "transaction.timeout.ms",
        Some("60000"),
        Kind::Int { min: 1000, max: I32 },
        "the coordinator aborts a transaction left open longer than this"
    ),
    (
        "max.in.flight.requests.per.connection",
        Some("5"),
        Kind::Int { min: 1, max: 1_000_000 },
        "pipelined requests per broker"
    ),
    (
        "queue.buffering.max.messages",
        Some("100000"),
        Kind::Int { min: 1, max: I32 },
        "records queued before send waits"
    ),
    (
        "max.block.ms",
        Some("60000"),
        Kind::Int { min: 0, max: I32 },
        "how long send waits for queue space before QUEUE_FULL (0: fail at once)"
    ),
    (
        "queue.buffering.max.kbytes",
        Some("1048576"),
        Kind::Int { min: 1, max: I32 },
        "kilobytes queued before send waits"
    ),
    (
        "message.max.bytes",
        Some("1000000"),
        Kind::Int { min: 1000, max: 1_000_000_000 },
        "largest record accepted by send"
    ),
    (
        "partitioner",
        Some("murmur2_random"),
        Kind::OneOf(&["murmur2_random", "murmur2", "consistent_random", "random", "round_robin"]),
        "how records pick a partition"
    ),
    // Consumer
    ("group.id", None, Kind::Text, "consumer group to join on subscribe and to commit offsets to"),
    (
        "group.protocol",
        Some("classic"),
        Kind::OneOf(&["classic", "consumer"]),
        "classic: JoinGroup/SyncGroup, a member assigns; consumer: KIP-848, the broker assigns (Kafka 4.0+)"
    ),
    (
        "group.remote.assignor",
        None,
        Kind::Text,
        "group.protocol=consumer: the broker's assignor to use (uniform, range); unset: the broker's default"
    ),
    ("group.instance.id", None, Kind::Text, "static membership: a restart within the session keeps the assignment"),
    ("session.timeout.ms", Some("45000"), Kind::Int { min: 1, max: I32 }, "the group drops a member silent this long"),
    ("heartbeat.interval.ms", Some("3000"), Kind::Int { min: 1, max: I32 }, "how often a member heartbeats"),
    (
        "max.poll.interval.ms",
        Some("300000"),
        Kind::Int { min: 1, max: I32 },
        "leave the group when poll is not called this long; also the rebalance timeout"
    ),
    (
        "partition.assignment.strategy",
        Some("range,roundrobin"),
        Kind::Text,
        "assignors in order of preference: range, roundrobin, cooperative-sticky"
    ),
    (
        "topic.metadata.refresh.interval.ms",
        Some("300000"),
        Kind::Int { min: 1, max: I32 },
        "how often a group member checks its subscription for new topics and partitions"
    ),
    ("auto.commit.interval.ms", Some("5000"), Kind::Int { min: 0, max: I32 }, "how often auto commit stores positions"),
    (
        "auto.offset.reset",
        Some("latest"),
        Kind::OneOf(&["earliest", "latest", "error", "smallest", "largest"]),
        "where to start without a valid offset"
    ),
    ("enable.auto.commit", Some("true"), Kind::Bool, "commit positions periodically (needs group.id)"),
    ("fetch.min.bytes", Some("1"), Kind::Int { min: 0, max: I32 }, "bytes a fetch waits for"),
    ("fetch.max.wait.ms", Some("500"), Kind::Int { min: 0, max: I32 }, "longest a fetch waits"),
    ("fetch.max.bytes", Some("52428800"), Kind::Int { min: 0, max: I32 }, "bytes per fetch response"),
    ("max.partition.fetch.bytes", Some("1048576"), Kind::Int { min: 1, max: I32 }, "bytes per partition per fetch"),
    (
        "queued.max.messages.kbytes",
        Some("65536"),
        Kind::Int { min: 1, max: 2_097_151 },
        "prefetch stops while the records fetched and not yet returned by poll hold this many kilobytes"
    ),
    (
        "queued.min.messages",
        Some("100000"),
        Kind::Int { min: 1, max: 10_000_000 },
        "prefetch stops while this many fetched records are not yet returned by poll"
    ),
    (
        "isolation.level",
        Some("read_committed"),
        Kind::OneOf(&["read_uncommitted", "read_committed"]),
        "transaction visibility"
    ),
];

/// Keys whose values are secrets: shown as `[redacted]` by `Debug`.
const SECRET_KEYS: &[&str] = &["sasl.password", "ssl.key.pem"];

/// Client settings keyed by Kafka property names.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientConfig {
    values: BTreeMap<String, String>,
    oauthbearer: Option<TokenProvider>,
}

/// Compared by identity, so configs stay comparable.
#[derive(Clone)]
struct TokenProvider(Arc<dyn OAuthBearerTokenProvider>);

impl PartialEq for TokenProvider {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TokenProvider {}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.values {
            if SECRET_KEYS.contains(&k.as_str()) {
                m.entry(k, &"[redacted]");
            } else {
                m.entry(k, v);
            }
        }
        if self.oauthbearer.is_some() {
            m.entry(&"oauthbearer.token.provider", &"[set]");
        }
        m.finish()
    }
}

fn lookup(key: &str) -> Result<&'static Key> {
    KEYS.iter().find(|k| k.name == key).ok_or_else(|| Error::Config {
        key: key.to_owned(),
        reason: "unknown key; see ferrokafka::config::documented_keys()".into(),
    })
}

fn check(key: &Key, value: &str) -> Result<()> {
    let bad = |reason: String| Err(Error::Config { key: key.name.to_owned(), reason });
    match key.kind {
        Kind::Int { min, max } => match value.trim().parse::<i64>() {
            Ok(v) if v >= min && v <= max => Ok(()),
            _ => bad(format!("{value:?} is not an integer in {min}..={max}")),
        },
        Kind::Bool => match value {
            "true" | "false" => Ok(()),
            _ => bad(format!("{value:?} is not true or false")),
        },
        Kind::OneOf(allowed) if !allowed.contains(&value) => {
            bad(format!("{value:?} is not one of {}", allowed.join(", ")))
        }
        Kind::OneOf(_) => Ok(()),
        Kind::Text if value.trim().is_empty() => bad("must not be empty".into()),
        Kind::Text => Ok(()),
    }
}

/// Every key this client accepts, with its default and meaning: `(key, default, doc)`.
pub fn documented_keys() -> Vec<(&'static str, Option<&'static str>, &'static str)> {
    KEYS.iter().map(|k| (k.name, k.default, k.doc)).collect()
}

impl ClientConfig {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a key, checking it is known and its value is accepted.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> Result<&mut Self> {
        let value = value.into();
        check(lookup(key)?, &value)?;
        let key = if key == "sasl.mechanisms" { "sasl.mechanism" } else { key };
        self.values.insert(key.to_owned(), value);
        Ok(self)
    }

    /// Sets the token source for `sasl.mechanism=OAUTHBEARER`; it is asked for a token on
    /// every (re-)authentication.
    pub fn set_oauthbearer_token_provider(&mut self, provider: impl OAuthBearerTokenProvider + 'static) -> &mut Self {
        self.oauthbearer = Some(TokenProvider(Arc::new(provider)));
        self
    }

    pub(crate) fn oauthbearer_provider(&self) -> Option<Arc<dyn OAuthBearerTokenProvider>> {
        self.oauthbearer.as_ref().map(|p| Arc::clone(&p.0))
    }

    /// Builds a config from `(key, value)` pairs, failing on the first bad one.
    pub fn from_pairs<K: AsRef<str>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self> {
        let mut c = Self::new();
        for (k, v) in pairs {
            c.set(k.as_ref(), v)?;
        }
        Ok(c)
    }

    /// The value in force: set, or the default.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str).or_else(|| KEYS.iter().find(|k| k.name == key).and_then(|k| k.default))
    }

    pub(crate) fn int(&self, key: &str) -> i64 {
        self.get(key).and_then(|v| v.trim().parse().ok()).unwrap_or_default()
    }

    pub(crate) fn duration(&self, key: &str) -> Duration {
        Duration::from_millis(self.int(key).max(0) as u64)
    }

    pub(crate) fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("true")
    }

    pub(crate) fn bootstrap_servers(&self) -> Result<Vec<String>> {
        let servers: Vec<String> = self
            .get("bootstrap.servers")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if servers.is_empty() {
            return Err(Error::Config {
                key: "bootstrap.servers".into(),
                reason: "required, e.g. 127.0.0.1:9092".into(),
            });
        }
        Ok(servers)
    }

    /// acks as the wire value: 0, 1 or -1.
    pub(crate) fn acks(&self) -> i16 {
        match self.get("acks") {
            Some("0") => 0,
            Some("1") => 1,
            _ => -1,
        }
    }

    /// Checks combinations a single key cannot: idempotence needs acks=all.
    pub(crate) fn validate_producer(&self) -> Result<()> {
        if self.get("transactional.id").is_some() {
            if self.get("transactional.id") == Some("") {
                return Err(Error::Config { key: "transactional.id".into(), reason: "must not be empty".into() });
            }
            // A transaction is written by the idempotent producer: it cannot be turned off.
            if self.values.contains_key("enable.idempotence") && !self.flag("enable.idempotence") {
                return Err(Error::Config {
                    key: "enable.idempotence".into(),
                    reason: "a transactional producer (transactional.id) is always idempotent".into(),
                });
            }
            if self.acks() != -1 {
                return Err(Error::Config {
                    key: "acks".into(),
                    reason: format!(
                        "a transactional producer (transactional.id) needs acks=all, not {}",
                        self.get("acks").unwrap_or_default()
                    ),
                });
            }
        } else if self.values.contains_key("transaction.timeout.ms") {
            return Err(Error::Config {
                key: "transaction.timeout.ms".into(),
                reason: "only used by a transactional producer: set transactional.id".into(),
            });
        }
        if self.flag("enable.idempotence") && self.acks() != -1 && self.values.contains_key("enable.idempotence") {
            return Err(Error::Config {
                key: "enable.idempotence".into(),
                reason: format!("requires acks=all, but acks={}", self.get("acks").unwrap_or_default()),
            });
        }
        Ok(())
    }

    /// Checks consumer settings that depend on each other (what `Consumer::new` refuses), for
    /// a binding that reports them before it makes the consumer.
    pub fn validate_consumer(&self) -> Result<()> {
        let kip848 = self.get("group.protocol") == Some("consumer");
        if kip848 {
            // With KIP-848 the broker assigns and times sessions: these would do nothing.
            for (key, instead) in [
                ("partition.assignment.strategy", "group.remote.assignor (the broker assigns)"),
                ("session.timeout.ms", "the broker's group.consumer.session.timeout.ms"),
                ("heartbeat.interval.ms", "the broker's group.consumer.heartbeat.interval.ms"),
            ] {
                if self.values.contains_key(key) {
                    return Err(Error::Config {
                        key: key.into(),
                        reason: format!("not used with group.protocol=consumer; set {instead}"),
                    });
                }
            }
        } else if self.values.contains_key("group.remote.assignor") {
            return Err(Error::Config {
                key: "group.remote.assignor".into(),
                reason: "only used with group.protocol=consumer".into(),
            });
        }
        if let Some(list) = self.get("partition.assignment.strategy") {
            crate::consumer::validate_assignors(list)?;
        }
        if self.int("heartbeat.interval.ms") >= self.int("session.timeout.ms") {
            return Err(Error::Config {
                key: "heartbeat.interval.ms".into(),
                reason: "must be lower than session.timeout.ms".into(),
            });
        }
        Ok(())
    }

    /// Idempotence is on by default, but only when acks=all: an explicit acks=0/1 turns the
    /// default off, as the Java client does.
    pub(crate) fn idempotent(&self) -> bool {
        self.flag("enable.idempotence") && self.acks() == -1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let mut c = ClientConfig::new();
        let e = c.set("linger.mss", "5").unwrap_err().to_string();
        assert!(e.contains("linger.mss") && e.contains("unknown"), "{e}");
        let e = c.set("acks", "2").unwrap_err().to_string();
        assert!(e.contains("acks") && e.contains("all"), "{e}");
        let e = c.set("linger.ms", "-1").unwrap_err().to_string();
        assert!(e.contains("linger.ms"), "{e}");
        c.set("linger.ms", "10").unwrap();
        assert_eq!(c.int("linger.ms"), 10);
        assert_eq!(c.get("acks"), Some("all"), "default");
        assert!(c.bootstrap_servers().is_err());
        c.set("acks", "1").unwrap().set("enable.idempotence", "true").unwrap();
        assert!(c.validate_producer().is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = ClientConfig::from_pairs([("sasl.username", "alice"), ("sasl.password", "s3cret-pw")]).unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("alice") && !shown.contains("s3cret-pw"), "{shown}");
        let c = ClientConfig::from_pairs([("sasl.mechanisms", "SCRAM-SHA-512")]).unwrap();
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
    }
}
