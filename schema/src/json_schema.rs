//! JSON Schema: checked as a schema (keyword by keyword, as a metaschema would), and compared
//! by content model. Data written under the writer's schema must be valid under the reader's:
//! the reader may widen (more types, looser bounds, fewer required properties, a property
//! removed from an open object) but not narrow (a type or an enum dropped, a property added to
//! an open object, `additionalProperties` closed, a new required property).

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::{ResolvedReference, SchemaType};

const TYPES: &[&str] = &["null", "boolean", "object", "array", "number", "integer", "string"];
/// How deep the comparison follows nested schemas and `$ref`s (recursive schemas stop here).
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone)]
pub struct JsonSchema {
    canonical: String,
    root: Value,
    /// Referenced schemas by the name the `$ref`s use.
    references: HashMap<String, Value>,
}

impl JsonSchema {
    pub fn parse(text: &str, references: &[ResolvedReference]) -> Result<Self, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| format!("{text}: not JSON: {e}"))?;
        check_schema(&root, "#")?;
        let mut refs = HashMap::new();
        for r in references {
            if r.schema_type != SchemaType::Json {
                return Err(format!("reference {} is a {} schema, not JSON", r.name, r.schema_type.name()));
            }
            let v: Value = serde_json::from_str(&r.text).map_err(|e| format!("reference {}: not JSON: {e}", r.name))?;
            check_schema(&v, &r.name)?;
            if let Some(id) = v.get("$id").and_then(Value::as_str) {
                refs.insert(id.to_owned(), v.clone());
            }
            refs.insert(r.name.clone(), v);
        }
        let canonical = serde_json::to_string(&root).map_err(|e| e.to_string())?;
        Ok(JsonSchema { canonical, root, references: refs })
    }

    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The schema document.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// The referenced schema documents, by the names (and `$id`s) the `$ref`s use.
    pub fn references(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.references.iter().map(|(name, doc)| (name.as_str(), doc))
    }

    pub fn read_problems(&self, writer: &JsonSchema) -> Vec<String> {
        let mut cmp = Comparison { reader: self, writer, problems: Vec::new() };
        cmp.compare(&self.root, &self.root, &writer.root, &writer.root, "#", 0);
        cmp.problems
    }

    /// The schema `$ref` points at, from a schema in `doc`, with the document it lives in.
    fn resolve<'v>(&'v self, doc: &'v Value, reference: &str) -> Option<(&'v Value, &'v Value)> {
        let (base, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let doc = if base.is_empty() { doc } else { self.references.get(base).or(self.references.get(reference))? };
        if fragment.is_empty() {
            return Some((doc, doc));
        }
        doc.pointer(fragment).map(|v| (v, doc))
    }
}

