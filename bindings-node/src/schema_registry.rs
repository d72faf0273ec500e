//! `new SchemaRegistry({ host, auth }, options)`: `@kafkajs/confluent-schema-registry`'s API
//! over the core's Schema Registry client and its `DocumentCodec` (framing, schema caching,
//! Avro fitting, JSON Schema validation, Protobuf's JSON mapping, references). Only
//! conversions live here: options to the core's keys, JavaScript values to JSON and back.
//!
//! Payloads cross as JSON: a Buffer in a payload becomes a string of the
//! code points 0–255 (Avro's JSON encoding of bytes, which the core's Avro fitting reads for
//! `bytes` and `fixed`); a BigInt becomes an integer; `undefined` properties are left out, as
//! `JSON.stringify` does; a Date becomes its milliseconds since the epoch.

use std::sync::Arc;

use ferrokafka::serde::generic::DocumentCodec;
use ferrokafka::serde::{MessageField, SerializationContext};
use ferrokafka::{Schema, SchemaReference, SchemaRegistryClient};
use napi::bindgen_prelude::{AsyncBlock, Buffer, BufferSlice, FromNapiValue, JsObjectValue, JsValue, Object, Unknown};
use napi::{Env, ValueType};
use napi_derive::napi;

use crate::errors::{Error, Result, promise, throw};

/// `SchemaType`, as `@kafkajs/confluent-schema-registry` exports it.
#[napi(string_enum)]
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaType {
    AVRO,
    JSON,
    PROTOBUF,
}

/// `COMPATIBILITY`, the levels `register` may set on a new subject.
#[napi(string_enum)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum COMPATIBILITY {
    NONE,
    FULL,
    BACKWARD,
    FORWARD,
    BACKWARD_TRANSITIVE,
    FORWARD_TRANSITIVE,
    FULL_TRANSITIVE,
}

/// Basic authentication: `basic.auth.user.info` `username:password`.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct SchemaRegistryAuth {
    pub username: String,
    pub password: String,
}

/// The retry options of `@kafkajs/confluent-schema-registry`, on the core's retries of 429
/// and 5xx answers and unreachable registries: `retries` is `max.retries`,
/// `initialRetryTimeInSecs` is `retries.wait.ms`, `maxRetryTimeInSecs` is
/// `retries.max.wait.ms`. The core doubles the wait after each try and adds no jitter:
/// `multiplier` other than 2 and `factor` other than 0 are refused.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct SchemaRegistryRetry {
    pub retries: Option<u32>,
    pub initial_retry_time_in_secs: Option<f64>,
    pub max_retry_time_in_secs: Option<f64>,
    pub multiplier: Option<f64>,
    pub factor: Option<f64>,
}

/// `new SchemaRegistry(args)`.
#[napi(object, object_to_js = false)]
pub struct SchemaRegistryArgs<'a> {
    /// The registry's URL (`url`); several may be given comma-separated, tried in turn.
    pub host: String,
    /// `{ username, password }`: basic authentication.
    pub auth: Option<SchemaRegistryAuth>,
    /// Accepted for compatibility; the core does not send it (no `User-Agent` of the caller's).
    pub client_id: Option<String>,
    pub retry: Option<SchemaRegistryRetry>,
    /// Not supported (the core has its own HTTP client): any value is refused.
    #[napi(ts_type = "unknown")]
    pub agent: Option<Unknown<'a>>,
    /// Not supported (the core has its own HTTP client): a non-empty array is refused.
    #[napi(ts_type = "unknown[]")]
    pub middlewares: Option<Unknown<'a>>,
    /// Extra core settings by Confluent's names (`ssl.ca.location`, `ssl.certificate.location`,
    /// `ssl.key.location`, `timeout.ms`, `cache.capacity`, ...); an unknown key is an error.
    pub settings: Option<std::collections::HashMap<String, String>>,
}

/// `register`'s options.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct RegisterOptions {
    /// Required except for Avro schemas, whose subject is then `namespace` + `separator` + `name`.
    pub subject: Option<String>,
    /// The level the subject must have (or gets when new, with `updateConfig`); default `BACKWARD`.
    #[napi(ts_type = "COMPATIBILITY | string")]
    pub compatibility: Option<String>,
    /// Default `.`.
    pub separator: Option<String>,
    /// Set `compatibility` on a subject that has none of its own (default true).
    pub update_config: Option<bool>,
}

