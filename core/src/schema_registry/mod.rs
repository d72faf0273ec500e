//! A client for a Confluent-compatible Schema Registry (the bundled broker's, Confluent's, or
//! any that serves the same REST API), with the caches serializers need: ids ↔ schemas,
//! (subject, schema) → id and version, subjects → latest version, and every schema id parsed
//! once with its references.
//!
//! Configuration uses the keys Confluent's clients know: `url` (several, comma-separated, tried
//! in turn), `basic.auth.user.info` with `basic.auth.credentials.source` (`USER_INFO` or
//! `URL`), `ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location`, `timeout.ms`,
//! `cache.capacity`, `cache.latest.ttl.sec`, `max.retries`, `retries.wait.ms`,
//! `retries.max.wait.ms`.

mod http;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokafka_schema::{ParsedSchema, ResolvedReference};
use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use ferrokafka_schema::SchemaType;

use crate::config::ClientConfig;
use crate::error::{Error, Result};

/// A reference from a schema to another registered one: `name` is how the referring schema
/// names it (an Avro full name, a `.proto` import path, a JSON Schema `$ref`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchemaReference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// A schema as the registry stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Schema {
    #[serde(rename = "schemaType", default)]
    pub schema_type: SchemaType,
    pub schema: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
}

impl Schema {
    pub fn new(schema_type: SchemaType, schema: impl Into<String>) -> Self {
        Schema { schema_type, schema: schema.into(), references: Vec::new() }
    }

    pub fn with_references(mut self, references: Vec<SchemaReference>) -> Self {
        self.references = references;
        self
    }

    fn body(&self) -> Value {
        let mut body = json!({ "schema": self.schema });
        if self.schema_type != SchemaType::Avro {
            body["schemaType"] = json!(self.schema_type.name());
        }
        if !self.references.is_empty() {
            body["references"] = json!(self.references);
        }
        body
    }
}

/// A schema registered under a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSchema {
    pub id: i32,
    pub subject: String,
    pub version: i32,
    pub schema: Schema,
}

/// Why a registry call failed: the registry's answer (HTTP status and Confluent's error code,
/// e.g. 40401 for an unknown subject, 409 for an incompatible schema), no answer at all, or an
/// answer that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("schema registry answered {status}: {message} (error code {code})")]
    Http { status: u16, code: i32, message: String },
    #[error("schema registry at {url} could not be reached: {reason}")]
    Transport { url: String, reason: String },
    #[error("schema registry at {url}: {reason}")]
    Protocol { url: String, reason: String },
    /// A schema the registry returned does not parse here.
    #[error("schema {id} cannot be used: {reason}")]
    InvalidSchema { id: i32, reason: String },
}

impl RegistryError {
    pub(crate) fn retriable(&self) -> bool {
        match self {
            RegistryError::Http { status, .. } => http::retriable_status(*status),
            RegistryError::Transport { .. } => true,
            RegistryError::Protocol { .. } | RegistryError::InvalidSchema { .. } => false,
        }
    }

    /// The HTTP status the registry answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Confluent's error code (40401 subject not found, 40403 schema not found, 409
    /// incompatible, 42201 invalid schema, ...), or -1 when the registry did not answer.
    pub fn error_code(&self) -> i32 {
        match self {
            RegistryError::Http { code, .. } => *code,
            _ => -1,
        }
    }
}

const KEYS: &[&str] = &[
    "url",
    "basic.auth.user.info",
    "basic.auth.credentials.source",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "timeout.ms",
    "cache.capacity",
    "cache.latest.ttl.sec",
    "max.retries",
    "retries.wait.ms",
    "retries.max.wait.ms",
];

fn config_error(key: &str, reason: impl Into<String>) -> Error {
    Error::Config { key: key.to_owned(), reason: reason.into() }
}

fn number(settings: &HashMap<String, String>, key: &str, default: u64) -> Result<u64> {
    match settings.get(key) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| config_error(key, format!("{v:?} is not a whole number"))),
    }
}

