//! A typed way to build a [`ClientConfig`] from Rust: the common settings as methods taking
//! Rust types (durations, enums, numbers), and [`set`](ConfigBuilder::set) for any other key.
//! Every value still goes through the same checks as a string would; the first bad one is
//! the error [`build`](ConfigBuilder::build) returns, naming the key.
//!
//! ```
//! use std::time::Duration;
//! use ferrokafka::config::{Acks, AutoOffsetReset, Compression};
//! use ferrokafka::ClientConfig;
//!
//! let config = ClientConfig::builder()
//!     .bootstrap_servers(["127.0.0.1:9092", "127.0.0.1:9093"])
//!     .acks(Acks::All)
//!     .linger(Duration::from_millis(10))
//!     .compression(Compression::Lz4)
//!     .group_id("billing")
//!     .auto_offset_reset(AutoOffsetReset::Earliest)
//!     .set("fetch.max.wait.ms", "100")
//!     .build()?;
//! assert_eq!(config.get("compression.type"), Some("lz4"));
//! # Ok::<(), ferrokafka::Error>(())
//! ```

use std::time::Duration;

use super::ClientConfig;
use crate::error::Result;

/// `acks`: what the partition leader waits for before answering a produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: no answer at all (records may be lost unseen).
    None,
    /// `acks=1`: the leader has written it.
    Leader,
    /// `acks=all`: every in-sync replica has it (the default; idempotence needs it).
    All,
}

/// `compression.type` of produced batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

/// `auto.offset.reset`: where to start reading a partition without a committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoOffsetReset {
    Earliest,
    Latest,
    /// Fail, naming the partition.
    Error,
}

/// `group.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupProtocol {
    /// JoinGroup/SyncGroup: a member of the group assigns (`partition.assignment.strategy`).
    Classic,
    /// KIP-848 (Kafka 4.0+): the broker assigns (`group.remote.assignor`).
    Consumer,
}

/// Builds a [`ClientConfig`]; see the [module](self) documentation.
#[derive(Debug, Default)]
#[must_use]
pub struct ConfigBuilder {
    config: ClientConfig,
    error: Option<crate::Error>,
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

impl ConfigBuilder {
    /// Any key this client knows, as a string (see [`documented_keys`](super::documented_keys)).
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        if self.error.is_none() {
            if let Err(e) = self.config.set(key, value) {
                self.error = Some(e);
            }
        }
        self
    }

