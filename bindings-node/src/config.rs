//! kafkajs's options, converted to the core's Kafka-named settings. Each option either maps
//! to a core setting, is refused with an error saying why (`ssl`, `sasl`, transactions), or is
//! listed in README.md as accepted without effect.

use std::collections::HashMap;

use ferrokafka::ClientConfig;
use napi_derive::napi;

use crate::errors::{Error, Result};

/// kafkajs's `logLevel`.
#[napi]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum logLevel {
    NOTHING = 0,
    ERROR = 1,
    WARN = 2,
    INFO = 4,
    DEBUG = 5,
}

/// kafkajs's `retry` options. `retries` and `initialRetryTime` map to the core's `retries` and
/// `retry.backoff.ms`; the others are accepted without effect (the core's backoff is fixed).
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct RetryOptions {
    pub retries: Option<u32>,
    pub initial_retry_time: Option<u32>,
    pub max_retry_time: Option<u32>,
    pub factor: Option<f64>,
    pub multiplier: Option<f64>,
}

/// `new Kafka(config)`.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct KafkaConfig {
    /// `client.id`.
    pub client_id: Option<String>,
    /// `host:port` of the brokers to bootstrap from.
    pub brokers: Vec<String>,
    /// TLS is not implemented in the core yet: any value but `false`/`undefined` is refused.
    #[napi(ts_type = "boolean | object")]
    pub ssl: Option<serde_json::Value>,
    /// SASL is not implemented in the core yet: any value is refused.
    #[napi(ts_type = "object")]
    pub sasl: Option<serde_json::Value>,
    /// `socket.connection.setup.timeout.ms`.
    pub connection_timeout: Option<u32>,
    /// `request.timeout.ms`.
    pub request_timeout: Option<u32>,
    pub retry: Option<RetryOptions>,
    /// Log records of level this or more severe go to stderr (default `logLevel.INFO`).
    pub log_level: Option<logLevel>,
    /// Extra core settings by their Kafka names (e.g. `{ 'metadata.max.age.ms': '60000' }`),
    /// for every client of this `Kafka`; an unknown key is an error.
    pub settings: Option<HashMap<String, String>>,
}

/// Refuses what the core cannot do, rather than ignoring it.
pub(crate) fn check_kafka(config: &KafkaConfig) -> Result<()> {
    if config.brokers.is_empty() {
        return Err(Error::invalid("brokers: at least one host:port is required"));
    }
    match &config.ssl {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => {}
        Some(_) => {
            return Err(Error::not_implemented(
                "ssl: TLS is not supported by ferrokafka yet (issue 11); connect over PLAINTEXT or leave `ssl` unset",
            ));
        }
    }
    match &config.sasl {
        None | Some(serde_json::Value::Null) => {}
        Some(_) => {
            return Err(Error::not_implemented(
                "sasl: SASL authentication is not supported by ferrokafka yet (issue 11); leave `sasl` unset",
            ));
        }
    }
    Ok(())
}

/// Core settings as `(key, value)` pairs, built up from the `Kafka` down to one client.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings(Vec<(String, String)>);

impl Settings {
    pub(crate) fn set(&mut self, key: &str, value: impl ToString) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_owned(), value.to_string()));
    }

    pub(crate) fn set_opt(&mut self, key: &str, value: Option<impl ToString>) {
        if let Some(v) = value {
            self.set(key, v);
        }
    }

    pub(crate) fn extend(&mut self, extra: Option<&HashMap<String, String>>) {
        let mut extra: Vec<_> = extra.into_iter().flatten().collect();
        extra.sort();
        for (k, v) in extra {
            self.set(k, v);
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The core's config; every key and value is checked there.
    pub(crate) fn client_config(&self) -> Result<ClientConfig> {
        Ok(ClientConfig::from_pairs(self.0.iter().map(|(k, v)| (k.as_str(), v.as_str())))?)
    }

    pub(crate) fn retry(&mut self, retry: Option<&RetryOptions>) {
        if let Some(r) = retry {
            self.set_opt("retries", r.retries);
            self.set_opt("retry.backoff.ms", r.initial_retry_time);
        }
    }
}

/// The settings every client of a `Kafka` shares.
pub(crate) fn kafka_settings(config: &KafkaConfig) -> Settings {
    let mut s = Settings::default();
    s.set("bootstrap.servers", config.brokers.join(","));
    s.set_opt("client.id", config.client_id.as_deref());
    s.set_opt("socket.connection.setup.timeout.ms", config.connection_timeout);
    s.set_opt("request.timeout.ms", config.request_timeout);
    s.retry(config.retry.as_ref());
    s.extend(config.settings.as_ref());
    s
}