/// What `register` resolves to.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct RegisteredSchema {
    pub id: i32,
}

/// A schema reference: how the schema names it, and the subject and version registered.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct SchemaRegistryReference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// A schema to register: `schema` is its text (or, for Avro, the schema object).
#[napi(object)]
#[derive(Debug, Clone)]
// Declared for the TypeScript types: schemas are read from JSON in `confluent_schema`.
#[allow(dead_code)]
pub struct ConfluentSchema {
    #[napi(js_name = "type")]
    pub schema_type: SchemaType,
    #[napi(ts_type = "string | RawAvroSchema")]
    pub schema: serde_json::Value,
    pub references: Option<Vec<SchemaRegistryReference>>,
}

/// An Avro record schema as an object (what `register` also accepts by itself).
#[napi(object)]
#[derive(Debug, Clone)]
// Declared for the TypeScript types.
#[allow(dead_code)]
pub struct RawAvroSchema {
    pub name: String,
    pub namespace: Option<String>,
    #[napi(js_name = "type", ts_type = "'record'")]
    pub record_type: String,
    #[napi(ts_type = "any[]")]
    pub fields: serde_json::Value,
}

/// Reads `{ type, schema, references }`, or a bare Avro schema object (kafkajs's older API).
fn confluent_schema(value: &serde_json::Value) -> Result<Schema> {
    use serde_json::Value as J;
    let J::Object(obj) = value else {
        return Err(Error::registry_argument("schema: an object { type, schema, references? } expected"));
    };
    let Some(text) = obj.get("schema").filter(|s| !s.is_null()) else {
        // A bare Avro schema.
        if obj.get("name").is_none() || obj.get("type").is_none() {
            return Err(Error::registry_argument(format!("Invalid name: {}", obj.get("name").unwrap_or(&J::Null))));
        }
        return Ok(Schema::new(ferrokafka::SchemaType::Avro, value.to_string()));
    };
    let schema_type = match obj.get("type").and_then(J::as_str) {
        None | Some("AVRO") => ferrokafka::SchemaType::Avro,
        Some("JSON") => ferrokafka::SchemaType::Json,
        Some("PROTOBUF") => ferrokafka::SchemaType::Protobuf,
        Some(other) => return Err(Error::registry_argument(format!("type: {other:?} is not AVRO, JSON or PROTOBUF"))),
    };
    let text = match text {
        J::String(s) => s.clone(),
        J::Object(_) if schema_type != ferrokafka::SchemaType::Protobuf => text.to_string(),
        _ => return Err(Error::registry_argument("schema: the schema's text expected")),
    };
    let references: Vec<SchemaReference> = match obj.get("references") {
        None | Some(J::Null) => Vec::new(),
        Some(r) => serde_json::from_value(r.clone()).map_err(|e| {
            Error::registry_argument(format!("references: [{{ name, subject, version }}] expected: {e}"))
        })?,
    };
    Ok(Schema::new(schema_type, text).with_references(references))
}

/// The subject kafkajs derives for an Avro schema registered without one.
fn avro_subject(schema: &Schema, separator: &str) -> Result<String> {
    let parsed: serde_json::Value = serde_json::from_str(&schema.schema).unwrap_or_default();
    let field = |k: &str| parsed.get(k).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty());
    let namespace = field("namespace").ok_or_else(|| {
        Error::registry_argument(format!("Invalid namespace: {}", parsed.get("namespace").cloned().unwrap_or_default()))
    })?;
    let name = field("name").ok_or_else(|| Error::registry_argument("Invalid name: undefined"))?;
    Ok(format!("{namespace}{separator}{name}"))
}