/// A bounded map: full, it forgets an arbitrary half, so a long-running client with
/// ever-new schemas keeps `cache.capacity` at most.
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, V>,
    capacity: usize,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Bounded { map: HashMap::new(), capacity: capacity.max(1) }
    }

    fn get(&self, k: &K) -> Option<V> {
        self.map.get(k).cloned()
    }

    fn insert(&mut self, k: K, v: V) {
        if self.map.len() >= self.capacity && !self.map.contains_key(&k) {
            let drop: Vec<K> = self.map.keys().take(self.capacity.div_ceil(2)).cloned().collect();
            for d in drop {
                self.map.remove(&d);
            }
        }
        self.map.insert(k, v);
    }

    fn retain(&mut self, keep: impl FnMut(&K, &mut V) -> bool) {
        self.map.retain(keep);
    }
}

#[derive(Debug)]
struct Caches {
    by_id: Bounded<i32, Schema>,
    parsed: Bounded<i32, Arc<ParsedSchema>>,
    /// (subject, schema, normalize) → id, from register.
    ids: Bounded<(String, Schema, bool), i32>,
    /// (subject, schema, normalize) → registered version, from lookup.
    lookups: Bounded<(String, Schema, bool), RegisteredSchema>,
    versions: Bounded<(String, i32), RegisteredSchema>,
    latest: Bounded<String, (RegisteredSchema, Instant)>,
}

/// A Schema Registry client; cheap to clone (the clones share connections settings and caches).
#[derive(Debug, Clone)]
pub struct SchemaRegistryClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    transport: http::Transport,
    caches: Mutex<Caches>,
    /// How long a subject's latest version is trusted; `None`: until the client is dropped
    /// (Confluent's default).
    latest_ttl: Option<Duration>,
}

fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn field<'v>(v: &'v Value, name: &str, url: &str) -> Result<&'v Value, RegistryError> {
    v.get(name).ok_or_else(|| RegistryError::Protocol {
        url: url.to_owned(),
        reason: format!("the answer has no {name:?}: {v}"),
    })
}

fn int(v: &Value, name: &str, url: &str) -> Result<i32, RegistryError> {
    field(v, name, url)?.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(|| RegistryError::Protocol {
        url: url.to_owned(),
        reason: format!("{name:?} is not a number: {v}"),
    })
}

fn schema_of(v: &Value, url: &str) -> Result<Schema, RegistryError> {
    serde_json::from_value(v.clone())
        .map_err(|e| RegistryError::Protocol { url: url.to_owned(), reason: format!("not a schema: {e}: {v}") })
}

fn registered(v: &Value, url: &str) -> Result<RegisteredSchema, RegistryError> {
    Ok(RegisteredSchema {
        id: int(v, "id", url)?,
        subject: field(v, "subject", url)?.as_str().unwrap_or_default().to_owned(),
        version: int(v, "version", url)?,
        schema: schema_of(v, url)?,
    })
}

