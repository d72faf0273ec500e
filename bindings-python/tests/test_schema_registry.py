"""The bundled broker's Schema Registry with confluent-kafka-python's own SchemaRegistryClient,
serializers and deserializers (AVRO, JSON Schema, Protobuf), records through the broker:
schema evolution, look-ups by id, versions and subjects, and everything intact after the
broker process is SIGKILLed and restarted."""
import os
import signal
import subprocess
import sys
import uuid

import pytest

import ferrokafka
import ferrokafka.broker

pytest.importorskip("fastavro")
pytest.importorskip("jsonschema")
pytest.importorskip("google.protobuf")

from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer  # noqa: E402
from confluent_kafka.schema_registry.error import SchemaRegistryError  # noqa: E402
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer  # noqa: E402
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

USER_V1 = """{"type": "record", "name": "User", "namespace": "acme",
  "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}]}"""
USER_V2 = """{"type": "record", "name": "User", "namespace": "acme",
  "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"},
             {"name": "email", "type": ["null", "string"], "default": null}]}"""
USER_NO_DEFAULT = """{"type": "record", "name": "User", "namespace": "acme",
  "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"},
             {"name": "country", "type": "string"}]}"""
ORDER_JSON = """{"$schema": "http://json-schema.org/draft-07/schema#", "title": "Order", "type": "object",
  "properties": {"id": {"type": "string"}, "cents": {"type": "integer"}}, "required": ["id"]}"""


@pytest.fixture(scope="module")
def broker():
    with ferrokafka.Broker() as b:
        assert b.schema_registry_url.startswith("http://127.0.0.1:")
        yield b


def topic_name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def produce(bootstrap, topic, values):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for v in values:
        p.produce(topic, value=v)
    assert p.flush(30) == 0


def consume(bootstrap, topic, count):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": topic_name("g"), "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    try:
        for _ in range(120):
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m.value())
            if len(got) == count:
                break
    finally:
        c.close()
    assert len(got) == count
    return got


def ctx(topic):
    return SerializationContext(topic, MessageField.VALUE)


def test_the_in_process_broker_serves_the_registry_unless_turned_off(tmp_path):
    with ferrokafka.Broker(settings={"schema.registry.listeners": ""}) as b:
        assert b.schema_registry_url is None
    with ferrokafka.broker.start(data_dir=tmp_path) as b:
        assert b.schema_registry_url.startswith("http://127.0.0.1:")


def test_avro_round_trip_and_evolution(broker):
    client = SchemaRegistryClient({"url": broker.schema_registry_url})
    topic = topic_name("avro")
    subject = f"{topic}-value"
    ser = AvroSerializer(client, USER_V1)
    users = [{"name": f"user-{i}", "age": 20 + i} for i in range(5)]
    produce(broker.bootstrap_servers, topic, [ser(u, ctx(topic)) for u in users])

    # Read back with a fresh client: the writer's schema comes from the registry by id.
    reader = AvroDeserializer(SchemaRegistryClient({"url": broker.schema_registry_url}))
    assert [reader(v, ctx(topic)) for v in consume(broker.bootstrap_servers, topic, 5)] == users

    # Evolution: an optional field registers; a field without a default is refused (409).
    v2_id = client.register_schema(subject, Schema(USER_V2, "AVRO"))
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(USER_NO_DEFAULT, "AVRO"))
    assert refused.value.http_status_code == 409
    assert refused.value.error_code == 409
    # A v2 reader reads v1 records, the new field at its default.
    v2_reader = AvroDeserializer(client, USER_V2)
    first = consume(broker.bootstrap_servers, topic, 5)[0]
    assert v2_reader(first, ctx(topic)) == {"name": "user-0", "age": 20, "email": None}

    assert subject in client.get_subjects()
    assert client.get_versions(subject) == [1, 2]
    latest = client.get_latest_version(subject)
    assert (latest.version, latest.schema_id) == (2, v2_id)
    v1 = client.get_version(subject, 1)
    assert "".join(client.get_schema(v1.schema_id).schema_str.split()) == "".join(USER_V1.split())
    found = client.lookup_schema(subject, Schema(USER_V1, "AVRO"))
    assert (found.version, found.schema_id) == (1, v1.schema_id)
    assert client.get_compatibility() == "BACKWARD"
    client.set_compatibility(subject, "NONE")
    assert client.get_compatibility(subject) == "NONE"
    assert client.register_schema(subject, Schema(USER_NO_DEFAULT, "AVRO")) > v2_id
    assert client.test_compatibility(subject, Schema(USER_V1, "AVRO")) is True
    assert sorted(client.get_schema_types()) == ["AVRO", "JSON", "PROTOBUF"]

    assert client.delete_subject(subject) == [1, 2, 3]
    assert subject not in client.get_subjects()
    with pytest.raises(SchemaRegistryError) as missing:
        client.get_versions(subject)
    assert missing.value.error_code == 40401


