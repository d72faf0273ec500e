//! Avro with a Schema Registry, as Confluent's `KafkaAvroSerializer` writes it: the frame, then
//! the datum in Avro's binary encoding under the writer's schema. Reading resolves the writer's
//! schema against the reader's (Avro's rules: defaults filled in, fields added and removed,
//! numbers promoted).
//!
//! Values are [`Value`] trees. A serializer accepts the plain shapes a JSON document or a
//! Python dict has (maps for records, strings for enums, longs and doubles for every number)
//! and fits them to the schema, refusing what does not fit with the path of the failing field.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use apache_avro::schema::{Name, RecordSchema, ResolvedSchema, Schema as AvroSchema, UnionSchema};
pub use apache_avro::types::Value;
use ferrokafka_schema::ParsedSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    SerdeConfig, SerializationContext, WriterSchemas, check_writer_schema, latest_reader, wire, writer_schema,
};
use crate::error::{Error, Result};
use crate::schema_registry::{Schema, SchemaRegistryClient, SchemaType};

fn avro_of(parsed: &ParsedSchema) -> Result<&AvroSchema, String> {
    match parsed {
        ParsedSchema::Avro(s) => Ok(s.schema()),
        _ => Err("the registered schema is not an AVRO schema".to_owned()),
    }
}

/// The full name of the record (or enum, fixed) an Avro schema text defines at its top.
fn record_name(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let name = v.get("name")?.as_str()?;
    match v.get("namespace").and_then(serde_json::Value::as_str) {
        Some(ns) if !ns.is_empty() && !name.contains('.') => Some(format!("{ns}.{name}")),
        _ => Some(name.to_owned()),
    }
}

/// Writes values under one schema (or the subject's latest, or a fixed id, as configured).
#[derive(Debug)]
pub struct AvroSerializer {
    registry: SchemaRegistryClient,
    schema: Option<Schema>,
    record: Option<String>,
    config: SerdeConfig,
    known: WriterSchemas,
}

impl AvroSerializer {
    /// `schema` is the writer's schema; `None` only with `use.latest.version` or
    /// `use.schema.id`, where the registry's schema is written.
    pub fn new(registry: SchemaRegistryClient, schema: Option<Schema>, config: SerdeConfig) -> Result<Self> {
        check_writer_schema(schema.as_ref(), SchemaType::Avro, &config)?;
        let record = schema.as_ref().and_then(|s| record_name(&s.schema));
        Ok(AvroSerializer { registry, schema, record, config, known: WriterSchemas::default() })
    }

    /// Encodes `value` (any plain shape that fits the schema) and frames it.
    pub async fn serialize(&self, value: Value, ctx: &SerializationContext<'_>) -> Result<Vec<u8>> {
        let writer =
            writer_schema(&self.registry, &self.config, ctx, self.schema.as_ref(), self.record.as_deref(), &self.known)
                .await?;
        let avro = avro_of(&writer.parsed).map_err(|e| ctx.error(false, e))?;
        encode(value, avro, writer.id).map_err(|e| ctx.error(false, e))
    }

    /// Encodes a serde value (a struct deriving `Serialize`).
    pub async fn serialize_serde<T: Serialize>(&self, value: &T, ctx: &SerializationContext<'_>) -> Result<Vec<u8>> {
        let value = apache_avro::to_value(value).map_err(|e| ctx.error(false, e.to_string()))?;
        self.serialize(value, ctx).await
    }

    /// Encodes a JSON document (objects for records and maps, strings for enums and bytes).
    pub async fn serialize_json(&self, value: &serde_json::Value, ctx: &SerializationContext<'_>) -> Result<Vec<u8>> {
        self.serialize(from_json(value), ctx).await
    }
}

/// Encodes `value` under `schema` in a frame naming `id`.
pub fn encode(value: Value, schema: &AvroSchema, id: i32) -> Result<Vec<u8>, String> {
    let resolved = ResolvedSchema::try_from(schema).map_err(|e| e.to_string())?;
    let names = resolved.get_names();
    let value = conform(value, schema, names, &mut String::from("$"))?;
    // apache-avro validates again here (its bare encoder is private); `conform` already did.
    let datum = apache_avro::to_avro_datum(schema, value).map_err(|e| e.to_string())?;
    let mut out = wire::header(id, datum.len());
    out.extend_from_slice(&datum);
    Ok(out)
}