/// The core's settings for `args`.
fn registry_settings(args: &SchemaRegistryArgs<'_>) -> Result<Vec<(String, String)>> {
    let mut pairs = vec![
        ("url".to_owned(), args.host.clone()),
        // kafkajs asks the registry for a subject's latest version every time.
        ("cache.latest.ttl.sec".to_owned(), "0".to_owned()),
    ];
    if let Some(auth) = &args.auth {
        pairs.push(("basic.auth.user.info".into(), format!("{}:{}", auth.username, auth.password)));
    }
    let given = |v: &Option<Unknown<'_>>| -> Result<bool> {
        let Some(v) = v else { return Ok(false) };
        let kind = v.get_type().map_err(|e| Error::registry_argument(e.reason.clone()))?;
        Ok(match kind {
            ValueType::Undefined | ValueType::Null => false,
            _ if v.is_array().unwrap_or(false) => {
                v.coerce_to_object()
                    .and_then(|a| a.get_array_length())
                    .map_err(|e| Error::registry_argument(e.reason.clone()))?
                    > 0
            }
            _ => true,
        })
    };
    if given(&args.agent)? {
        return Err(Error::not_implemented(
            "agent: not supported (ferrokafka's registry client has its own HTTP client)",
        ));
    }
    if given(&args.middlewares)? {
        return Err(Error::not_implemented(
            "middlewares: not supported (ferrokafka's registry client has its own HTTP client)",
        ));
    }
    if let Some(r) = &args.retry {
        if r.multiplier.is_some_and(|m| m != 2.0) {
            return Err(Error::not_implemented("retry.multiplier: the core doubles the wait after each try (2 only)"));
        }
        if r.factor.is_some_and(|f| f != 0.0) {
            return Err(Error::not_implemented("retry.factor: the core's retry waits are not randomized (0 only)"));
        }
        let ms = |name: &str, secs: f64| -> Result<String> {
            if !(secs.is_finite() && secs >= 0.0) {
                return Err(Error::registry_argument(format!("retry.{name}: {secs} is not a number of seconds")));
            }
            Ok(((secs * 1000.0).round() as u64).to_string())
        };
        if let Some(n) = r.retries {
            pairs.push(("max.retries".into(), n.to_string()));
        }
        if let Some(s) = r.initial_retry_time_in_secs {
            pairs.push(("retries.wait.ms".into(), ms("initialRetryTimeInSecs", s)?));
        }
        if let Some(s) = r.max_retry_time_in_secs {
            pairs.push(("retries.max.wait.ms".into(), ms("maxRetryTimeInSecs", s)?));
        }
    }
    for (k, v) in args.settings.iter().flatten() {
        pairs.retain(|(key, _)| key != k);
        pairs.push((k.clone(), v.clone()));
    }
    Ok(pairs)
}

/// The Protobuf message to encode, from the options' `{ PROTOBUF: { messageName } }`; any
/// other protocol option is refused (the core parses and validates schemas itself).
fn protocol_options(options: Option<&serde_json::Value>) -> Result<Option<String>> {
    use serde_json::Value as J;
    let refuse = |what: &str| {
        Err(Error::not_implemented(format!(
            "{what}: not supported (ferrokafka parses and validates schemas in its core; \
             only {{ PROTOBUF: {{ messageName }} }} is honoured)"
        )))
    };
    let Some(options) = options.filter(|o| !o.is_null()) else { return Ok(None) };
    let J::Object(options) = options else {
        return Err(Error::registry_argument("options: an object expected"));
    };
    let mut message = None;
    for (key, value) in options {
        let empty = value.is_null() || value.as_object().is_some_and(|o| o.is_empty());
        match key.as_str() {
            "PROTOBUF" if !empty => {
                for (k, v) in value.as_object().into_iter().flatten() {
                    match (k.as_str(), v) {
                        ("messageName", J::String(name)) => message = Some(name.clone()),
                        ("messageName", J::Null) => {}
                        _ => return refuse(&format!("options.PROTOBUF.{k}")),
                    }
                }
            }
            _ if empty => {}
            _ => return refuse(&format!("options.{key}")),
        }
    }
    Ok(message)
}

fn failed(path: &str, e: &napi::Error) -> Error {
    Error::registry_argument(format!("payload{path}: {}", e.reason))
}

