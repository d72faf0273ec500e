//! kafkajs's options, converted to the core's Kafka-named settings. Each option either maps
//! to a core setting, is refused with an error saying why (transactions, OAUTHBEARER), or is
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
    /// `true`, or `{ ca, cert, key }` as PEM strings: TLS (`security.protocol` SSL or
    /// SASL_SSL). The broker's chain is always verified (`rejectUnauthorized: false` is refused).
    #[napi(ts_type = "boolean | { ca?: string | string[], cert?: string, key?: string, servername?: string, rejectUnauthorized?: boolean }")]
    pub ssl: Option<serde_json::Value>,
    /// `{ mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512', username, password }`.
    #[napi(ts_type = "{ mechanism: string, username?: string, password?: string }")]
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
    security_settings(config).map(drop)
}

/// A PEM option of `ssl`: a string, or an array of strings (kafkajs passes them to Node's
/// `tls.connect`, which takes either).
fn pem(key: &str, v: &serde_json::Value) -> Result<String> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| Error::invalid(format!("ssl.{key}: PEM strings expected"))))
            .collect::<Result<Vec<_>>>()
            .map(|all| all.join("\n")),
        _ => Err(Error::invalid(format!("ssl.{key}: a PEM string (or an array of them) expected; read files with fs.readFileSync(path, 'utf8')"))),
    }
}

/// kafkajs's `ssl` and `sasl` options as the core's settings (`security.protocol`,
/// `ssl.*.pem`, `sasl.*`). What the core cannot honour is an error naming it.
pub(crate) fn security_settings(config: &KafkaConfig) -> Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    let tls = match &config.ssl {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => false,
        Some(serde_json::Value::Bool(true)) => true,
        Some(serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match k.as_str() {
                    "ca" => out.push(("ssl.ca.pem", pem(k, v)?)),
                    "cert" => out.push(("ssl.certificate.pem", pem(k, v)?)),
                    "key" => out.push(("ssl.key.pem", pem(k, v)?)),
                    "servername" => {}
                    "rejectUnauthorized" if v == &serde_json::Value::Bool(true) => {}
                    "rejectUnauthorized" => {
                        return Err(Error::invalid(
                            "ssl.rejectUnauthorized=false: ferrokafka always verifies the broker's certificate chain; give the CA \
                             as ssl.ca (to skip only the hostname check, settings: { 'ssl.endpoint.identification.algorithm': 'none' })",
                        ));
                    }
                    other => {
                        return Err(Error::invalid(format!(
                            "ssl.{other}: not supported (ssl takes ca, cert, key, servername, rejectUnauthorized)"
                        )));
                    }
                }
            }
            true
        }
        Some(_) => return Err(Error::invalid("ssl: true, false or an object of TLS options")),
    };
    let sasl = match &config.sasl {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Object(o)) => {
            let mechanism = o.get("mechanism").and_then(|m| m.as_str()).unwrap_or_default().to_ascii_lowercase();
            let core = match mechanism.as_str() {
                "plain" => "PLAIN",
                "scram-sha-256" => "SCRAM-SHA-256",
                "scram-sha-512" => "SCRAM-SHA-512",
                "oauthbearer" => {
                    return Err(Error::not_implemented(
                        "sasl.mechanism oauthbearer: the token provider is not exposed to JavaScript yet (the core supports it)",
                    ));
                }
                other => {
                    return Err(Error::invalid(format!(
                        "sasl.mechanism {other:?}: expected plain, scram-sha-256 or scram-sha-512"
                    )));
                }
            };
            out.push(("sasl.mechanism", core.to_owned()));
            for (k, v) in o {
                match k.as_str() {
                    "mechanism" => {}
                    "username" | "password" => {
                        let text = v.as_str().ok_or_else(|| Error::invalid(format!("sasl.{k}: a string expected")))?;
                        out.push((if k == "username" { "sasl.username" } else { "sasl.password" }, text.to_owned()));
                    }
                    other => return Err(Error::invalid(format!("sasl.{other}: not supported (sasl takes mechanism, username, password)"))),
                }
            }
            true
        }
        Some(_) => return Err(Error::invalid("sasl: an object { mechanism, username, password }")),
    };
    let protocol = match (tls, sasl) {
        (false, false) => None,
        (true, false) => Some("SSL"),
        (false, true) => Some("SASL_PLAINTEXT"),
        (true, true) => Some("SASL_SSL"),
    };
    if let Some(p) = protocol {
        out.push(("security.protocol", p.to_owned()));
    }
    Ok(out)
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
    // Checked when the Kafka was made (check_kafka).
    for (k, v) in security_settings(config).unwrap_or_default() {
        s.set(k, v);
    }
    s.extend(config.settings.as_ref());
    s
}