/// Reads framed Avro records, resolving each writer's schema against the reader's.
#[derive(Debug)]
pub struct AvroDeserializer {
    registry: SchemaRegistryClient,
    reader: Option<Schema>,
    config: SerdeConfig,
    /// The given reader schema, parsed once its references are fetched.
    reader_parsed: Mutex<Option<Arc<ParsedSchema>>>,
    record: Option<String>,
}

impl AvroDeserializer {
    /// `reader` is the schema to read as (`None`: each record's writer schema, or the subject's
    /// latest with `use.latest.version`).
    pub fn new(registry: SchemaRegistryClient, reader: Option<Schema>, config: SerdeConfig) -> Result<Self> {
        let record = reader.as_ref().and_then(|s| record_name(&s.schema));
        if let Some(s) = &reader {
            if s.schema_type != SchemaType::Avro {
                return Err(Error::Config { key: "schema".into(), reason: "not an AVRO schema".into() });
            }
        }
        Ok(AvroDeserializer { registry, reader, config, reader_parsed: Mutex::new(None), record })
    }

    async fn reader_schema(&self, ctx: &SerializationContext<'_>) -> Result<Option<Arc<ParsedSchema>>> {
        let Some(schema) = &self.reader else {
            return latest_reader(&self.registry, &self.config, ctx, self.record.as_deref()).await;
        };
        if let Some(p) = self.reader_parsed.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(Some(p));
        }
        let parsed = Arc::new(self.registry.parse(schema).await.map_err(|e| ctx.error(true, e))?);
        *self.reader_parsed.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&parsed));
        Ok(Some(parsed))
    }

    /// Decodes a framed record.
    pub async fn deserialize(&self, bytes: &[u8], ctx: &SerializationContext<'_>) -> Result<Value> {
        let (id, payload) = wire::split(bytes).map_err(|e| ctx.error(true, e))?;
        let writer = self.registry.parsed(id).await?;
        let reader = self.reader_schema(ctx).await?;
        let writer = avro_of(&writer).map_err(|e| ctx.error(true, e))?;
        let reader = match &reader {
            Some(r) => Some(avro_of(r).map_err(|e| ctx.error(true, e))?),
            None => None,
        };
        let mut rest = payload;
        let value = apache_avro::from_avro_datum(writer, &mut rest, reader)
            .map_err(|e| ctx.error(true, format!("schema {id}: {e}")))?;
        if !rest.is_empty() {
            return Err(ctx.error(true, format!("schema {id}: {} bytes left after the datum", rest.len())));
        }
        Ok(value)
    }

    /// Decodes into a serde type.
    pub async fn deserialize_serde<T: DeserializeOwned>(
        &self,
        bytes: &[u8],
        ctx: &SerializationContext<'_>,
    ) -> Result<T> {
        let value = self.deserialize(bytes, ctx).await?;
        apache_avro::from_value(&value).map_err(|e| ctx.error(true, e.to_string()))
    }

    /// Decodes into JSON (see [`to_json`]).
    pub async fn deserialize_json(&self, bytes: &[u8], ctx: &SerializationContext<'_>) -> Result<serde_json::Value> {
        Ok(to_json(&self.deserialize(bytes, ctx).await?))
    }
}

/// A JSON document as a plain value tree: integers become longs, other numbers doubles,
/// objects maps.
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Long(i),
            None => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => Value::Map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
    }
}

