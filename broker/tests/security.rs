//! The SASL state machine and KIP-368 sessions on the wire, driven by a raw Kafka-protocol
//! client: what is served before authentication, mechanisms, failed exchanges, re-authentication
//! on the same connection, and an expired session.

mod common;

use common::{TestClient, sasl_handshake as handshake, sasl_plain as plain, start_broker};
use ferrokafka_broker::Broker;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

async fn sasl_broker(reauth_ms: &str) -> (Broker, tempfile::TempDir) {
    start_broker(|c| {
        c.set("listeners", "SASL_PLAINTEXT://127.0.0.1:0").unwrap();
        c.set("users.alice", "alice-secret").unwrap();
        c.set("users.bob", "bob-secret").unwrap();
        c.set("connections.max.reauth.ms", reauth_ms).unwrap();
    })
    .await
}

fn metadata() -> MetadataRequest {
    MetadataRequest::default().with_topics(None)
}

#[tokio::test]
async fn only_api_versions_and_sasl_are_served_before_authentication() {
    let (broker, _dir) = sasl_broker("0").await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    let versions: ApiVersionsResponse = c.send(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(versions.error_code, 0);
    assert!(versions.api_keys.iter().any(|k| k.api_key == ApiKey::SaslAuthenticate as i16));
    let frame = c.encode(&metadata(), 12);
    c.send_raw(&frame).await;
    assert!(c.is_closed().await, "Metadata before authentication closes the connection");

    // SaslAuthenticate without a handshake.
    let mut c = TestClient::connect(broker.local_addr()).await;
    let resp = plain(&mut c, "alice", "alice-secret").await;
    assert_eq!(resp.error_code, ResponseError::IllegalSaslState.code());
    assert!(c.is_closed().await);

    // An unknown mechanism: the enabled ones are listed.
    let mut c = TestClient::connect(broker.local_addr()).await;
    let resp = handshake(&mut c, "GSSAPI").await;
    assert_eq!(resp.error_code, ResponseError::UnsupportedSaslMechanism.code());
    let listed: Vec<&str> = resp.mechanisms.iter().map(|m| m.as_str()).collect();
    assert_eq!(listed, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    assert!(c.is_closed().await);

    // A wrong password is answered, then the connection closed; others are still served.
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(handshake(&mut c, "PLAIN").await.error_code, 0);
    let resp = plain(&mut c, "alice", "nope").await;
    assert_eq!(resp.error_code, ResponseError::SaslAuthenticationFailed.code());
    assert!(resp.error_message.as_deref().unwrap_or_default().contains("Invalid username or password"));
    assert!(c.is_closed().await);
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(handshake(&mut c, "PLAIN").await.error_code, 0);
    assert_eq!(plain(&mut c, "alice", "alice-secret").await.error_code, 0);
    let resp: MetadataResponse = c.send(&metadata(), 12).await;
    assert_eq!(resp.brokers.len(), 1);
}

#[tokio::test]
async fn sessions_expire_unless_re_authenticated_kip_368() {
    let lifetime_ms = 300;
    let (broker, _dir) = sasl_broker(&lifetime_ms.to_string()).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(handshake(&mut c, "PLAIN").await.error_code, 0);
    let resp = plain(&mut c, "alice", "alice-secret").await;
    assert_eq!((resp.error_code, resp.session_lifetime_ms), (0, lifetime_ms));

    // Re-authentication on the same connection renews the session; as another user it is refused.
    assert_eq!(handshake(&mut c, "PLAIN").await.error_code, 0);
    assert_eq!(plain(&mut c, "alice", "alice-secret").await.session_lifetime_ms, lifetime_ms);
    let _: MetadataResponse = c.send(&metadata(), 12).await;
    let mut other = TestClient::connect(broker.local_addr()).await;
    assert_eq!(handshake(&mut other, "PLAIN").await.error_code, 0);
    assert_eq!(plain(&mut other, "alice", "alice-secret").await.error_code, 0);
    assert_eq!(handshake(&mut other, "PLAIN").await.error_code, 0);
    assert_eq!(plain(&mut other, "bob", "bob-secret").await.error_code, ResponseError::SaslAuthenticationFailed.code());
    assert!(other.is_closed().await);

    // Past the lifetime, a request other than re-authentication closes the connection. (The
    // wait is the session running out, not synchronisation.)
    tokio::time::sleep(std::time::Duration::from_millis(lifetime_ms as u64 + 100)).await;
    let frame = c.encode(&metadata(), 12);
    c.send_raw(&frame).await;
    assert!(c.is_closed().await, "an expired session is not served");
}

#[tokio::test]
async fn plain_listener_refuses_sasl_handshakes() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(handshake(&mut c, "PLAIN").await.error_code, ResponseError::IllegalSaslState.code());
}

#[tokio::test]
async fn unauthenticated_clients_cannot_send_large_frames() {
    let (broker, _dir) = sasl_broker("0").await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    // A frame length of 1 MiB before authentication: refused without reading it.
    c.send_raw(&(1024 * 1024i32).to_be_bytes()).await;
    assert!(c.is_closed().await);
    // After authentication the usual socket.request.max.bytes applies.
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(handshake(&mut c, "PLAIN").await.error_code, 0);
    assert_eq!(plain(&mut c, "alice", "alice-secret").await.error_code, 0);
    let create = MetadataRequest::default().with_allow_auto_topic_creation(true).with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_static_str("big")))),
    ]));
    let _: MetadataResponse = c.send(&create, 12).await;
    let big = common::batch(&[(None, &vec![7u8; 768 * 1024], 1)], None, kafka_protocol::records::Compression::None);
    let (code, _) = common::produce(&mut c, "big", 0, big).await;
    assert_eq!(code, 0, "a 768 KiB batch is accepted once authenticated");
}