/// A JavaScript value as JSON (see the module's notes for Buffers, BigInts, Dates).
fn to_json(value: &Unknown<'_>, path: &mut String, depth: usize) -> Result<Option<serde_json::Value>> {
    use serde_json::Value as J;
    if depth > 128 {
        return Err(Error::registry_argument(format!("payload{path}: nested deeper than 128 levels")));
    }
    Ok(Some(match value.get_type().map_err(|e| failed(path, &e))? {
        ValueType::Undefined => return Ok(None),
        ValueType::Null => J::Null,
        ValueType::Boolean => J::Bool(value.coerce_to_bool().map_err(|e| failed(path, &e))?),
        ValueType::Number => {
            let n = value.coerce_to_number().and_then(|n| n.get_double()).map_err(|e| failed(path, &e))?;
            if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_991.0 {
                J::from(n as i64)
            } else {
                serde_json::Number::from_f64(n).map(J::Number).ok_or_else(|| {
                    Error::registry_argument(format!("payload{path}: {n} cannot be encoded (not a finite number)"))
                })?
            }
        }
        ValueType::String => J::String(
            value
                .coerce_to_string()
                .and_then(|s| s.into_utf8())
                .and_then(|s| s.into_owned())
                .map_err(|e| failed(path, &e))?,
        ),
        // napi's own conversion: an integer when it fits 64 bits, else its decimal text.
        ValueType::BigInt => serde_json::Value::from_unknown(*value).map_err(|e| failed(path, &e))?,
        ValueType::Object if value.is_buffer().map_err(|e| failed(path, &e))? => {
            let bytes = BufferSlice::from_unknown(*value).map_err(|e| failed(path, &e))?;
            J::String(bytes.iter().map(|&b| char::from(b)).collect())
        }
        ValueType::Object if value.is_date().map_err(|e| failed(path, &e))? => {
            // A Date's number: its milliseconds since the epoch.
            J::from(value.coerce_to_number().and_then(|n| n.get_double()).map_err(|e| failed(path, &e))? as i64)
        }
        ValueType::Object if value.is_array().map_err(|e| failed(path, &e))? => {
            let arr = value.coerce_to_object().map_err(|e| failed(path, &e))?;
            let mut out = Vec::new();
            for i in 0..arr.get_array_length().map_err(|e| failed(path, &e))? {
                let item: Unknown = arr.get_element(i).map_err(|e| failed(path, &e))?;
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(to_json(&item, path, depth + 1)?.unwrap_or(J::Null));
                path.truncate(len);
            }
            J::Array(out)
        }
        ValueType::Object => {
            let obj: Object = value.coerce_to_object().map_err(|e| failed(path, &e))?;
            let names = obj.get_property_names().map_err(|e| failed(path, &e))?;
            let mut out = serde_json::Map::new();
            for i in 0..names.get_array_length().map_err(|e| failed(path, &e))? {
                let key: String = names.get_element(i).map_err(|e| failed(path, &e))?;
                let item: Unknown = obj.get_named_property(&key).map_err(|e| failed(path, &e))?;
                let len = path.len();
                path.push('.');
                path.push_str(&key);
                if let Some(v) = to_json(&item, path, depth + 1)? {
                    out.insert(key, v);
                }
                path.truncate(len);
            }
            J::Object(out)
        }
        other => {
            return Err(Error::registry_argument(format!("payload{path}: a {other} cannot be encoded")));
        }
    }))
}

/// Where the codec's errors say the bytes were going: no topic, a record's value.
fn context() -> SerializationContext<'static> {
    SerializationContext::new("", MessageField::Value)
}

/// `@kafkajs/confluent-schema-registry`'s `SchemaRegistry`, on the core.
#[napi]
pub struct SchemaRegistry {
    codec: Arc<DocumentCodec>,
    /// `{ PROTOBUF: { messageName } }`: the message `encode` writes.
    message_name: Option<String>,
}

impl SchemaRegistry {
    fn client(&self) -> SchemaRegistryClient {
        self.codec.registry().clone()
    }
}