/// A decoded value as JSON: unions by their value, enums by their symbol, bytes and fixed as
/// strings of the code points 0–255 (Avro's JSON encoding), logical types by their number or
/// text.
pub fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    let bytes = |b: &[u8]| J::String(b.iter().map(|&c| c as char).collect());
    match v {
        Value::Null => J::Null,
        Value::Boolean(b) => J::Bool(*b),
        Value::Int(i) | Value::Date(i) | Value::TimeMillis(i) => J::from(*i),
        Value::Long(i)
        | Value::TimeMicros(i)
        | Value::TimestampMillis(i)
        | Value::TimestampMicros(i)
        | Value::TimestampNanos(i)
        | Value::LocalTimestampMillis(i)
        | Value::LocalTimestampMicros(i)
        | Value::LocalTimestampNanos(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(f64::from(*f)).map_or(J::Null, J::Number),
        Value::Double(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Bytes(b) | Value::Fixed(_, b) => bytes(b),
        Value::String(s) | Value::Enum(_, s) => J::String(s.clone()),
        Value::Uuid(u) => J::String(u.to_string()),
        Value::Union(_, inner) => to_json(inner),
        Value::Array(a) => J::Array(a.iter().map(to_json).collect()),
        Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Value::Record(fields) => J::Object(fields.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Value::Decimal(d) => Vec::<u8>::try_from(d.clone()).map_or(J::Null, |b| bytes(&b)),
        Value::BigDecimal(d) => J::String(d.to_string()),
        Value::Duration(d) => {
            let mut b = Vec::with_capacity(12);
            b.extend_from_slice(&u32::from(d.months()).to_le_bytes());
            b.extend_from_slice(&u32::from(d.days()).to_le_bytes());
            b.extend_from_slice(&u32::from(d.millis()).to_le_bytes());
            bytes(&b)
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int(_) | Value::Long(_) => "an integer",
        Value::Float(_) | Value::Double(_) => "a number",
        Value::Bytes(_) | Value::Fixed(..) => "bytes",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Map(_) | Value::Record(_) => "an object",
        Value::Enum(..) => "an enum symbol",
        Value::Union(..) => "a union",
        _ => "a logical-type value",
    }
}

fn mismatch(path: &str, want: &str, got: &Value) -> String {
    format!("{path}: expected {want}, got {}", kind(got))
}

fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(i64::from(*i)),
        Value::Long(i) => Some(*i),
        Value::Double(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
        _ => None,
    }
}

fn int32(v: &Value, path: &str, want: &str) -> Result<i32, String> {
    let n = integer(v).ok_or_else(|| mismatch(path, want, v))?;
    i32::try_from(n).map_err(|_| format!("{path}: {n} does not fit in an int"))
}

fn lookup<'s>(names: &HashMap<Name, &'s AvroSchema>, name: &Name) -> Result<&'s AvroSchema, String> {
    names
        .get(name)
        .copied()
        .or_else(|| names.iter().find(|(n, _)| n.name == name.name).map(|(_, s)| *s))
        .ok_or_else(|| format!("the schema refers to an unknown type {}", name.fullname(None)))
}

