//! Confluent Schema Registry's REST API: each path and method mapped to the registry, request
//! bodies read, answers written as Confluent writes them.

use std::collections::HashMap;

use hyper::Method;
use serde_json::{Map, Value, json};

use super::compatibility::CompatibilityLevel;
use super::error::{RegistryError, RegistryResult};
use super::registry::{Registry, SchemaEntry, SchemaRequest, VersionSpec};
use ferrokafka_schema::{Reference, SchemaType};

/// Answers one request with its JSON body (status 200), or the error to send.
pub(crate) fn route(
    registry: &Registry,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> RegistryResult<String> {
    let segments: Vec<String> =
        path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect::<RegistryResult<_>>()?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let q = Query::parse(query)?;
    let m = method;
    let json = |v: Value| Ok(v.to_string());
    match (segments.as_slice(), m) {
        ([], &Method::GET) => json(json!({})),
        (["schemas", "types"], &Method::GET) => json(json!(SchemaType::ALL.map(SchemaType::name))),
        (["schemas", "ids", id], &Method::GET) => {
            let entry = registry.schema_by_id(parse_id(id)?)?;
            let mut out = Map::new();
            entry.json_fields(q.get("format"), &mut out);
            json(Value::Object(out))
        }
        (["schemas", "ids", id, "schema"], &Method::GET) => {
            Ok(registry.schema_by_id(parse_id(id)?)?.text_in(q.get("format")).to_owned())
        }
        (["schemas", "ids", id, "versions"], &Method::GET) => {
            let pairs = registry.schema_versions(parse_id(id)?, q.flag("deleted"))?;
            let pairs: Vec<Value> = pairs
                .into_iter()
                .filter(|(s, _)| q.get("subject").is_none_or(|f| f == s))
                .map(|(subject, version)| json!({"subject": subject, "version": version}))
                .collect();
            json(json!(q.page(pairs)))
        }
        (["schemas", "ids", id, "subjects"], &Method::GET) => {
            let mut subjects: Vec<String> = registry
                .schema_versions(parse_id(id)?, q.flag("deleted"))?
                .into_iter()
                .map(|(s, _)| s)
                .filter(|s| q.get("subject").is_none_or(|f| f == s))
                .collect();
            subjects.dedup();
            json(json!(q.page(subjects)))
        }
        (["subjects"], &Method::GET) => {
            let subjects =
                registry.subjects(q.flag("deleted") || q.flag("deletedOnly"), q.get("subjectPrefix").unwrap_or(""));
            json(json!(q.page(subjects)))
        }
        (["subjects", subject, "versions"], &Method::GET) => {
            json(json!(q.page(registry.versions(subject, q.flag("deleted"), q.flag("deletedOnly"))?)))
        }
        (["subjects", subject, "versions"], &Method::POST) => {
            let request = schema_request(body)?;
            let id = registry.register(subject, request)?;
            json(json!({ "id": id }))
        }
        (["subjects", subject, "versions", version], &Method::GET) => {
            let spec = VersionSpec::parse(version)?;
            let (version, entry) = registry.version(subject, spec, q.flag("deleted"))?;
            json(version_json(subject, version, &entry, q.get("format")))
        }
        (["subjects", subject, "versions", version], &Method::DELETE) => {
            json(json!(registry.delete_version(subject, VersionSpec::parse(version)?, q.flag("permanent"))?))
        }
        (["subjects", subject, "versions", version, "schema"], &Method::GET) => {
            let (_, entry) = registry.version(subject, VersionSpec::parse(version)?, q.flag("deleted"))?;
            Ok(entry.text_in(q.get("format")).to_owned())
        }
        (["subjects", subject, "versions", version, "referencedby"], &Method::GET) => {
            json(json!(registry.referenced_by(subject, VersionSpec::parse(version)?)?))
        }
        (["subjects", subject], &Method::POST) => {
            let request = schema_request(body)?;
            let (version, entry) = registry.lookup(subject, &request, q.flag("deleted"))?;
            json(version_json(subject, version, &entry, None))
        }
        (["subjects", subject], &Method::DELETE) => json(json!(registry.delete_subject(subject, q.flag("permanent"))?)),
        (["config"], &Method::GET) => json(json!({"compatibilityLevel": registry.compatibility(None, true)?.name()})),
        (["config", subject], &Method::GET) => {
            let level = registry.compatibility(Some(subject), q.flag("defaultToGlobal"))?;
            json(json!({"compatibilityLevel": level.name()}))
        }
        (["config"], &Method::PUT) | (["config", _], &Method::PUT) => {
            let subject = segments.get(1).copied();
            let level = compatibility_body(body)?;
            registry.set_compatibility(subject, level)?;
            json(json!({"compatibility": level.name()}))
        }
        (["config"], &Method::DELETE) | (["config", _], &Method::DELETE) => {
            let previous = registry.delete_compatibility(segments.get(1).copied())?;
            json(json!({"compatibilityLevel": previous.name()}))
        }
        (["compatibility", "subjects", subject, "versions", version], &Method::POST) => {
            let request = schema_request(body)?;
            let spec = VersionSpec::parse(version)?;
            compatibility_answer(registry.check(subject, Some(spec), &request)?, q.flag("verbose"))
        }
        (["compatibility", "subjects", subject, "versions"], &Method::POST) => {
            let request = schema_request(body)?;
            compatibility_answer(registry.check(subject, None, &request)?, q.flag("verbose"))
        }
        (["mode"], &Method::GET) => json(json!({"mode": registry.mode(None, true)?})),
        (["mode", subject], &Method::GET) => {
            json(json!({"mode": registry.mode(Some(subject), q.flag("defaultToGlobal"))?}))
        }
        (["mode"], &Method::PUT) | (["mode", _], &Method::PUT) => {
            let body = json_body(body)?;
            let mode = body.get("mode").and_then(Value::as_str).ok_or_else(|| RegistryError::invalid_mode(""))?;
            json(json!({"mode": registry.set_mode(segments.get(1).copied(), mode)?}))
        }
        (known, _) if is_known_path(known) => Err(RegistryError::method_not_allowed()),
        _ => Err(RegistryError::not_found(path)),
    }
}

/// Paths that exist for some other method (answered 405 rather than 404).
fn is_known_path(segments: &[&str]) -> bool {
    matches!(
        segments,
        [] | ["schemas", "types"]
            | ["schemas", "ids", _, ..]
            | ["subjects"]
            | ["subjects", _]
            | ["subjects", _, "versions", ..]
            | ["config"]
            | ["config", _]
            | ["mode"]
            | ["mode", _]
            | ["compatibility", "subjects", _, "versions", ..]
    )
}

fn compatibility_answer(problems: Vec<String>, verbose: bool) -> RegistryResult<String> {
    let mut out = json!({"is_compatible": problems.is_empty()});
    if verbose {
        out["messages"] = json!(problems);
    }
    Ok(out.to_string())
}

fn version_json(subject: &str, version: i32, entry: &SchemaEntry, format: Option<&str>) -> Value {
    let mut out = Map::new();
    out.insert("subject".into(), json!(subject));
    out.insert("version".into(), json!(version));
    out.insert("id".into(), json!(entry.id));
    entry.json_fields(format, &mut out);
    Value::Object(out)
}

fn parse_id(text: &str) -> RegistryResult<i32> {
    text.parse::<i32>().map_err(|_| RegistryError::new(40403, format!("Schema {text} not found")))
}

fn json_body(body: &[u8]) -> RegistryResult<Value> {
    serde_json::from_slice(body).map_err(|e| RegistryError::bad_request(format!("Unexpected request body: {e}")))
}

/// A registration, lookup or compatibility body: `schema`, `schemaType`, `references`.
fn schema_request(body: &[u8]) -> RegistryResult<SchemaRequest> {
    let value = json_body(body)?;
    let Value::Object(obj) = value else {
        return Err(RegistryError::unprocessable("The request body must be a JSON object"));
    };
    let text = match obj.get("schema") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(RegistryError::invalid_schema("Empty schema"));
        }
        Some(_) => return Err(RegistryError::unprocessable("schema must be a string")),
    };
    let schema_type = match obj.get("schemaType") {
        None | Some(Value::Null) => SchemaType::Avro,
        Some(Value::String(t)) => {
            SchemaType::parse(t).ok_or_else(|| RegistryError::invalid_schema(format!("Unknown schema type {t}")))?
        }
        Some(_) => return Err(RegistryError::unprocessable("schemaType must be a string")),
    };
    let references: Vec<Reference> = match obj.get("references") {
        None | Some(Value::Null) => Vec::new(),
        Some(refs) => serde_json::from_value(refs.clone())
            .map_err(|e| RegistryError::unprocessable(format!("references: {e}")))?,
    };
    Ok(SchemaRequest { schema_type, text, references })
}