/// What a metaschema would refuse: keywords of the wrong shape.
fn check_schema(v: &Value, path: &str) -> Result<(), String> {
    let obj = match v {
        Value::Bool(_) => return Ok(()),
        Value::Object(obj) => obj,
        _ => return Err(format!("{path}: a schema must be an object or a boolean")),
    };
    for (key, value) in obj {
        let at = format!("{path}/{key}");
        let wrong: Option<String> = match key.as_str() {
            "type" => {
                let ok = match value {
                    Value::String(t) => TYPES.contains(&t.as_str()),
                    Value::Array(ts) => {
                        !ts.is_empty() && ts.iter().all(|t| t.as_str().is_some_and(|t| TYPES.contains(&t)))
                    }
                    _ => false,
                };
                (!ok).then(|| format!("must be one of {} or an array of them", TYPES.join(", ")))
            }
            "properties" | "patternProperties" | "definitions" | "$defs" | "dependentSchemas" => {
                match value.as_object() {
                    None => Some("must be an object".into()),
                    Some(map) => {
                        for (name, schema) in map {
                            check_schema(schema, &format!("{at}/{name}"))?;
                        }
                        None
                    }
                }
            }
            "additionalProperties"
            | "additionalItems"
            | "contains"
            | "not"
            | "if"
            | "then"
            | "else"
            | "propertyNames"
            | "unevaluatedProperties"
            | "unevaluatedItems" => {
                check_schema(value, &at)?;
                None
            }
            "items" => {
                match value {
                    Value::Array(items) => {
                        for (i, s) in items.iter().enumerate() {
                            check_schema(s, &format!("{at}/{i}"))?;
                        }
                    }
                    other => check_schema(other, &at)?,
                }
                None
            }
            "allOf" | "anyOf" | "oneOf" | "prefixItems" => match value.as_array().filter(|a| !a.is_empty()) {
                None => Some("must be a non-empty array of schemas".into()),
                Some(items) => {
                    for (i, s) in items.iter().enumerate() {
                        check_schema(s, &format!("{at}/{i}"))?;
                    }
                    None
                }
            },
            "required" => (!value.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
                .then(|| "must be an array of strings".into()),
            "enum" => (!value.is_array()).then(|| "must be an array".into()),
            "minimum" | "maximum" => (!value.is_number()).then(|| "must be a number".into()),
            "exclusiveMinimum" | "exclusiveMaximum" => {
                (!value.is_number() && !value.is_boolean()).then(|| "must be a number".into())
            }
            "multipleOf" => (!value.as_f64().is_some_and(|m| m > 0.0)).then(|| "must be a number above 0".into()),
            "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties" | "maxProperties" => {
                value.as_u64().is_none().then(|| "must be a non-negative integer".into())
            }
            "pattern" | "$ref" | "$schema" | "$id" | "format" | "title" | "description" => {
                (!value.is_string()).then(|| "must be a string".into())
            }
            "uniqueItems" => (!value.is_boolean()).then(|| "must be a boolean".into()),
            _ => None,
        };
        if let Some(what) = wrong {
            return Err(format!("{at}: {what}"));
        }
    }
    Ok(())
}

/// Keywords that constrain data; a schema with none of them accepts anything.
const CONSTRAINTS: &[&str] = &[
    "type",
    "enum",
    "const",
    "properties",
    "patternProperties",
    "additionalProperties",
    "required",
    "items",
    "prefixItems",
    "additionalItems",
    "contains",
    "not",
    "allOf",
    "anyOf",
    "oneOf",
    "if",
    "$ref",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "propertyNames",
    "dependentRequired",
    "dependencies",
    "unevaluatedProperties",
];

fn accepts_anything(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Object(o) => !CONSTRAINTS.iter().any(|k| o.contains_key(*k)),
        _ => false,
    }
}