/// Fits a plain value to `schema`, or says where it does not fit.
fn conform(
    value: Value,
    schema: &AvroSchema,
    names: &HashMap<Name, &AvroSchema>,
    path: &mut String,
) -> Result<Value, String> {
    // A union value given explicitly (branch index and value) is fitted to its branch.
    let value = match (value, schema) {
        (Value::Union(_, inner), s) if !matches!(s, AvroSchema::Union(_)) => *inner,
        (v, _) => v,
    };
    Ok(match schema {
        AvroSchema::Ref { name } => return conform(value, lookup(names, name)?, names, path),
        AvroSchema::Null => match value {
            Value::Null => Value::Null,
            v => return Err(mismatch(path, "null", &v)),
        },
        AvroSchema::Boolean => match value {
            Value::Boolean(b) => Value::Boolean(b),
            v => return Err(mismatch(path, "a boolean", &v)),
        },
        AvroSchema::Int => Value::Int(int32(&value, path, "an int")?),
        AvroSchema::Long => Value::Long(integer(&value).ok_or_else(|| mismatch(path, "a long", &value))?),
        AvroSchema::Float => match value {
            Value::Float(f) => Value::Float(f),
            Value::Double(f) => Value::Float(f as f32),
            Value::Int(i) => Value::Float(i as f32),
            Value::Long(i) => Value::Float(i as f32),
            v => return Err(mismatch(path, "a float", &v)),
        },
        AvroSchema::Double => match value {
            Value::Float(f) => Value::Double(f64::from(f)),
            Value::Double(f) => Value::Double(f),
            Value::Int(i) => Value::Double(f64::from(i)),
            Value::Long(i) => Value::Double(i as f64),
            v => return Err(mismatch(path, "a double", &v)),
        },
        AvroSchema::Bytes => match value {
            Value::Bytes(b) | Value::Fixed(_, b) => Value::Bytes(b),
            Value::String(s) => Value::Bytes(latin1(&s, path)?),
            v => return Err(mismatch(path, "bytes", &v)),
        },
        AvroSchema::String => match value {
            Value::String(s) => Value::String(s),
            Value::Enum(_, s) => Value::String(s),
            v => return Err(mismatch(path, "a string", &v)),
        },
        AvroSchema::Uuid => match value {
            Value::Uuid(u) => Value::Uuid(u),
            Value::String(s) => Value::Uuid(s.parse().map_err(|e| format!("{path}: {s:?} is not a UUID: {e}"))?),
            v => return Err(mismatch(path, "a UUID string", &v)),
        },
        AvroSchema::Fixed(f) => {
            let bytes = match value {
                Value::Bytes(b) | Value::Fixed(_, b) => b,
                Value::String(s) => latin1(&s, path)?,
                v => return Err(mismatch(path, &format!("{} bytes (fixed {})", f.size, f.name), &v)),
            };
            if bytes.len() != f.size {
                return Err(format!("{path}: {} bytes given to fixed {} of {}", bytes.len(), f.name, f.size));
            }
            Value::Fixed(f.size, bytes)
        }
        AvroSchema::Enum(e) => {
            let symbol = match value {
                Value::String(s) | Value::Enum(_, s) => s,
                v => return Err(mismatch(path, &format!("a symbol of enum {}", e.name), &v)),
            };
            let index = e
                .symbols
                .iter()
                .position(|s| *s == symbol)
                .or_else(|| e.default.as_ref().and_then(|d| e.symbols.iter().position(|s| s == d)));
            match index {
                Some(i) => Value::Enum(i as u32, e.symbols[i].clone()),
                None => return Err(format!("{path}: {symbol:?} is not a symbol of enum {} {:?}", e.name, e.symbols)),
            }
        }
        AvroSchema::Array(a) => {
            let Value::Array(items) = value else { return Err(mismatch(path, "an array", &value)) };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(conform(item, &a.items, names, path)?);
                path.truncate(len);
            }
            Value::Array(out)
        }
        AvroSchema::Map(m) => {
            let entries: Vec<(String, Value)> = match value {
                Value::Map(m) => m.into_iter().collect(),
                Value::Record(r) => r,
                v => return Err(mismatch(path, "a map", &v)),
            };
            let mut out = HashMap::with_capacity(entries.len());
            for (k, v) in entries {
                let len = path.len();
                path.push_str(&format!("[{k:?}]"));
                let v = conform(v, &m.types, names, path)?;
                path.truncate(len);
                out.insert(k, v);
            }
            Value::Map(out)
        }
        AvroSchema::Record(r) => record(value, r, names, path)?,
        AvroSchema::Union(u) => union(value, u, names, path)?,
        AvroSchema::Date => Value::Date(match value {
            Value::Date(d) => d,
            v => int32(&v, path, "a date (days since the epoch)")?,
        }),
        AvroSchema::TimeMillis => Value::TimeMillis(match value {
            Value::TimeMillis(t) => t,
            v => int32(&v, path, "a time in milliseconds")?,
        }),
        AvroSchema::TimeMicros
        | AvroSchema::TimestampMillis
        | AvroSchema::TimestampMicros
        | AvroSchema::TimestampNanos
        | AvroSchema::LocalTimestampMillis
        | AvroSchema::LocalTimestampMicros
        | AvroSchema::LocalTimestampNanos => {
            let n = match value {
                Value::TimeMicros(n)
                | Value::TimestampMillis(n)
                | Value::TimestampMicros(n)
                | Value::TimestampNanos(n)
                | Value::LocalTimestampMillis(n)
                | Value::LocalTimestampMicros(n)
                | Value::LocalTimestampNanos(n) => n,
                v => integer(&v).ok_or_else(|| mismatch(path, "a long (time)", &v))?,
            };
            match schema {
                AvroSchema::TimeMicros => Value::TimeMicros(n),
                AvroSchema::TimestampMillis => Value::TimestampMillis(n),
                AvroSchema::TimestampMicros => Value::TimestampMicros(n),
                AvroSchema::TimestampNanos => Value::TimestampNanos(n),
                AvroSchema::LocalTimestampMillis => Value::LocalTimestampMillis(n),
                AvroSchema::LocalTimestampMicros => Value::LocalTimestampMicros(n),
                _ => Value::LocalTimestampNanos(n),
            }
        }
        AvroSchema::Decimal(_) => match value {
            Value::Decimal(d) => Value::Decimal(d),
            Value::Bytes(b) | Value::Fixed(_, b) => Value::Decimal(apache_avro::Decimal::from(b)),
            v => return Err(mismatch(path, "a decimal's two's-complement bytes", &v)),
        },
        AvroSchema::BigDecimal | AvroSchema::Duration => {
            return value.clone().resolve(schema).map_err(|e| format!("{path}: {e}"));
        }
    })
}

