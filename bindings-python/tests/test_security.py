"""SASL from Python: settings pass through to the core unchanged (SCRAM), and confluent-kafka's
``oauth_cb`` supplies OAUTHBEARER tokens; a failing callback or a wrong password is a
KafkaException naming the cause."""
import base64
import json
import time

import pytest

import ferrokafka
from ferrokafka import Consumer, KafkaException, Producer, TopicPartition
from ferrokafka.admin import AdminClient, NewTopic


@pytest.fixture(scope="module")
def sasl_broker():
    settings = {
        "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,OAUTHBEARER",
        "users.alice": "alice-secret",
    }
    with ferrokafka.Broker(settings=settings) as broker:
        yield broker.bootstrap_servers


def unsecured_jwt(sub, lifetime_s=3600):
    b64 = lambda obj: base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    now = int(time.time())
    return f'{b64({"alg": "none"})}.{b64({"sub": sub, "iat": now, "exp": now + lifetime_s})}.'


def round_trip(conf, topic, count=5):
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    p = Producer(conf)
    for i in range(count):
        p.produce(topic, value=f"v{i}".encode(), partition=0)
    assert p.flush(30) == 0
    c = Consumer({**conf, "group.id": f"g-{topic}"})
    c.assign([TopicPartition(topic, 0, ferrokafka.OFFSET_BEGINNING)])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < count and time.monotonic() < deadline:
        got += [m.value().decode() for m in c.consume(count, 1.0)]
    c.close()
    return got


def test_scram_settings_pass_through(sasl_broker):
    conf = {"bootstrap.servers": sasl_broker, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.username": "alice", "sasl.password": "alice-secret"}
    assert round_trip(conf, "py-scram") == [f"v{i}" for i in range(5)]


def test_wrong_password_is_an_authentication_error(sasl_broker):
    conf = {"bootstrap.servers": sasl_broker, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
            "sasl.username": "alice", "sasl.password": "wrong"}
    with pytest.raises(KafkaException) as raised:
        AdminClient(conf).list_topics(timeout=10)
    assert raised.value.args[0].name() == "_AUTHENTICATION", raised.value


def test_oauth_cb_supplies_the_tokens(sasl_broker):
    calls = []

    def oauth_cb(config):
        calls.append(config)
        return unsecured_jwt("alice"), time.time() + 3600

    conf = {"bootstrap.servers": sasl_broker, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
            "sasl.oauthbearer.config": "scope=test", "oauth_cb": oauth_cb}
    assert round_trip(conf, "py-oauth") == [f"v{i}" for i in range(5)]
    assert calls and set(calls) == {"scope=test"}


def test_a_failing_oauth_cb_fails_authentication_naming_it(sasl_broker):
    def oauth_cb(_config):
        raise RuntimeError("no token today")

    conf = {"bootstrap.servers": sasl_broker, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
            "oauth_cb": oauth_cb}
    with pytest.raises(KafkaException) as raised:
        AdminClient(conf).list_topics(timeout=10)
    assert raised.value.args[0].name() == "_AUTHENTICATION"
    assert "no token today" in str(raised.value)
