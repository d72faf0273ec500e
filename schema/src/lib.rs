//! Schemas as a Confluent-compatible Schema Registry keeps them: their type, text and
//! references, parsed once by the module of their type into a form that can be compared, checked
//! for compatibility and used to encode and decode data. Shared by the broker's registry and the
//! client's serializers, so both read a schema the same way.

#![deny(missing_debug_implementations)]

pub mod avro;
pub mod json_schema;
pub mod protobuf;

use serde::{Deserialize, Serialize};

/// The schema types served, by the names Confluent's API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SchemaType {
    #[default]
    Avro,
    Json,
    Protobuf,
}

impl SchemaType {
    pub const ALL: [SchemaType; 3] = [SchemaType::Json, SchemaType::Protobuf, SchemaType::Avro];

    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "AVRO" => Some(SchemaType::Avro),
            "JSON" => Some(SchemaType::Json),
            "PROTOBUF" => Some(SchemaType::Protobuf),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
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
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// A referenced schema, resolved: its name as the referrer uses it, and its own text.
#[derive(Debug, Clone)]
pub struct ResolvedReference {
    pub name: String,
    pub schema_type: SchemaType,
    pub text: String,
}

/// A parsed, valid schema.
#[derive(Debug, Clone)]
pub enum ParsedSchema {
    Avro(avro::AvroSchema),
    Json(json_schema::JsonSchema),
    Protobuf(protobuf::ProtoSchema),
}

impl ParsedSchema {
    /// Parses `text` as a schema of type `ty`; `references` are every schema it refers to,
    /// directly or not, dependencies first. The error says why the schema is invalid.
    pub fn parse(ty: SchemaType, text: &str, references: &[ResolvedReference]) -> Result<Self, String> {
        match ty {
            SchemaType::Avro => avro::AvroSchema::parse(text, references).map(ParsedSchema::Avro),
            SchemaType::Json => json_schema::JsonSchema::parse(text, references).map(ParsedSchema::Json),
            SchemaType::Protobuf => protobuf::ProtoSchema::parse(text, references).map(ParsedSchema::Protobuf),
        }
    }

    /// A form that is equal for two texts of the same schema (whitespace, key order; for
    /// Protobuf, `.proto` text and the serialized descriptor of the same file).
    pub fn canonical(&self) -> &str {
        match self {
            ParsedSchema::Avro(s) => s.canonical(),
            ParsedSchema::Json(s) => s.canonical(),
            ParsedSchema::Protobuf(s) => s.canonical(),
        }
    }

    /// Why data written with `writer` cannot be read with `self` (empty: it can).
    pub fn read_problems(&self, writer: &ParsedSchema) -> Vec<String> {
        match (self, writer) {
            (ParsedSchema::Avro(r), ParsedSchema::Avro(w)) => r.read_problems(w),
            (ParsedSchema::Json(r), ParsedSchema::Json(w)) => r.read_problems(w),
            (ParsedSchema::Protobuf(r), ParsedSchema::Protobuf(w)) => r.read_problems(w),
            _ => vec!["the schema types differ".to_owned()],
        }
    }
}