fn latin1(s: &str, path: &str) -> Result<Vec<u8>, String> {
    s.chars()
        .map(|c| {
            u8::try_from(u32::from(c)).map_err(|_| format!("{path}: bytes given as a string hold {c:?}, above U+00FF"))
        })
        .collect()
}

fn record(
    value: Value,
    r: &RecordSchema,
    names: &HashMap<Name, &AvroSchema>,
    path: &mut String,
) -> Result<Value, String> {
    let mut given: HashMap<String, Value> = match value {
        Value::Map(m) => m,
        Value::Record(fields) => fields.into_iter().collect(),
        v => return Err(mismatch(path, &format!("an object for record {}", r.name), &v)),
    };
    let mut out = Vec::with_capacity(r.fields.len());
    for field in &r.fields {
        let len = path.len();
        path.push('.');
        path.push_str(&field.name);
        let v = match given.remove(&field.name) {
            Some(v) => conform(v, &field.schema, names, path)?,
            None => match &field.default {
                Some(d) => {
                    // A union field's default is of its first branch.
                    let branch = match &field.schema {
                        AvroSchema::Union(u) => u.variants().first().unwrap_or(&field.schema),
                        s => s,
                    };
                    let v = conform(from_json(d), branch, names, path)?;
                    match &field.schema {
                        AvroSchema::Union(_) => Value::Union(0, Box::new(v)),
                        _ => v,
                    }
                }
                None => return Err(format!("{path}: required by record {} and missing", r.name)),
            },
        };
        path.truncate(len);
        out.push((field.name.clone(), v));
    }
    if let Some(extra) = given.keys().next() {
        return Err(format!("{path}.{extra}: not a field of record {}", r.name));
    }
    Ok(Value::Record(out))
}

