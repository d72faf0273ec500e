"""librdkafka (confluent-kafka) against the bundled broker over TLS and SASL: SASL_SSL with
SCRAM-SHA-256/512, mutual TLS, a wrong password, and ACLs. Certificates are made for this run
with the openssl CLI; no key is committed."""
import os
import re
import signal
import subprocess
import tempfile
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   NewTopic, ResourcePatternType, ResourceType)

from conftest import BINARY, DIE_WITH_PARENT, READY

LISTENER = "ferrokafka-broker listener "


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def issue(dir, name, cn, ext):
    """A P-256 key and a certificate for it signed by the test CA."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=dir)
    with open(os.path.join(dir, f"{name}.ext"), "w") as f:
        f.write(ext)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=dir)
    return os.path.join(dir, f"{name}.pem"), os.path.join(dir, f"{name}.key")


@pytest.fixture(scope="module")
def secure_broker():
    with tempfile.TemporaryDirectory() as tmp:
        certs = os.path.join(tmp, "certs")
        data = os.path.join(tmp, "data")
        os.makedirs(certs)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                "-out", "ca.pem", "-days", "2", "-subj", "/CN=ferrokafka interop CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                cwd=certs)
        broker_cert, broker_key = issue(certs, "broker", "broker", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        client_cert, client_key = issue(certs, "client", "mtls-client", "extendedKeyUsage=clientAuth\n")
        config = os.path.join(tmp, "broker.toml")
        with open(config, "w") as f:
            f.write(f"""
listeners = "SASL_SSL://127.0.0.1:0,MTLS://127.0.0.1:0"
listener.security.protocol.map = "MTLS:SSL"
listener.name.mtls.ssl.client.auth = "required"
ssl.certificate.location = "{broker_cert}"
ssl.key.location = "{broker_key}"
ssl.ca.location = "{os.path.join(certs, 'ca.pem')}"
authorizer.class.name = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
super.users = "User:admin"
allow.everyone.if.no.acl.found = true
sasl.enabled.mechanisms = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"

[users]
admin = "admin-secret"
alice = "alice-secret"
bob = "bob-secret"
""")
        proc = subprocess.Popen([*DIE_WITH_PARENT, BINARY, "--config", config, "--data-dir", data, "--log-level", "warn"],
                                stdout=subprocess.PIPE, text=True)
        listeners = {}
        try:
            while True:
                line = proc.stdout.readline()
                assert line, "broker exited before it was ready"
                if line.startswith(LISTENER):
                    name, _, addr = line[len(LISTENER):].strip().partition(" on ")
                    listeners[name] = addr
                elif line.startswith(READY):
                    listeners["SASL_SSL"] = line[len(READY):].strip()
                    break
            yield {
                "listeners": listeners,
                "ca": os.path.join(certs, "ca.pem"),
                "client_cert": client_cert,
                "client_key": client_key,
            }
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


def scram(broker, user, mechanism="SCRAM-SHA-256", password=None, **extra):
    return {
        "bootstrap.servers": broker["listeners"]["SASL_SSL"],
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password or f"{user}-secret",
        "ssl.ca.location": broker["ca"],
        **extra,
    }


def serve_errors(client, errors):
    """librdkafka hands errors to error_cb from poll: poll until one arrived (or 10 s)."""
    for _ in range(10):
        if errors:
            return
        client.poll(1)


def round_trip(config, topic, n=50):
    """Produces n records with librdkafka and reads them back; returns their values."""
    producer = Producer({**config, "enable.idempotence": True, "linger.ms": 5})
    errors = []
    for i in range(n):
        producer.produce(topic, value=f"v{i}".encode(), on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(30) == 0
    assert errors == []
    consumer = Consumer({**config, "group.id": unique("g"), "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values = []
    try:
        while len(values) < n:
            msg = consumer.poll(15)
            assert msg is not None, f"timed out after {len(values)} of {n}"
            assert msg.error() is None, msg.error()
            values.append(msg.value().decode())
    finally:
        consumer.close()
    return values


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_sasl_ssl_produce_and_group_consume(secure_broker, mechanism):
    topic = unique(f"sec-{mechanism.lower()}")
    assert round_trip(scram(secure_broker, "alice", mechanism), topic) == [f"v{i}" for i in range(50)]


def test_oauthbearer_with_librdkafkas_unsecured_jwt(secure_broker):
    """librdkafka makes an unsecured JWT for principal alice; the broker validates it as
    Kafka's default validator does."""
    config = {
        "bootstrap.servers": secure_broker["listeners"]["SASL_SSL"],
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": secure_broker["ca"],
        "sasl.mechanism": "OAUTHBEARER",
        "enable.sasl.oauthbearer.unsecure.jwt": True,
        "sasl.oauthbearer.config": "principal=alice",
    }
    assert round_trip(config, unique("sec-oauth"), 10) == [f"v{i}" for i in range(10)]


def test_mutual_tls(secure_broker):
    config = {
        "bootstrap.servers": secure_broker["listeners"]["MTLS"],
        "security.protocol": "SSL",
        "ssl.ca.location": secure_broker["ca"],
        "ssl.certificate.location": secure_broker["client_cert"],
        "ssl.key.location": secure_broker["client_key"],
    }
    assert round_trip(config, unique("sec-mtls"), 20) == [f"v{i}" for i in range(20)]
    # Without a client certificate the MTLS listener refuses the handshake.
    errors = []
    no_cert = {k: v for k, v in config.items() if not k.startswith("ssl.certificate") and not k.startswith("ssl.key")}
    admin = AdminClient({**no_cert, "error_cb": errors.append})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)
    serve_errors(admin, errors)
    assert any("certificate required" in e.str() for e in errors), errors


