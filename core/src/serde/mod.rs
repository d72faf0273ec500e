//! Serializers and deserializers that write Confluent's wire format with schemas from a
//! Schema Registry: [`avro`], [`json`] (JSON Schema) and [`protobuf`]. Their bytes are the
//! bytes Confluent's serializers (Java, confluent-kafka, `@kafkajs/confluent-schema-registry`)
//! write and read.
//!
//! Every serializer takes the settings Confluent's serializers know ([`SerdeConfig`]):
//! `auto.register.schemas` (default true), `use.latest.version`, `use.schema.id`,
//! `normalize.schemas`, `subject.name.strategy` (`TopicNameStrategy`, `RecordNameStrategy`,
//! `TopicRecordNameStrategy`), and for Protobuf `skip.known.types` and
//! `reference.subject.name.strategy`.

pub mod avro;
pub mod generic;
pub mod json;
pub mod protobuf;
pub mod wire;

use std::sync::Arc;

use ferrokafka_schema::ParsedSchema;

use crate::error::{Error, Result};
use crate::schema_registry::{Schema, SchemaRegistryClient, SchemaType};

/// Whether a record's key or its value is being (de)serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageField {
    Key,
    Value,
}

impl MessageField {
    pub fn name(self) -> &'static str {
        match self {
            MessageField::Key => "key",
            MessageField::Value => "value",
        }
    }
}

/// Where the bytes go or come from: the topic, and key or value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerializationContext<'a> {
    pub topic: &'a str,
    pub field: MessageField,
}

impl<'a> SerializationContext<'a> {
    pub fn new(topic: &'a str, field: MessageField) -> Self {
        SerializationContext { topic, field }
    }

    pub(crate) fn error(&self, deserializing: bool, reason: impl Into<String>) -> Error {
        Error::Serialization { field: self.field, deserializing, topic: self.topic.to_owned(), reason: reason.into() }
    }
}

/// How a record's subject is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value` (the default).
    #[default]
    TopicName,
    /// The record's fully-qualified name.
    RecordName,
    /// `<topic>-<record name>`.
    TopicRecordName,
}

impl SubjectNameStrategy {
    /// Confluent's names, short (`TopicNameStrategy`, `topic_name`) or with the Java package.
    pub fn parse(name: &str) -> Option<Self> {
        let short = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase().replace('_', "");
        match short.as_str() {
            "topicnamestrategy" | "topicname" | "topicsubjectnamestrategy" => Some(SubjectNameStrategy::TopicName),
            "recordnamestrategy" | "recordname" | "recordsubjectnamestrategy" => Some(SubjectNameStrategy::RecordName),
            "topicrecordnamestrategy" | "topicrecordname" | "topicrecordsubjectnamestrategy" => {
                Some(SubjectNameStrategy::TopicRecordName)
            }
            _ => None,
        }
    }

    /// The subject for `ctx`; `record` is the schema's record (or message) full name.
    pub fn subject(self, ctx: &SerializationContext<'_>, record: Option<&str>) -> Result<String, String> {
        let record = || record.ok_or_else(|| format!("{self:?} needs a named record schema"));
        Ok(match self {
            SubjectNameStrategy::TopicName => format!("{}-{}", ctx.topic, ctx.field.name()),
            SubjectNameStrategy::RecordName => record()?.to_owned(),
            SubjectNameStrategy::TopicRecordName => format!("{}-{}", ctx.topic, record()?),
        })
    }
}

/// How a Protobuf schema's imports are registered: under the import's file name (Confluent's
/// `DefaultReferenceSubjectNameStrategy`), or under the name of its file's first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReferenceSubjectNameStrategy {
    #[default]
    FileName,
    QualifiedRecordName,
}

/// Serializer and deserializer settings, from Confluent's keys. An unknown key, or one that does
/// not apply to the kind of serializer it is given to, is an error.
#[derive(Debug, Clone)]
pub struct SerdeConfig {
    pub auto_register_schemas: bool,
    pub use_latest_version: bool,
    pub use_schema_id: Option<i32>,
    pub normalize_schemas: bool,
    pub subject_name_strategy: SubjectNameStrategy,
    pub skip_known_types: bool,
    pub reference_subject_name_strategy: ReferenceSubjectNameStrategy,
}

