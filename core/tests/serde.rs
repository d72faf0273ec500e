//! The serializers and the Schema Registry client against the bundled broker's registry over
//! real HTTP: Avro, JSON Schema and Protobuf records framed, registered, produced, consumed and
//! read back; schema evolution; the subject strategies and registration settings; bad records
//! refused with the failing field named; the registry's errors carried through.

use std::time::Duration;

use ferrokafka::serde::avro::{AvroDeserializer, AvroSerializer, Value};
use ferrokafka::serde::generic::DocumentCodec;
use ferrokafka::serde::json::{JsonDeserializer, JsonSerializer};
use ferrokafka::serde::protobuf::{self, ProtobufDeserializer, ProtobufSerializer, ReflectMessage};
use ferrokafka::serde::{MessageField, SerdeConfig, SerdeKind, SerializationContext, wire};
use ferrokafka::{
    ClientConfig, Consumer, Error, Offset, Producer, ProducerRecord, Schema, SchemaRegistryClient, SchemaType,
    TopicPartition,
};
use ferrokafka_broker::{Broker, BrokerConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;

async fn start() -> (Broker, tempfile::TempDir, SchemaRegistryClient) {
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        BrokerConfig { listen: "127.0.0.1:0".into(), data_dir: dir.path().to_owned(), ..Default::default() };
    config.set("schema.registry.listeners", "http://127.0.0.1:0").unwrap();
    let broker = Broker::start(config).await.unwrap();
    let url = broker.schema_registry_url().unwrap().to_owned();
    let registry = SchemaRegistryClient::new([("url", url.as_str())]).unwrap();
    (broker, dir, registry)
}

fn serializer_config(pairs: &[(&str, &str)]) -> SerdeConfig {
    SerdeConfig::from_pairs(SerdeKind::Serializer, pairs.iter().copied()).unwrap()
}

const USER_V1: &str = r#"{"type":"record","name":"User","namespace":"acme","fields":[
    {"name":"name","type":"string"},{"name":"age","type":"int"},
    {"name":"email","type":["null","string"],"default":null}]}"#;
const USER_V2: &str = r#"{"type":"record","name":"User","namespace":"acme","fields":[
    {"name":"name","type":"string"},{"name":"age","type":"long"},
    {"name":"email","type":["null","string"],"default":null},
    {"name":"country","type":"string","default":"NZ"}]}"#;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
    age: i32,
    email: Option<String>,
}

#[tokio::test]
async fn avro_records_round_trip_through_a_topic_and_evolve() {
    let (broker, _dir, registry) = start().await;
    let ctx = SerializationContext::new("users", MessageField::Value);
    let ser =
        AvroSerializer::new(registry.clone(), Some(Schema::new(SchemaType::Avro, USER_V1)), SerdeConfig::default())
            .unwrap();
    let ann = User { name: "ann".into(), age: 33, email: Some("ann@acme".into()) };
    let typed = ser.serialize_serde(&ann, &ctx).await.unwrap();
    let dynamic = ser.serialize_json(&json!({"name": "bob", "age": 41}), &ctx).await.unwrap();
    let (id, _) = wire::split(&typed).unwrap();
    assert_eq!(registry.latest("users-value").await.unwrap().id, id, "registered under TopicNameStrategy");

    let bs = broker.bootstrap();
    let producer = Producer::new(ClientConfig::from_pairs([("bootstrap.servers", bs.as_str())]).unwrap()).unwrap();
    for v in [&typed, &dynamic] {
        producer.send_and_wait(ProducerRecord::new("users").partition(0).value(v.clone())).await.unwrap();
    }
    let mut consumer = Consumer::new(ClientConfig::from_pairs([("bootstrap.servers", bs.as_str())]).unwrap()).unwrap();
    consumer.assign([(TopicPartition::new("users", 0), Offset::Beginning)]).await.unwrap();
    let mut read = Vec::new();
    while read.len() < 2 {
        let r = consumer.poll(Duration::from_secs(10)).await.unwrap().expect("a record");
        read.push(r.value.unwrap());
    }

    // A fresh client reads them with the writer's schema, fetched by id.
    let fresh = SchemaRegistryClient::new([("url", broker.schema_registry_url().unwrap())]).unwrap();
    let de = AvroDeserializer::new(fresh, None, SerdeConfig::default()).unwrap();
    let back: User = de.deserialize_serde(&read[0], &ctx).await.unwrap();
    assert_eq!(back, ann);
    assert_eq!(de.deserialize_json(&read[1], &ctx).await.unwrap(), json!({"name": "bob", "age": 41, "email": null}));

    // Evolution: v2 adds a field with a default and widens int to long; v1 records read as v2.
    let ser2 =
        AvroSerializer::new(registry.clone(), Some(Schema::new(SchemaType::Avro, USER_V2)), SerdeConfig::default())
            .unwrap();
    let v2 = ser2.serialize_json(&json!({"name": "cy", "age": 5_000_000_000i64, "country": "FR"}), &ctx).await.unwrap();
    assert_ne!(wire::split(&v2).unwrap().0, id);
    // (A new client: `registry` has cached the subject's latest as v1, and keeps it without
    // cache.latest.ttl.sec, as Confluent's clients do.)
    let fresh = SchemaRegistryClient::new([("url", broker.schema_registry_url().unwrap())]).unwrap();
    let as_v2 =
        AvroDeserializer::new(fresh.clone(), Some(Schema::new(SchemaType::Avro, USER_V2)), SerdeConfig::default())
            .unwrap();
    assert_eq!(
        as_v2.deserialize_json(&read[1], &ctx).await.unwrap(),
        json!({"name": "bob", "age": 41, "email": null, "country": "NZ"})
    );
    // use.latest.version reads as the subject's latest (v2) too.
    let latest = AvroDeserializer::new(
        fresh.clone(),
        None,
        SerdeConfig::from_pairs(SerdeKind::Deserializer, [("use.latest.version", "true")]).unwrap(),
    )
    .unwrap();
    assert_eq!(latest.deserialize_json(&read[0], &ctx).await.unwrap()["country"], json!("NZ"));
    // And a serializer with use.latest.version writes under v2's id with no schema of its own.
    let latest_ser = AvroSerializer::new(
        fresh,
        None,
        serializer_config(&[("auto.register.schemas", "false"), ("use.latest.version", "true")]),
    )
    .unwrap();
    let bytes = latest_ser.serialize_json(&json!({"name": "d", "age": 1}), &ctx).await.unwrap();
    assert_eq!(wire::split(&bytes).unwrap().0, wire::split(&v2).unwrap().0);
}

