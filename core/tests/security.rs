//! TLS and SASL between our client and the bundled broker: every security protocol, every
//! SASL mechanism, mutual TLS, and the failures a user must be able to tell apart (wrong
//! password, unknown user, untrusted or expired certificate, plaintext client on a TLS port).

mod common;

use std::time::Duration;

use common::certs::{Ca, Issued};
use ferrokafka::{Admin, ClientConfig, Consumer, Error, Offset, Producer, ProducerRecord, TopicPartition};
use ferrokafka_broker::{Broker, BrokerConfig};

struct Fixture {
    broker: Broker,
    ca: Ca,
    ca_path: std::path::PathBuf,
    dir: tempfile::TempDir,
    _data: tempfile::TempDir,
}

/// A broker with all four listener kinds, users alice and bob, and TLS client certificates
/// optional (`requested`) or mandatory.
async fn fixture(client_auth: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let ca = Ca::new("ferrokafka test CA");
    let ca_path = ca.write(dir.path(), "ca");
    let server = ca.issue(dir.path(), "broker", &["localhost", "127.0.0.1"]);
    let mut config = BrokerConfig { data_dir: data.path().to_owned(), ..Default::default() };
    for (k, v) in [
        ("listeners", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0"),
        ("ssl.certificate.location", server.cert_path.to_str().unwrap()),
        ("ssl.key.location", server.key_path.to_str().unwrap()),
        ("ssl.ca.location", ca_path.to_str().unwrap()),
        ("ssl.client.auth", client_auth),
        ("users.alice", "alice-secret"),
        ("users.bob", "bob-secret"),
    ] {
        config.set(k, v).unwrap();
    }
    let broker = Broker::start(config).await.unwrap();
    Fixture { broker, ca, ca_path, dir, _data: data }
}

impl Fixture {
    fn config(&self, listener: &str, extra: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::from_pairs([
            ("bootstrap.servers", self.broker.bootstrap_for(listener).unwrap()),
            ("security.protocol", listener.to_owned()),
        ])
        .unwrap();
        if listener.ends_with("SSL") {
            c.set("ssl.ca.location", self.ca_path.to_str().unwrap()).unwrap();
        }
        for (k, v) in extra {
            c.set(k, *v).unwrap();
        }
        c
    }

    fn client_cert(&self, cn: &str) -> Issued {
        self.ca.issue(self.dir.path(), cn, &[])
    }
}

/// A broker with one SSL listener presenting `cert`.
async fn ssl_broker(cert: &Issued) -> (Broker, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig { data_dir: data.path().to_owned(), ..Default::default() };
    config.set("listeners", "SSL://127.0.0.1:0").unwrap();
    config.set("ssl.certificate.location", cert.cert_path.to_str().unwrap()).unwrap();
    config.set("ssl.key.location", cert.key_path.to_str().unwrap()).unwrap();
    (Broker::start(config).await.unwrap(), data)
}

/// Produces one record and reads it back with a fresh consumer: the whole data path works
/// over this configuration.
async fn round_trip(config: ClientConfig, topic: &str) {
    let producer = Producer::new(config.clone()).unwrap();
    let meta = producer
        .send_and_wait(ProducerRecord::new(topic).key("k").value("secret payload"))
        .await
        .expect("produce over a secured connection");
    let mut consumer = Consumer::new(config).unwrap();
    consumer.assign([(TopicPartition::new(topic, meta.partition), Offset::Beginning)]).await.unwrap();
    let record = loop {
        if let Some(r) = consumer.poll(Duration::from_secs(5)).await.unwrap() {
            break r;
        }
    };
    assert_eq!(record.value.as_deref(), Some(&b"secret payload"[..]));
    assert_eq!(record.offset, meta.offset);
}

async fn connect_error(config: ClientConfig) -> Error {
    let admin = Admin::new(config).unwrap();
    admin.list_topics().await.expect_err("the connection must be refused")
}

#[tokio::test]
async fn every_protocol_and_mechanism_carries_data() {
    let f = fixture("requested").await;
    round_trip(f.config("PLAINTEXT", &[]), "plain").await;
    round_trip(f.config("SSL", &[]), "ssl").await;
    for (i, mechanism) in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].into_iter().enumerate() {
        let creds = [("sasl.mechanism", mechanism), ("sasl.username", "alice"), ("sasl.password", "alice-secret")];
        round_trip(f.config("SASL_SSL", &creds), &format!("sasl-ssl-{i}")).await;
        round_trip(f.config("SASL_PLAINTEXT", &creds), &format!("sasl-plain-{i}")).await;
    }
}

