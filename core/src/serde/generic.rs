//! Records of any schema type, as JSON: encode a document under a registered schema id, decode a
//! framed record whatever its schema's type. For callers that hold documents rather than typed
//! values (the C binding's JSON text, Node's `encode(id, payload)` / `decode(buffer)`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferrokafka_schema::ParsedSchema;

use super::{SerdeConfig, SerializationContext, avro, json, protobuf, wire};
use crate::error::Result;
use crate::schema_registry::{SchemaRegistryClient, SchemaType};

/// The message a Protobuf schema id holds: `name` (fully qualified, or relative to the file's
/// package), or the file's first message.
pub async fn protobuf_message(
    registry: &SchemaRegistryClient,
    id: i32,
    name: Option<&str>,
    ctx: &SerializationContext<'_>,
) -> Result<protobuf::MessageDescriptor> {
    let parsed = registry.parsed(id).await?;
    let ParsedSchema::Protobuf(p) = &*parsed else {
        return Err(ctx.error(false, format!("schema {id} is not a PROTOBUF schema")));
    };
    let file = p.file();
    let found = match name {
        None => file.messages().next(),
        Some(n) => {
            let qualified = match file.package_name() {
                "" => n.to_owned(),
                pkg if n.starts_with(&format!("{pkg}.")) => n.to_owned(),
                pkg => format!("{pkg}.{n}"),
            };
            file.parent_pool().get_message_by_name(&qualified)
        }
    };
    found.ok_or_else(|| ctx.error(false, format!("schema {id} has no message {}", name.unwrap_or("at all"))))
}

fn fixed_id(id: i32) -> SerdeConfig {
    SerdeConfig { use_schema_id: Some(id), auto_register_schemas: false, ..SerdeConfig::default() }
}

/// A serializer for one schema id, whatever its type.
#[derive(Debug)]
enum Writer {
    Avro(avro::AvroSerializer),
    Json(json::JsonSerializer),
    Protobuf(protobuf::ProtobufSerializer),
}

/// The serializers made so far, by schema id and Protobuf message name.
type Writers = Mutex<HashMap<(i32, Option<String>), Arc<Writer>>>;

/// Encodes and decodes JSON documents under registered schemas of any type, keeping one
/// serializer per (schema id, message) so each schema is parsed and compiled once.
#[derive(Debug)]
pub struct DocumentCodec {
    registry: SchemaRegistryClient,
    writers: Writers,
    avro: avro::AvroDeserializer,
    json: json::JsonDeserializer,
    protobuf: protobuf::ProtobufDeserializer,
}

impl DocumentCodec {
    pub fn new(registry: SchemaRegistryClient) -> Result<Self> {
        Ok(DocumentCodec {
            avro: avro::AvroDeserializer::new(registry.clone(), None, SerdeConfig::default())?,
            json: json::JsonDeserializer::new(registry.clone(), None, SerdeConfig::default(), true)?,
            protobuf: protobuf::ProtobufDeserializer::new(Some(registry.clone()), None)?,
            writers: Mutex::new(HashMap::new()),
            registry,
        })
    }

    pub fn registry(&self) -> &SchemaRegistryClient {
        &self.registry
    }

    async fn writer(&self, id: i32, message: Option<&str>, ctx: &SerializationContext<'_>) -> Result<Arc<Writer>> {
        let key = (id, message.map(str::to_owned));
        if let Some(w) = self.writers.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(Arc::clone(w));
        }
        let registry = self.registry.clone();
        let writer = Arc::new(match self.registry.schema(id).await?.schema_type {
            SchemaType::Avro => Writer::Avro(avro::AvroSerializer::new(registry, None, fixed_id(id))?),
            SchemaType::Json => Writer::Json(json::JsonSerializer::new(registry, None, fixed_id(id))?),
            SchemaType::Protobuf => {
                let descriptor = protobuf_message(&self.registry, id, message, ctx).await?;
                Writer::Protobuf(protobuf::ProtobufSerializer::new(registry, descriptor, fixed_id(id)))
            }
        });
        self.writers.lock().unwrap_or_else(|p| p.into_inner()).insert(key, Arc::clone(&writer));
        Ok(writer)
    }

    /// Encodes `doc` under the registered schema `id`, whatever its type: Avro (fitted to the
    /// schema), JSON Schema (validated), Protobuf (Protobuf's JSON mapping of `message`, or the
    /// file's first message).
    pub async fn encode(
        &self,
        id: i32,
        doc: &serde_json::Value,
        message: Option<&str>,
        ctx: &SerializationContext<'_>,
    ) -> Result<Vec<u8>> {
        match &*self.writer(id, message, ctx).await? {
            Writer::Avro(w) => w.serialize_json(doc, ctx).await,
            Writer::Json(w) => w.serialize(doc, ctx).await,
            Writer::Protobuf(w) => w.serialize_json(doc, ctx).await,
        }
    }

    /// Decodes a framed record of any schema type into JSON (Avro as [`avro::to_json`],
    /// Protobuf as its JSON mapping); also its schema id.
    pub async fn decode(&self, bytes: &[u8], ctx: &SerializationContext<'_>) -> Result<(i32, serde_json::Value)> {
        let (id, _) = wire::split(bytes).map_err(|e| ctx.error(true, e))?;
        let doc = match self.registry.schema(id).await?.schema_type {
            SchemaType::Avro => self.avro.deserialize_json(bytes, ctx).await?,
            SchemaType::Json => self.json.deserialize(bytes, ctx).await?,
            SchemaType::Protobuf => self.protobuf.deserialize_json(bytes, ctx).await?,
        };
        Ok((id, doc))
    }
}
