//! The Schema Registry over real HTTP on 127.0.0.1: every endpoint, Confluent's error codes,
//! bad input, durability across kill -9 of the broker process, a compatibility-rule table per
//! schema type, HTTP Basic auth against the broker's SASL users and TLS.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use common::start_broker;
use ferrokafka_broker::Broker;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const CT: &str = "application/vnd.schemaregistry.v1+json";

/// One HTTP exchange: status, content type and body.
struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn error_code(&self) -> i64 {
        self.json()["error_code"].as_i64().unwrap_or_else(|| panic!("no error_code in {}", self.body))
    }
}

#[derive(Clone)]
struct Client {
    url: String,
    auth: Option<(String, String)>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Client {
    fn new(url: &str) -> Self {
        Client { url: url.trim_end_matches('/').to_owned(), auth: None, tls: None }
    }

    async fn send(&self, method: &str, path: &str, body: Option<&[u8]>) -> Reply {
        let host = self.url.split("://").nth(1).unwrap().to_owned();
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: {CT}\r\n");
        if let Some((user, password)) = &self.auth {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request.push_str(&format!("Authorization: Basic {token}\r\n"));
        }
        let body = body.unwrap_or_default();
        if !body.is_empty() || method == "POST" || method == "PUT" {
            request.push_str(&format!("Content-Type: {CT}\r\nContent-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        let tcp = TcpStream::connect(&host).await.expect("connect to the registry");
        match &self.tls {
            None => exchange(tcp, &bytes).await,
            Some(config) => {
                let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                exchange(connector.connect(name, tcp).await.expect("TLS handshake"), &bytes).await
            }
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }
    async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None).await
    }
    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(body.to_string().as_bytes())).await
    }
    async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send("PUT", path, Some(body.to_string().as_bytes())).await
    }