def test_json_schema_round_trip(broker):
    client = SchemaRegistryClient({"url": broker.schema_registry_url})
    topic = topic_name("json")
    ser = JSONSerializer(ORDER_JSON, client)
    orders = [{"id": f"o{i}", "cents": i * 100} for i in range(3)]
    produce(broker.bootstrap_servers, topic, [ser(o, ctx(topic)) for o in orders])
    de = JSONDeserializer(None, schema_registry_client=SchemaRegistryClient({"url": broker.schema_registry_url}))
    assert [de(v, ctx(topic)) for v in consume(broker.bootstrap_servers, topic, 3)] == orders
    registered = client.get_latest_version(f"{topic}-value")
    assert registered.schema.schema_type == "JSON"
    # Narrowing a type is refused under BACKWARD.
    narrowed = ORDER_JSON.replace('"cents": {"type": "integer"}', '"cents": {"type": "integer", "maximum": 5}')
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(f"{topic}-value", Schema(narrowed, "JSON"))
    assert refused.value.http_status_code == 409


def order_class():
    """A Protobuf message class built at run time (no protoc): acme.Order in acme/order.proto."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    fd = descriptor_pb2.FileDescriptorProto(name=f"acme/order_{uuid.uuid4().hex[:6]}.proto", package="acme",
                                            syntax="proto3")
    fd.dependency.append("google/protobuf/timestamp.proto")
    m = fd.message_type.add(name="Order")
    m.field.add(name="id", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    m.field.add(name="cents", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
                label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    m.field.add(name="at", number=3, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                type_name=".google.protobuf.Timestamp", label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    from google.protobuf import timestamp_pb2  # noqa: F401 (puts timestamp.proto in the default pool)
    pool = descriptor_pool.Default()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("acme.Order"))


def test_protobuf_round_trip(broker):
    Order = order_class()
    client = SchemaRegistryClient({"url": broker.schema_registry_url})
    topic = topic_name("proto")
    ser = ProtobufSerializer(Order, client, {"use.deprecated.format": False})
    orders = [Order(id=f"o{i}", cents=i) for i in range(3)]
    for o in orders:
        o.at.seconds = 1_700_000_000
    produce(broker.bootstrap_servers, topic, [ser(o, ctx(topic)) for o in orders])
    de = ProtobufDeserializer(Order, {"use.deprecated.format": False},
                              schema_registry_client=SchemaRegistryClient({"url": broker.schema_registry_url}))
    assert [de(v, ctx(topic)) for v in consume(broker.bootstrap_servers, topic, 3)] == orders
    subject = f"{topic}-value"
    registered = client.get_latest_version(subject)
    assert registered.schema.schema_type == "PROTOBUF"
    # The descriptor the serializer registered, and the .proto text of the same file, are one schema.
    text = (f'syntax = "proto3";\npackage acme;\nimport "google/protobuf/timestamp.proto";\n'
            f'message Order {{ string id = 1; int64 cents = 2; google.protobuf.Timestamp at = 3; }}\n')
    assert client.lookup_schema(subject, Schema(text, "PROTOBUF")).schema_id == registered.schema_id
    # Changing a field's type is refused.
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(text.replace("int64 cents", "string cents"), "PROTOBUF"))
    assert refused.value.http_status_code == 409


def start_process(data_dir):
    """`python -m ferrokafka.broker` with the registry on: (process, bootstrap, registry URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferrokafka.broker", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
         "--log-level", "warn", "--set", "schema.registry.listeners=http://127.0.0.1:0"],
        stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline().strip()
    second = proc.stdout.readline().strip()
    assert first.startswith("ferrokafka-broker listening on "), first
    assert second.startswith("ferrokafka-broker schema-registry on "), second
    return proc, first.rsplit(" ", 1)[1], second.rsplit(" ", 1)[1]


def test_everything_survives_sigkill(tmp_path):
    proc, bootstrap, url = start_process(tmp_path)
    try:
        client = SchemaRegistryClient({"url": url})
        topic = topic_name("crash")
        ser = AvroSerializer(client, USER_V1)
        users = [{"name": f"u{i}", "age": i} for i in range(10)]
        produce(bootstrap, topic, [ser(u, ctx(topic)) for u in users])
        v2_id = client.register_schema(f"{topic}-value", Schema(USER_V2, "AVRO"))
        subjects = client.get_subjects()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()

    proc, bootstrap, url = start_process(tmp_path)
    try:
        client = SchemaRegistryClient({"url": url})
        assert client.get_subjects() == subjects
        assert client.get_versions(f"{topic}-value") == [1, 2]
        assert client.get_latest_version(f"{topic}-value").schema_id == v2_id
        reader = AvroDeserializer(client)
        assert [reader(v, ctx(topic)) for v in consume(bootstrap, topic, 10)] == users
        # Ids carry on from where they were.
        other = USER_V1.replace('"User"', '"Admin"')
        assert client.register_schema(topic_name("s"), Schema(other, "AVRO")) == v2_id + 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        proc.stdout.close()