impl Default for SerdeConfig {
    fn default() -> Self {
        SerdeConfig {
            auto_register_schemas: true,
            use_latest_version: false,
            use_schema_id: None,
            normalize_schemas: false,
            subject_name_strategy: SubjectNameStrategy::TopicName,
            skip_known_types: true,
            reference_subject_name_strategy: ReferenceSubjectNameStrategy::FileName,
        }
    }
}

/// Which kind of serializer a configuration is for (some keys apply to one kind only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerdeKind {
    Serializer,
    ProtobufSerializer,
    Deserializer,
}

fn flag(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::Config { key: key.to_owned(), reason: format!("{value:?} is not true or false") }),
    }
}

impl SerdeConfig {
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        kind: SerdeKind,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self> {
        let mut config = SerdeConfig::default();
        for (key, value) in pairs {
            let (key, value) = (key.as_ref().trim(), value.as_ref());
            let serializer = kind != SerdeKind::Deserializer;
            let bad = |reason: String| Error::Config { key: key.to_owned(), reason };
            match key {
                "auto.register.schemas" if serializer => config.auto_register_schemas = flag(key, value)?,
                "normalize.schemas" if serializer => config.normalize_schemas = flag(key, value)?,
                "use.schema.id" if serializer => {
                    config.use_schema_id =
                        Some(value.trim().parse().map_err(|_| bad(format!("{value:?} is not a schema id")))?)
                }
                "use.latest.version" => config.use_latest_version = flag(key, value)?,
                "subject.name.strategy" => {
                    config.subject_name_strategy = SubjectNameStrategy::parse(value).ok_or_else(|| {
                        bad(format!(
                            "{value:?} is not TopicNameStrategy, RecordNameStrategy or TopicRecordNameStrategy"
                        ))
                    })?
                }
                "skip.known.types" if kind == SerdeKind::ProtobufSerializer => {
                    config.skip_known_types = flag(key, value)?
                }
                "reference.subject.name.strategy" if kind == SerdeKind::ProtobufSerializer => {
                    let short = value.rsplit('.').next().unwrap_or(value).to_ascii_lowercase().replace('_', "");
                    config.reference_subject_name_strategy = match short.as_str() {
                        "defaultreferencesubjectnamestrategy" | "referencesubjectnamestrategy" | "filename" => {
                            ReferenceSubjectNameStrategy::FileName
                        }
                        "qualifiedreferencesubjectnamestrategy" | "qualifiedrecordname" => {
                            ReferenceSubjectNameStrategy::QualifiedRecordName
                        }
                        _ => return Err(bad(format!("{value:?} is not DefaultReferenceSubjectNameStrategy"))),
                    }
                }
                _ => {
                    return Err(bad(format!(
                        "not a {} setting",
                        if serializer { "serializer" } else { "deserializer" }
                    )));
                }
            }
        }
        if config.use_latest_version && config.auto_register_schemas && kind != SerdeKind::Deserializer {
            return Err(Error::Config {
                key: "use.latest.version".into(),
                reason: "cannot be used with auto.register.schemas=true".into(),
            });
        }
        Ok(config)
    }
}

/// Checks the schema a serializer is given: of its type, and (when it references nothing, so
/// it can be parsed without the registry) valid, so a bad schema fails at construction rather
/// than at the first record. `None` is allowed only where the registry supplies the schema.
pub(crate) fn check_writer_schema(schema: Option<&Schema>, ty: SchemaType, config: &SerdeConfig) -> Result<()> {
    let invalid = |reason: String| Error::Config { key: "schema".into(), reason };
    match schema {
        Some(s) if s.schema_type != ty => {
            Err(invalid(format!("a {} schema given to the {} serializer", s.schema_type.name(), ty.name())))
        }
        Some(s) if s.references.is_empty() => ParsedSchema::parse(ty, &s.schema, &[]).map(drop).map_err(invalid),
        Some(_) => Ok(()),
        None if config.use_latest_version || config.use_schema_id.is_some() => Ok(()),
        None => Err(invalid("required unless use.latest.version or use.schema.id is set".into())),
    }
}

