//! kafkajs's options, converted to the core's Kafka-named settings. Each option either maps
//! to a core setting, is refused with an error saying why (transactions), or is listed in
//! README.md as accepted without effect. `sasl.oauthBearerProvider`, a JavaScript function,
//! goes with the settings to every core client (see [`crate::oauthbearer`]).

use std::collections::HashMap;
use std::sync::Arc;

use ferrokafka::ClientConfig;
use napi::ValueType;
use napi::bindgen_prelude::{FromNapiValue, JsObjectValue, JsValue, Object, Unknown};
use napi_derive::napi;

use crate::callbacks::JsFn;
use crate::errors::{Error, Result};
use crate::oauthbearer::JsTokenProvider;

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
#[napi(object, object_to_js = false)]
pub struct KafkaConfig<'a> {
    /// `client.id`.
    pub client_id: Option<String>,
    /// `host:port` of the brokers to bootstrap from.
    pub brokers: Vec<String>,
    /// `true`, or `{ ca, cert, key }` as PEM strings: TLS (`security.protocol` SSL or
    /// SASL_SSL). The broker's chain is always verified (`rejectUnauthorized: false` is refused).
    #[napi(
        ts_type = "boolean | { ca?: string | string[], cert?: string, key?: string, servername?: string, rejectUnauthorized?: boolean }"
    )]
    pub ssl: Option<serde_json::Value>,
    /// `{ mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512', username, password }`, or
    /// `{ mechanism: 'oauthbearer', oauthBearerProvider }`: an async function resolving to
    /// `{ value: token }`, called on every authentication (first connect and
    /// re-authentication); a throw or rejection fails the authentication with its message.
    #[napi(
        ts_type = "{ mechanism: string, username?: string, password?: string, oauthBearerProvider?: () => Promise<OauthbearerProviderResponse> }"
    )]
    pub sasl: Option<Unknown<'a>>,
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

/// What `sasl.oauthBearerProvider` resolves to.
#[napi(object, object_from_js = false)]
// Declared for the TypeScript types: the provider's result is read in crate::oauthbearer.
#[allow(dead_code)]
pub struct OauthbearerProviderResponse {
    /// The token: for Kafka's default (unsecured) validator, a JWT with `sub` and `exp`.
    pub value: String,
}

/// `sasl` as given: the mechanism, credentials, and the token provider.
#[derive(Default)]
struct Sasl<'a> {
    mechanism: String,
    username: Option<String>,
    password: Option<String>,
    token_provider: Option<JsFn<'a>>,
}

/// Reads `sasl`: `None` for null or undefined; an unknown key is an error, not ignored.
fn read_sasl<'a>(sasl: &Unknown<'a>) -> Result<Option<Sasl<'a>>> {
    let napi_err = |key: &str, e: napi::Error| Error::invalid(format!("sasl.{key}: {}", e.reason));
    match sasl.get_type().map_err(|e| napi_err("", e))? {
        ValueType::Null | ValueType::Undefined => return Ok(None),
        ValueType::Object => {}
        _ => {
            return Err(Error::invalid(
                "sasl: an object { mechanism, username, password } or { mechanism, oauthBearerProvider }",
            ));
        }
    }
    let obj: Object<'a> = sasl.coerce_to_object().map_err(|e| napi_err("", e))?;
    let names = obj.get_property_names().map_err(|e| napi_err("", e))?;
    let mut sasl = Sasl::default();
    for i in 0..names.get_array_length().map_err(|e| napi_err("", e))? {
        let key: String = names.get_element(i).map_err(|e| napi_err("", e))?;
        let value: Unknown = obj.get_named_property(&key).map_err(|e| napi_err(&key, e))?;
        let kind = value.get_type().map_err(|e| napi_err(&key, e))?;
        if kind == ValueType::Undefined {
            continue;
        }
        let text = || -> Result<String> {
            if kind != ValueType::String {
                return Err(Error::invalid(format!("sasl.{key}: a string expected")));
            }
            value
                .coerce_to_string()
                .and_then(|s| s.into_utf8())
                .and_then(|s| s.into_owned())
                .map_err(|e| napi_err(&key, e))
        };
        match key.as_str() {
            "mechanism" => sasl.mechanism = text()?,
            "username" => sasl.username = Some(text()?),
            "password" => sasl.password = Some(text()?),
            "oauthBearerProvider" => {
                if kind != ValueType::Function {
                    return Err(Error::invalid(
                        "sasl.oauthBearerProvider: a function expected (async () => ({ value: token }))",
                    ));
                }
                sasl.token_provider = Some(JsFn::from_unknown(value).map_err(|e| napi_err(&key, e))?);
            }
            other => {
                return Err(Error::invalid(format!(
                    "sasl.{other}: not supported (sasl takes mechanism, username, password, oauthBearerProvider)"
                )));
            }
        }
    }
    Ok(Some(sasl))
}

