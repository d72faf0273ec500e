//! Protobuf with a Schema Registry, as Confluent's `KafkaProtobufSerializer` writes it: the
//! frame, the message-index path of the message within its file, then the message in
//! Protobuf's binary encoding. The file is registered as its serialized descriptor (base64, as
//! confluent-kafka-python does), each imported file first under its own subject, referenced.
//!
//! Messages are prost-reflect [`DynamicMessage`]s from a descriptor (a compiled
//! `FileDescriptorSet`, or `.proto` text compiled at run time), or bytes already encoded by
//! generated code ([`ProtobufSerializer::serialize_encoded`]).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ferrokafka_schema::ParsedSchema;
use prost::Message as _;
pub use prost_reflect::{DescriptorPool, DynamicMessage, FileDescriptor, MessageDescriptor, ReflectMessage};
use tokio::sync::OnceCell;

use super::{ReferenceSubjectNameStrategy, SerdeConfig, SerializationContext, WriterSchemas, wire, writer_schema};
use crate::error::{Error, Result};
use crate::schema_registry::{Schema, SchemaReference, SchemaRegistryClient, SchemaType};

fn invalid(reason: impl Into<String>) -> Error {
    Error::Config { key: "schema".into(), reason: reason.into() }
}

/// The path of a message within its file: its index among the file's top-level messages, then
/// among each enclosing message's nested ones.
pub fn message_indexes(message: &MessageDescriptor) -> Vec<i32> {
    let mut path = Vec::new();
    let mut current = message.clone();
    loop {
        match current.parent_message() {
            Some(parent) => {
                let i = parent.child_messages().position(|m| m.full_name() == current.full_name()).unwrap_or(0);
                path.push(i as i32);
                current = parent;
            }
            None => {
                let file = current.parent_file();
                let i = file.messages().position(|m| m.full_name() == current.full_name()).unwrap_or(0);
                path.push(i as i32);
                break;
            }
        }
    }
    path.reverse();
    path
}

/// The message at `indexes` in `file`.
pub fn message_at(file: &FileDescriptor, indexes: &[i32]) -> Result<MessageDescriptor, String> {
    let missing = || format!("{} has no message at index path {indexes:?}", file.name());
    let (first, rest) = indexes.split_first().ok_or_else(missing)?;
    let mut m = file.messages().nth(usize::try_from(*first).map_err(|_| missing())?).ok_or_else(missing)?;
    for &i in rest {
        let next = m.child_messages().nth(usize::try_from(i).map_err(|_| missing())?);
        m = next.ok_or_else(missing)?;
    }
    Ok(m)
}

/// A file's descriptor as the registry keeps it: base64, without source info.
fn schema_text(file: &FileDescriptor) -> String {
    let proto = prost_reflect::prost_types::FileDescriptorProto {
        source_code_info: None,
        ..file.file_descriptor_proto().clone()
    };
    STANDARD.encode(proto.encode_to_vec())
}

fn known_type(file: &FileDescriptor) -> bool {
    file.name().starts_with("google/protobuf/")
}

/// Compiles `.proto` text (imports among Google's well-known types) into its file.
pub fn compile(proto: &str) -> Result<FileDescriptor> {
    match ParsedSchema::parse(SchemaType::Protobuf, proto, &[]).map_err(invalid)? {
        ParsedSchema::Protobuf(p) => Ok(p.file().clone()),
        _ => unreachable!("parsed as PROTOBUF"),
    }
}

/// The message `name` (fully qualified, or the first message of the file when `None`) from a
/// serialized `FileDescriptorSet`.
pub fn message_from_descriptor_set(descriptor_set: &[u8], name: Option<&str>) -> Result<MessageDescriptor> {
    let pool = DescriptorPool::decode(descriptor_set).map_err(|e| invalid(format!("not a FileDescriptorSet: {e}")))?;
    match name {
        Some(n) => pool.get_message_by_name(n).ok_or_else(|| invalid(format!("no message {n} in the descriptors"))),
        None => pool
            .files()
            .last()
            .and_then(|f| f.messages().next())
            .ok_or_else(|| invalid("the descriptors define no message")),
    }
}