/// What a serializer writes with: the schema id for the frame, and the schema it names.
#[derive(Debug, Clone)]
pub(crate) struct WriterSchema {
    pub(crate) id: i32,
    pub(crate) parsed: Arc<ParsedSchema>,
}

/// What a serializer has written under, by subject: the id a registration or look-up gave
/// stays the id for that subject, so the registry client (and its cache, keyed by the whole
/// schema text) is asked once per subject, not once per record.
#[derive(Debug, Default)]
pub(crate) struct WriterSchemas(std::sync::Mutex<std::collections::HashMap<String, WriterSchema>>);

/// Finds the id to write under, as the settings say: a fixed id, the subject's latest version
/// (fresh as `cache.latest.ttl.sec` says), the schema registered (auto-register), or the schema
/// looked up. `schema` is needed only for the last two; `None` with them is an error.
pub(crate) async fn writer_schema(
    registry: &SchemaRegistryClient,
    config: &SerdeConfig,
    ctx: &SerializationContext<'_>,
    schema: Option<&Schema>,
    record: Option<&str>,
    known: &WriterSchemas,
) -> Result<WriterSchema> {
    if let Some(id) = config.use_schema_id {
        return Ok(WriterSchema { id, parsed: registry.parsed(id).await? });
    }
    let subject = config.subject_name_strategy.subject(ctx, record).map_err(|e| ctx.error(false, e))?;
    if config.use_latest_version {
        let id = registry.latest(&subject).await?.id;
        return Ok(WriterSchema { id, parsed: registry.parsed(id).await? });
    }
    if let Some(w) = known.0.lock().unwrap_or_else(|p| p.into_inner()).get(&subject) {
        return Ok(w.clone());
    }
    let schema = schema.ok_or_else(|| ctx.error(false, "no schema to register or look up"))?;
    let id = if config.auto_register_schemas {
        registry.register(&subject, schema, config.normalize_schemas).await?
    } else {
        registry.lookup(&subject, schema, config.normalize_schemas).await?.id
    };
    let writer = WriterSchema { id, parsed: registry.parsed(id).await? };
    known.0.lock().unwrap_or_else(|p| p.into_inner()).insert(subject, writer.clone());
    Ok(writer)
}

/// The reader's schema when a deserializer uses the subject's latest version.
pub(crate) async fn latest_reader(
    registry: &SchemaRegistryClient,
    config: &SerdeConfig,
    ctx: &SerializationContext<'_>,
    record: Option<&str>,
) -> Result<Option<Arc<ParsedSchema>>> {
    if !config.use_latest_version {
        return Ok(None);
    }
    let subject = config.subject_name_strategy.subject(ctx, record).map_err(|e| ctx.error(true, e))?;
    let id = registry.latest(&subject).await?.id;
    Ok(Some(registry.parsed(id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_strategy() {
        let ctx = SerializationContext::new("orders", MessageField::Value);
        let s = |name: &str, record| SubjectNameStrategy::parse(name).unwrap().subject(&ctx, record);
        assert_eq!(s("TopicNameStrategy", None).unwrap(), "orders-value");
        assert_eq!(s("io.confluent.kafka.serializers.subject.RecordNameStrategy", Some("a.B")).unwrap(), "a.B");
        assert_eq!(s("topic_record_subject_name_strategy", Some("a.B")).unwrap(), "orders-a.B");
        assert!(s("RecordNameStrategy", None).is_err());
        assert!(SubjectNameStrategy::parse("Other").is_none());
    }

    #[test]
    fn settings_are_checked() {
        let c = SerdeConfig::from_pairs(SerdeKind::Serializer, [("auto.register.schemas", "false")]).unwrap();
        assert!(!c.auto_register_schemas);
        for (kind, bad) in [
            (SerdeKind::Serializer, ("auto.register.schema", "false")),
            (SerdeKind::Serializer, ("auto.register.schemas", "yes")),
            (SerdeKind::Serializer, ("skip.known.types", "true")),
            (SerdeKind::Serializer, ("use.latest.version", "true")),
            (SerdeKind::Deserializer, ("auto.register.schemas", "false")),
        ] {
            assert!(SerdeConfig::from_pairs(kind, [bad]).is_err(), "{bad:?}");
        }
    }
}