/// The types a schema admits; `integer` is inside `number`.
fn types(obj: &Map<String, Value>) -> Option<BTreeSet<&str>> {
    match obj.get("type")? {
        Value::String(t) => Some([t.as_str()].into()),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn admits(types: &Option<BTreeSet<&str>>, t: &str) -> bool {
    match types {
        None => true,
        Some(ts) => ts.contains(t) || (t == "integer" && ts.contains("number")),
    }
}

static ANY: Value = Value::Bool(true);

struct Comparison<'a> {
    reader: &'a JsonSchema,
    writer: &'a JsonSchema,
    problems: Vec<String>,
}

impl<'a> Comparison<'a> {
    fn problem(&mut self, path: &str, what: impl std::fmt::Display) {
        self.problems.push(format!("{path}: {what}"));
    }

    /// Records why some datum valid under `w` is not valid under `r`.
    fn compare<'v>(&mut self, r: &'v Value, r_doc: &'v Value, w: &'v Value, w_doc: &'v Value, path: &str, depth: usize)
    where
        'a: 'v,
    {
        if depth > MAX_DEPTH || accepts_anything(r) || w == &Value::Bool(false) {
            return;
        }
        // Follow references first.
        if let Some(reference) = r.get("$ref").and_then(Value::as_str) {
            match self.reader.resolve(r_doc, reference) {
                Some((target, doc)) => return self.compare(target, doc, w, w_doc, path, depth + 1),
                None => return self.problem(path, format_args!("reader's $ref {reference} cannot be resolved")),
            }
        }
        if let Some(reference) = w.get("$ref").and_then(Value::as_str) {
            match self.writer.resolve(w_doc, reference) {
                Some((target, doc)) => return self.compare(r, r_doc, target, doc, path, depth + 1),
                None => return self.problem(path, format_args!("writer's $ref {reference} cannot be resolved")),
            }
        }
        let (Some(ro), Some(wo)) = (r.as_object(), w.as_object()) else {
            // The reader is `false` (refusing all), or the writer is `true` (anything goes).
            return self.problem(path, "the reader's schema is narrower than the writer's");
        };

        // Combinations: every writer branch must be taken by some reader branch.
        for key in ["allOf"] {
            if let Some(subs) = ro.get(key).and_then(Value::as_array) {
                for (i, sub) in subs.iter().enumerate() {
                    self.compare(sub, r_doc, w, w_doc, &format!("{path}/{key}/{i}"), depth + 1);
                }
            }
        }
        let r_branches = ro.get("oneOf").or(ro.get("anyOf")).and_then(Value::as_array);
        let w_branches = wo.get("oneOf").or(wo.get("anyOf")).and_then(Value::as_array);
        if r_branches.is_some() || w_branches.is_some() {
            let ws: Vec<&Value> = w_branches.map(|b| b.iter().collect()).unwrap_or_else(|| vec![w]);
            let rs: Vec<&Value> = r_branches.map(|b| b.iter().collect()).unwrap_or_else(|| vec![r]);
            for (i, wb) in ws.iter().enumerate() {
                let taken = rs.iter().any(|rb| {
                    let mut sub = Comparison { reader: self.reader, writer: self.writer, problems: Vec::new() };
                    sub.compare(rb, r_doc, wb, w_doc, path, depth + 1);
                    sub.problems.is_empty()
                });
                if !taken {
                    self.problem(path, format_args!("the writer's alternative {i} is not accepted by the reader"));
                }
            }
            return;
        }

        let (rt, wt) = (types(ro), types(wo));
        match (&rt, &wt) {
            (Some(_), None) => self.problem(path, "the reader restricts the type, the writer did not"),
            (Some(r_types), Some(w_types)) => {
                for t in w_types {
                    if !admits(&rt, t) {
                        self.problem(path, format_args!("type {t} is no longer accepted (reader: {r_types:?})"));
                    }
                }
            }
            (None, _) => {}
        }

        self.compare_enum(ro, wo, path);
        if admits(&wt, "object") && admits(&rt, "object") {
            self.compare_object(ro, r_doc, wo, w_doc, path, depth);
        }
        if admits(&wt, "array") && admits(&rt, "array") {
            self.compare_array(ro, r_doc, wo, w_doc, path, depth);
        }
        if admits(&wt, "string") && admits(&rt, "string") {
            self.bound(ro, wo, "minLength", path, true);
            self.bound(ro, wo, "maxLength", path, false);
            if let Some(p) = ro.get("pattern") {
                if wo.get("pattern") != Some(p) {
                    self.problem(path, "the reader's pattern differs from the writer's");
                }
            }
        }
        let numeric = |t: &Option<BTreeSet<&str>>| admits(t, "number") || admits(t, "integer");
        if numeric(&wt) && numeric(&rt) {
            self.bound(ro, wo, "minimum", path, true);
            self.bound(ro, wo, "maximum", path, false);
            self.bound(ro, wo, "exclusiveMinimum", path, true);
            self.bound(ro, wo, "exclusiveMaximum", path, false);
            if let Some(rm) = ro.get("multipleOf").and_then(Value::as_f64) {
                let divides = wo.get("multipleOf").and_then(Value::as_f64).is_some_and(|wm| (wm / rm).fract() == 0.0);
                if !divides {
                    self.problem(path, "the reader's multipleOf does not divide the writer's");
                }
            }
        }
    }

    fn compare_enum(&mut self, ro: &Map<String, Value>, wo: &Map<String, Value>, path: &str) {
        if let Some(r_enum) = ro.get("enum").and_then(Value::as_array) {
            let w_enum = wo.get("enum").and_then(Value::as_array).map(Vec::as_slice);
            match w_enum.or(wo.get("const").map(std::slice::from_ref)) {
                Some(w_enum) => {
                    for v in w_enum.iter().filter(|v| !r_enum.contains(v)) {
                        self.problem(path, format_args!("enum value {v} was removed"));
                    }
                }
                None => self.problem(path, "the reader adds an enum the writer did not have"),
            }
        }
        if let Some(c) = ro.get("const") {
            if wo.get("const") != Some(c) {
                self.problem(path, "the reader adds or changes const");
            }
        }
    }

    /// A numeric bound: the reader's `key` must be absent or no tighter than the writer's.
    fn bound(&mut self, ro: &Map<String, Value>, wo: &Map<String, Value>, key: &str, path: &str, lower: bool) {
        let Some(rv) = ro.get(key).and_then(Value::as_f64) else { return };
        let ok = match wo.get(key).and_then(Value::as_f64) {
            None => false,
            Some(wv) if lower => rv <= wv,
            Some(wv) => rv >= wv,
        };
        if !ok {
            self.problem(path, format_args!("{key} was added or tightened"));
        }
    }

    fn compare_object<'v>(
        &mut self,
        ro: &'v Map<String, Value>,
        r_doc: &'v Value,
        wo: &'v Map<String, Value>,
        w_doc: &'v Value,
        path: &str,
        depth: usize,
    ) where
        'a: 'v,
    {
        let empty = Map::new();
        let r_props = ro.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let w_props = wo.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let r_extra = ro.get("additionalProperties").unwrap_or(&ANY);
        let w_extra = wo.get("additionalProperties").unwrap_or(&ANY);
        for (name, w_prop) in w_props {
            let at = format!("{path}/properties/{name}");
            match r_props.get(name) {
                Some(r_prop) => self.compare(r_prop, r_doc, w_prop, w_doc, &at, depth + 1),
                None if r_extra == &Value::Bool(false) => {
                    self.problem(&at, "property removed from a closed content model")
                }
                None => self.compare(r_extra, r_doc, w_prop, w_doc, &at, depth + 1),
            }
        }
        for (name, r_prop) in r_props.iter().filter(|(n, _)| !w_props.contains_key(*n)) {
            let at = format!("{path}/properties/{name}");
            if w_extra == &Value::Bool(false) {
                continue;
            }
            let before = self.problems.len();
            self.compare(r_prop, r_doc, w_extra, w_doc, &at, depth + 1);
            if self.problems.len() > before {
                self.problems.truncate(before);
                self.problem(&at, "property added to an open content model");
            }
        }
        if w_extra != &Value::Bool(false) {
            let before = self.problems.len();
            self.compare(r_extra, r_doc, w_extra, w_doc, &format!("{path}/additionalProperties"), depth + 1);
            if self.problems.len() > before {
                self.problems.truncate(before);
                self.problem(path, "additionalProperties narrowed");
            }
        }
        let w_required: BTreeSet<&str> =
            wo.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        for name in ro.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !w_required.contains(name) {
                self.problem(path, format_args!("property {name} is newly required"));
            }
        }
        self.bound(ro, wo, "minProperties", path, true);
        self.bound(ro, wo, "maxProperties", path, false);
    }

    fn compare_array<'v>(
        &mut self,
        ro: &'v Map<String, Value>,
        r_doc: &'v Value,
        wo: &'v Map<String, Value>,
        w_doc: &'v Value,
        path: &str,
        depth: usize,
    ) where
        'a: 'v,
    {
        match (ro.get("items").unwrap_or(&ANY), wo.get("items").unwrap_or(&ANY)) {
            (Value::Array(rs), Value::Array(ws)) => {
                for (i, (r_item, w_item)) in rs.iter().zip(ws).enumerate() {
                    self.compare(r_item, r_doc, w_item, w_doc, &format!("{path}/items/{i}"), depth + 1);
                }
                if rs.len() > ws.len() {
                    let w_extra = wo.get("additionalItems").unwrap_or(&ANY);
                    for (i, r_item) in rs.iter().enumerate().skip(ws.len()) {
                        self.compare(r_item, r_doc, w_extra, w_doc, &format!("{path}/items/{i}"), depth + 1);
                    }
                }
            }
            (Value::Array(_), _) | (_, Value::Array(_)) => {
                self.problem(path, "items changed between a single schema and a tuple")
            }
            (r_items, w_items) => self.compare(r_items, r_doc, w_items, w_doc, &format!("{path}/items"), depth + 1),
        }
        self.bound(ro, wo, "minItems", path, true);
        self.bound(ro, wo, "maxItems", path, false);
        if ro.get("uniqueItems") == Some(&Value::Bool(true)) && wo.get("uniqueItems") != Some(&Value::Bool(true)) {
            self.problem(path, "uniqueItems was added");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(text: &str) -> JsonSchema {
        JsonSchema::parse(text, &[]).unwrap()
    }

    #[test]
    fn invalid_schemas_are_refused() {
        for bad in
            [r#"{"type":"strin"}"#, r#"{"properties":{"a":3}}"#, r#"{"required":"a"}"#, "3", r#"{"minLength":-1}"#]
        {
            assert!(JsonSchema::parse(bad, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn local_refs_are_followed() {
        let w = js(r##"{"$defs":{"n":{"type":"integer"}},"type":"object","properties":{"a":{"$ref":"#/$defs/n"}}}"##);
        let r = js(r##"{"$defs":{"n":{"type":"string"}},"type":"object","properties":{"a":{"$ref":"#/$defs/n"}}}"##);
        assert!(!r.read_problems(&w).is_empty());
        assert!(w.read_problems(&w).is_empty());
    }
}