fn compatibility_body(body: &[u8]) -> RegistryResult<CompatibilityLevel> {
    let value = json_body(body)?;
    let level = value
        .get("compatibility")
        .or(value.get("compatibilityLevel"))
        .and_then(Value::as_str)
        .ok_or_else(|| RegistryError::invalid_compatibility(""))?;
    CompatibilityLevel::parse(level).ok_or_else(|| RegistryError::invalid_compatibility(level))
}

/// The query string's parameters.
struct Query(HashMap<String, String>);

impl Query {
    fn parse(query: &str) -> RegistryResult<Self> {
        let mut map = HashMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(percent_decode(&k.replace('+', " "))?, percent_decode(&v.replace('+', " "))?);
        }
        Ok(Query(map))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v.eq_ignore_ascii_case("true") || v.is_empty())
    }

    /// `offset` and `limit` (negative: no limit) applied to a list.
    fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        let offset = self.get("offset").and_then(|o| o.parse::<usize>().ok()).unwrap_or(0);
        let limit = self.get("limit").and_then(|l| l.parse::<i64>().ok()).filter(|l| *l >= 0);
        let rest = items.into_iter().skip(offset);
        match limit {
            Some(l) => rest.take(l as usize).collect(),
            None => rest.collect(),
        }
    }
}

fn percent_decode(text: &str) -> RegistryResult<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            match byte {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => return Err(RegistryError::bad_request(format!("Bad percent-encoding in {text:?}"))),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| RegistryError::bad_request(format!("{text:?} is not UTF-8 once decoded")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%20c").unwrap(), "a/b c");
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%ff").is_err());
    }
}