/// A SaslHandshake v0 (what clients older than KIP-152 send, and Kafka 4.1 still serves) is
/// followed by the mechanism's tokens as bare size-prefixed frames, answered the same way.
#[tokio::test]
async fn a_v0_handshake_exchanges_bare_sasl_tokens() {
    let (broker, _dir) = sasl_broker("0").await;
    let bare = |token: &[u8]| {
        let mut frame = (token.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(token);
        frame
    };
    let v0 = |m: &'static str| SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(m));

    let mut c = TestClient::connect(broker.local_addr()).await;
    let resp = c.send(&v0("PLAIN"), 0).await;
    assert_eq!(resp.error_code, 0);
    c.send_raw(&bare(b"\0alice\0alice-secret")).await;
    let answer = c.read_frame().await.expect("PLAIN's answer: an empty token");
    assert!(answer.is_empty(), "PLAIN answers success with an empty token, got {answer:?}");
    let resp: MetadataResponse = c.send(&metadata(), 12).await;
    assert_eq!(resp.brokers.len(), 1, "requests are served once authenticated");

    // A wrong password has no answer in this exchange: the connection closes.
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(c.send(&v0("PLAIN"), 0).await.error_code, 0);
    c.send_raw(&bare(b"\0alice\0nope")).await;
    assert!(c.is_closed().await);

    // An unknown mechanism is refused as in v1, with the enabled ones listed.
    let mut c = TestClient::connect(broker.local_addr()).await;
    let resp = c.send(&v0("GSSAPI"), 0).await;
    assert_eq!(resp.error_code, ResponseError::UnsupportedSaslMechanism.code());
    assert_eq!(resp.mechanisms.len(), 3);
}

/// A credential as AlterUserScramCredentials carries it: the client salts the password.
fn upsertion(user: &str, mechanism: i8, password: &str, iterations: i32) -> ScramCredentialUpsertion {
    use sha2::{Sha256, Sha512};
    let salt = b"0123456789abcdef".to_vec();
    let mut salted = vec![0u8; if mechanism == 1 { 32 } else { 64 }];
    if mechanism == 1 {
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations as u32, &mut salted);
    } else {
        pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), &salt, iterations as u32, &mut salted);
    }
    ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(user.to_owned()))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(salt.into())
        .with_salted_password(salted.into())
}

fn deletion(user: &str, mechanism: i8) -> ScramCredentialDeletion {
    ScramCredentialDeletion::default().with_name(StrBytes::from_string(user.to_owned())).with_mechanism(mechanism)
}

async fn logs_in(broker: &Broker, user: &str, password: &str) -> bool {
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(handshake(&mut c, "PLAIN").await.error_code, 0);
    plain(&mut c, user, password).await.error_code == 0
}

async fn scram_users(c: &mut TestClient, users: Option<&[&str]>) -> Vec<(String, i16, Vec<(i8, i32)>)> {
    let req = DescribeUserScramCredentialsRequest::default().with_users(users.map(|u| {
        u.iter()
            .map(|n| {
                describe_user_scram_credentials_request::UserName::default()
                    .with_name(StrBytes::from_string((*n).to_owned()))
            })
            .collect()
    }));
    let resp = c.send(&req, 0).await;
    assert_eq!(resp.error_code, 0);
    resp.results
        .iter()
        .map(|r| {
            let infos = r.credential_infos.iter().map(|i| (i.mechanism, i.iterations)).collect();
            (r.user.to_string(), r.error_code, infos)
        })
        .collect()
}