#[tokio::test]
async fn avro_misfits_and_registry_refusals_are_typed_errors() {
    let (_broker, _dir, registry) = start().await;
    let ctx = SerializationContext::new("users", MessageField::Value);
    let ser =
        AvroSerializer::new(registry.clone(), Some(Schema::new(SchemaType::Avro, USER_V1)), SerdeConfig::default())
            .unwrap();
    // Not registered, and auto-registration off: the registry's 40401/40403 comes through.
    let strict = AvroSerializer::new(
        registry.clone(),
        Some(Schema::new(SchemaType::Avro, USER_V1)),
        serializer_config(&[("auto.register.schemas", "false")]),
    )
    .unwrap();
    let Error::SchemaRegistry(e) = strict.serialize_json(&json!({"name": "a", "age": 1}), &ctx).await.unwrap_err()
    else {
        panic!("a registry error")
    };
    assert_eq!(e.status(), Some(404));
    assert!(matches!(e.error_code(), 40401 | 40403), "{e}");

    let err = ser.serialize_json(&json!({"name": "ann", "age": "old"}), &ctx).await.unwrap_err();
    assert!(matches!(err, Error::Serialization { field: MessageField::Value, deserializing: false, .. }), "{err}");
    assert_eq!(err.code(), -161);
    assert!(err.to_string().contains("$.age: expected an int"), "{err}");

    // An incompatible schema is refused with 409.
    ser.serialize_json(&json!({"name": "a", "age": 1}), &ctx).await.unwrap();
    let breaking = r#"{"type":"record","name":"User","namespace":"acme","fields":[{"name":"id","type":"long"}]}"#;
    let incompatible =
        AvroSerializer::new(registry.clone(), Some(Schema::new(SchemaType::Avro, breaking)), SerdeConfig::default())
            .unwrap();
    let Error::SchemaRegistry(e) = incompatible.serialize_json(&json!({"id": 1}), &ctx).await.unwrap_err() else {
        panic!("a registry error")
    };
    assert_eq!(e.status(), Some(409), "{e}");

    // Bytes that are not framed, or name an unknown id.
    let de = AvroDeserializer::new(registry.clone(), None, SerdeConfig::default()).unwrap();
    let err = de.deserialize(b"\x01junk", &ctx).await.unwrap_err();
    assert_eq!(err.code(), -159, "{err}");
    let Error::SchemaRegistry(e) = de.deserialize(&[0, 0, 0, 0x7f, 0x7f, 2], &ctx).await.unwrap_err() else {
        panic!("a registry error")
    };
    assert_eq!(e.error_code(), 40403);

    // RecordNameStrategy names the subject after the record.
    let by_record = AvroSerializer::new(
        registry.clone(),
        Some(Schema::new(SchemaType::Avro, USER_V1)),
        serializer_config(&[("subject.name.strategy", "RecordNameStrategy")]),
    )
    .unwrap();
    by_record
        .serialize(
            Value::Map([("name".into(), Value::String("z".into())), ("age".into(), Value::Long(2))].into()),
            &ctx,
        )
        .await
        .unwrap();
    assert!(registry.subjects().await.unwrap().contains(&"acme.User".to_owned()));
}

