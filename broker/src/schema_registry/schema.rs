//! A schema as the registry keeps it: its type, text and references, parsed once by the
//! module of its type into a form that can be compared and checked for compatibility.

use serde::{Deserialize, Serialize};

use super::{avro, json_schema, protobuf};

/// The schema types served, by the names Confluent's API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum SchemaType {
    #[default]
    Avro,
    Json,
    Protobuf,
}

impl SchemaType {
    pub(crate) const ALL: [SchemaType; 3] = [SchemaType::Json, SchemaType::Protobuf, SchemaType::Avro];

    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "AVRO" => Some(SchemaType::Avro),
            "JSON" => Some(SchemaType::Json),
            "PROTOBUF" => Some(SchemaType::Protobuf),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }
}

/// A reference from one schema to another registered one: `name` is how the referring schema
/// names it (an Avro full name, a `.proto` import path, a JSON Schema `$ref` URL).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Reference {
    pub(crate) name: String,
    pub(crate) subject: String,
    pub(crate) version: i32,
}

/// A referenced schema, resolved: its name as the referrer uses it, and its own text.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedReference {
    pub(crate) name: String,
    pub(crate) schema_type: SchemaType,
    pub(crate) text: String,
}

/// A parsed, valid schema.
#[derive(Debug, Clone)]
pub(crate) enum ParsedSchema {
    Avro(avro::AvroSchema),
    Json(json_schema::JsonSchema),
    Protobuf(protobuf::ProtoSchema),
}

impl ParsedSchema {
    /// Parses `text` as a schema of type `ty`; `references` are every schema it refers to,
    /// directly or not, dependencies first. The error says why the schema is invalid.
    pub(crate) fn parse(ty: SchemaType, text: &str, references: &[ResolvedReference]) -> Result<Self, String> {
        match ty {
            SchemaType::Avro => avro::AvroSchema::parse(text, references).map(ParsedSchema::Avro),
            SchemaType::Json => json_schema::JsonSchema::parse(text, references).map(ParsedSchema::Json),
            SchemaType::Protobuf => protobuf::ProtoSchema::parse(text, references).map(ParsedSchema::Protobuf),
        }
    }

    /// A form that is equal for two texts of the same schema (whitespace, key order; for
    /// Protobuf, `.proto` text and the serialized descriptor of the same file).
    pub(crate) fn canonical(&self) -> &str {
        match self {
            ParsedSchema::Avro(s) => s.canonical(),
            ParsedSchema::Json(s) => s.canonical(),
            ParsedSchema::Protobuf(s) => s.canonical(),
        }
    }

    /// Why data written with `writer` cannot be read with `self` (empty: it can).
    pub(crate) fn read_problems(&self, writer: &ParsedSchema) -> Vec<String> {
        match (self, writer) {
            (ParsedSchema::Avro(r), ParsedSchema::Avro(w)) => r.read_problems(w),
            (ParsedSchema::Json(r), ParsedSchema::Json(w)) => r.read_problems(w),
            (ParsedSchema::Protobuf(r), ParsedSchema::Protobuf(w)) => r.read_problems(w),
            _ => vec!["the schema types differ".to_owned()],
        }
    }
}