    /// The config, or the first key that was refused.
    pub fn build(self) -> Result<ClientConfig> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.config),
        }
    }

    pub fn bootstrap_servers<S: AsRef<str>>(self, servers: impl IntoIterator<Item = S>) -> Self {
        let list: Vec<String> = servers.into_iter().map(|s| s.as_ref().to_owned()).collect();
        self.set("bootstrap.servers", list.join(","))
    }

    pub fn client_id(self, id: impl Into<String>) -> Self {
        self.set("client.id", id)
    }

    pub fn request_timeout(self, timeout: Duration) -> Self {
        self.set("request.timeout.ms", ms(timeout))
    }

    /// `reconnect.backoff.ms` and `reconnect.backoff.max.ms`.
    pub fn reconnect_backoff(self, first: Duration, max: Duration) -> Self {
        self.set("reconnect.backoff.ms", ms(first)).set("reconnect.backoff.max.ms", ms(max))
    }

    pub fn retry_backoff(self, backoff: Duration) -> Self {
        self.set("retry.backoff.ms", ms(backoff))
    }

    pub fn metadata_max_age(self, age: Duration) -> Self {
        self.set("metadata.max.age.ms", ms(age))
    }

    // Producer

    pub fn acks(self, acks: Acks) -> Self {
        self.set(
            "acks",
            match acks {
                Acks::None => "0",
                Acks::Leader => "1",
                Acks::All => "all",
            },
        )
    }

    pub fn linger(self, linger: Duration) -> Self {
        self.set("linger.ms", ms(linger))
    }

    pub fn batch_size(self, bytes: usize) -> Self {
        self.set("batch.size", bytes.to_string())
    }

    pub fn compression(self, compression: Compression) -> Self {
        self.set(
            "compression.type",
            match compression {
                Compression::None => "none",
                Compression::Gzip => "gzip",
                Compression::Snappy => "snappy",
                Compression::Lz4 => "lz4",
                Compression::Zstd => "zstd",
            },
        )
    }

    pub fn enable_idempotence(self, on: bool) -> Self {
        self.set("enable.idempotence", on.to_string())
    }

    pub fn retries(self, retries: u32) -> Self {
        self.set("retries", retries.to_string())
    }

    pub fn delivery_timeout(self, timeout: Duration) -> Self {
        self.set("delivery.timeout.ms", ms(timeout))
    }

    pub fn max_in_flight_requests_per_connection(self, n: u32) -> Self {
        self.set("max.in.flight.requests.per.connection", n.to_string())
    }

    /// `queue.buffering.max.messages` and `queue.buffering.max.kbytes`.
    pub fn queue_buffering_max(self, messages: usize, kbytes: usize) -> Self {
        self.set("queue.buffering.max.messages", messages.to_string())
            .set("queue.buffering.max.kbytes", kbytes.to_string())
    }

    /// `max.block.ms`: how long `send` waits for queue space (zero: QUEUE_FULL at once).
    pub fn max_block(self, wait: Duration) -> Self {
        self.set("max.block.ms", ms(wait))
    }

    pub fn message_max_bytes(self, bytes: usize) -> Self {
        self.set("message.max.bytes", bytes.to_string())
    }

    /// `partitioner`: murmur2_random, murmur2, consistent_random, random or round_robin.
    pub fn partitioner(self, name: &str) -> Self {
        self.set("partitioner", name)
    }

    // Consumer

    pub fn group_id(self, group: impl Into<String>) -> Self {
        self.set("group.id", group)
    }

    pub fn group_instance_id(self, id: impl Into<String>) -> Self {
        self.set("group.instance.id", id)
    }

    pub fn group_protocol(self, protocol: GroupProtocol) -> Self {
        self.set(
            "group.protocol",
            match protocol {
                GroupProtocol::Classic => "classic",
                GroupProtocol::Consumer => "consumer",
            },
        )
    }

    pub fn auto_offset_reset(self, reset: AutoOffsetReset) -> Self {
        self.set(
            "auto.offset.reset",
            match reset {
                AutoOffsetReset::Earliest => "earliest",
                AutoOffsetReset::Latest => "latest",
                AutoOffsetReset::Error => "error",
            },
        )
    }

    /// `enable.auto.commit`, and with `Some`, `auto.commit.interval.ms`.
    pub fn auto_commit(self, every: Option<Duration>) -> Self {
        match every {
            Some(every) => self.set("enable.auto.commit", "true").set("auto.commit.interval.ms", ms(every)),
            None => self.set("enable.auto.commit", "false"),
        }
    }

    pub fn session_timeout(self, timeout: Duration) -> Self {
        self.set("session.timeout.ms", ms(timeout))
    }

    pub fn heartbeat_interval(self, interval: Duration) -> Self {
        self.set("heartbeat.interval.ms", ms(interval))
    }

    pub fn max_poll_interval(self, interval: Duration) -> Self {
        self.set("max.poll.interval.ms", ms(interval))
    }

    /// `partition.assignment.strategy`, in order of preference.
    pub fn partition_assignment_strategy<S: AsRef<str>>(self, assignors: impl IntoIterator<Item = S>) -> Self {
        let list: Vec<String> = assignors.into_iter().map(|s| s.as_ref().to_owned()).collect();
        self.set("partition.assignment.strategy", list.join(","))
    }

    // Security

    /// `security.protocol`: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    pub fn security_protocol(self, protocol: &str) -> Self {
        self.set("security.protocol", protocol)
    }

    /// `sasl.mechanism` with `sasl.username` / `sasl.password` (PLAIN or SCRAM-SHA-256/512).
    pub fn sasl(self, mechanism: &str, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.set("sasl.mechanism", mechanism).set("sasl.username", username).set("sasl.password", password)
    }

    /// `ssl.ca.location`: the CA bundle that signs the brokers' certificates.
    pub fn ssl_ca_location(self, path: impl Into<String>) -> Self {
        self.set("ssl.ca.location", path)
    }
}

impl ClientConfig {
    /// A typed builder; see [`ConfigBuilder`].
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_become_kafka_property_strings() {
        let c = ClientConfig::builder()
            .bootstrap_servers(["a:1", "b:2"])
            .acks(Acks::Leader)
            .enable_idempotence(false)
            .linger(Duration::from_millis(7))
            .compression(Compression::Zstd)
            .auto_commit(None)
            .group_protocol(GroupProtocol::Consumer)
            .partition_assignment_strategy(["cooperative-sticky", "range"])
            .build()
            .unwrap();
        let got: Vec<Option<&str>> =
            ["bootstrap.servers", "acks", "linger.ms", "compression.type", "enable.auto.commit", "group.protocol"]
                .iter()
                .map(|k| c.get(k))
                .collect();
        assert_eq!(got, [Some("a:1,b:2"), Some("1"), Some("7"), Some("zstd"), Some("false"), Some("consumer")]);
        assert_eq!(c.get("partition.assignment.strategy"), Some("cooperative-sticky,range"));
        assert_eq!(c.bootstrap_servers().unwrap(), ["a:1", "b:2"]);
    }

    #[test]
    fn the_first_refused_value_is_the_error_and_names_its_key() {
        let e = ClientConfig::builder()
            .linger(Duration::from_secs(3600))
            .set("no.such.key", "1")
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("linger.ms") && !e.contains("no.such.key"), "{e}");
        let e = ClientConfig::builder().set("no.such.key", "1").build().unwrap_err().to_string();
        assert!(e.contains("no.such.key") && e.contains("unknown"), "{e}");
    }
}