const ORDER: &str = r#"{"title":"Order","type":"object","properties":{
    "id":{"type":"integer"},"items":{"type":"array","items":{"type":"string"}}},"required":["id"]}"#;

#[tokio::test]
async fn json_documents_are_validated_both_ways() {
    let (_broker, _dir, registry) = start().await;
    let ctx = SerializationContext::new("orders", MessageField::Key);
    let ser = JsonSerializer::new(registry.clone(), Some(Schema::new(SchemaType::Json, ORDER)), SerdeConfig::default())
        .unwrap();
    let bytes = ser.serialize(&json!({"id": 7, "items": ["a"]}), &ctx).await.unwrap();
    assert_eq!(registry.latest("orders-key").await.unwrap().schema.schema_type, SchemaType::Json);
    let de = JsonDeserializer::new(registry.clone(), None, SerdeConfig::default(), true).unwrap();
    assert_eq!(de.deserialize(&bytes, &ctx).await.unwrap(), json!({"id": 7, "items": ["a"]}));

    let err = ser.serialize(&json!({"items": ["a", 2]}), &ctx).await.unwrap_err();
    assert_eq!(err.code(), -162, "a key serialization error: {err}");
    let text = err.to_string();
    assert!(text.contains("$.items.1") && text.contains("\"id\""), "{text}");

    // A document written without validation is refused when read.
    let (id, _) = wire::split(&bytes).unwrap();
    let mut bad = wire::header(id, 16);
    bad.extend_from_slice(br#"{"id":"seven"}"#);
    let err = de.deserialize(&bad, &ctx).await.unwrap_err();
    assert!(err.code() == -160 && err.to_string().contains("$.id"), "{err}");
}

const PROTO: &str = r#"syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
message Receipt {
  string id = 1;
  int64 cents = 2;
  google.protobuf.Timestamp at = 3;
  message Line { string sku = 1; int32 qty = 2; }
  repeated Line lines = 4;
}
message Refund { string receipt = 1; }
"#;

#[tokio::test]
async fn protobuf_messages_carry_their_index_path_and_decode_from_the_registry() {
    let (_broker, _dir, registry) = start().await;
    let ctx = SerializationContext::new("shop", MessageField::Value);
    let refund = protobuf::message_from_proto(PROTO, Some("Refund")).unwrap();
    let ser = ProtobufSerializer::new(registry.clone(), refund.clone(), SerdeConfig::default());
    let bytes = ser.serialize_json(&json!({"receipt": "r-1"}), &ctx).await.unwrap();
    let (id, indexes, payload) = protobuf::split(&bytes).unwrap();
    assert_eq!(indexes, [1], "Refund is the file's second message");
    assert_eq!(payload, b"\x0a\x03r-1");
    assert_eq!(registry.schema(id).await.unwrap().schema_type, SchemaType::Protobuf);

    // Without a message type, the writer's comes from the registry by id and index path.
    let de = ProtobufDeserializer::new(Some(registry.clone()), None).unwrap();
    let m = de.deserialize(&bytes, &ctx).await.unwrap();
    assert_eq!(m.descriptor().full_name(), "shop.Refund");
    assert_eq!(de.deserialize_json(&bytes, &ctx).await.unwrap(), json!({"receipt": "r-1"}));

    // The first message is written with the single-byte path 0, as Confluent's serializers do.
    let receipt = protobuf::message_from_proto(PROTO, Some("shop.Receipt")).unwrap();
    let ser = ProtobufSerializer::new(registry.clone(), receipt, SerdeConfig::default());
    let doc = json!({"id": "r-1", "cents": "250", "at": "2026-12-07T10:00:00Z", "lines": [{"sku": "x", "qty": 2}]});
    let bytes = ser.serialize_json(&doc, &ctx).await.unwrap();
    assert_eq!(bytes[5], 0);
    assert_eq!(de.deserialize_json(&bytes, &ctx).await.unwrap(), doc);

    let err = ser.serialize_json(&json!({"id": 3}), &ctx).await.unwrap_err();
    assert_eq!(err.code(), -161, "{err}");
}

#[tokio::test]
async fn one_codec_encodes_and_decodes_every_schema_type_as_json() {
    let (_broker, _dir, registry) = start().await;
    let ctx = SerializationContext::new("any", MessageField::Value);
    let avro = registry.register("any-avro", &Schema::new(SchemaType::Avro, USER_V1), false).await.unwrap();
    let json_id = registry.register("any-json", &Schema::new(SchemaType::Json, ORDER), false).await.unwrap();
    let proto = registry.register("any-proto", &Schema::new(SchemaType::Protobuf, PROTO), false).await.unwrap();
    let codec = DocumentCodec::new(registry).unwrap();
    for (id, doc, message) in [
        (avro, json!({"name": "a", "age": 1, "email": "e"}), None),
        (json_id, json!({"id": 1, "items": []}), None),
        (proto, json!({"receipt": "r"}), Some("Refund")),
    ] {
        let bytes = codec.encode(id, &doc, message, &ctx).await.unwrap();
        assert_eq!(codec.decode(&bytes, &ctx).await.unwrap(), (id, doc));
    }
    assert!(codec.encode(json_id, &json!({"id": "x"}), None, &ctx).await.is_err());
}

#[tokio::test]
async fn an_unreachable_registry_is_a_retriable_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let registry =
        SchemaRegistryClient::new([("url", url.as_str()), ("max.retries", "1"), ("retries.wait.ms", "10")]).unwrap();
    let err = registry.schema(1).await.unwrap_err();
    assert!(err.is_retriable(), "{err}");
    assert_eq!(err.code(), -195);
}

