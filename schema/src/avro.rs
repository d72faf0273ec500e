//! Avro schemas: parsed by `apache-avro`; compatibility is Avro's schema resolution (the
//! reader's schema must resolve every datum of the writer's: added fields need defaults,
//! `int` → `long` → `float` → `double` and `string` ↔ `bytes` promote, enums keep the writer's
//! symbols unless the reader has a default, union branches must each resolve).

use std::collections::{HashMap, HashSet};

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use serde_json::Value;

use crate::{ResolvedReference, SchemaType};

const PRIMITIVES: &[&str] = &["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

#[derive(Debug, Clone)]
pub struct AvroSchema {
    canonical: String,
    /// Self-contained: referenced named types are written inline.
    schema: Schema,
}

impl AvroSchema {
    pub fn parse(text: &str, references: &[ResolvedReference]) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("{text}: not JSON: {e}"))?;
        let canonical = serde_json::to_string(&value).map_err(|e| e.to_string())?;
        let mut named = HashMap::new();
        for r in references {
            if r.schema_type != SchemaType::Avro {
                return Err(format!("reference {} is a {} schema, not AVRO", r.name, r.schema_type.name()));
            }
            let v: Value = serde_json::from_str(&r.text).map_err(|e| format!("reference {}: not JSON: {e}", r.name))?;
            if let Some(full) = full_name(&v, None) {
                named.insert(full, v);
            }
        }
        let mut inliner = Inliner { named, done: HashSet::new() };
        let whole = inliner.inline(value, None);
        let schema = Schema::parse(&whole).map_err(|e| format!("{text}: {e}"))?;
        Ok(AvroSchema { canonical, schema })
    }

    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The parsed schema, self-contained (its references written inline).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn read_problems(&self, writer: &AvroSchema) -> Vec<String> {
        match SchemaCompatibility::can_read(&writer.schema, &self.schema) {
            Ok(()) => Vec::new(),
            Err(e) => vec![e.to_string()],
        }
    }
}

/// The full name a named type (record, enum, fixed) defines.
fn full_name(v: &Value, namespace: Option<&str>) -> Option<String> {
    let obj = v.as_object()?;
    let name = obj.get("name")?.as_str()?;
    if name.contains('.') {
        return Some(name.to_owned());
    }
    match obj.get("namespace").and_then(Value::as_str).or(namespace) {
        Some(ns) if !ns.is_empty() => Some(format!("{ns}.{name}")),
        _ => Some(name.to_owned()),
    }
}

/// Writes referenced named types inline at their first use, as if they had been defined there.
struct Inliner {
    named: HashMap<String, Value>,
    done: HashSet<String>,
}

impl Inliner {
    fn inline(&mut self, v: Value, namespace: Option<&str>) -> Value {
        match v {
            Value::String(s) if !PRIMITIVES.contains(&s.as_str()) => {
                let full = match (s.contains('.'), namespace) {
                    (false, Some(ns)) if !ns.is_empty() => format!("{ns}.{s}"),
                    _ => s.clone(),
                };
                let key = if self.named.contains_key(&full) { full } else { s.clone() };
                if !self.done.contains(&key) {
                    if let Some(mut def) = self.named.get(&key).cloned() {
                        self.done.insert(key.clone());
                        // Its namespace made explicit, so it means the same where it lands.
                        if let Some(obj) = def.as_object_mut() {
                            obj.insert("name".into(), Value::String(key.clone()));
                            obj.remove("namespace");
                        }
                        let ns = key.rsplit_once('.').map(|(ns, _)| ns.to_owned());
                        return self.inline(def, ns.as_deref());
                    }
                }
                Value::String(s)
            }
            Value::Array(items) => Value::Array(items.into_iter().map(|i| self.inline(i, namespace)).collect()),
            Value::Object(mut obj) => {
                let named_type =
                    matches!(obj.get("type").and_then(Value::as_str), Some("record" | "error" | "enum" | "fixed"));
                let mut ns = namespace.map(str::to_owned);
                if named_type {
                    if let Some(full) = full_name(&Value::Object(obj.clone()), namespace) {
                        // Defined here: a reference of the same name is not needed.
                        ns = full.rsplit_once('.').map(|(ns, _)| ns.to_owned());
                        self.done.insert(full);
                    }
                }
                if let Some(fields) = obj.remove("fields") {
                    let Value::Array(fields) = fields else {
                        obj.insert("fields".into(), fields);
                        return Value::Object(obj);
                    };
                    let fields = fields
                        .into_iter()
                        .map(|field| match field {
                            Value::Object(mut f) => {
                                if let Some(t) = f.remove("type") {
                                    f.insert("type".into(), self.inline(t, ns.as_deref()));
                                }
                                Value::Object(f)
                            }
                            other => other,
                        })
                        .collect();
                    obj.insert("fields".into(), Value::Array(fields));
                }
                for key in ["type", "items", "values"] {
                    if let Some(child) = obj.remove(key) {
                        obj.insert(key.to_owned(), self.inline(child, ns.as_deref()));
                    }
                }
                Value::Object(obj)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avro(text: &str) -> AvroSchema {
        AvroSchema::parse(text, &[]).unwrap()
    }

    #[test]
    fn references_are_inlined() {
        let address = ResolvedReference {
            name: "com.acme.Address".into(),
            schema_type: SchemaType::Avro,
            text: r#"{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"city","type":"string"}]}"#.into(),
        };
        let user = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[
            {"name":"home","type":"Address"},{"name":"work","type":["null","com.acme.Address"],"default":null}]}"#;
        let s = AvroSchema::parse(user, &[address]).unwrap();
        assert!(s.read_problems(&s).is_empty());
        assert!(AvroSchema::parse(user, &[]).is_err(), "Address is unknown without the reference");
    }

    #[test]
    fn added_field_needs_a_default() {
        let v1 = avro(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#);
        let v2 =
            avro(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}"#);
        let v3 = avro(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":""}]}"#,
        );
        assert!(!v2.read_problems(&v1).is_empty());
        assert!(v3.read_problems(&v1).is_empty());
    }
}