#[tokio::test]
async fn pem_strings_work_like_files_and_metadata_keeps_the_listener() {
    let f = fixture("requested").await;
    let cert = f.client_cert("pem-client");
    let config = ClientConfig::from_pairs([
        ("bootstrap.servers", f.broker.bootstrap_for("SSL").unwrap()),
        ("security.protocol", "SSL".into()),
        ("ssl.ca.pem", f.ca.pem.clone()),
        ("ssl.certificate.pem", cert.cert_pem.clone()),
        ("ssl.key.pem", cert.key_pem.clone()),
    ])
    .unwrap();
    // Produce follows Metadata to the leader: the broker must name its SSL port there, not
    // the PLAINTEXT one, or this would fail the TLS handshake.
    round_trip(config, "pem").await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_authentication_errors() {
    let f = fixture("requested").await;
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        for (user, password) in [("alice", "not-her-password"), ("mallory", "alice-secret")] {
            let config = f.config(
                "SASL_SSL",
                &[("sasl.mechanism", mechanism), ("sasl.username", user), ("sasl.password", password)],
            );
            match connect_error(config).await {
                Error::Authentication { mechanism: m, reason, .. } => {
                    assert_eq!(m, mechanism);
                    assert!(reason.to_lowercase().contains("invalid"), "{reason}");
                    assert!(!reason.contains(password), "the error must not echo the password: {reason}");
                }
                other => panic!("{mechanism} {user}: expected an authentication error, got {other:?}"),
            }
        }
    }
    // The broker keeps serving everyone else.
    let ok = [("sasl.mechanism", "SCRAM-SHA-256"), ("sasl.username", "bob"), ("sasl.password", "bob-secret")];
    round_trip(f.config("SASL_SSL", &ok), "after-failures").await;
}

#[tokio::test]
async fn sasl_listener_refuses_unauthenticated_clients() {
    let f = fixture("requested").await;
    // A PLAINTEXT client on a SASL_PLAINTEXT port skips authentication: the broker closes.
    let mut c = f.config("SASL_PLAINTEXT", &[]);
    c.set("security.protocol", "PLAINTEXT").unwrap();
    match connect_error(c).await {
        Error::Connection { .. } => {}
        other => panic!("expected a closed connection, got {other:?}"),
    }
}

