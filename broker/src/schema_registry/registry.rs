//! The registry's state and operations: subjects, their versions, schemas by global id,
//! compatibility and mode settings. Every change is written to the store first and then
//! applied to memory by the same code that replays the store at start, so what is served is
//! always what a restart would rebuild.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use super::compatibility::CompatibilityLevel;
use super::error::{RegistryError, RegistryResult};
use super::store::{ConfigValue, ModeValue, Recovered, SchemaStore, SchemaValue, StoreKey, StoreRecord};
use ferrokafka_schema::{ParsedSchema, Reference, ResolvedReference, SchemaType};

/// A schema under its global id.
#[derive(Debug)]
pub(crate) struct SchemaEntry {
    pub(crate) id: i32,
    pub(crate) schema_type: SchemaType,
    pub(crate) text: String,
    pub(crate) references: Vec<Reference>,
    /// `None` for a schema the store holds that no longer parses (written by another tool).
    pub(crate) parsed: Option<ParsedSchema>,
}

impl SchemaEntry {
    /// The schema text in `format`: `serialized` gives Protobuf's base64 descriptor.
    pub(crate) fn text_in(&self, format: Option<&str>) -> &str {
        match (&self.parsed, format) {
            (Some(ParsedSchema::Protobuf(p)), Some("serialized")) => p.serialized(),
            _ => &self.text,
        }
    }

    /// `schema`, `schemaType` (left out for Avro, as Confluent does) and `references`.
    pub(crate) fn json_fields(&self, format: Option<&str>, out: &mut serde_json::Map<String, Value>) {
        if self.schema_type != SchemaType::Avro {
            out.insert("schemaType".into(), json!(self.schema_type.name()));
        }
        if !self.references.is_empty() {
            out.insert("references".into(), json!(self.references));
        }
        out.insert("schema".into(), json!(self.text_in(format)));
    }

    fn identity(&self) -> Option<Identity> {
        Some((self.schema_type, self.parsed.as_ref()?.canonical().to_owned(), self.references.clone()))
    }
}

type Identity = (SchemaType, String, Vec<Reference>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VersionEntry {
    pub(crate) id: i32,
    pub(crate) deleted: bool,
}

/// What a client asks to register or look up.
#[derive(Debug, Clone)]
pub(crate) struct SchemaRequest {
    pub(crate) schema_type: SchemaType,
    pub(crate) text: String,
    pub(crate) references: Vec<Reference>,
}

#[derive(Debug, Default)]
struct State {
    schemas: BTreeMap<i32, Arc<SchemaEntry>>,
    by_identity: HashMap<Identity, i32>,
    subjects: BTreeMap<String, BTreeMap<i32, VersionEntry>>,
    global_compatibility: Option<CompatibilityLevel>,
    subject_compatibility: HashMap<String, CompatibilityLevel>,
    global_mode: Option<String>,
    subject_mode: HashMap<String, String>,
    /// The highest id ever seen: ids are never handed out twice, even after a permanent delete.
    max_id: i32,
}

#[derive(Debug)]
pub(crate) struct Registry {
    store: SchemaStore,
    state: std::sync::Mutex<State>,
}

/// A version as a request names it: a number or the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionSpec {
    Latest,
    Number(i32),
}

impl VersionSpec {
    pub(crate) fn parse(text: &str) -> RegistryResult<Self> {
        match text {
            "latest" | "-1" => Ok(VersionSpec::Latest),
            _ => match text.parse::<i32>() {
                Ok(v) if v >= 1 => Ok(VersionSpec::Number(v)),
                _ => Err(RegistryError::invalid_version(text)),
            },
        }
    }
}

const MODES: &[&str] = &["READWRITE", "READONLY", "IMPORT"];