/// The branch a value goes to: one of exactly its kind first (a string to `string` before
/// `bytes`, an integer to `long`/`int` before `double`), then the first that takes it.
fn union(
    value: Value,
    u: &UnionSchema,
    names: &HashMap<Name, &AvroSchema>,
    path: &mut String,
) -> Result<Value, String> {
    let (index, value) = match value {
        Value::Union(i, inner) => (Some(i as usize), *inner),
        v => (None, v),
    };
    let branches = u.variants();
    if let Some(i) = index {
        let branch = branches.get(i).ok_or_else(|| format!("{path}: the union has no branch {i}"))?;
        return Ok(Value::Union(i as u32, Box::new(conform(value, branch, names, path)?)));
    }
    fn resolve<'s>(s: &'s AvroSchema, names: &HashMap<Name, &'s AvroSchema>) -> Option<&'s AvroSchema> {
        match s {
            AvroSchema::Ref { name } => lookup(names, name).ok(),
            s => Some(s),
        }
    }
    let exact = |s: &AvroSchema| {
        matches!(
            (&value, s),
            (Value::Null, AvroSchema::Null)
                | (Value::Boolean(_), AvroSchema::Boolean)
                | (Value::Int(_) | Value::Long(_), AvroSchema::Long | AvroSchema::Int)
                | (Value::Float(_) | Value::Double(_), AvroSchema::Double | AvroSchema::Float)
                | (Value::String(_), AvroSchema::String)
                | (Value::Bytes(_), AvroSchema::Bytes)
                | (Value::Array(_), AvroSchema::Array(_))
                | (Value::Map(_) | Value::Record(_), AvroSchema::Map(_))
        )
    };
    let (mut order, rest): (Vec<usize>, Vec<usize>) =
        (0..branches.len()).partition(|&i| resolve(&branches[i], names).is_some_and(exact));
    order.extend(rest);
    let mut reasons = Vec::new();
    for i in order {
        match conform(value.clone(), &branches[i], names, path) {
            Ok(v) => return Ok(Value::Union(i as u32, Box::new(v))),
            Err(e) => reasons.push(e),
        }
    }
    Err(format!("{path}: fits no branch of the union ({})", reasons.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(text: &str) -> AvroSchema {
        AvroSchema::parse_str(text).unwrap()
    }

    fn fit(text: &str, json: serde_json::Value) -> Result<Value, String> {
        let s = schema(text);
        let r = ResolvedSchema::try_from(&s).unwrap();
        conform(from_json(&json), &s, r.get_names(), &mut "$".into())
    }

    const USER: &str = r#"{"type":"record","name":"User","namespace":"t","fields":[
        {"name":"name","type":"string"},
        {"name":"age","type":"int"},
        {"name":"email","type":["null","string"],"default":null},
        {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]},"default":"A"},
        {"name":"tags","type":{"type":"array","items":"string"},"default":[]},
        {"name":"score","type":"double","default":0}]}"#;

    #[test]
    fn plain_values_fit_the_schema() {
        let v = fit(USER, serde_json::json!({"name":"ann","age":33,"email":"a@x","score":1})).unwrap();
        let bytes = encode(v, &schema(USER), 7).unwrap();
        assert_eq!(&bytes[..5], [0, 0, 0, 0, 7]);
        let back = apache_avro::from_avro_datum(&schema(USER), &mut &bytes[5..], None).unwrap();
        assert_eq!(
            to_json(&back),
            serde_json::json!({"name":"ann","age":33,"email":"a@x","kind":"A","tags":[],"score":1.0})
        );
    }

    #[test]
    fn misfits_name_the_field() {
        let e = fit(USER, serde_json::json!({"name":"ann","age":"x"})).unwrap_err();
        assert!(e.starts_with("$.age: expected an int"), "{e}");
        let e = fit(USER, serde_json::json!({"age":1})).unwrap_err();
        assert!(e.contains("$.name: required"), "{e}");
        let e = fit(USER, serde_json::json!({"name":"a","age":5000000000i64})).unwrap_err();
        assert!(e.contains("does not fit in an int"), "{e}");
        let e = fit(USER, serde_json::json!({"name":"a","age":1,"kind":"C"})).unwrap_err();
        assert!(e.contains("$.kind") && e.contains("not a symbol"), "{e}");
        let e = fit(USER, serde_json::json!({"name":"a","age":1,"nick":"z"})).unwrap_err();
        assert!(e.contains("$.nick: not a field"), "{e}");
        let e = fit(USER, serde_json::json!({"name":"a","age":1,"tags":["x",3]})).unwrap_err();
        assert!(e.contains("$.tags[1]"), "{e}");
    }

    #[test]
    fn unions_pick_the_branch_of_the_value() {
        let s = r#"["null","bytes","string","long","double"]"#;
        assert!(matches!(fit(s, serde_json::json!("x")).unwrap(), Value::Union(2, _)));
        assert!(matches!(fit(s, serde_json::json!(3)).unwrap(), Value::Union(3, _)));
        assert!(matches!(fit(s, serde_json::json!(3.5)).unwrap(), Value::Union(4, _)));
        assert!(matches!(fit(s, serde_json::json!(null)).unwrap(), Value::Union(0, _)));
        assert!(fit(r#"["null","int"]"#, serde_json::json!("x")).unwrap_err().contains("fits no branch"));
    }
}
