"""Our Rust serializers and confluent-kafka's (librdkafka + fastavro) read each other's records
through the bundled broker and its Schema Registry: the Rust example examples/rust/avro_serde.rs
writes Avro payments that confluent-kafka's AvroDeserializer reads, and confluent-kafka's
AvroSerializer writes the same values byte for byte."""
import os
import socket
import subprocess
import tempfile

import pytest

from conftest import DIE_WITH_PARENT, BrokerProcess

pytest.importorskip("fastavro")
from confluent_kafka import Consumer  # noqa: E402
from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

AVRO_SERDE = os.environ.get("FERROKAFKA_AVRO_SERDE_BIN", "target/debug/examples/avro_serde")
PAYMENT_V1 = """{"type": "record", "name": "Payment", "namespace": "shop", "fields": [
    {"name": "id", "type": "string"},
    {"name": "cents", "type": "long"},
    {"name": "note", "type": ["null", "string"], "default": null}]}"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def broker_with_registry():
    with tempfile.TemporaryDirectory() as data_dir:
        url = f"http://127.0.0.1:{free_port()}"
        broker = BrokerProcess(data_dir, ["--set", f"schema.registry.listeners={url}"])
        broker.start()
        try:
            yield broker.bootstrap, url
        finally:
            broker.close()


def test_rust_avro_records_read_by_confluent_kafka_and_written_alike(broker_with_registry):
    bootstrap, url = broker_with_registry
    run = subprocess.run([*DIE_WITH_PARENT, AVRO_SERDE, bootstrap, url], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "read as v2: p-2 300 EUR" in run.stdout

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "serde-interop", "auto.offset.reset": "earliest"})
    consumer.subscribe(["payments"])
    raw = []
    while len(raw) < 3:
        m = consumer.poll(10)
        assert m is not None, "the example's records arrive"
        assert m.error() is None, m.error()
        raw.append(m.value())
    consumer.close()

    client = SchemaRegistryClient({"url": url})
    ctx = SerializationContext("payments", MessageField.VALUE)
    theirs = AvroDeserializer(client)
    values = [theirs(b, ctx) for b in raw]
    assert values == [
        {"id": "p-0", "cents": 100, "note": None},
        {"id": "p-1", "cents": 200, "note": "gift"},
        {"id": "p-2", "cents": 300, "note": None},
    ]
    # Their serializer, given the same schema and values, writes the same bytes (same id).
    serializer = AvroSerializer(client, PAYMENT_V1, conf={"auto.register.schemas": False, "use.latest.version": True})
    assert [serializer(v, ctx) for v in values] == raw