impl Registry {
    /// Rebuilds the state from the store's records.
    pub(crate) fn open(store: SchemaStore, records: Recovered) -> Registry {
        let mut state = State::default();
        for (key, value) in records {
            let Ok(key) = serde_json::from_slice::<StoreKey>(&key) else {
                tracing::warn!(key = %String::from_utf8_lossy(&key), "schema registry: skipping a record with an unknown key");
                continue;
            };
            let value = match value.map(|v| serde_json::from_slice::<Value>(&v)) {
                None => None,
                Some(Ok(v)) => Some(v),
                Some(Err(e)) => {
                    tracing::warn!(?key, error = %e, "schema registry: skipping a record whose value is not JSON");
                    continue;
                }
            };
            state.apply(&key, value.as_ref(), None);
        }
        tracing::info!(
            schemas = state.schemas.len(),
            subjects = state.subjects.len(),
            "schema registry: state rebuilt from {}",
            super::store::TOPIC
        );
        Registry { store, state: std::sync::Mutex::new(state) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `records` durably, then applies them.
    fn commit(
        &self,
        state: &mut State,
        records: Vec<StoreRecord>,
        new: Option<Arc<SchemaEntry>>,
    ) -> RegistryResult<()> {
        self.store.write(&records)?;
        for (key, value) in &records {
            state.apply(key, value.as_ref(), new.clone());
        }
        Ok(())
    }

    pub(crate) fn subjects(&self, deleted: bool, prefix: &str) -> Vec<String> {
        let state = self.lock();
        state
            .subjects
            .iter()
            .filter(|(name, versions)| name.starts_with(prefix) && versions.values().any(|v| deleted || !v.deleted))
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub(crate) fn versions(&self, subject: &str, deleted: bool, deleted_only: bool) -> RegistryResult<Vec<i32>> {
        let state = self.lock();
        let versions = state.live_subject(subject, deleted || deleted_only)?;
        Ok(versions
            .iter()
            .filter(|(_, v)| if deleted_only { v.deleted } else { deleted || !v.deleted })
            .map(|(n, _)| *n)
            .collect())
    }

    /// The version `spec` of `subject` and its schema.
    pub(crate) fn version(
        &self,
        subject: &str,
        spec: VersionSpec,
        deleted: bool,
    ) -> RegistryResult<(i32, Arc<SchemaEntry>)> {
        let state = self.lock();
        let (version, entry) = state.find_version(subject, spec, deleted)?;
        let schema =
            state.schemas.get(&entry.id).cloned().ok_or_else(|| RegistryError::schema_id_not_found(entry.id))?;
        Ok((version, schema))
    }

    pub(crate) fn schema_by_id(&self, id: i32) -> RegistryResult<Arc<SchemaEntry>> {
        self.lock().schemas.get(&id).cloned().ok_or_else(|| RegistryError::schema_id_not_found(id))
    }

    /// The (subject, version) pairs holding schema `id`.
    pub(crate) fn schema_versions(&self, id: i32, deleted: bool) -> RegistryResult<Vec<(String, i32)>> {
        let state = self.lock();
        if !state.schemas.contains_key(&id) {
            return Err(RegistryError::schema_id_not_found(id));
        }
        Ok(state
            .subjects
            .iter()
            .flat_map(|(s, vs)| {
                vs.iter().filter(|(_, v)| v.id == id && (deleted || !v.deleted)).map(|(n, _)| (s.clone(), *n))
            })
            .collect())
    }

    /// Ids of the schemas that refer to version `spec` of `subject`.
    pub(crate) fn referenced_by(&self, subject: &str, spec: VersionSpec) -> RegistryResult<Vec<i32>> {
        let state = self.lock();
        let (version, _) = state.find_version(subject, spec, false)?;
        Ok(state.referrers(subject, version))
    }

    /// Registers a schema under `subject`; returns its id (an equal schema keeps its id).
    pub(crate) fn register(&self, subject: &str, request: SchemaRequest) -> RegistryResult<i32> {
        validate_subject(subject)?;
        let mut state = self.lock();
        if state.mode(subject) == "READONLY" {
            return Err(RegistryError::not_permitted(format!("Subject {subject} is in read-only mode")));
        }
        let parsed = state.parse(&request)?;
        let identity = (request.schema_type, parsed.canonical().to_owned(), request.references.clone());
        let versions = state.subjects.get(subject).cloned().unwrap_or_default();
        for v in versions.values().filter(|v| !v.deleted) {
            if state.schemas.get(&v.id).and_then(|e| e.identity()).as_ref() == Some(&identity) {
                return Ok(v.id);
            }
        }
        let level = state.compatibility(subject);
        if level != CompatibilityLevel::None {
            let previous: Vec<&ParsedSchema> = versions
                .values()
                .filter(|v| !v.deleted)
                .filter_map(|v| state.schemas.get(&v.id)?.parsed.as_ref())
                .collect();
            let problems = level.problems(&parsed, &previous);
            if !problems.is_empty() {
                return Err(RegistryError::incompatible(format!(
                    "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", \
                     details: [{}]",
                    problems.join(", ")
                )));
            }
        }
        let existing = state.by_identity.get(&identity).copied();
        let id = existing.unwrap_or(state.max_id + 1);
        let version = versions.keys().next_back().copied().unwrap_or(0) + 1;
        let value = SchemaValue {
            subject: subject.to_owned(),
            version,
            id,
            schema_type: (request.schema_type != SchemaType::Avro).then(|| request.schema_type.name().to_owned()),
            references: request.references.clone(),
            schema: request.text.clone(),
            deleted: false,
        };
        let new = match existing {
            Some(_) => None,
            None => Some(Arc::new(SchemaEntry {
                id,
                schema_type: request.schema_type,
                text: request.text,
                references: request.references,
                parsed: Some(parsed),
            })),
        };
        let value = serde_json::to_value(value).map_err(|e| RegistryError::internal(e.to_string()))?;
        self.commit(&mut state, vec![(StoreKey::schema(subject, version), Some(value))], new)?;
        Ok(id)
    }

    /// The live version of `subject` holding a schema equal to `request`.
    pub(crate) fn lookup(
        &self,
        subject: &str,
        request: &SchemaRequest,
        deleted: bool,
    ) -> RegistryResult<(i32, Arc<SchemaEntry>)> {
        let state = self.lock();
        let versions = state.live_subject(subject, deleted)?;
        let parsed = state.parse(request)?;
        let identity = (request.schema_type, parsed.canonical().to_owned(), request.references.clone());
        for (n, v) in versions.iter().rev().filter(|(_, v)| deleted || !v.deleted) {
            if let Some(entry) = state.schemas.get(&v.id) {
                if entry.identity().as_ref() == Some(&identity) {
                    return Ok((*n, Arc::clone(entry)));
                }
            }
        }
        Err(RegistryError::schema_not_found())
    }

    /// Whether `request` may follow version `spec` of `subject` (all live versions when
    /// `spec` is `None`), and if not, why.
    pub(crate) fn check(
        &self,
        subject: &str,
        spec: Option<VersionSpec>,
        request: &SchemaRequest,
    ) -> RegistryResult<Vec<String>> {
        let state = self.lock();
        let parsed = state.parse(request)?;
        let level = state.compatibility(subject);
        let previous: Vec<Arc<SchemaEntry>> = match spec {
            None => match state.subjects.get(subject) {
                None => Vec::new(),
                Some(vs) => {
                    vs.values().filter(|v| !v.deleted).filter_map(|v| state.schemas.get(&v.id).cloned()).collect()
                }
            },
            Some(spec) => {
                let (_, entry) = state.find_version(subject, spec, false)?;
                state.schemas.get(&entry.id).cloned().into_iter().collect()
            }
        };
        let previous: Vec<&ParsedSchema> = previous.iter().filter_map(|e| e.parsed.as_ref()).collect();
        let level = match (spec, level) {
            // Against one named version the transitive levels mean their plain selves.
            (Some(_), CompatibilityLevel::BackwardTransitive) => CompatibilityLevel::Backward,
            (Some(_), CompatibilityLevel::ForwardTransitive) => CompatibilityLevel::Forward,
            (Some(_), CompatibilityLevel::FullTransitive) => CompatibilityLevel::Full,
            (_, level) => level,
        };
        Ok(level.problems(&parsed, &previous))
    }

    /// Deletes version `spec` of `subject`: soft, or permanently once soft-deleted.
    pub(crate) fn delete_version(&self, subject: &str, spec: VersionSpec, permanent: bool) -> RegistryResult<i32> {
        let mut state = self.lock();
        if state.mode(subject) == "READONLY" {
            return Err(RegistryError::not_permitted(format!("Subject {subject} is in read-only mode")));
        }
        let (version, entry) = state.find_version(subject, spec, true)?;
        if !state.referrers(subject, version).is_empty() {
            return Err(RegistryError::referenced(subject, version));
        }
        let record = match (permanent, entry.deleted) {
            (false, true) => return Err(RegistryError::version_soft_deleted(subject, version)),
            (true, false) => return Err(RegistryError::version_not_soft_deleted(subject, version)),
            (true, true) => (StoreKey::schema(subject, version), None),
            (false, false) => (StoreKey::schema(subject, version), Some(state.schema_value(subject, version, true)?)),
        };
        self.commit(&mut state, vec![record], None)?;
        Ok(version)
    }

    /// Deletes every version of `subject`: soft, or permanently once soft-deleted.
    pub(crate) fn delete_subject(&self, subject: &str, permanent: bool) -> RegistryResult<Vec<i32>> {
        let mut state = self.lock();
        if state.mode(subject) == "READONLY" {
            return Err(RegistryError::not_permitted(format!("Subject {subject} is in read-only mode")));
        }
        let versions = state.subjects.get(subject).cloned().unwrap_or_default();
        if versions.is_empty() {
            return Err(RegistryError::subject_not_found(subject));
        }
        let live: Vec<i32> = versions.iter().filter(|(_, v)| !v.deleted).map(|(n, _)| *n).collect();
        if permanent && !live.is_empty() {
            return Err(RegistryError::subject_not_soft_deleted(subject));
        }
        if !permanent && live.is_empty() {
            return Err(RegistryError::subject_soft_deleted(subject));
        }
        for n in versions.keys() {
            if !state.referrers(subject, *n).is_empty() {
                return Err(RegistryError::referenced(subject, *n));
            }
        }
        let mut records = Vec::new();
        let affected: Vec<i32> = if permanent { versions.keys().copied().collect() } else { live };
        for n in &affected {
            let value = if permanent { None } else { Some(state.schema_value(subject, *n, true)?) };
            records.push((StoreKey::schema(subject, *n), value));
        }
        if permanent {
            if state.subject_compatibility.contains_key(subject) {
                records.push((StoreKey::config(Some(subject)), None));
            }
            if state.subject_mode.contains_key(subject) {
                records.push((StoreKey::mode(Some(subject)), None));
            }
        }
        self.commit(&mut state, records, None)?;
        Ok(affected)
    }

    /// The compatibility level set for `subject` (the global one with `None`).
    pub(crate) fn compatibility(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> RegistryResult<CompatibilityLevel> {
        let state = self.lock();
        match subject {
            None => Ok(state.global_compatibility.unwrap_or_default()),
            Some(s) => match state.subject_compatibility.get(s) {
                Some(level) => Ok(*level),
                None if default_to_global => Ok(state.global_compatibility.unwrap_or_default()),
                None => Err(RegistryError::subject_compatibility_not_configured(s)),
            },
        }
    }

    pub(crate) fn set_compatibility(&self, subject: Option<&str>, level: CompatibilityLevel) -> RegistryResult<()> {
        if let Some(s) = subject {
            validate_subject(s)?;
        }
        let mut state = self.lock();
        let value = serde_json::to_value(ConfigValue { compatibility_level: level.name().to_owned() })
            .map_err(|e| RegistryError::internal(e.to_string()))?;
        self.commit(&mut state, vec![(StoreKey::config(subject), Some(value))], None)
    }

    /// Removes the level set for `subject` (the global one with `None`); returns what it was.
    pub(crate) fn delete_compatibility(&self, subject: Option<&str>) -> RegistryResult<CompatibilityLevel> {
        let mut state = self.lock();
        let previous = match subject {
            None => state.global_compatibility.unwrap_or_default(),
            Some(s) => match state.subject_compatibility.get(s) {
                Some(level) => *level,
                None if state.subjects.contains_key(s) => {
                    return Err(RegistryError::subject_compatibility_not_configured(s));
                }
                None => return Err(RegistryError::subject_not_found(s)),
            },
        };
        self.commit(&mut state, vec![(StoreKey::config(subject), None)], None)?;
        Ok(previous)
    }

    pub(crate) fn mode(&self, subject: Option<&str>, default_to_global: bool) -> RegistryResult<String> {
        let state = self.lock();
        match subject {
            None => Ok(state.global_mode.clone().unwrap_or_else(|| "READWRITE".into())),
            Some(s) => match state.subject_mode.get(s) {
                Some(mode) => Ok(mode.clone()),
                None if default_to_global => Ok(state.mode(s).to_owned()),
                None => Err(RegistryError::subject_mode_not_configured(s)),
            },
        }
    }

    pub(crate) fn set_mode(&self, subject: Option<&str>, mode: &str) -> RegistryResult<String> {
        let mode = mode.trim().to_ascii_uppercase();
        if !MODES.contains(&mode.as_str()) {
            return Err(RegistryError::invalid_mode(&mode));
        }
        let mut state = self.lock();
        let value = serde_json::to_value(ModeValue { mode: mode.clone() })
            .map_err(|e| RegistryError::internal(e.to_string()))?;
        self.commit(&mut state, vec![(StoreKey::mode(subject), Some(value))], None)?;
        Ok(mode)
    }
}

/// Subjects are non-empty, of reasonable length and free of control characters.
fn validate_subject(subject: &str) -> RegistryResult<()> {
    if subject.is_empty() || subject.len() > 4096 || subject.chars().any(char::is_control) {
        return Err(RegistryError::unprocessable(format!("Invalid subject name {subject:?}")));
    }
    Ok(())
}

impl State {
    /// Applies one store record. `new` is the schema a registration just parsed, if its id is new.
    fn apply(&mut self, key: &StoreKey, value: Option<&Value>, new: Option<Arc<SchemaEntry>>) {
        match key {
            StoreKey::Schema { subject, version, .. } => match value {
                None => {
                    let removed = self.subjects.get_mut(subject).and_then(|vs| vs.remove(version));
                    if self.subjects.get(subject).is_some_and(BTreeMap::is_empty) {
                        self.subjects.remove(subject);
                    }
                    if let Some(v) = removed {
                        self.forget_if_unused(v.id);
                    }
                }
                Some(value) => {
                    let Ok(value) = serde_json::from_value::<SchemaValue>(value.clone()) else {
                        tracing::warn!(%subject, version, "schema registry: skipping an unreadable schema record");
                        return;
                    };
                    self.max_id = self.max_id.max(value.id);
                    if !self.schemas.contains_key(&value.id) {
                        let entry = match new.filter(|e| e.id == value.id) {
                            Some(entry) => entry,
                            None => Arc::new(self.entry_from_store(&value)),
                        };
                        if let Some(identity) = entry.identity() {
                            self.by_identity.entry(identity).or_insert(entry.id);
                        }
                        self.schemas.insert(entry.id, entry);
                    }
                    self.subjects
                        .entry(subject.clone())
                        .or_default()
                        .insert(*version, VersionEntry { id: value.id, deleted: value.deleted });
                }
            },
            StoreKey::Config { subject, .. } => {
                let level = value
                    .and_then(|v| v.get("compatibilityLevel").or(v.get("compatibility")))
                    .and_then(Value::as_str)
                    .and_then(CompatibilityLevel::parse);
                match (subject, level) {
                    (None, level) => self.global_compatibility = level,
                    (Some(s), Some(level)) => {
                        self.subject_compatibility.insert(s.clone(), level);
                    }
                    (Some(s), None) => {
                        self.subject_compatibility.remove(s);
                    }
                }
            }
            StoreKey::Mode { subject, .. } => {
                let mode = value.and_then(|v| v.get("mode")).and_then(Value::as_str).map(str::to_owned);
                match (subject, mode) {
                    (None, mode) => self.global_mode = mode,
                    (Some(s), Some(mode)) => {
                        self.subject_mode.insert(s.clone(), mode);
                    }
                    (Some(s), None) => {
                        self.subject_mode.remove(s);
                    }
                }
            }
            // Confluent writes these next to the SCHEMA records that carry the change.
            StoreKey::DeleteSubject { .. } | StoreKey::ClearSubject { .. } | StoreKey::Noop { .. } => {}
        }
    }

    fn entry_from_store(&self, value: &SchemaValue) -> SchemaEntry {
        let schema_type = value.schema_type.as_deref().and_then(SchemaType::parse).unwrap_or_default();
        let request = SchemaRequest { schema_type, text: value.schema.clone(), references: value.references.clone() };
        let parsed = match self.parse(&request) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(id = value.id, error = %e.message, "schema registry: a stored schema does not parse");
                None
            }
        };
        SchemaEntry { id: value.id, schema_type, text: request.text, references: request.references, parsed }
    }

    /// Drops schema `id` once no version of any subject holds it.
    fn forget_if_unused(&mut self, id: i32) {
        if self.subjects.values().any(|vs| vs.values().any(|v| v.id == id)) {
            return;
        }
        if let Some(entry) = self.schemas.remove(&id) {
            if let Some(identity) = entry.identity() {
                if self.by_identity.get(&identity) == Some(&id) {
                    self.by_identity.remove(&identity);
                }
            }
        }
    }

    fn compatibility(&self, subject: &str) -> CompatibilityLevel {
        self.subject_compatibility.get(subject).copied().or(self.global_compatibility).unwrap_or_default()
    }

    fn mode(&self, subject: &str) -> &str {
        self.subject_mode.get(subject).or(self.global_mode.as_ref()).map_or("READWRITE", String::as_str)
    }

    /// The subject's versions; an error when it has none (live ones unless `deleted`).
    fn live_subject(&self, subject: &str, deleted: bool) -> RegistryResult<&BTreeMap<i32, VersionEntry>> {
        match self.subjects.get(subject) {
            Some(vs) if vs.values().any(|v| deleted || !v.deleted) => Ok(vs),
            _ => Err(RegistryError::subject_not_found(subject)),
        }
    }

    fn find_version(&self, subject: &str, spec: VersionSpec, deleted: bool) -> RegistryResult<(i32, VersionEntry)> {
        let versions = self.live_subject(subject, deleted)?;
        match spec {
            VersionSpec::Latest => versions
                .iter()
                .rev()
                .find(|(_, v)| deleted || !v.deleted)
                .map(|(n, v)| (*n, *v))
                .ok_or_else(|| RegistryError::subject_not_found(subject)),
            VersionSpec::Number(n) => match versions.get(&n) {
                Some(v) if deleted || !v.deleted => Ok((n, *v)),
                _ => Err(RegistryError::version_not_found(subject, n)),
            },
        }
    }

    /// Ids of live schemas that refer to `subject` version `version`.
    fn referrers(&self, subject: &str, version: i32) -> Vec<i32> {
        let mut ids: Vec<i32> = self
            .subjects
            .values()
            .flat_map(|vs| vs.values())
            .filter(|v| !v.deleted)
            .filter(|v| {
                self.schemas
                    .get(&v.id)
                    .is_some_and(|e| e.references.iter().any(|r| r.subject == subject && r.version == version))
            })
            .map(|v| v.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn schema_value(&self, subject: &str, version: i32, deleted: bool) -> RegistryResult<Value> {
        let v = self
            .subjects
            .get(subject)
            .and_then(|vs| vs.get(&version))
            .ok_or_else(|| RegistryError::version_not_found(subject, version))?;
        let entry = self.schemas.get(&v.id).ok_or_else(|| RegistryError::schema_id_not_found(v.id))?;
        let value = SchemaValue {
            subject: subject.to_owned(),
            version,
            id: v.id,
            schema_type: (entry.schema_type != SchemaType::Avro).then(|| entry.schema_type.name().to_owned()),
            references: entry.references.clone(),
            schema: entry.text.clone(),
            deleted,
        };
        serde_json::to_value(value).map_err(|e| RegistryError::internal(e.to_string()))
    }

    /// Parses a schema, resolving its references (transitively, dependencies first).
    fn parse(&self, request: &SchemaRequest) -> RegistryResult<ParsedSchema> {
        let mut resolved = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in &request.references {
            self.resolve_reference(r, &mut resolved, &mut seen, 0)?;
        }
        ParsedSchema::parse(request.schema_type, &request.text, &resolved).map_err(RegistryError::invalid_schema)
    }

    fn resolve_reference(
        &self,
        r: &Reference,
        out: &mut Vec<ResolvedReference>,
        seen: &mut std::collections::HashSet<String>,
        depth: usize,
    ) -> RegistryResult<()> {
        if depth > 32 {
            return Err(RegistryError::invalid_schema("references nest too deeply"));
        }
        if !seen.insert(r.name.clone()) {
            return Ok(());
        }
        let spec = if r.version == -1 { VersionSpec::Latest } else { VersionSpec::Number(r.version) };
        let (_, v) = self.find_version(&r.subject, spec, false).map_err(|_| {
            RegistryError::invalid_schema(format!(
                "reference {} to subject {} version {} not found",
                r.name, r.subject, r.version
            ))
        })?;
        let entry = self.schemas.get(&v.id).ok_or_else(|| RegistryError::schema_id_not_found(v.id))?;
        for nested in &entry.references {
            self.resolve_reference(nested, out, seen, depth + 1)?;
        }
        out.push(ResolvedReference { name: r.name.clone(), schema_type: entry.schema_type, text: entry.text.clone() });
        Ok(())
    }
}