/// A PEM option of `ssl`: a string, or an array of strings (kafkajs passes them to Node's
/// `tls.connect`, which takes either).
fn pem(key: &str, v: &serde_json::Value) -> Result<String> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_owned).ok_or_else(|| Error::invalid(format!("ssl.{key}: PEM strings expected")))
            })
            .collect::<Result<Vec<_>>>()
            .map(|all| all.join("\n")),
        _ => Err(Error::invalid(format!(
            "ssl.{key}: a PEM string (or an array of them) expected; read files with fs.readFileSync(path, 'utf8')"
        ))),
    }
}

/// What `ssl` and `sasl` come to: core settings, and the OAUTHBEARER token provider.
struct Security<'a> {
    settings: Vec<(&'static str, String)>,
    token_provider: Option<JsFn<'a>>,
}

/// kafkajs's `ssl` and `sasl` options as the core's settings (`security.protocol`,
/// `ssl.*.pem`, `sasl.*`), and the OAUTHBEARER token provider. What the core cannot honour is
/// an error naming it.
fn security_settings<'a>(config: &KafkaConfig<'a>) -> Result<Security<'a>> {
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
    let mut token_provider = None;
    let sasl = match config.sasl.as_ref().map(read_sasl).transpose()?.flatten() {
        None => false,
        Some(sasl) => {
            let mechanism = sasl.mechanism.to_ascii_lowercase();
            let core = match mechanism.as_str() {
                "plain" => "PLAIN",
                "scram-sha-256" => "SCRAM-SHA-256",
                "scram-sha-512" => "SCRAM-SHA-512",
                "oauthbearer" => "OAUTHBEARER",
                other => {
                    return Err(Error::invalid(format!(
                        "sasl.mechanism {other:?}: expected plain, scram-sha-256, scram-sha-512 or oauthbearer"
                    )));
                }
            };
            out.push(("sasl.mechanism", core.to_owned()));
            if core == "OAUTHBEARER" {
                if sasl.username.is_some() || sasl.password.is_some() {
                    return Err(Error::invalid(
                        "sasl: oauthbearer takes oauthBearerProvider, not username and password",
                    ));
                }
                token_provider = Some(sasl.token_provider.ok_or_else(|| {
                    Error::invalid("sasl.oauthBearerProvider: required for oauthbearer (an async function resolving to { value: token })")
                })?);
            } else {
                if sasl.token_provider.is_some() {
                    return Err(Error::invalid(format!(
                        "sasl.oauthBearerProvider: for oauthbearer only, not {mechanism}"
                    )));
                }
                out.extend(sasl.username.map(|u| ("sasl.username", u)));
                out.extend(sasl.password.map(|p| ("sasl.password", p)));
            }
            true
        }
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
    Ok(Security { settings: out, token_provider })
}

/// Core settings as `(key, value)` pairs, built up from the `Kafka` down to one client, and
/// the OAUTHBEARER token provider, if any.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings(Vec<(String, String)>, Option<Arc<JsTokenProvider>>);

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
        let mut config = ClientConfig::from_pairs(self.0.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        if let Some(provider) = &self.1 {
            let for_client = JsTokenProvider::for_client(provider, config.get("request.timeout.ms"));
            config.set_oauthbearer_token_provider(for_client);
        }
        Ok(config)
    }

    pub(crate) fn retry(&mut self, retry: Option<&RetryOptions>) {
        if let Some(r) = retry {
            self.set_opt("retries", r.retries);
            self.set_opt("retry.backoff.ms", r.initial_retry_time);
        }
    }
}

/// The settings every client of a `Kafka` shares; refuses what the core cannot do, rather
/// than ignoring it. On the JavaScript thread (the token provider is made there).
pub(crate) fn kafka_settings(config: &KafkaConfig<'_>) -> Result<Settings> {
    if config.brokers.is_empty() {
        return Err(Error::invalid("brokers: at least one host:port is required"));
    }
    let Security { settings: security, token_provider } = security_settings(config)?;
    let mut s = Settings::default();
    s.set("bootstrap.servers", config.brokers.join(","));
    s.set_opt("client.id", config.client_id.as_deref());
    s.set_opt("socket.connection.setup.timeout.ms", config.connection_timeout);
    s.set_opt("request.timeout.ms", config.request_timeout);
    s.retry(config.retry.as_ref());
    for (k, v) in security {
        s.set(k, v);
    }
    s.extend(config.settings.as_ref());
    if let Some(f) = token_provider {
        let provider =
            JsTokenProvider::new(&f).map_err(|e| Error::invalid(format!("sasl.oauthBearerProvider: {}", e.reason)))?;
        s.1 = Some(Arc::new(provider));
    }
    Ok(s)
}
