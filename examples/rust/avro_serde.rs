//! Avro records with a Schema Registry: typed Rust values serialized in Confluent's wire format
//! (so Java, confluent-kafka and kafkajs consumers read them), produced, consumed and read back
//! — then read again as a newer version of the schema, with the added field's default.
//!
//! ```text
//! cargo run -p ferrokafka-examples --example avro_serde              # bundled broker + registry
//! cargo run -p ferrokafka-examples --example avro_serde -- BOOTSTRAP REGISTRY_URL
//! ```

use std::time::Duration;

use ferrokafka::serde::avro::{AvroDeserializer, AvroSerializer};
use ferrokafka::serde::{MessageField, SerdeConfig, SerializationContext};
use ferrokafka::{
    ClientConfig, Consumer, Offset, Producer, ProducerRecord, Schema, SchemaRegistryClient, SchemaType, TopicPartition,
};
use ferrokafka_broker::{Broker, BrokerConfig};
use serde::{Deserialize, Serialize};

const TOPIC: &str = "payments";
const PAYMENT_V1: &str = r#"{"type": "record", "name": "Payment", "namespace": "shop", "fields": [
    {"name": "id", "type": "string"},
    {"name": "cents", "type": "long"},
    {"name": "note", "type": ["null", "string"], "default": null}]}"#;
const PAYMENT_V2: &str = r#"{"type": "record", "name": "Payment", "namespace": "shop", "fields": [
    {"name": "id", "type": "string"},
    {"name": "cents", "type": "long"},
    {"name": "note", "type": ["null", "string"], "default": null},
    {"name": "currency", "type": "string", "default": "EUR"}]}"#;

#[derive(Debug, Serialize, Deserialize)]
struct Payment {
    id: String,
    cents: i64,
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PaymentV2 {
    id: String,
    cents: i64,
    currency: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data_dir = tempfile::tempdir()?;
    let mut _broker = None;
    let (bootstrap, registry_url) = match args.as_slice() {
        [bootstrap, url] => (bootstrap.clone(), url.clone()),
        [] => {
            let mut config = BrokerConfig {
                listen: "127.0.0.1:0".into(),
                data_dir: data_dir.path().to_owned(),
                ..Default::default()
            };
            config.set("schema.registry.listeners", "http://127.0.0.1:0")?;
            let broker = Broker::start(config).await?;
            let urls = (broker.bootstrap(), broker.schema_registry_url().unwrap_or_default().to_owned());
            _broker = Some(broker);
            urls
        }
        _ => {
            eprintln!("usage: avro_serde [BOOTSTRAP REGISTRY_URL]");
            std::process::exit(2);
        }
    };
    println!("broker {bootstrap}, schema registry {registry_url}");

    let registry = SchemaRegistryClient::new([("url", registry_url.as_str())])?;
    let ctx = SerializationContext::new(TOPIC, MessageField::Value);
    let serializer =
        AvroSerializer::new(registry.clone(), Some(Schema::new(SchemaType::Avro, PAYMENT_V1)), SerdeConfig::default())?;
    let producer = Producer::new(ClientConfig::from_pairs([("bootstrap.servers", bootstrap.as_str())])?)?;
    for i in 0..3 {
        let payment = Payment { id: format!("p-{i}"), cents: 100 * (i + 1), note: (i == 1).then(|| "gift".into()) };
        // The first record registers the schema under `payments-value`; later ones use the cache.
        let bytes = serializer.serialize_serde(&payment, &ctx).await?;
        producer.send_and_wait(ProducerRecord::new(TOPIC).key(payment.id.clone()).value(bytes)).await?;
    }
    println!("produced 3 payments; subjects: {:?}", registry.subjects().await?);

    let mut consumer = Consumer::new(ClientConfig::from_pairs([("bootstrap.servers", bootstrap.as_str())])?)?;
    consumer.assign([(TopicPartition::new(TOPIC, 0), Offset::Beginning)]).await?;
    let as_written = AvroDeserializer::new(registry.clone(), None, SerdeConfig::default())?;
    let as_v2 =
        AvroDeserializer::new(registry, Some(Schema::new(SchemaType::Avro, PAYMENT_V2)), SerdeConfig::default())?;
    for _ in 0..3 {
        let Some(record) = consumer.poll(Duration::from_secs(10)).await? else {
            return Err("no record within 10 s".into());
        };
        let bytes = record.value.unwrap_or_default();
        let payment: Payment = as_written.deserialize_serde(&bytes, &ctx).await?;
        let newer: PaymentV2 = as_v2.deserialize_serde(&bytes, &ctx).await?;
        println!("offset {}: {payment:?}; read as v2: {} {} {}", record.offset, newer.id, newer.cents, newer.currency);
    }
    Ok(())
}