/// The message `name` (or the file's first) from `.proto` text.
pub fn message_from_proto(proto: &str, name: Option<&str>) -> Result<MessageDescriptor> {
    let file = compile(proto)?;
    match name {
        Some(n) => {
            let qualified = match file.package_name() {
                "" => n.to_owned(),
                p if n.starts_with(&format!("{p}.")) => n.to_owned(),
                p => format!("{p}.{n}"),
            };
            file.parent_pool()
                .get_message_by_name(&qualified)
                .ok_or_else(|| invalid(format!("no message {qualified} in the .proto")))
        }
        None => file.messages().next().ok_or_else(|| invalid("the .proto defines no message")),
    }
}

/// Writes messages of one type.
#[derive(Debug)]
pub struct ProtobufSerializer {
    registry: SchemaRegistryClient,
    message: MessageDescriptor,
    indexes: Vec<i32>,
    config: SerdeConfig,
    /// The file's schema with its references, once its imports are registered.
    schema: OnceCell<Schema>,
    known: WriterSchemas,
}

impl ProtobufSerializer {
    pub fn new(registry: SchemaRegistryClient, message: MessageDescriptor, config: SerdeConfig) -> Self {
        let indexes = message_indexes(&message);
        ProtobufSerializer {
            registry,
            message,
            indexes,
            config,
            schema: OnceCell::new(),
            known: WriterSchemas::default(),
        }
    }

    pub fn message(&self) -> &MessageDescriptor {
        &self.message
    }

    /// The subject an imported file is registered under.
    fn reference_subject(&self, file: &FileDescriptor) -> String {
        match self.config.reference_subject_name_strategy {
            ReferenceSubjectNameStrategy::FileName => file.name().to_owned(),
            ReferenceSubjectNameStrategy::QualifiedRecordName => {
                file.messages().next().map_or_else(|| file.name().to_owned(), |m| m.full_name().to_owned())
            }
        }
    }

    /// Registers (or looks up) each import of `file`, dependencies first; their references.
    fn references<'a>(
        &'a self,
        file: &'a FileDescriptor,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<SchemaReference>>> + Send + 'a>> {
        Box::pin(async move {
            if depth > 32 {
                return Err(invalid("imports nest deeper than 32 levels"));
            }
            let mut refs = Vec::new();
            for dep in file.dependencies() {
                if self.config.skip_known_types && known_type(&dep) {
                    continue;
                }
                let schema = Schema::new(SchemaType::Protobuf, schema_text(&dep))
                    .with_references(self.references(&dep, depth + 1).await?);
                let subject = self.reference_subject(&dep);
                if self.config.auto_register_schemas {
                    self.registry.register(&subject, &schema, self.config.normalize_schemas).await?;
                }
                let found = self.registry.lookup(&subject, &schema, self.config.normalize_schemas).await?;
                refs.push(SchemaReference { name: dep.name().to_owned(), subject, version: found.version });
            }
            Ok(refs)
        })
    }

    async fn writer(&self, ctx: &SerializationContext<'_>) -> Result<i32> {
        let schema = if self.config.use_latest_version || self.config.use_schema_id.is_some() {
            None
        } else {
            Some(
                self.schema
                    .get_or_try_init(|| async {
                        let file = self.message.parent_file();
                        let refs = self.references(&file, 0).await?;
                        Ok::<_, Error>(Schema::new(SchemaType::Protobuf, schema_text(&file)).with_references(refs))
                    })
                    .await?,
            )
        };
        let name = Some(self.message.full_name());
        let writer = writer_schema(&self.registry, &self.config, ctx, schema, name, &self.known).await?;
        Ok(writer.id)
    }

    /// Frames bytes that are already this message type's encoding (from generated code).
    pub async fn serialize_encoded(&self, payload: &[u8], ctx: &SerializationContext<'_>) -> Result<Vec<u8>> {
        let id = self.writer(ctx).await?;
        let mut out = wire::header(id, payload.len() + 4);
        wire::put_message_indexes(&mut out, &self.indexes);
        out.extend_from_slice(payload);
        Ok(out)
    }

    /// Encodes and frames a message of this serializer's type.
    pub async fn serialize(&self, message: &DynamicMessage, ctx: &SerializationContext<'_>) -> Result<Vec<u8>> {
        if message.descriptor().full_name() != self.message.full_name() {
            return Err(ctx.error(
                false,
                format!(
                    "a {} given to the serializer of {}",
                    message.descriptor().full_name(),
                    self.message.full_name()
                ),
            ));
        }
        let id = self.writer(ctx).await?;
        let mut out = wire::header(id, message.encoded_len() + 4);
        wire::put_message_indexes(&mut out, &self.indexes);
        message.encode(&mut out).map_err(|e| ctx.error(false, e.to_string()))?;
        Ok(out)
    }

