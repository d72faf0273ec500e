//! JSON Schema with a Schema Registry, as Confluent's `KafkaJsonSchemaSerializer` writes it: the
//! frame, then the document as UTF-8 JSON. A document that breaks its schema is refused before it
//! is sent (and, reading, before it is returned), naming each failing path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferrokafka_schema::ParsedSchema;
use ferrokafka_schema::json_schema::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    SerdeConfig, SerializationContext, WriterSchemas, check_writer_schema, latest_reader, wire, writer_schema,
};
use crate::error::{Error, Result};
use crate::schema_registry::{Schema, SchemaRegistryClient, SchemaType};

/// Where relative `$ref`s (a reference's name, as Confluent's serializers register them)
/// resolve; never fetched.
const BASE: &str = "https://ferrokafka.invalid/schemas/";

/// Most failures listed in one error.
const MAX_LISTED: usize = 10;

/// Compiled validators by schema id (a schema is compiled once).
#[derive(Debug, Default)]
struct Validators(Mutex<HashMap<i32, Arc<jsonschema::Validator>>>);

impl Validators {
    fn get(&self, id: i32, parsed: &ParsedSchema) -> Result<Arc<jsonschema::Validator>, String> {
        if let Some(v) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(Arc::clone(v));
        }
        let ParsedSchema::Json(schema) = parsed else {
            return Err(format!("schema {id} is not a JSON schema"));
        };
        let v = Arc::new(compile(schema).map_err(|e| format!("schema {id}: {e}"))?);
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(id, Arc::clone(&v));
        Ok(v)
    }
}

fn absolute(name: &str) -> String {
    if name.contains("://") { name.to_owned() } else { format!("{BASE}{}", name.trim_start_matches('/')) }
}

/// Compiles a schema with its references, offline.
pub fn compile(schema: &JsonSchema) -> Result<jsonschema::Validator, String> {
    let mut registry = jsonschema::Registry::new();
    for (name, doc) in schema.references() {
        registry = registry.add(absolute(name), doc.clone()).map_err(|e| format!("reference {name}: {e}"))?;
    }
    let registry = registry.prepare().map_err(|e| e.to_string())?;
    jsonschema::options()
        .with_base_uri(format!("{BASE}root.json"))
        .with_registry(&registry)
        .build(schema.root())
        .map_err(|e| e.to_string())
}

/// Why `doc` breaks the schema: each failing instance path and keyword, or `None` if it holds.
pub fn problems(validator: &jsonschema::Validator, doc: &Value) -> Option<String> {
    let mut listed = Vec::new();
    let mut more = 0usize;
    for e in validator.iter_errors(doc) {
        if listed.len() < MAX_LISTED {
            let path = e.instance_path().to_string();
            let path = if path.is_empty() { "$".to_owned() } else { format!("${}", path.replace('/', ".")) };
            listed.push(format!("{path}: {e}"));
        } else {
            more += 1;
        }
    }
    if listed.is_empty() {
        return None;
    }
    let mut s = format!("does not match its schema: {}", listed.join("; "));
    if more > 0 {
        s.push_str(&format!(" (and {more} more)"));
    }
    Some(s)
}

fn title(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    v.get("title").and_then(Value::as_str).map(str::to_owned)
}

/// Writes JSON documents under one schema, each validated first.
#[derive(Debug)]
pub struct JsonSerializer {
    registry: SchemaRegistryClient,
    schema: Option<Schema>,
    /// The schema's `title`, the record name for the record-name strategies.
    record: Option<String>,
    config: SerdeConfig,
    validators: Validators,
    known: WriterSchemas,
}

impl JsonSerializer {
    /// `schema` is the documents' schema; `None` only with `use.latest.version` or
    /// `use.schema.id`.
    pub fn new(registry: SchemaRegistryClient, schema: Option<Schema>, config: SerdeConfig) -> Result<Self> {
        check_writer_schema(schema.as_ref(), SchemaType::Json, &config)?;
        let record = schema.as_ref().and_then(|s| title(&s.schema));
        Ok(JsonSerializer {
            registry,
            schema,
            record,
            config,
            validators: Validators::default(),
            known: WriterSchemas::default(),
        })
    }

    /// Validates `doc` and frames it.
    pub async fn serialize(&self, doc: &Value, ctx: &SerializationContext<'_>) -> Result<Vec<u8>> {
        let mut out = self.validated_header(doc, ctx, 128).await?;
        serde_json::to_writer(&mut out, doc).map_err(|e| ctx.error(false, e.to_string()))?;
        Ok(out)
    }

    /// Validates a document already encoded as JSON text and frames the text as it is, so the
    /// caller's encoder decides key order and spacing (a binding matching another client's
    /// bytes, such as confluent-kafka's compact `json.dumps`).
    pub async fn serialize_text(&self, text: &str, ctx: &SerializationContext<'_>) -> Result<Vec<u8>> {
        let doc: Value = serde_json::from_str(text).map_err(|e| ctx.error(false, format!("not JSON: {e}")))?;
        let mut out = self.validated_header(&doc, ctx, text.len()).await?;
        out.extend_from_slice(text.as_bytes());
        Ok(out)
    }