/// KIP-554: SCRAM credentials set and deleted through the API, effective for the next
/// authentication, refused as Kafka refuses them, and kept across a restart.
#[tokio::test]
async fn scram_credentials_are_altered_described_and_kept() {
    const SHA256: i8 = 1;
    const SHA512: i8 = 2;
    let (broker, dir) = sasl_broker("0").await;
    let mut alice = TestClient::connect(broker.local_addr()).await;
    assert_eq!(handshake(&mut alice, "PLAIN").await.error_code, 0);
    assert_eq!(plain(&mut alice, "alice", "alice-secret").await.error_code, 0);
    let configured = vec![(SHA256, 4096), (SHA512, 4096)];
    assert_eq!(
        scram_users(&mut alice, None).await,
        [("alice".into(), 0, configured.clone()), ("bob".into(), 0, configured.clone())]
    );
    assert!(!logs_in(&broker, "carol", "carol-pw").await);

    let alter = |deletions: Vec<ScramCredentialDeletion>, upsertions: Vec<ScramCredentialUpsertion>| {
        AlterUserScramCredentialsRequest::default().with_deletions(deletions).with_upsertions(upsertions)
    };
    let codes = |resp: AlterUserScramCredentialsResponse| -> Vec<(String, i16)> {
        resp.results.iter().map(|r| (r.user.to_string(), r.error_code)).collect()
    };
    let resp = alice
        .send(
            &alter(
                vec![deletion("bob", SHA512), deletion("nobody", SHA256)],
                vec![
                    upsertion("carol", SHA256, "carol-pw", 8192),
                    upsertion("dave", SHA256, "x", 1000),
                    upsertion("erin", 9, "x", 4096),
                    upsertion("", SHA256, "x", 4096),
                    upsertion("frank", SHA256, "x", 4096),
                    upsertion("frank", SHA256, "y", 4096),
                ],
            ),
            0,
        )
        .await;
    const RESOURCE_NOT_FOUND: i16 = 91;
    const DUPLICATE_RESOURCE: i16 = 92;
    const UNACCEPTABLE_CREDENTIAL: i16 = 93;
    const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
    assert_eq!(
        codes(resp),
        [
            ("bob".into(), 0),
            ("nobody".into(), RESOURCE_NOT_FOUND),
            ("carol".into(), 0),
            ("dave".into(), UNACCEPTABLE_CREDENTIAL),
            ("erin".into(), UNSUPPORTED_SASL_MECHANISM),
            ("".into(), UNACCEPTABLE_CREDENTIAL),
            ("frank".into(), DUPLICATE_RESOURCE),
        ]
    );
    assert!(logs_in(&broker, "carol", "carol-pw").await, "the new credential works at once");
    assert!(!logs_in(&broker, "carol", "nope").await);
    let described = scram_users(&mut alice, Some(&["bob", "carol", "frank"])).await;
    assert_eq!(
        described,
        [
            ("bob".into(), 0, vec![(SHA256, 4096)]),
            ("carol".into(), 0, vec![(SHA256, 8192)]),
            ("frank".into(), RESOURCE_NOT_FOUND, vec![]),
        ]
    );

    // Kept across a restart, on top of the config file's users.
    broker.shutdown().await.unwrap();
    let broker = ferrokafka_broker::Broker::start({
        let mut config = ferrokafka_broker::BrokerConfig {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_owned(),
            ..Default::default()
        };
        config.set("listeners", "SASL_PLAINTEXT://127.0.0.1:0").unwrap();
        config.set("users.alice", "alice-secret").unwrap();
        config.set("users.bob", "bob-secret").unwrap();
        config
    })
    .await
    .unwrap();
    assert!(logs_in(&broker, "carol", "carol-pw").await, "kept across a restart");
    let mut alice = TestClient::connect(broker.local_addr()).await;
    assert_eq!(handshake(&mut alice, "PLAIN").await.error_code, 0);
    assert_eq!(plain(&mut alice, "alice", "alice-secret").await.error_code, 0);
    assert_eq!(scram_users(&mut alice, Some(&["bob"])).await, [("bob".into(), 0, vec![(SHA256, 4096)])]);
    // Deleting the last credential removes the user.
    let resp = alice.send(&alter(vec![deletion("carol", SHA256)], vec![]), 0).await;
    assert_eq!(codes(resp), [("carol".into(), 0)]);
    assert!(!logs_in(&broker, "carol", "carol-pw").await);
    broker.shutdown().await.unwrap();
}
