"""Errors cross the binding as confluent-kafka raises them: KafkaException(KafkaError) with
librdkafka's codes and names, BufferError for a full queue, RuntimeError after close."""
import os
import sys

import pytest

import ferrokafka
from ferrokafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from ferrokafka.admin import AdminClient

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS = [Producer, Consumer, AdminClient]


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("key", ["linger.mss", "enable.partition.eof", "queue.buffering.max.ms", "debug", "default.topic.config"])
def test_unknown_configuration_keys_are_errors_naming_the_key(client, key):
    with pytest.raises(KafkaException) as e:
        client({"bootstrap.servers": "127.0.0.1:9", "group.id": "g", key: "1"} if client is Consumer
               else {"bootstrap.servers": "127.0.0.1:9", key: "1"})
    err = e.value.args[0]
    assert err.code() == KafkaError._INVALID_ARG and err.name() == "_INVALID_ARG"
    assert key in err.str()


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("key", ["error_cb", "stats_cb", "throttle_cb", "logger", "on_commit"])
def test_callback_settings_ferrokafka_cannot_honour_are_errors(client, key):
    with pytest.raises(KafkaException) as e:
        client({"bootstrap.servers": "127.0.0.1:9", key: lambda *a: None})
    assert e.value.args[0].code() == KafkaError._INVALID_ARG and key in e.value.args[0].str()


def test_bad_values_name_the_key():
    with pytest.raises(KafkaException) as e:
        Producer({"bootstrap.servers": "127.0.0.1:9", "acks": 2})
    assert "acks" in str(e.value)
    with pytest.raises(KafkaException) as e:
        Producer(**{"bootstrap.servers": "127.0.0.1:9", "enable.idempotence": True, "acks": 1})
    assert "enable.idempotence" in e.value.args[0].str()


def test_buffer_error_when_the_queue_is_full_and_unknown_partitions(bootstrap, new_topic):
    topic = new_topic(1)
    p = Producer({"bootstrap.servers": bootstrap, "queue.buffering.max.messages": 5, "linger.ms": 60000})
    for _ in range(5):
        p.produce(topic, value=b"x")
    with pytest.raises(BufferError):
        p.produce(topic, value=b"one too many")
    assert len(p) == 5
    assert p.flush(30) == 0
    p.produce(topic, value=b"room again")
    with pytest.raises(KafkaException) as e:
        p.produce(topic, value=b"x", partition=9)
    assert e.value.args[0].code() == KafkaError._UNKNOWN_PARTITION
    with pytest.raises(KafkaException) as e:
        p.produce(topic, value=b"x" * 2_000_000)
    assert e.value.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE
    with pytest.raises(TypeError):
        p.produce(topic, value=12)
    assert p.flush(30) == 0


def test_purge_drops_queued_records_with_purge_queue_reports(bootstrap, new_topic):
    topic = new_topic(1)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 60_000})  # nothing leaves before flush
    reports = []
    for i in range(5):
        p.produce(topic, value=f"v{i}".encode(), partition=0, on_delivery=lambda err, msg: reports.append((err, msg)))
    p.purge()
    assert p.flush(30) == 0
    assert len(reports) == 5
    assert all(err is not None and err.code() == KafkaError._PURGE_QUEUE for err, _ in reports), reports
    assert all(msg.error() is not None and msg.value().startswith(b"v") for _, msg in reports)
    p.produce(topic, value=b"kept", partition=0)
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"purge-{topic}"})
    c.assign([TopicPartition(topic, 0, ferrokafka.OFFSET_BEGINNING)])
    got = c.consume(10, 10)
    c.close()
    assert [m.value() for m in got] == [b"kept"], "purged records were never written"


def test_consumer_errors(bootstrap, new_topic):
    topic = new_topic(1)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"e-{topic}"})
    with pytest.raises(KafkaException) as e:
        c.seek(TopicPartition(topic, 0, 3))  # not assigned
    assert e.value.args[0].code() == KafkaError._UNKNOWN_PARTITION
    c.assign([TopicPartition(topic, 0, 0)])
    with pytest.raises(KafkaException) as e:
        c.seek(TopicPartition(topic, 0, ferrokafka.OFFSET_STORED))
    assert e.value.args[0].code() == KafkaError._INVALID_ARG
    c.close()
    with pytest.raises(RuntimeError, match="Consumer closed"):
        c.poll(0)
    c.close()  # again: nothing to do
    groupless = Consumer({"bootstrap.servers": bootstrap})
    with pytest.raises(KafkaException) as e:
        groupless.subscribe([topic])
    assert e.value.args[0].code() == KafkaError._INVALID_ARG and "group.id" in e.value.args[0].str()
    groupless.close()


def test_transport_errors_are_retriable_local_errors(tmp_path):
    c = Consumer({"bootstrap.servers": "127.0.0.1:9", "group.id": "nobody", "socket.connection.setup.timeout.ms": 500,
                  "request.timeout.ms": 1000})
    with pytest.raises(KafkaException) as e:
        c.committed([TopicPartition("t", 0)])
    err = e.value.args[0]
    assert err.code() in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT) and err.retriable() and not err.fatal()


def test_kafka_error_matches_confluent_kafkas():
    confluent_kafka = pytest.importorskip("confluent_kafka")
    theirs = confluent_kafka.KafkaError
    for attr in dir(theirs):
        value = getattr(theirs, attr)
        if attr.startswith("__") or not isinstance(value, int):
            continue
        assert getattr(KafkaError, attr) == value, attr
        ours, ref = KafkaError(value), theirs(value)
        assert (ours.code(), ours.name(), ours.str()) == (ref.code(), ref.name(), ref.str())
    for args in [(KafkaError._INVALID_ARG, "boom"), (3,), (KafkaError._TRANSPORT, None, False, True)]:
        ours, ref = KafkaError(*args), theirs(*args)
        assert (ours.code(), ours.name(), ours.str(), ours.retriable(), ours.fatal(), str(ours)) == \
               (ref.code(), ref.name(), ref.str(), ref.retriable(), ref.fatal(), str(ref))
    assert KafkaError(3) == 3 and KafkaError(3) == KafkaError(3) and KafkaError(3) != KafkaError(6)
    assert KafkaError.NOT_LEADER_OR_FOLLOWER == KafkaError.NOT_LEADER_FOR_PARTITION == 6


def test_the_generated_error_table_is_current():
    """core/src/error_codes.rs is what tools/gen_error_codes.py makes from the installed
    confluent-kafka: regenerate it when confluent-kafka (librdkafka) moves."""
    pytest.importorskip("confluent_kafka")
    sys.path.insert(0, os.path.join(HERE, "..", "tools"))
    import gen_error_codes
    with open(os.path.join(HERE, "..", "..", "core", "src", "error_codes.rs")) as f:
        assert f.read() == gen_error_codes.render(), "run tools/gen_error_codes.py"