    /// The frame's header for `doc`, once `doc` is found to match the writer's schema.
    async fn validated_header(&self, doc: &Value, ctx: &SerializationContext<'_>, len: usize) -> Result<Vec<u8>> {
        let writer =
            writer_schema(&self.registry, &self.config, ctx, self.schema.as_ref(), self.record.as_deref(), &self.known)
                .await?;
        let validator = self.validators.get(writer.id, &writer.parsed).map_err(|e| ctx.error(false, e))?;
        if let Some(p) = problems(&validator, doc) {
            return Err(ctx.error(false, p));
        }
        Ok(wire::header(writer.id, len))
    }

    /// Validates and frames a serde value.
    pub async fn serialize_serde<T: Serialize>(&self, value: &T, ctx: &SerializationContext<'_>) -> Result<Vec<u8>> {
        let doc = serde_json::to_value(value).map_err(|e| ctx.error(false, e.to_string()))?;
        self.serialize(&doc, ctx).await
    }
}

/// Reads framed JSON documents, each validated against its writer's schema (or the given
/// reader schema, or the subject's latest with `use.latest.version`).
#[derive(Debug)]
pub struct JsonDeserializer {
    registry: SchemaRegistryClient,
    reader: Option<(Schema, Mutex<Option<Arc<jsonschema::Validator>>>)>,
    config: SerdeConfig,
    validators: Validators,
    validate: bool,
}

impl JsonDeserializer {
    /// `validate`: whether documents are checked against a schema at all (Confluent's
    /// deserializers always check; turning it off saves the registry lookup).
    pub fn new(
        registry: SchemaRegistryClient,
        reader: Option<Schema>,
        config: SerdeConfig,
        validate: bool,
    ) -> Result<Self> {
        if let Some(s) = &reader {
            if s.schema_type != SchemaType::Json {
                return Err(Error::Config { key: "schema".into(), reason: "not a JSON schema".into() });
            }
        }
        Ok(JsonDeserializer {
            registry,
            reader: reader.map(|s| (s, Mutex::new(None))),
            config,
            validators: Validators::default(),
            validate,
        })
    }

    async fn validator(&self, id: i32, ctx: &SerializationContext<'_>) -> Result<Arc<jsonschema::Validator>> {
        if let Some((schema, compiled)) = &self.reader {
            if let Some(v) = compiled.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                return Ok(v);
            }
            let parsed = self.registry.parse(schema).await.map_err(|e| ctx.error(true, e))?;
            let ParsedSchema::Json(json) = &parsed else { unreachable!("checked in new") };
            let v = Arc::new(compile(json).map_err(|e| ctx.error(true, e))?);
            *compiled.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&v));
            return Ok(v);
        }
        if let Some(latest) = latest_reader(&self.registry, &self.config, ctx, None).await? {
            let ParsedSchema::Json(json) = &*latest else {
                return Err(ctx.error(true, "the subject's latest schema is not a JSON schema"));
            };
            return Ok(Arc::new(compile(json).map_err(|e| ctx.error(true, e))?));
        }
        let parsed = self.registry.parsed(id).await?;
        self.validators.get(id, &parsed).map_err(|e| ctx.error(true, e))
    }

    /// Parses and validates a framed document.
    pub async fn deserialize(&self, bytes: &[u8], ctx: &SerializationContext<'_>) -> Result<Value> {
        let (id, payload) = wire::split(bytes).map_err(|e| ctx.error(true, e))?;
        let doc: Value =
            serde_json::from_slice(payload).map_err(|e| ctx.error(true, format!("schema {id}: not JSON: {e}")))?;
        if self.validate {
            let validator = self.validator(id, ctx).await?;
            if let Some(p) = problems(&validator, &doc) {
                return Err(ctx.error(true, p));
            }
        }
        Ok(doc)
    }

    /// Parses, validates and converts into a serde type.
    pub async fn deserialize_serde<T: DeserializeOwned>(
        &self,
        bytes: &[u8],
        ctx: &SerializationContext<'_>,
    ) -> Result<T> {
        let doc = self.deserialize(bytes, ctx).await?;
        serde_json::from_value(doc).map_err(|e| ctx.error(true, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_their_paths() {
        let schema = JsonSchema::parse(
            r#"{"type":"object","properties":{"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"}}},"required":["name"]}"#,
            &[],
        )
        .unwrap();
        let v = compile(&schema).unwrap();
        assert!(problems(&v, &serde_json::json!({"name":"a","age":3})).is_none());
        let p = problems(&v, &serde_json::json!({"age":"x","tags":["a",1]})).unwrap();
        assert!(p.contains("$.age:"), "{p}");
        assert!(p.contains("$.tags.1:"), "{p}");
        assert!(p.contains("name"), "{p}");
    }

    #[test]
    fn references_resolve_by_name() {
        let address = ferrokafka_schema::ResolvedReference {
            name: "address.json".into(),
            schema_type: SchemaType::Json,
            text: r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#.into(),
        };
        let schema = JsonSchema::parse(
            r#"{"type":"object","properties":{"home":{"$ref":"address.json"}}}"#,
            std::slice::from_ref(&address),
        )
        .unwrap();
        let v = compile(&schema).unwrap();
        assert!(problems(&v, &serde_json::json!({"home":{"city":"x"}})).is_none());
        assert!(problems(&v, &serde_json::json!({"home":{}})).unwrap().contains("$.home"));
    }
}