impl SchemaRegistryClient {
    /// A client from Confluent's configuration keys; an unknown key is an error.
    pub fn new<K: AsRef<str>, V: Into<String>>(config: impl IntoIterator<Item = (K, V)>) -> Result<Self> {
        let settings: HashMap<String, String> =
            config.into_iter().map(|(k, v)| (k.as_ref().trim().to_owned(), v.into())).collect();
        if let Some(unknown) = settings.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(config_error(unknown, format!("not a schema registry setting (known: {})", KEYS.join(", "))));
        }
        let urls = settings.get("url").ok_or_else(|| config_error("url", "required"))?;
        let endpoints = urls
            .split(',')
            .filter(|u| !u.trim().is_empty())
            .map(http::Endpoint::parse)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| config_error("url", e))?;
        if endpoints.is_empty() {
            return Err(config_error("url", "required"));
        }
        let source = settings.get("basic.auth.credentials.source").map(|s| s.to_ascii_uppercase());
        let authorization = match (source.as_deref(), settings.get("basic.auth.user.info")) {
            (None | Some("USER_INFO"), Some(ui)) => {
                if !ui.contains(':') {
                    return Err(config_error("basic.auth.user.info", "must be user:password"));
                }
                Some(http::basic(ui))
            }
            (Some("USER_INFO"), None) => return Err(config_error("basic.auth.user.info", "required by USER_INFO")),
            (None, None) => None,
            (Some("URL"), None) => {
                if endpoints.iter().any(|e| e.user_info.is_none()) {
                    return Err(config_error(
                        "url",
                        "basic.auth.credentials.source=URL needs user:password@ in every url",
                    ));
                }
                None
            }
            (Some("URL"), Some(_)) => {
                return Err(config_error("basic.auth.user.info", "not used with basic.auth.credentials.source=URL"));
            }
            (Some(other), _) => {
                return Err(config_error(
                    "basic.auth.credentials.source",
                    format!("{other:?} is not USER_INFO or URL"),
                ));
            }
        };
        let ssl: Vec<(&str, &String)> = ["ssl.ca.location", "ssl.certificate.location", "ssl.key.location"]
            .into_iter()
            .filter_map(|k| settings.get(k).map(|v| (k, v)))
            .collect();
        let tls = if endpoints.iter().any(|e| e.tls) {
            let config = ClientConfig::from_pairs(ssl.iter().map(|(k, v)| (*k, v.as_str())))?;
            Some(http::connector(crate::security::tls::client_config(&config)?))
        } else if let Some((key, _)) = ssl.first() {
            return Err(config_error(key, "set, but no url is https://"));
        } else {
            None
        };
        let capacity = number(&settings, "cache.capacity", 1000)? as usize;
        let latest_ttl = match settings.get("cache.latest.ttl.sec") {
            None => None,
            Some(_) => Some(Duration::from_secs(number(&settings, "cache.latest.ttl.sec", 0)?)),
        };
        let transport = http::Transport {
            endpoints,
            authorization,
            tls,
            timeout: Duration::from_millis(number(&settings, "timeout.ms", 30_000)?.max(1)),
            max_retries: number(&settings, "max.retries", 3)?.min(u64::from(u32::MAX)) as u32,
            retry_wait: Duration::from_millis(number(&settings, "retries.wait.ms", 1000)?),
            retry_max_wait: Duration::from_millis(number(&settings, "retries.max.wait.ms", 20_000)?),
        };
        let caches = Caches {
            by_id: Bounded::new(capacity),
            parsed: Bounded::new(capacity),
            ids: Bounded::new(capacity),
            lookups: Bounded::new(capacity),
            versions: Bounded::new(capacity),
            latest: Bounded::new(capacity),
        };
        Ok(SchemaRegistryClient { inner: Arc::new(Inner { transport, caches: Mutex::new(caches), latest_ttl }) })
    }

    fn caches(&self) -> std::sync::MutexGuard<'_, Caches> {
        self.inner.caches.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        Ok(self.inner.transport.call(method, path, body).await?)
    }

    /// Registers `schema` under `subject` (or finds it already there); its id.
    pub async fn register(&self, subject: &str, schema: &Schema, normalize: bool) -> Result<i32> {
        let key = (subject.to_owned(), schema.clone(), normalize);
        if let Some(id) = self.caches().ids.get(&key) {
            return Ok(id);
        }
        let path = format!("/subjects/{}/versions?normalize={normalize}", encode(subject));
        let answer = self.call(Method::POST, &path, Some(schema.body())).await?;
        let id = int(&answer, "id", &path).map_err(Error::from)?;
        let mut caches = self.caches();
        caches.ids.insert(key, id);
        caches.by_id.insert(id, schema.clone());
        Ok(id)
    }

    /// The version of `subject` that holds `schema`; an error with code 40403 if none does.
    pub async fn lookup(&self, subject: &str, schema: &Schema, normalize: bool) -> Result<RegisteredSchema> {
        let key = (subject.to_owned(), schema.clone(), normalize);
        if let Some(found) = self.caches().lookups.get(&key) {
            return Ok(found);
        }
        let path = format!("/subjects/{}?normalize={normalize}", encode(subject));
        let answer = self.call(Method::POST, &path, Some(schema.body())).await?;
        let found = registered(&answer, &path)?;
        let mut caches = self.caches();
        caches.by_id.insert(found.id, found.schema.clone());
        caches.lookups.insert(key, found.clone());
        Ok(found)
    }

    /// The schema with `id`.
    pub async fn schema(&self, id: i32) -> Result<Schema> {
        if let Some(s) = self.caches().by_id.get(&id) {
            return Ok(s);
        }
        let path = format!("/schemas/ids/{id}");
        let answer = self.call(Method::GET, &path, None).await?;
        let schema = schema_of(&answer, &path)?;
        self.caches().by_id.insert(id, schema.clone());
        Ok(schema)
    }

    /// `subject`'s latest version (cached for `cache.latest.ttl.sec`, or for good without it).
    pub async fn latest(&self, subject: &str) -> Result<RegisteredSchema> {
        if let Some((found, at)) = self.caches().latest.get(&subject.to_owned()) {
            if self.inner.latest_ttl.is_none_or(|ttl| at.elapsed() < ttl) {
                return Ok(found);
            }
        }
        let found = self.fetch_version(subject, "latest").await?;
        self.caches().latest.insert(subject.to_owned(), (found.clone(), Instant::now()));
        Ok(found)
    }

    /// Version `version` of `subject`.
    pub async fn version(&self, subject: &str, version: i32) -> Result<RegisteredSchema> {
        if let Some(found) = self.caches().versions.get(&(subject.to_owned(), version)) {
            return Ok(found);
        }
        let found = self.fetch_version(subject, &version.to_string()).await?;
        self.caches().versions.insert((subject.to_owned(), version), found.clone());
        Ok(found)
    }

    async fn fetch_version(&self, subject: &str, version: &str) -> Result<RegisteredSchema> {
        let path = format!("/subjects/{}/versions/{version}", encode(subject));
        let answer = self.call(Method::GET, &path, None).await?;
        let found = registered(&answer, &path)?;
        self.caches().by_id.insert(found.id, found.schema.clone());
        Ok(found)
    }

    /// Every subject.
    pub async fn subjects(&self) -> Result<Vec<String>> {
        let answer = self.call(Method::GET, "/subjects", None).await?;
        serde_json::from_value(answer.clone())
            .map_err(|e| RegistryError::Protocol { url: "/subjects".into(), reason: format!("{e}: {answer}") }.into())
    }

    /// `subject`'s versions.
    pub async fn versions(&self, subject: &str) -> Result<Vec<i32>> {
        let path = format!("/subjects/{}/versions", encode(subject));
        let answer = self.call(Method::GET, &path, None).await?;
        serde_json::from_value(answer.clone())
            .map_err(|e| RegistryError::Protocol { url: path, reason: format!("{e}: {answer}") }.into())
    }

    /// Deletes `subject` (soft, or for good with `permanent` after a soft delete); the
    /// versions deleted.
    pub async fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<i32>> {
        let path = format!("/subjects/{}?permanent={permanent}", encode(subject));
        let answer = self.call(Method::DELETE, &path, None).await?;
        self.forget(subject);
        serde_json::from_value(answer.clone())
            .map_err(|e| RegistryError::Protocol { url: path, reason: format!("{e}: {answer}") }.into())
    }

    /// Deletes one version of `subject`; the version deleted.
    pub async fn delete_version(&self, subject: &str, version: i32, permanent: bool) -> Result<i32> {
        let path = format!("/subjects/{}/versions/{version}?permanent={permanent}", encode(subject));
        let answer = self.call(Method::DELETE, &path, None).await?;
        self.forget(subject);
        answer
            .as_i64()
            .and_then(|v| i32::try_from(v).ok())
            .ok_or_else(|| RegistryError::Protocol { url: path, reason: format!("not a version: {answer}") }.into())
    }

    fn forget(&self, subject: &str) {
        let mut caches = self.caches();
        caches.latest.retain(|s, _| s != subject);
        caches.versions.retain(|(s, _), _| s != subject);
        caches.ids.retain(|(s, _, _), _| s != subject);
        caches.lookups.retain(|(s, _, _), _| s != subject);
    }

    /// Whether `schema` may be registered as the next version of `subject` (compared with
    /// `version`, or with the latest).
    pub async fn test_compatibility(&self, subject: &str, schema: &Schema, version: Option<i32>) -> Result<bool> {
        let version = version.map_or_else(|| "latest".to_owned(), |v| v.to_string());
        let path = format!("/compatibility/subjects/{}/versions/{version}", encode(subject));
        let answer = self.call(Method::POST, &path, Some(schema.body())).await?;
        Ok(answer.get("is_compatible").and_then(Value::as_bool).unwrap_or(false))
    }

    /// The compatibility level of `subject`, or the registry's default with `None`.
    pub async fn compatibility(&self, subject: Option<&str>) -> Result<String> {
        let path = match subject {
            Some(s) => format!("/config/{}?defaultToGlobal=true", encode(s)),
            None => "/config".to_owned(),
        };
        let answer = self.call(Method::GET, &path, None).await?;
        Ok(answer.get("compatibilityLevel").and_then(Value::as_str).unwrap_or_default().to_owned())
    }

    /// The compatibility level set on `subject` itself; `None` when it has none of its own
    /// (it follows the registry's default) or the subject does not exist (the registry's 404).
    pub async fn subject_compatibility(&self, subject: &str) -> Result<Option<String>> {
        let path = format!("/config/{}", encode(subject));
        match self.call(Method::GET, &path, None).await {
            Ok(answer) => Ok(answer.get("compatibilityLevel").and_then(Value::as_str).map(str::to_owned)),
            Err(Error::SchemaRegistry(e)) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the compatibility level (`BACKWARD`, `FULL_TRANSITIVE`, `NONE`, ...) of `subject`,
    /// or the registry's default with `None`.
    pub async fn set_compatibility(&self, subject: Option<&str>, level: &str) -> Result<String> {
        let path = match subject {
            Some(s) => format!("/config/{}", encode(s)),
            None => "/config".to_owned(),
        };
        let answer = self.call(Method::PUT, &path, Some(json!({ "compatibility": level }))).await?;
        Ok(answer.get("compatibility").and_then(Value::as_str).unwrap_or(level).to_owned())
    }

    /// The schema with `id`, parsed with every schema it references (fetched once, cached).
    pub async fn parsed(&self, id: i32) -> Result<Arc<ParsedSchema>> {
        if let Some(p) = self.caches().parsed.get(&id) {
            return Ok(p);
        }
        let schema = self.schema(id).await?;
        let parsed = Arc::new(self.parse(&schema).await.map_err(|reason| RegistryError::InvalidSchema { id, reason })?);
        self.caches().parsed.insert(id, Arc::clone(&parsed));
        Ok(parsed)
    }

    /// Parses `schema` with its references resolved through the registry (each reference's
    /// own references first).
    pub(crate) async fn parse(&self, schema: &Schema) -> std::result::Result<ParsedSchema, String> {
        let mut resolved = Vec::new();
        let mut seen = std::collections::HashSet::new();
        self.resolve_references(&schema.references, &mut resolved, &mut seen, 0).await?;
        ParsedSchema::parse(schema.schema_type, &schema.schema, &resolved)
    }

    fn resolve_references<'a>(
        &'a self,
        references: &'a [SchemaReference],
        out: &'a mut Vec<ResolvedReference>,
        seen: &'a mut std::collections::HashSet<(String, i32)>,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::result::Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            if depth > 32 {
                return Err("references nest deeper than 32 levels".to_owned());
            }
            for r in references {
                if !seen.insert((r.subject.clone(), r.version)) {
                    continue;
                }
                let found = self
                    .version(&r.subject, r.version)
                    .await
                    .map_err(|e| format!("reference {} ({} version {}): {e}", r.name, r.subject, r.version))?;
                self.resolve_references(&found.schema.references, out, seen, depth + 1).await?;
                out.push(ResolvedReference {
                    name: r.name.clone(),
                    schema_type: found.schema.schema_type,
                    text: found.schema.schema,
                });
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_bad_settings_are_refused() {
        assert!(SchemaRegistryClient::new([("url", "http://127.0.0.1:1")]).is_ok());
        for bad in [
            vec![("url", "http://h:1"), ("schema.registry.url", "x")],
            vec![("url", "h:1")],
            vec![("url", "http://h:1"), ("basic.auth.user.info", "nocolon")],
            vec![("url", "http://h:1"), ("basic.auth.credentials.source", "SASL_INHERIT")],
            vec![("url", "http://h:1"), ("ssl.ca.location", "/x")],
            vec![("url", "http://h:1"), ("timeout.ms", "soon")],
        ] {
            assert!(SchemaRegistryClient::new(bad.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(encode("a b/c-value"), "a%20b%2Fc-value");
    }
}