#[napi]
impl SchemaRegistry {
    /// `new SchemaRegistry({ host, auth, clientId, retry }, options)`. Of the protocol options
    /// only `{ PROTOBUF: { messageName } }` is honoured; others are refused.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        args: SchemaRegistryArgs<'_>,
        #[napi(ts_arg_type = "{ PROTOBUF?: { messageName?: string } } & Record<string, unknown>")] options: Option<
            serde_json::Value,
        >,
    ) -> napi::Result<Self> {
        throw(
            &env,
            (|| {
                let message_name = protocol_options(options.as_ref())?;
                let client = SchemaRegistryClient::new(registry_settings(&args)?)?;
                Ok(SchemaRegistry { codec: Arc::new(DocumentCodec::new(client)?), message_name })
            })(),
        )
    }

    /// Registers `schema` under `opts.subject` (for Avro, by default `namespace.name`); its id.
    /// As kafkajs: a subject with its own compatibility level other than `opts.compatibility`
    /// (default `BACKWARD`) is refused; a subject without one gets it (`updateConfig`).
    #[napi(catch_unwind)]
    pub fn register(
        &self,
        env: Env,
        #[napi(ts_arg_type = "ConfluentSchema | RawAvroSchema")] schema: serde_json::Value,
        opts: Option<RegisterOptions>,
    ) -> napi::Result<AsyncBlock<RegisteredSchema>> {
        let client = self.client();
        let opts = opts.unwrap_or_default();
        let checked = (|| {
            let schema = confluent_schema(&schema)?;
            let subject = match (&opts.subject, schema.schema_type) {
                (Some(s), _) => s.clone(),
                (None, ferrokafka::SchemaType::Avro) => {
                    avro_subject(&schema, opts.separator.as_deref().unwrap_or("."))?
                }
                (None, _) => return Err(Error::registry_argument("subject: required for JSON and PROTOBUF schemas")),
            };
            Ok((schema, subject))
        })();
        let compatibility = opts.compatibility.unwrap_or_else(|| "BACKWARD".to_owned()).to_ascii_uppercase();
        let update_config = opts.update_config.unwrap_or(true);
        promise(&env, async move {
            let (schema, subject) = checked?;
            let own = client.subject_compatibility(&subject).await?;
            if let Some(level) = &own
                && level.to_ascii_uppercase() != compatibility
            {
                return Err(Error::Local {
                    name: "ConfluentSchemaRegistryCompatibilityError",
                    kind: "INVALID_CONFIG",
                    message: format!(
                        "Compatibility does not match the configuration ({compatibility} != {})",
                        level.to_ascii_uppercase()
                    ),
                });
            }
            let id = client.register(&subject, &schema, false).await?;
            if own.is_none() && update_config {
                client.set_compatibility(Some(&subject), &compatibility).await?;
            }
            Ok(RegisteredSchema { id })
        })
    }

    /// Encodes `payload` under the registered schema `registryId`: Confluent's frame (magic
    /// byte, schema id, for Protobuf the message-index path) and the payload as the schema's
    /// type writes it. Avro values are fitted to the schema, JSON documents validated,
    /// Protobuf messages read with Protobuf's JSON mapping; Buffers are bytes.
    #[napi(catch_unwind)]
    pub fn encode(
        &self,
        env: Env,
        registry_id: i32,
        #[napi(ts_arg_type = "any")] payload: Unknown<'_>,
    ) -> napi::Result<AsyncBlock<Buffer>> {
        let codec = Arc::clone(&self.codec);
        let message = self.message_name.clone();
        let doc = (|| {
            if registry_id <= 0 {
                return Err(Error::registry_argument(format!("Invalid registryId: {registry_id}")));
            }
            Ok(to_json(&payload, &mut String::new(), 0)?.unwrap_or(serde_json::Value::Null))
        })();
        promise(&env, async move {
            let doc = doc?;
            let bytes = codec.encode(registry_id, &doc, message.as_deref(), &context()).await?;
            Ok(Buffer::from(bytes))
        })
    }

    /// Decodes a framed record, whatever its schema's type: Avro bytes and fixed come back as
    /// strings of the code points 0–255, Protobuf as its JSON mapping (64-bit integers as
    /// strings, enums by name). `options.AVRO.readerSchema` is not supported.
    #[napi(catch_unwind)]
    pub fn decode(
        &self,
        env: Env,
        #[napi(ts_arg_type = "Buffer")] buffer: Unknown<'_>,
        #[napi(ts_arg_type = "{ AVRO?: { readerSchema?: unknown } }")] options: Option<serde_json::Value>,
    ) -> napi::Result<AsyncBlock<serde_json::Value>> {
        let codec = Arc::clone(&self.codec);
        let bytes = (|| {
            if options.as_ref().and_then(|o| o.pointer("/AVRO/readerSchema")).is_some_and(|r| !r.is_null()) {
                return Err(Error::not_implemented("decode options AVRO.readerSchema: not supported"));
            }
            if !buffer.is_buffer().unwrap_or(false) {
                return Err(Error::registry_argument("Invalid buffer"));
            }
            Ok(BufferSlice::from_unknown(buffer).map_err(|e| Error::registry_argument(e.reason.clone()))?.to_vec())
        })();
        promise(&env, async move {
            let (_, doc) = codec.decode(&bytes?, &context()).await?;
            Ok(doc)
        })
    }

    /// The schema `registryId`: for Avro and JSON Schema the schema as an object, for Protobuf
    /// its text. (kafkajs returns its avsc, ajv or protobufjs instance.)
    #[napi(catch_unwind, ts_return_type = "Promise<object | string>")]
    pub fn get_schema(&self, env: Env, registry_id: i32) -> napi::Result<AsyncBlock<serde_json::Value>> {
        let client = self.client();
        promise(&env, async move {
            let schema = client.schema(registry_id).await?;
            Ok(match schema.schema_type {
                ferrokafka::SchemaType::Protobuf => serde_json::Value::String(schema.schema),
                _ => serde_json::from_str(&schema.schema).unwrap_or(serde_json::Value::String(schema.schema)),
            })
        })
    }

    /// The id of `subject`'s `version` (a number, or `'latest'`).
    #[napi(catch_unwind)]
    pub fn get_registry_id(
        &self,
        env: Env,
        subject: String,
        #[napi(ts_arg_type = "number | string")] version: serde_json::Value,
    ) -> napi::Result<AsyncBlock<i32>> {
        let client = self.client();
        let version = match &version {
            serde_json::Value::String(s) if s == "latest" => Ok(None),
            serde_json::Value::String(s) => s.trim().parse().map(Some).map_err(|_| ()),
            v => v.as_i64().and_then(|n| i32::try_from(n).ok()).map(Some).ok_or(()),
        }
        .map_err(|_| Error::registry_argument(format!("version: {version} is not a version number or 'latest'")));
        promise(&env, async move {
            Ok(match version? {
                None => client.latest(&subject).await?.id,
                Some(v) => client.version(&subject, v).await?.id,
            })
        })
    }

    /// The id of `schema` as registered under `subject` (a 40403 error when it is not).
    #[napi(catch_unwind)]
    pub fn get_registry_id_by_schema(
        &self,
        env: Env,
        subject: String,
        #[napi(ts_arg_type = "ConfluentSchema | RawAvroSchema")] schema: serde_json::Value,
    ) -> napi::Result<AsyncBlock<i32>> {
        let client = self.client();
        let schema = confluent_schema(&schema);
        promise(&env, async move { Ok(client.lookup(&subject, &schema?, false).await?.id) })
    }

    /// The id of `subject`'s latest version (asked of the registry every time, as kafkajs does).
    #[napi(catch_unwind)]
    pub fn get_latest_schema_id(&self, env: Env, subject: String) -> napi::Result<AsyncBlock<i32>> {
        let client = self.client();
        promise(&env, async move { Ok(client.latest(&subject).await?.id) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_read_as_kafkajs_gives_them() {
        let s = confluent_schema(&serde_json::json!({ "type": "JSON", "schema": "{}" })).unwrap();
        assert_eq!((s.schema_type, s.schema.as_str()), (ferrokafka::SchemaType::Json, "{}"));
        let raw = serde_json::json!({ "type": "record", "name": "U", "namespace": "a", "fields": [] });
        let s = confluent_schema(&raw).unwrap();
        assert_eq!(s.schema_type, ferrokafka::SchemaType::Avro);
        assert_eq!(avro_subject(&s, ".").unwrap(), "a.U");
        let s = confluent_schema(&serde_json::json!({ "type": "AVRO", "schema": raw })).unwrap();
        assert_eq!(avro_subject(&s, "-").unwrap(), "a-U");
        assert!(confluent_schema(&serde_json::json!({ "type": "XML", "schema": "x" })).is_err());
        let refs = serde_json::json!({ "type": "PROTOBUF", "schema": "x", "references": [{"name": "n", "subject": "s", "version": 1}] });
        assert_eq!(confluent_schema(&refs).unwrap().references.len(), 1);
    }

    #[test]
    fn only_protobuf_message_names_are_honoured() {
        assert_eq!(protocol_options(None).unwrap(), None);
        let o = serde_json::json!({ "PROTOBUF": { "messageName": "Point" }, "AVRO": {} });
        assert_eq!(protocol_options(Some(&o)).unwrap().as_deref(), Some("Point"));
        assert!(protocol_options(Some(&serde_json::json!({ "AVRO": { "logicalTypes": {} } }))).is_err());
        assert!(protocol_options(Some(&serde_json::json!({ "forSchemaOptions": { "x": 1 } }))).is_err());
    }
}