    /// Registers and returns the id, failing the test on an error.
    async fn register(&self, subject: &str, body: Value) -> i64 {
        let r = self.post(&format!("/subjects/{subject}/versions"), &body).await;
        assert_eq!(r.status, 200, "registering under {subject}: {}", r.body);
        r.json()["id"].as_i64().unwrap()
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, request: &[u8]) -> Reply {
    // A server may answer (413) before reading a large body and close: the reply still counts.
    let _ = stream.write_all(request).await;
    let _ = stream.flush().await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP response: {text:?}"));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.trim()))
        .unwrap_or_default()
        .to_owned();
    Reply { status, content_type, body: body.to_owned() }
}

async fn registry_broker() -> (Broker, tempfile::TempDir, Client) {
    let (broker, dir) = start_broker(|c| c.set("schema.registry.listeners", "http://127.0.0.1:0").unwrap()).await;
    let client = Client::new(broker.schema_registry_url().expect("registry on"));
    (broker, dir, client)
}

fn avro_record(name: &str, fields: Value) -> String {
    json!({"type": "record", "name": name, "fields": fields}).to_string()
}

fn avro(text: &str) -> Value {
    json!({ "schema": text })
}

fn typed(schema_type: &str, text: &str) -> Value {
    json!({ "schema": text, "schemaType": schema_type })
}

#[tokio::test]
async fn every_endpoint_answers_as_confluent_does() {
    let (broker, _dir, c) = registry_broker().await;
    assert!(broker.schema_registry_url().unwrap().starts_with("http://127.0.0.1:"));

    let r = c.get("/schemas/types").await;
    assert_eq!((r.status, r.content_type.as_str()), (200, CT));
    let mut types: Vec<String> = serde_json::from_value(r.json()).unwrap();
    types.sort();
    assert_eq!(types, ["AVRO", "JSON", "PROTOBUF"]);
    assert_eq!(c.get("/subjects").await.json(), json!([]));
    assert_eq!(c.get("/config").await.json(), json!({"compatibilityLevel": "BACKWARD"}));
    assert_eq!(c.get("/mode").await.json(), json!({"mode": "READWRITE"}));

    let v1 = avro_record("User", json!([{"name": "name", "type": "string"}]));
    let v2 = avro_record(
        "User",
        json!([{"name": "name", "type": "string"}, {"name": "age", "type": ["null", "int"], "default": null}]),
    );
    let id1 = c.register("users-value", avro(&v1)).await;
    // The same schema again (other whitespace): the same id, no new version.
    let spaced = serde_json::to_string_pretty(&serde_json::from_str::<Value>(&v1).unwrap()).unwrap();
    assert_eq!(c.register("users-value", avro(&spaced)).await, id1);
    let id2 = c.register("users-value", avro(&v2)).await;
    assert_ne!(id1, id2);
    // Ids are global: the same schema under another subject keeps its id.
    assert_eq!(c.register("other-value", avro(&v1)).await, id1);

    assert_eq!(c.get("/subjects").await.json(), json!(["other-value", "users-value"]));
    assert_eq!(c.get("/subjects?subjectPrefix=users").await.json(), json!(["users-value"]));
    assert_eq!(c.get("/subjects/users-value/versions").await.json(), json!([1, 2]));
    let latest = c.get("/subjects/users-value/versions/latest").await.json();
    assert_eq!((latest["version"].as_i64(), latest["id"].as_i64()), (Some(2), Some(id2)));
    assert_eq!(latest["subject"], "users-value");
    assert_eq!(latest["schema"].as_str(), Some(v2.as_str()));
    assert!(latest.get("schemaType").is_none(), "AVRO is left out, as Confluent does");
    assert_eq!(c.get("/subjects/users-value/versions/1").await.json()["id"].as_i64(), Some(id1));
    assert_eq!(c.get("/subjects/users-value/versions/1/schema").await.body, v1);
    assert_eq!(c.get(&format!("/schemas/ids/{id2}")).await.json(), json!({"schema": v2}));
    assert_eq!(c.get(&format!("/schemas/ids/{id2}/schema")).await.body, v2);
    assert_eq!(
        c.get(&format!("/schemas/ids/{id1}/versions")).await.json(),
        json!([{"subject": "other-value", "version": 1}, {"subject": "users-value", "version": 1}])
    );
    assert_eq!(c.get(&format!("/schemas/ids/{id1}/subjects")).await.json(), json!(["other-value", "users-value"]));

    // Look-up by schema.
    let found = c.post("/subjects/users-value", &avro(&v1)).await.json();
    assert_eq!((found["version"].as_i64(), found["id"].as_i64()), (Some(1), Some(id1)));
    let other = avro_record("Nobody", json!([]));
    assert_eq!(c.post("/subjects/users-value", &avro(&other)).await.error_code(), 40403);

    // Compatibility checks, plain and verbose.
    let breaking = avro_record("User", json!([{"name": "name", "type": "int"}]));
    let ok = c.post("/compatibility/subjects/users-value/versions/latest", &avro(&v2)).await.json();
    assert_eq!(ok, json!({"is_compatible": true}));
    let bad = c.post("/compatibility/subjects/users-value/versions/latest?verbose=true", &avro(&breaking)).await.json();
    assert_eq!(bad["is_compatible"], false);
    assert!(!bad["messages"].as_array().unwrap().is_empty());
    let all = c.post("/compatibility/subjects/users-value/versions", &avro(&v2)).await.json();
    assert_eq!(all["is_compatible"], true);

    // Config: global and per subject.
    assert_eq!(c.put("/config", &json!({"compatibility": "FULL"})).await.json(), json!({"compatibility": "FULL"}));
    assert_eq!(c.get("/config").await.json(), json!({"compatibilityLevel": "FULL"}));
    assert_eq!(c.get("/config/users-value").await.error_code(), 40408);
    assert_eq!(c.get("/config/users-value?defaultToGlobal=true").await.json()["compatibilityLevel"], "FULL");
    assert_eq!(c.put("/config/users-value", &json!({"compatibility": "none"})).await.status, 200);
    assert_eq!(c.get("/config/users-value").await.json(), json!({"compatibilityLevel": "NONE"}));
    assert_eq!(c.register("users-value", avro(&breaking)).await, id2 + 1, "NONE lets anything through");
    assert_eq!(c.delete("/config/users-value").await.json(), json!({"compatibilityLevel": "NONE"}));
    assert_eq!(c.delete("/config").await.json(), json!({"compatibilityLevel": "FULL"}));
    assert_eq!(c.get("/config").await.json(), json!({"compatibilityLevel": "BACKWARD"}));

    // Mode.
    assert_eq!(c.put("/mode", &json!({"mode": "READWRITE"})).await.json(), json!({"mode": "READWRITE"}));
    assert_eq!(c.put("/mode", &json!({"mode": "SIDEWAYS"})).await.error_code(), 42204);

    // Deleting: a version soft then permanently, a subject soft then permanently.
    assert_eq!(c.delete("/subjects/users-value/versions/3").await.json(), json!(3));
    assert_eq!(c.get("/subjects/users-value/versions").await.json(), json!([1, 2]));
    assert_eq!(c.get("/subjects/users-value/versions?deleted=true").await.json(), json!([1, 2, 3]));
    assert_eq!(c.get("/subjects/users-value/versions/3").await.error_code(), 40402);
    assert_eq!(c.get("/subjects/users-value/versions/3?deleted=true").await.json()["version"], 3);
    assert_eq!(c.delete("/subjects/users-value/versions/3").await.error_code(), 40406);
    assert_eq!(c.delete("/subjects/users-value/versions/2?permanent=true").await.error_code(), 40407);
    assert_eq!(c.delete("/subjects/users-value/versions/3?permanent=true").await.json(), json!(3));
    assert_eq!(c.delete("/subjects/users-value?permanent=true").await.error_code(), 40405);
    assert_eq!(c.delete("/subjects/users-value").await.json(), json!([1, 2]));
    assert_eq!(c.get("/subjects").await.json(), json!(["other-value"]));
    assert_eq!(c.get("/subjects?deleted=true").await.json(), json!(["other-value", "users-value"]));
    assert_eq!(c.get("/subjects/users-value/versions").await.error_code(), 40401);
    assert_eq!(c.delete("/subjects/users-value").await.error_code(), 40404);
    assert_eq!(c.delete("/subjects/users-value?permanent=true").await.json(), json!([1, 2]));
    // Schema id1 is still held by other-value; id2 by nothing.
    assert_eq!(c.get(&format!("/schemas/ids/{id1}")).await.status, 200);
    assert_eq!(c.get(&format!("/schemas/ids/{id2}")).await.error_code(), 40403);
    // Ids are not handed out twice, even after a permanent delete.
    let fresh = avro_record("Fresh", json!([]));
    assert_eq!(c.register("fresh-value", avro(&fresh)).await, id2 + 2);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn references_json_and_protobuf_round_trip() {
    let (broker, _dir, c) = registry_broker().await;
    // Avro: a named type from another subject.
    let address = json!({"type": "record", "name": "Address", "namespace": "acme",
        "fields": [{"name": "city", "type": "string"}]})
    .to_string();
    c.register("address", avro(&address)).await;
    let customer = json!({"type": "record", "name": "Customer", "namespace": "acme",
        "fields": [{"name": "home", "type": "Address"}]})
    .to_string();
    let refs = json!([{"name": "acme.Address", "subject": "address", "version": 1}]);
    let without = c.post("/subjects/customer/versions", &avro(&customer)).await;
    assert_eq!((without.status, without.error_code()), (422, 42201));
    let id = c.register("customer", json!({"schema": customer, "references": refs})).await;
    assert_eq!(c.get("/subjects/address/versions/1/referencedby").await.json(), json!([id]));
    assert_eq!(c.get(&format!("/schemas/ids/{id}")).await.json()["references"], refs);
    let r = c.delete("/subjects/address").await;
    assert_eq!((r.status, r.error_code()), (422, 42206), "a referenced schema cannot be deleted");

    // JSON Schema.
    let js = json!({"type": "object", "properties": {"n": {"type": "integer"}}}).to_string();
    let id = c.register("json-value", typed("JSON", &js)).await;
    let got = c.get(&format!("/schemas/ids/{id}")).await.json();
    assert_eq!((got["schemaType"].as_str(), got["schema"].as_str()), (Some("JSON"), Some(js.as_str())));

    // Protobuf: .proto text, and the base64 descriptor of the same file is the same schema.
    let proto = "syntax = \"proto3\";\npackage acme;\nmessage Order { string id = 1; int64 cents = 2; }\n";
    let id = c.register("orders-value", typed("PROTOBUF", proto)).await;
    let serialized =
        c.get(&format!("/schemas/ids/{id}?format=serialized")).await.json()["schema"].as_str().unwrap().to_owned();
    assert_ne!(serialized, proto);
    assert_eq!(c.register("orders-value", typed("PROTOBUF", &serialized)).await, id);
    assert_eq!(c.get("/subjects/orders-value/versions").await.json(), json!([1]));
    assert_eq!(c.get(&format!("/schemas/ids/{id}")).await.json()["schema"].as_str(), Some(proto));
    // Imports: Google's well-known types, and another subject through a reference.
    c.register("money", typed("PROTOBUF", "syntax = \"proto3\"; package common; message Money { int64 cents = 1; }"))
        .await;
    let invoice = "syntax = \"proto3\"; import \"google/protobuf/timestamp.proto\"; import \"common/money.proto\";\n\
                   message Invoice { google.protobuf.Timestamp at = 1; common.Money total = 2; }";
    let body = json!({"schema": invoice, "schemaType": "PROTOBUF",
        "references": [{"name": "common/money.proto", "subject": "money", "version": 1}]});
    c.register("invoice-value", body).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_gets_confluents_errors() {
    let (broker, _dir, c) = registry_broker().await;
    let cases: Vec<(&str, &str, &[u8], u16, i64)> = vec![
        ("POST", "/subjects/s/versions", b"{not json", 400, 400),
        ("POST", "/subjects/s/versions", b"[1,2]", 422, 422),
        ("POST", "/subjects/s/versions", b"{}", 422, 42201),
        ("POST", "/subjects/s/versions", br#"{"schema": 5}"#, 422, 422),
        ("POST", "/subjects/s/versions", br#"{"schema": "{\"type\": \"recrd\"}"}"#, 422, 42201),
        ("POST", "/subjects/s/versions", br#"{"schema": "not json"}"#, 422, 42201),
        ("POST", "/subjects/s/versions", br#"{"schema": "{}", "schemaType": "XML"}"#, 422, 42201),
        ("POST", "/subjects/s/versions", br#"{"schema": "{\"type\": 7}", "schemaType": "JSON"}"#, 422, 42201),
        ("POST", "/subjects/s/versions", br#"{"schema": "message {", "schemaType": "PROTOBUF"}"#, 422, 42201),
        ("POST", "/subjects/s/versions", br#"{"schema": "\"int\"", "references": 3}"#, 422, 422),
        ("GET", "/subjects/nobody/versions", b"", 404, 40401),
        ("GET", "/subjects/nobody/versions/1", b"", 404, 40401),
        ("GET", "/subjects/nobody/versions/0", b"", 422, 42202),
        ("GET", "/subjects/nobody/versions/abc", b"", 422, 42202),
        ("GET", "/schemas/ids/999", b"", 404, 40403),
        ("GET", "/schemas/ids/x", b"", 404, 40403),
        ("PUT", "/config", br#"{"compatibility": "SIDEWAYS"}"#, 422, 42203),
        ("PUT", "/config", b"{", 400, 400),
        ("GET", "/no/such/path", b"", 404, 404),
        ("PATCH", "/subjects", b"", 405, 405),
        ("GET", "/subjects/bad%zzname/versions", b"", 400, 400),
    ];
    for (method, path, body, status, code) in cases {
        let r = c.send(method, path, Some(body)).await;
        assert_eq!((r.status, r.content_type.as_str()), (status, CT), "{method} {path}: {}", r.body);
        assert_eq!(r.error_code(), code, "{method} {path}: {}", r.body);
        assert!(r.json()["message"].is_string());
    }
    c.register("s", avro("\"int\"")).await;
    assert_eq!(c.get("/subjects/s/versions/2").await.error_code(), 40402);

    // A body over 16 MiB is refused, whether its length is declared or not.
    let huge = vec![b' '; (16 << 20) + 1];
    let r = c.send("POST", "/subjects/s/versions", Some(&huge)).await;
    assert_eq!((r.status, r.error_code()), (413, 413));
    // Deep nesting is refused, not a crash.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = c.post("/subjects/s/versions", &json!({ "schema": deep })).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let deep_proto = format!("syntax = \"proto3\"; {}", "message A {".repeat(5_000));
    let r = c.post("/subjects/p/versions", &typed("PROTOBUF", &deep_proto)).await;
    assert_eq!(r.error_code(), 42201);
    // The registry still answers.
    assert_eq!(c.get("/subjects").await.json(), json!(["s"]));
    broker.shutdown().await.unwrap();
}

/// The broker binary with the registry on, its stdout kept open.
struct Process {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    url: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(data_dir: &std::path::Path) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokafka-broker"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "warn",
            "--set",
            "schema.registry.listeners=http://127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("broker binary runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("ferrokafka-broker listening on "), "{line}");
    line.clear();
    stdout.read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("ferrokafka-broker schema-registry on ").expect("registry line").to_owned();
    Process { child, _stdout: stdout, url }
}

#[tokio::test]
async fn ids_and_subjects_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut process = spawn(dir.path());
    let c = Client::new(&process.url);
    assert_eq!(c.put("/config", &json!({"compatibility": "NONE"})).await.status, 200);
    let mut ids = Vec::new();
    for i in 0..20 {
        let schema = avro_record(&format!("R{i}"), json!([{"name": "f", "type": "int"}]));
        ids.push(c.register(&format!("subject-{}", i % 4), json!({ "schema": schema })).await);
    }
    c.put("/config/subject-1", &json!({"compatibility": "NONE"})).await;
    c.delete("/subjects/subject-3").await;
    let before = (
        c.get("/subjects").await.body,
        c.get("/subjects/subject-0/versions").await.body,
        c.get(&format!("/schemas/ids/{}", ids[7])).await.body,
    );
    process.child.kill().unwrap(); // SIGKILL: no clean shutdown.
    process.child.wait().unwrap();
    drop(process);

    let process = spawn(dir.path());
    let c = Client::new(&process.url);
    let after = (
        c.get("/subjects").await.body,
        c.get("/subjects/subject-0/versions").await.body,
        c.get(&format!("/schemas/ids/{}", ids[7])).await.body,
    );
    assert_eq!(before, after);
    assert_eq!(c.get("/config/subject-1").await.json(), json!({"compatibilityLevel": "NONE"}));
    assert_eq!(c.get("/subjects?deleted=true").await.json().as_array().unwrap().len(), 4);
    // The same schema keeps its id; a new one gets the next.
    let schema = avro_record("R0", json!([{"name": "f", "type": "int"}]));
    assert_eq!(c.register("subject-0", json!({ "schema": schema })).await, ids[0]);
    let new = avro_record("New", json!([]));
    assert_eq!(c.register("subject-9", json!({ "schema": new })).await, ids.iter().max().unwrap() + 1);
}

/// Registers `previous` with no checks, sets `level`, then registers `new`: whether it was taken.
async fn accepted(c: &Client, subject: &str, schema_type: &str, level: &str, previous: &[&str], new: &str) -> bool {
    c.put(&format!("/config/{subject}"), &json!({"compatibility": "NONE"})).await;
    for p in previous {
        c.register(subject, typed(schema_type, p)).await;
    }
    c.put(&format!("/config/{subject}"), &json!({ "compatibility": level })).await;
    let r = c.post(&format!("/subjects/{subject}/versions"), &typed(schema_type, new)).await;
    match r.status {
        200 => true,
        409 => {
            assert_eq!(r.error_code(), 409);
            false
        }
        _ => panic!("{subject}: {}", r.body),
    }
}

async fn run_table(c: &Client, schema_type: &str, table: &[(&str, &[&str], &str, bool)]) {
    for (i, (level, previous, new, ok)) in table.iter().enumerate() {
        let subject = format!("{schema_type}-case-{i}");
        let got = accepted(c, &subject, schema_type, level, previous, new).await;
        assert_eq!(got, *ok, "{schema_type} case {i} ({level}): {previous:?} then {new}");
    }
}

#[tokio::test]
async fn avro_compatibility_rules() {
    let (broker, _dir, c) = registry_broker().await;
    let r = |fields: Value| avro_record("R", fields);
    let a_int = r(json!([{"name": "a", "type": "int"}]));
    let a_long = r(json!([{"name": "a", "type": "long"}]));
    let a_string_default = r(json!([{"name": "a", "type": "string", "default": ""}]));
    let empty = r(json!([]));
    let b_default = r(json!([{"name": "a", "type": "int"}, {"name": "b", "type": "string", "default": ""}]));
    let b_required = r(json!([{"name": "a", "type": "int"}, {"name": "b", "type": "string"}]));
    let union2 = r(json!([{"name": "a", "type": ["null", "int"], "default": null}]));
    let union3 = r(json!([{"name": "a", "type": ["null", "int", "string"], "default": null}]));
    let e = |symbols: Value| json!({"type": "enum", "name": "E", "symbols": symbols}).to_string();
    let (e_ab, e_a) = (e(json!(["A", "B"])), e(json!(["A"])));
    let table: &[(&str, &[&str], &str, bool)] = &[
        ("BACKWARD", &[&a_int], &b_default, true),
        ("BACKWARD", &[&a_int], &b_required, false),
        ("BACKWARD", &[&b_required], &a_int, true),
        ("BACKWARD", &[&a_int], &a_long, true),
        ("BACKWARD", &[&a_long], &a_int, false),
        ("BACKWARD", &[&e_a], &e_ab, true),
        ("BACKWARD", &[&e_ab], &e_a, false),
        ("BACKWARD", &[&union2], &union3, true),
        ("BACKWARD", &[&union3], &union2, false),
        ("BACKWARD", &[&a_int], "\"string\"", false),
        ("FORWARD", &[&a_int], &b_required, true),
        ("FORWARD", &[&b_required], &a_int, false),
        ("FULL", &[&a_int], &b_default, true),
        ("FULL", &[&a_int], &b_required, false),
        ("BACKWARD", &[&a_int, &empty], &a_string_default, true),
        ("BACKWARD_TRANSITIVE", &[&a_int, &empty], &a_string_default, false),
        ("FORWARD_TRANSITIVE", &[&b_required, &b_default], &a_int, false),
        ("FULL_TRANSITIVE", &[&a_int, &b_default], &a_int, true),
        ("NONE", &[&a_int], "\"string\"", true),
    ];
    run_table(&c, "AVRO", table).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn json_schema_compatibility_rules() {
    let (broker, _dir, c) = registry_broker().await;
    let obj = |props: Value, extra: Value| {
        let mut s = json!({"type": "object", "properties": props});
        if !extra.is_null() {
            s["additionalProperties"] = extra;
        }
        s.to_string()
    };
    let a = obj(json!({"a": {"type": "string"}}), Value::Null);
    let ab = obj(json!({"a": {"type": "string"}, "b": {"type": "string"}}), Value::Null);
    let a_closed = obj(json!({"a": {"type": "string"}}), json!(false));
    let ab_closed = obj(json!({"a": {"type": "string"}, "b": {"type": "string"}}), json!(false));
    let n_int = obj(json!({"n": {"type": "integer"}}), Value::Null);
    let n_num = obj(json!({"n": {"type": "number"}}), Value::Null);
    let n_int_max = obj(json!({"n": {"type": "integer", "maximum": 5}}), Value::Null);
    let req = |r: Value| json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": r}).to_string();
    let en = |v: Value| json!({"type": "string", "enum": v}).to_string();
    let len = |max: u64| json!({"type": "string", "maxLength": max}).to_string();
    let table: &[(&str, &[&str], &str, bool)] = &[
        ("BACKWARD", &[&a], &ab, false),              // a property added to an open content model
        ("BACKWARD", &[&a_closed], &ab_closed, true), // ... to a closed one
        ("BACKWARD", &[&ab], &a, true),               // removed from an open one
        ("BACKWARD", &[&ab_closed], &a_closed, false), // removed from a closed one
        ("BACKWARD", &[&a], &a_closed, false),        // additionalProperties closed
        ("BACKWARD", &[&a_closed], &a, true),
        ("BACKWARD", &[&n_int], &n_num, true),  // widened
        ("BACKWARD", &[&n_num], &n_int, false), // narrowed
        ("FORWARD", &[&n_num], &n_int, true),
        ("BACKWARD", &[&n_int], &n_int_max, false), // an integer's maximum added
        ("BACKWARD", &[&n_int_max], &n_int, true),
        ("BACKWARD", &[&req(json!([]))], &req(json!(["a"])), false),
        ("BACKWARD", &[&req(json!(["a"]))], &req(json!([])), true),
        ("BACKWARD", &[&en(json!(["x", "y"]))], &en(json!(["x"])), false),
        ("BACKWARD", &[&en(json!(["x"]))], &en(json!(["x", "y"])), true),
        ("BACKWARD", &[&len(5)], &len(10), true),
        ("BACKWARD", &[&len(10)], &len(5), false),
        ("FULL", &[&len(10)], &len(5), false),
        ("BACKWARD", &[&len(10), &len(5)], &len(8), true),
        ("BACKWARD_TRANSITIVE", &[&len(10), &len(5)], &len(8), false),
        ("NONE", &[&n_num], &n_int, true),
    ];
    run_table(&c, "JSON", table).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn protobuf_compatibility_rules() {
    let (broker, _dir, c) = registry_broker().await;
    let p = |body: &str| format!("syntax = \"proto3\";\npackage acme;\n{body}\n");
    let base = p("message M { string a = 1; }");
    let added = p("message M { string a = 1; int32 b = 2; }");
    let retyped = p("message M { int32 a = 1; }");
    let renamed_field = p("message M { string name = 1; }");
    let renamed_message = p("message N { string a = 1; }");
    let repeated = p("message M { repeated string a = 1; }");
    let other_package = "syntax = \"proto3\";\npackage other;\nmessage M { string a = 1; }\n";
    let with_x = p("message X { int32 v = 1; } message Y { int32 v = 1; } message M { X x = 1; }");
    let with_y = p("message X { int32 v = 1; } message Y { int32 v = 1; } message M { Y x = 1; }");
    let two = p("message M { int32 a = 1; int32 b = 2; }");
    let oneof = p("message M { oneof choice { int32 a = 1; int32 b = 2; } }");
    let table: &[(&str, &[&str], &str, bool)] = &[
        ("BACKWARD", &[&base], &added, true),
        ("BACKWARD", &[&added], &base, true),
        ("BACKWARD", &[&base], &retyped, false),
        ("BACKWARD", &[&base], &renamed_field, true),
        ("BACKWARD", &[&base], &renamed_message, false),
        ("BACKWARD", &[&base], &repeated, false),
        ("BACKWARD", &[&base], other_package, false),
        ("BACKWARD", &[&with_x], &with_y, false),
        ("BACKWARD", &[&two], &oneof, false),
        ("FULL", &[&base], &added, true),
        ("BACKWARD_TRANSITIVE", &[&retyped, &base], &added, false),
        ("NONE", &[&base], &retyped, true),
    ];
    run_table(&c, "PROTOBUF", table).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn sasl_brokers_require_basic_auth_and_tls_uses_the_broker_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let certs = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let (broker, _dir) = start_broker(|c| {
        c.set("listeners", "SASL_SSL://127.0.0.1:0").unwrap();
        c.set("ssl.certificate.location", cert_path.to_str().unwrap()).unwrap();
        c.set("ssl.key.location", key_path.to_str().unwrap()).unwrap();
        c.set("users.alice", "alice-secret").unwrap();
        c.set("schema.registry.listeners", "127.0.0.1:0").unwrap();
    })
    .await;
    let url = broker.schema_registry_url().unwrap();
    assert!(url.starts_with("https://"), "{url}");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut c = Client::new(url);
    c.tls = Some(Arc::new(tls));
    for (auth, status) in [
        (None, 401),
        (Some(("alice", "wrong")), 401),
        (Some(("mallory", "alice-secret")), 401),
        (Some(("alice", "alice-secret")), 200),
    ] {
        c.auth = auth.map(|(u, p)| (u.to_owned(), p.to_owned()));
        for path in ["/subjects", "/schemas/types", "/config", "/no/such/path"] {
            let r = c.get(path).await;
            let expected = if status == 200 && path.starts_with("/no") { 404 } else { status };
            assert_eq!(r.status, expected, "{path} as {auth:?}: {}", r.body);
            if status == 401 {
                assert_eq!(r.error_code(), 40101);
            }
        }
    }
    assert_eq!(c.register("s", avro("\"int\"")).await, 1);
    // Plain HTTP on the TLS port gets no answer.
    let plain = TcpStream::connect(url.trim_start_matches("https://")).await.unwrap();
    let mut raw = Vec::new();
    let (mut rd, mut wr) = plain.into_split();
    wr.write_all(b"GET /subjects HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let _ = rd.read_to_end(&mut raw).await;
    assert!(!String::from_utf8_lossy(&raw).contains("200 OK"));
    broker.shutdown().await.unwrap();
}