#[tokio::test]
async fn untrusted_and_expired_certificates_are_tls_errors() {
    let f = fixture("requested").await;
    // A client trusting another CA.
    let other_ca = Ca::new("someone else's CA");
    let other_path = other_ca.write(f.dir.path(), "other-ca");
    let mut config = ClientConfig::from_pairs([
        ("bootstrap.servers", f.broker.bootstrap_for("SSL").unwrap()),
        ("security.protocol", "SSL".into()),
    ])
    .unwrap();
    config.set("ssl.ca.location", other_path.to_str().unwrap()).unwrap();
    match connect_error(config).await {
        Error::Tls { reason, .. } => assert!(reason.contains("UnknownIssuer"), "{reason}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }

    // A broker presenting an expired certificate.
    let (old, _data) = ssl_broker(&f.ca.issue_expired(f.dir.path(), "old-broker", &["127.0.0.1"])).await;
    let config = ClientConfig::from_pairs([
        ("bootstrap.servers", old.bootstrap()),
        ("security.protocol", "SSL".into()),
        ("ssl.ca.location", f.ca_path.to_str().unwrap().into()),
    ])
    .unwrap();
    match connect_error(config).await {
        Error::Tls { reason, .. } => assert!(reason.contains("Expired"), "{reason}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test]
async fn hostname_verification_is_on_by_default_and_can_be_switched_off() {
    let f = fixture("requested").await;
    let (broker, _data) = ssl_broker(&f.ca.issue(f.dir.path(), "elsewhere", &["broker.invalid"])).await;
    let config = |extra: &[(&str, &str)]| {
        let mut c = ClientConfig::from_pairs([
            ("bootstrap.servers", broker.bootstrap()),
            ("security.protocol", "SSL".into()),
            ("ssl.ca.location", f.ca_path.to_str().unwrap().into()),
        ])
        .unwrap();
        for (k, v) in extra {
            c.set(k, *v).unwrap();
        }
        c
    };
    match connect_error(config(&[])).await {
        Error::Tls { reason, .. } => assert!(reason.contains("NotValidForName"), "{reason}"),
        other => panic!("expected a hostname mismatch, got {other:?}"),
    }
    round_trip(config(&[("ssl.endpoint.identification.algorithm", "none")]), "no-hostname-check").await;
}

#[tokio::test]
async fn mutual_tls_requires_a_trusted_client_certificate() {
    let f = fixture("required").await;
    // No client certificate: the broker ends the handshake.
    match connect_error(f.config("SSL", &[])).await {
        Error::Tls { reason, .. } => assert!(reason.to_lowercase().contains("certificate"), "{reason}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    // A certificate from another CA is refused too.
    let other_ca = Ca::new("rogue CA");
    let rogue = other_ca.issue(f.dir.path(), "rogue", &[]);
    let rogue_config = f.config(
        "SSL",
        &[
            ("ssl.certificate.location", rogue.cert_path.to_str().unwrap()),
            ("ssl.key.location", rogue.key_path.to_str().unwrap()),
        ],
    );
    assert!(matches!(connect_error(rogue_config).await, Error::Tls { .. }));
    // A certificate from the broker's CA works.
    let cert = f.client_cert("alice");
    let config = f.config(
        "SSL",
        &[
            ("ssl.certificate.location", cert.cert_path.to_str().unwrap()),
            ("ssl.key.location", cert.key_path.to_str().unwrap()),
        ],
    );
    round_trip(config, "mtls").await;
}

#[tokio::test]
async fn plaintext_client_on_a_tls_port_is_told_why() {
    let f = fixture("requested").await;
    let mut c = f.config("PLAINTEXT", &[]);
    c.set("bootstrap.servers", f.broker.bootstrap_for("SSL").unwrap()).unwrap();
    match connect_error(c).await {
        Error::Connection { reason, .. } => assert!(reason.contains("security.protocol"), "{reason}"),
        other => panic!("expected a connection error naming security.protocol, got {other:?}"),
    }
    // A TLS client on the plaintext port fails the handshake with a TLS error.
    let mut c = f.config("SSL", &[]);
    c.set("bootstrap.servers", f.broker.bootstrap_for("PLAINTEXT").unwrap()).unwrap();
    assert!(matches!(connect_error(c).await, Error::Tls { .. }));
    // And the TLS port still serves TLS clients.
    round_trip(f.config("SSL", &[]), "still-serving").await;
}

#[tokio::test]
async fn misconfiguration_is_a_config_error_naming_the_key() {
    let config = |pairs: &[(&str, &str)]| {
        let mut c = ClientConfig::from_pairs([("bootstrap.servers", "127.0.0.1:1")]).unwrap();
        for (k, v) in pairs {
            c.set(k, *v).unwrap();
        }
        Admin::new(c).map(|_| ()).unwrap_err()
    };
    let e = config(&[("security.protocol", "SASL_SSL"), ("ssl.ca.location", "/nonexistent/ca.pem")]);
    assert!(matches!(&e, Error::Config { key, .. } if key == "ssl.ca.location"), "{e}");
    let e = config(&[("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "SCRAM-SHA-256")]);
    assert!(matches!(&e, Error::Config { key, .. } if key == "sasl.username"), "{e}");
    let e = config(&[("security.protocol", "SSL"), ("ssl.ca.pem", "not a certificate")]);
    assert!(matches!(&e, Error::Config { key, .. } if key == "ssl.ca.pem"), "{e}");
    let e = config(&[("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "OAUTHBEARER")]);
    assert!(e.to_string().contains("token provider"), "{e}");
}

async fn acl_broker(data: &std::path::Path) -> Broker {
    let mut config = BrokerConfig { data_dir: data.to_owned(), ..Default::default() };
    for (k, v) in [
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
        ("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
        ("super.users", "User:admin"),
        ("users.admin", "admin-secret"),
        ("users.alice", "alice-secret"),
        ("users.bob", "bob-secret"),
    ] {
        config.set(k, v).unwrap();
    }
    Broker::start(config).await.unwrap()
}

fn as_user(broker: &Broker, user: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::from_pairs([
        ("bootstrap.servers", broker.bootstrap()),
        ("security.protocol", "SASL_PLAINTEXT".into()),
        ("sasl.mechanism", "SCRAM-SHA-512".into()),
        ("sasl.username", user.into()),
        ("sasl.password", format!("{user}-secret")),
    ])
    .unwrap();
    for (k, v) in extra {
        c.set(k, *v).unwrap();
    }
    c
}

#[tokio::test]
async fn acls_let_one_user_produce_and_refuse_another_durably() {
    use ferrokafka::NewTopic;
    use ferrokafka::admin::{AclBinding, AclFilter, AclOperation, ResourceType};
    use kafka_protocol::ResponseError;

    let data = tempfile::tempdir().unwrap();
    let broker = acl_broker(data.path()).await;
    let admin = Admin::new(as_user(&broker, "admin", &[])).unwrap();
    for r in admin.create_topics(&[NewTopic::new("orders", 1), NewTopic::new("bobs", 1)]).await.unwrap() {
        r.1.unwrap();
    }
    let grants = [
        AclBinding::allow(ResourceType::Topic, "orders", "User:alice", AclOperation::Write),
        AclBinding::allow(ResourceType::Topic, "orders", "User:alice", AclOperation::Read),
        AclBinding::allow(ResourceType::Group, "alice-group", "User:alice", AclOperation::Read),
        // bob may write elsewhere, so his idempotent producer gets an id (KIP-679) and the
        // refusal below is about the topic.
        AclBinding::allow(ResourceType::Topic, "bobs", "User:bob", AclOperation::Write),
    ];
    for r in admin.create_acls(&grants).await.unwrap() {
        r.unwrap();
    }

    // alice produces and reads back.
    round_trip(as_user(&broker, "alice", &[]), "orders").await;

    // bob gets TOPIC_AUTHORIZATION_FAILED for the topic, never its data.
    let bob = Producer::new(as_user(&broker, "bob", &[("delivery.timeout.ms", "10000")])).unwrap();
    let e = bob.send_and_wait(ProducerRecord::new("orders").value("nope")).await.unwrap_err();
    assert_eq!(e.kafka_code(), Some(ResponseError::TopicAuthorizationFailed), "{e}");
    let mut reader = Consumer::new(as_user(&broker, "bob", &[])).unwrap();
    let read = async {
        reader.assign([(TopicPartition::new("orders", 0), Offset::Beginning)]).await?;
        reader.poll(Duration::from_secs(5)).await
    };
    match read.await {
        Err(e) => assert_eq!(e.kafka_code(), Some(ResponseError::TopicAuthorizationFailed), "{e}"),
        Ok(r) => panic!("bob must not read orders, got {r:?}"),
    }
    // ... GROUP_AUTHORIZATION_FAILED for a group, CLUSTER_AUTHORIZATION_FAILED for ACL changes.
    let bob_admin = Admin::new(as_user(&broker, "bob", &[])).unwrap();
    let e = bob_admin
        .create_acls(&[AclBinding::allow(ResourceType::Topic, "orders", "User:bob", AclOperation::All)])
        .await
        .unwrap();
    assert_eq!(e[0].as_ref().unwrap_err().kafka_code(), Some(ResponseError::ClusterAuthorizationFailed));
    let mut group_member = Consumer::new(as_user(&broker, "bob", &[("group.id", "alice-group")])).unwrap();
    group_member.subscribe(&["orders"]).unwrap();
    let e = group_member.poll(Duration::from_secs(10)).await.unwrap_err();
    assert_eq!(e.kafka_code(), Some(ResponseError::GroupAuthorizationFailed), "{e}");

    // ACLs survive a restart.
    broker.shutdown().await.unwrap();
    let broker = acl_broker(data.path()).await;
    let admin = Admin::new(as_user(&broker, "admin", &[])).unwrap();
    let mut stored = admin.describe_acls(&AclFilter::any()).await.unwrap();
    stored.sort_by(|a, b| (&a.resource_name, a.operation as i8).cmp(&(&b.resource_name, b.operation as i8)));
    let mut expected = grants.to_vec();
    expected.sort_by(|a, b| (&a.resource_name, a.operation as i8).cmp(&(&b.resource_name, b.operation as i8)));
    assert_eq!(stored, expected);
    let bob = Producer::new(as_user(&broker, "bob", &[("delivery.timeout.ms", "10000")])).unwrap();
    let e = bob.send_and_wait(ProducerRecord::new("orders").value("nope")).await.unwrap_err();
    assert_eq!(e.kafka_code(), Some(ResponseError::TopicAuthorizationFailed), "{e}");

    // Deleting alice's grants takes her access away.
    let filter = AclFilter { principal: Some("User:alice".into()), ..AclFilter::any() };
    let removed = admin.delete_acls(&[filter]).await.unwrap().remove(0).unwrap();
    assert_eq!(removed.len(), 3);
    let alice = Producer::new(as_user(&broker, "alice", &[("delivery.timeout.ms", "10000")])).unwrap();
    let e = alice.send_and_wait(ProducerRecord::new("orders").value("late")).await.unwrap_err();
    assert!(
        matches!(
            e.kafka_code(),
            Some(ResponseError::TopicAuthorizationFailed | ResponseError::ClusterAuthorizationFailed)
        ),
        "{e}"
    );
}

/// SCRAM over SASL_SSL against the broker named by FERROKAFKA_TEST_SASL_SSL_BOOTSTRAP and
/// FERROKAFKA_TEST_SASL_SSL_CA (user `alice`, password `alice-secret`): the interop suite
/// points it at Apache Kafka. Without them it runs against the bundled broker.
#[tokio::test]
async fn scram_over_sasl_ssl_against_any_broker() {
    let local;
    let (bootstrap, ca) =
        match (std::env::var("FERROKAFKA_TEST_SASL_SSL_BOOTSTRAP"), std::env::var("FERROKAFKA_TEST_SASL_SSL_CA")) {
            (Ok(b), Ok(ca)) => (b, ca),
            _ => {
                local = fixture("requested").await;
                (local.broker.bootstrap_for("SASL_SSL").unwrap(), local.ca_path.to_str().unwrap().to_owned())
            }
        };
    let config = |mechanism: &str, password: &str| {
        ClientConfig::from_pairs([
            ("bootstrap.servers", bootstrap.as_str()),
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", ca.as_str()),
            ("sasl.mechanism", mechanism),
            ("sasl.username", "alice"),
            ("sasl.password", password),
        ])
        .unwrap()
    };
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let topic = format!("scram-{}-{}", mechanism.to_lowercase(), uuid::Uuid::new_v4().simple());
        // Created first: Apache Kafka answers an auto-creating Metadata before the topic has a leader.
        let admin = Admin::new(config(mechanism, "alice-secret")).unwrap();
        admin.create_topics(&[ferrokafka::NewTopic::new(&topic, 1)]).await.unwrap()[0].1.clone().unwrap();
        admin.wait_for_topic(&topic, Duration::from_secs(30)).await.unwrap();
        round_trip(config(mechanism, "alice-secret"), &topic).await;
        match connect_error(config(mechanism, "wrong-secret")).await {
            Error::Authentication { reason, .. } => assert!(reason.to_lowercase().contains("invalid"), "{reason}"),
            other => panic!("expected an authentication error, got {other:?}"),
        }
    }
}

/// KIP-368: the broker gives SASL sessions one second; a client used for several lifetimes keeps
/// working because each connection retires before its session ends and the next request
/// authenticates a new one (the broker would close an expired one mid-request).
#[tokio::test]
async fn connections_renew_their_sasl_session_before_it_expires() {
    let data = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig { data_dir: data.path().to_owned(), ..Default::default() };
    for (k, v) in [
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
        ("users.alice", "alice-secret"),
        ("connections.max.reauth.ms", "1000"),
    ] {
        config.set(k, v).unwrap();
    }
    let broker = Broker::start(config).await.unwrap();
    let admin = Admin::new(
        ClientConfig::from_pairs([
            ("bootstrap.servers", broker.bootstrap()),
            ("security.protocol", "SASL_PLAINTEXT".into()),
            ("sasl.mechanism", "SCRAM-SHA-256".into()),
            ("sasl.username", "alice".into()),
            ("sasl.password", "alice-secret".into()),
        ])
        .unwrap(),
    )
    .unwrap();
    let until = std::time::Instant::now() + Duration::from_millis(3 * 1000);
    let mut calls = 0;
    while std::time::Instant::now() < until {
        admin.list_topics().await.unwrap_or_else(|e| panic!("call {calls} failed: {e}"));
        calls += 1;
        // Spread the calls over the sessions' lifetimes rather than spinning.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(calls > 10, "{calls}");
}

/// An unsecured JWT (alg none) for `sub`, expiring `exp_in_s` seconds from now.
fn unsecured_jwt(sub: &str, exp_in_s: i64) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let header = b64.encode(br#"{"alg":"none"}"#);
    let payload = b64.encode(format!(r#"{{"sub":"{sub}","iat":{now},"exp":{}}}"#, now + exp_in_s));
    format!("{header}.{payload}.")
}

#[tokio::test]
async fn oauthbearer_tokens_come_from_the_provider() {
    use ferrokafka::OAuthBearerToken;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let f = {
        let dir = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let ca = Ca::new("oauth CA");
        let ca_path = ca.write(dir.path(), "ca");
        let server = ca.issue(dir.path(), "broker", &["127.0.0.1"]);
        let mut config = BrokerConfig { data_dir: data.path().to_owned(), ..Default::default() };
        for (k, v) in [
            ("listeners", "SASL_SSL://127.0.0.1:0"),
            ("ssl.certificate.location", server.cert_path.to_str().unwrap()),
            ("ssl.key.location", server.key_path.to_str().unwrap()),
            ("sasl.enabled.mechanisms", "OAUTHBEARER,SCRAM-SHA-256"),
        ] {
            config.set(k, v).unwrap();
        }
        Fixture { broker: Broker::start(config).await.unwrap(), ca, ca_path, dir, _data: data }
    };
    let with_provider = |provider: Box<dyn Fn() -> Result<OAuthBearerToken, String> + Send + Sync>| {
        let mut c = f.config("SASL_SSL", &[("sasl.mechanism", "OAUTHBEARER")]);
        c.set_oauthbearer_token_provider(provider);
        c
    };
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let good = with_provider(Box::new(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(OAuthBearerToken { value: unsecured_jwt("alice", 3600), extensions: vec![] })
    }));
    round_trip(good, "oauth").await;
    assert!(asked.load(Ordering::Relaxed) >= 1, "the provider was asked for the token");

    let expired =
        with_provider(Box::new(|| Ok(OAuthBearerToken { value: unsecured_jwt("alice", -60), extensions: vec![] })));
    match connect_error(expired).await {
        Error::Authentication { mechanism, reason, .. } => {
            assert_eq!(mechanism, "OAUTHBEARER");
            assert!(reason.contains("expired"), "{reason}");
        }
        other => panic!("expected an authentication error, got {other:?}"),
    }
    let failing = with_provider(Box::new(|| Err("identity provider unreachable".into())));
    match connect_error(failing).await {
        Error::Authentication { reason, .. } => assert!(reason.contains("identity provider unreachable"), "{reason}"),
        other => panic!("expected an authentication error, got {other:?}"),
    }
}