def test_wrong_password_is_an_authentication_error(secure_broker):
    errors = []
    admin = AdminClient({**scram(secure_broker, "alice", password="wrong"), "error_cb": errors.append})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)
    serve_errors(admin, errors)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
    assert any("invalid credentials" in e.str() for e in errors), errors


def test_acls_allow_alice_and_refuse_bob(secure_broker):
    topic = unique("sec-acl")
    admin = AdminClient(scram(secure_broker, "admin"))
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(15)
    bindings = [
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*", op, AclPermissionType.ALLOW)
        for op in (AclOperation.WRITE, AclOperation.READ)
    ]
    for future in admin.create_acls(bindings).values():
        future.result(15)
    described = admin.describe_acls(AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.ANY, None, None,
                                                     AclOperation.ANY, AclPermissionType.ANY)).result(15)
    assert sorted(b.operation for b in described) == sorted([AclOperation.WRITE, AclOperation.READ])

    assert round_trip(scram(secure_broker, "alice"), topic, 10) == [f"v{i}" for i in range(10)]

    # bob: writes refused with TOPIC_AUTHORIZATION_FAILED, nothing appended.
    bob = Producer({**scram(secure_broker, "bob"), "enable.idempotence": False, "message.timeout.ms": 10000})
    failures = []
    bob.produce(topic, value=b"not allowed", on_delivery=lambda err, msg: failures.append(err))
    bob.flush(15)
    assert [e.code() for e in failures] == [KafkaError.TOPIC_AUTHORIZATION_FAILED], failures
    # ... and reads refused the same way, never the records.
    consumer = Consumer({**scram(secure_broker, "bob"), "group.id": unique("bob"), "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        for _ in range(15):
            msg = consumer.poll(1)
            if msg is not None:
                break
        assert msg is not None and msg.error() is not None, "bob must get an error, not data"
        assert msg.error().code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, msg.error()
    finally:
        consumer.close()
    # bob may not change ACLs once the cluster resource has ACLs of its own (until then
    # allow.everyone.if.no.acl.found=true opens it, as in Kafka).
    cluster = AclBinding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL, "User:alice", "*",
                         AclOperation.DESCRIBE, AclPermissionType.ALLOW)
    for future in admin.create_acls([cluster]).values():
        future.result(15)
    bob_admin = AdminClient(scram(secure_broker, "bob"))
    with pytest.raises(KafkaException) as denied:
        for future in bob_admin.create_acls(bindings[:1]).values():
            future.result(15)
    assert denied.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_our_client_over_sasl_ssl_scram_against_apache_kafka(apache_kafka_sasl_ssl):
    """core/tests/security.rs scram_over_sasl_ssl_against_any_broker, pointed at Apache Kafka's
    SASL_SSL listener: SCRAM-SHA-256 and -512 produce and consume, a wrong password is
    Error::Authentication."""
    env = {**os.environ, "RUST_BACKTRACE": "0",
           "FERROKAFKA_TEST_SASL_SSL_BOOTSTRAP": apache_kafka_sasl_ssl.sasl_ssl_bootstrap,
           "FERROKAFKA_TEST_SASL_SSL_CA": apache_kafka_sasl_ssl.ca_pem}
    out = subprocess.run(["cargo", "test", "-q", "-p", "ferrokafka", "--test", "security", "--",
                          "--exact", "scram_over_sasl_ssl_against_any_broker"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert re.search(r"test result: ok\. 1 passed", out.stdout), out.stdout[-2000:]


def scram_credentials_round(admin_config, login_config):
    """KIP-554 through confluent-kafka's AdminClient: a new SCRAM user logs in at once, is
    described with its iterations, and cannot log in once its credential is deleted."""
    from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion,
                                       UserScramCredentialUpsertion)
    admin = AdminClient(admin_config)
    user = unique("carol")
    upsert = UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"carol-pw")
    admin.alter_user_scram_credentials([upsert])[user].result(30)
    described = admin.describe_user_scram_credentials([user])[user].result(30)
    infos = [(i.mechanism, i.iterations) for i in described.scram_credential_infos]
    assert infos == [(ScramMechanism.SCRAM_SHA_256, 8192)]

    producer = Producer({**login_config(user, "carol-pw"), "message.timeout.ms": 20000})
    assert producer.list_topics(timeout=20).brokers, "the new user logs in"

    admin.alter_user_scram_credentials([UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_256)])[user].result(30)
    with pytest.raises(KafkaException) as e:
        admin.describe_user_scram_credentials([user])[user].result(30)
    assert e.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
    errors = []
    refused = Producer({**login_config(user, "carol-pw"), "error_cb": errors.append})
    serve_errors(refused, errors)
    assert any(err.code() == KafkaError._AUTHENTICATION for err in errors), errors


def test_scram_credentials_through_the_admin_api(secure_broker):
    scram_credentials_round(scram(secure_broker, "admin"),
                            lambda user, password: scram(secure_broker, user, password=password))


def test_scram_credentials_through_the_admin_api_on_apache_kafka(apache_kafka_sasl_ssl):
    cluster = apache_kafka_sasl_ssl
    scram_credentials_round(
        {"bootstrap.servers": cluster.bootstrap},
        lambda user, password: {"bootstrap.servers": cluster.sasl_ssl_bootstrap, "security.protocol": "SASL_SSL",
                                "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": user, "sasl.password": password,
                                "ssl.ca.location": cluster.ca_pem})