/// A registry behind TLS and HTTP Basic auth (the broker's, when its listeners need SASL):
/// the client trusts `ssl.ca.location`, sends `basic.auth.user.info`, and a wrong password is
/// the registry's 401, not retried.
#[tokio::test]
async fn the_client_speaks_tls_and_basic_auth() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let certs = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        BrokerConfig { listen: "127.0.0.1:0".into(), data_dir: dir.path().to_owned(), ..Default::default() };
    config.set("listeners", "SASL_SSL://127.0.0.1:0").unwrap();
    config.set("ssl.certificate.location", cert_path.to_str().unwrap()).unwrap();
    config.set("ssl.key.location", key_path.to_str().unwrap()).unwrap();
    config.set("users.alice", "alice-secret").unwrap();
    config.set("schema.registry.listeners", "127.0.0.1:0").unwrap();
    let broker = Broker::start(config).await.unwrap();
    let url = broker.schema_registry_url().unwrap().to_owned();
    assert!(url.starts_with("https://"), "{url}");
    let ca = cert_path.to_str().unwrap();
    let ctx = SerializationContext::new("secure", MessageField::Value);

    let registry = SchemaRegistryClient::new([
        ("url", url.as_str()),
        ("ssl.ca.location", ca),
        ("basic.auth.user.info", "alice:alice-secret"),
    ])
    .unwrap();
    let ser = JsonSerializer::new(registry.clone(), Some(Schema::new(SchemaType::Json, ORDER)), SerdeConfig::default())
        .unwrap();
    let bytes = ser.serialize(&json!({"id": 1}), &ctx).await.unwrap();
    let de = JsonDeserializer::new(registry, None, SerdeConfig::default(), true).unwrap();
    assert_eq!(de.deserialize(&bytes, &ctx).await.unwrap(), json!({"id": 1}));

    let wrong = SchemaRegistryClient::new([
        ("url", url.as_str()),
        ("ssl.ca.location", ca),
        ("basic.auth.user.info", "alice:wrong"),
        ("retries.wait.ms", "1"),
    ])
    .unwrap();
    let Error::SchemaRegistry(e) = wrong.subjects().await.unwrap_err() else { panic!("a registry error") };
    assert_eq!((e.status(), e.error_code()), (Some(401), 40101), "{e}");

    // Without the CA the certificate is not trusted: a transport failure naming TLS.
    let untrusted = SchemaRegistryClient::new([
        ("url", url.as_str()),
        ("ssl.ca.location", "/etc/ssl/certs/ca-certificates.crt"),
        ("max.retries", "0"),
    ]);
    if let Ok(untrusted) = untrusted {
        let err = untrusted.subjects().await.unwrap_err();
        assert!(err.to_string().contains("TLS"), "{err}");
    }
    broker.shutdown().await.unwrap();
}