    /// Encodes a message given as Protobuf's JSON mapping.
    pub async fn serialize_json(&self, doc: &serde_json::Value, ctx: &SerializationContext<'_>) -> Result<Vec<u8>> {
        let message = DynamicMessage::deserialize(self.message.clone(), doc)
            .map_err(|e| ctx.error(false, format!("not a {}: {e}", self.message.full_name())))?;
        self.serialize(&message, ctx).await
    }
}

/// A framed Protobuf record, split: its schema id, message-index path and encoded message.
pub fn split(bytes: &[u8]) -> Result<(i32, Vec<i32>, &[u8]), String> {
    let (id, rest) = wire::split(bytes)?;
    let (indexes, payload) = wire::message_indexes(rest)?;
    Ok((id, indexes, payload))
}

/// Reads framed Protobuf records: as the given message type, or as the writer's (found in the
/// registry from the record's schema id and index path).
#[derive(Debug, Clone)]
pub struct ProtobufDeserializer {
    registry: Option<SchemaRegistryClient>,
    message: Option<MessageDescriptor>,
}

impl ProtobufDeserializer {
    /// With a message type the registry is not needed; without one, it is.
    pub fn new(registry: Option<SchemaRegistryClient>, message: Option<MessageDescriptor>) -> Result<Self> {
        if registry.is_none() && message.is_none() {
            return Err(invalid("a message type or a schema registry is needed"));
        }
        Ok(ProtobufDeserializer { registry, message })
    }

    async fn descriptor(&self, id: i32, indexes: &[i32], ctx: &SerializationContext<'_>) -> Result<MessageDescriptor> {
        if let Some(m) = &self.message {
            return Ok(m.clone());
        }
        let registry = self.registry.as_ref().expect("checked in new");
        let parsed: Arc<ParsedSchema> = registry.parsed(id).await?;
        let ParsedSchema::Protobuf(p) = &*parsed else {
            return Err(ctx.error(true, format!("schema {id} is not a PROTOBUF schema")));
        };
        message_at(p.file(), indexes).map_err(|e| ctx.error(true, format!("schema {id}: {e}")))
    }

    pub async fn deserialize(&self, bytes: &[u8], ctx: &SerializationContext<'_>) -> Result<DynamicMessage> {
        let (id, indexes, payload) = split(bytes).map_err(|e| ctx.error(true, e))?;
        let descriptor = self.descriptor(id, &indexes, ctx).await?;
        let name = descriptor.full_name().to_owned();
        DynamicMessage::decode(descriptor, payload).map_err(|e| ctx.error(true, format!("not a {name}: {e}")))
    }

    /// Decodes into Protobuf's JSON mapping.
    pub async fn deserialize_json(&self, bytes: &[u8], ctx: &SerializationContext<'_>) -> Result<serde_json::Value> {
        let message = self.deserialize(bytes, ctx).await?;
        serde_json::to_value(&message).map_err(|e| ctx.error(true, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTO: &str = "syntax = \"proto3\"; package t;\n\
        message A { string s = 1; message Inner { int32 n = 1; message Deep { bool b = 1; } } }\n\
        message B { A.Inner.Deep d = 1; repeated int64 xs = 2; }";

    #[test]
    fn index_paths_name_nested_messages() {
        let file = compile(PROTO).unwrap();
        let pool = file.parent_pool();
        for (name, path) in
            [("t.A", vec![0]), ("t.B", vec![1]), ("t.A.Inner", vec![0, 0]), ("t.A.Inner.Deep", vec![0, 0, 0])]
        {
            let m = pool.get_message_by_name(name).unwrap();
            assert_eq!(message_indexes(&m), path, "{name}");
            assert_eq!(message_at(&file, &path).unwrap().full_name(), name);
        }
        assert!(message_at(&file, &[2]).is_err());
        assert!(message_at(&file, &[0, 5]).is_err());
    }

    #[test]
    fn messages_come_from_proto_text() {
        assert_eq!(message_from_proto(PROTO, Some("B")).unwrap().full_name(), "t.B");
        assert_eq!(message_from_proto(PROTO, None).unwrap().full_name(), "t.A");
        assert!(message_from_proto(PROTO, Some("C")).is_err());
        assert!(message_from_proto("message {", None).is_err());
    }
}
