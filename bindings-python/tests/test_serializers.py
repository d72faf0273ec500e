"""ferrokafka.schema_registry's serializers next to confluent-kafka's, against the bundled
broker's registry: the same bytes both ways (theirs encode, ours decode; ours encode, theirs
decode) for Avro, JSON Schema and Protobuf, schema violations that name the field, and the same
user code running with only the import changed."""
import importlib
import os
import subprocess
import sys
import uuid

import pytest

import ferrokafka
from ferrokafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from ferrokafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from ferrokafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from ferrokafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from ferrokafka.serialization import (MessageField, SerializationContext, SerializationError,
                                      ValueSerializationError)

pytest.importorskip("fastavro")
pytest.importorskip("jsonschema")
pytest.importorskip("google.protobuf")

import confluent_kafka.schema_registry as c_sr  # noqa: E402
import confluent_kafka.schema_registry.avro as c_avro  # noqa: E402
import confluent_kafka.schema_registry.json_schema as c_json  # noqa: E402
import confluent_kafka.schema_registry.protobuf as c_proto  # noqa: E402
import confluent_kafka.serialization as c_ser  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "python", "avro_serde.py")

ORDER_AVRO = """{"type": "record", "name": "Order", "namespace": "shop", "fields": [
  {"name": "id", "type": "string"},
  {"name": "quantity", "type": "int"},
  {"name": "total", "type": "long"},
  {"name": "price", "type": "double"},
  {"name": "weight", "type": "float"},
  {"name": "paid", "type": "boolean"},
  {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "SHIPPED"]}},
  {"name": "tags", "type": {"type": "array", "items": "string"}},
  {"name": "attrs", "type": {"type": "map", "values": "long"}},
  {"name": "note", "type": ["null", "string"], "default": null},
  {"name": "blob", "type": "bytes"},
  {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
  {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
    {"name": "name", "type": "string"}, {"name": "vip", "type": "boolean"}]}}
]}"""

USER_V1 = """{"type": "record", "name": "User", "namespace": "acme",
  "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}]}"""
USER_V2 = """{"type": "record", "name": "User", "namespace": "acme",
  "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"},
             {"name": "email", "type": ["null", "string"], "default": null}]}"""

ORDER_JSON = """{"$schema": "http://json-schema.org/draft-07/schema#", "title": "Order", "type": "object",
  "properties": {"id": {"type": "string"}, "cents": {"type": "integer"}, "lines": {"type": "array",
  "items": {"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "number"}}}}},
  "required": ["id"]}"""


def order(i):
    return {"id": f"o-{i}", "quantity": i, "total": 10**12 + i, "price": 9.99 * i, "weight": 0.5 + i,
            "paid": i % 2 == 0, "status": "SHIPPED" if i % 2 else "NEW", "tags": ["a", f"t{i}"],
            "attrs": {"x": i}, "note": None if i % 2 else f"note é {i}", "blob": bytes([i, 0, 255]),
            "digest": b"\x00\x01\x02" + bytes([i]), "customer": {"name": "ada", "vip": True}}


@pytest.fixture(scope="module")
def broker():
    with ferrokafka.Broker() as b:
        yield b


@pytest.fixture()
def clients(broker):
    """(ours, confluent-kafka's) registry clients on the bundled registry."""
    conf = {"url": broker.schema_registry_url}
    return SchemaRegistryClient(conf), c_sr.SchemaRegistryClient(conf)


def topic_name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ctxs(topic, field="VALUE"):
    return (SerializationContext(topic, getattr(MessageField, field)),
            c_ser.SerializationContext(topic, getattr(c_ser.MessageField, field)))


def test_avro_bytes_match_confluent_both_ways(clients):
    ours, theirs = clients
    topic = topic_name("avro")
    ctx, cctx = ctxs(topic)
    for i, (first, second) in enumerate([("theirs", "ours"), ("ours", "theirs")]):
        # Either side may register the schema first: the other finds it under the same id.
        t = f"{topic}-{i}"
        ctx, cctx = ctxs(t)
        ser = {"ours": AvroSerializer(ours, ORDER_AVRO), "theirs": c_avro.AvroSerializer(theirs, ORDER_AVRO)}
        done = {first: ser[first](order(i), ctx if first == "ours" else cctx)}
        done[second] = ser[second](order(i), ctx if second == "ours" else cctx)
        assert done["ours"] == done["theirs"]
    values = [order(i) for i in range(4)]
    ours_bytes = [AvroSerializer(ours, ORDER_AVRO)(v, ctx) for v in values]
    theirs_bytes = [c_avro.AvroSerializer(theirs, ORDER_AVRO)(v, cctx) for v in values]
    assert ours_bytes == theirs_bytes
    ours_de, theirs_de = AvroDeserializer(ours), c_avro.AvroDeserializer(theirs)
    for v, b in zip(values, ours_bytes):
        mine, theirs_read = ours_de(b, ctx), theirs_de(b, cctx)
        assert theirs_read == mine
        assert list(mine) == list(theirs_read), "records come back in field order"
        assert mine["id"] == v["id"] and mine["blob"] == v["blob"] and mine["digest"] == v["digest"]
        assert mine["weight"] == pytest.approx(v["weight"])
    # Avro maps are unordered, and the core writes their entries in its own order (apache-avro
    # keeps maps in a HashMap): with several entries the bytes may differ, the values do not.
    many = dict(order(9), attrs={f"k{j}": j for j in range(20)})
    assert theirs_de(AvroSerializer(ours, ORDER_AVRO)(many, ctx), cctx)["attrs"] == many["attrs"]
    assert ours_de(c_avro.AvroSerializer(theirs, ORDER_AVRO)(many, cctx), ctx)["attrs"] == many["attrs"]


def test_avro_keys_reader_schemas_and_to_dict(clients):
    ours, theirs = clients
    topic = topic_name("avro-key")
    ctx, cctx = ctxs(topic, "KEY")
    ser = AvroSerializer(ours, USER_V1, to_dict=lambda user, c: {"name": user[0], "age": user[1]})
    data = ser(("ada", 36), ctx)
    assert theirs.get_latest_version(f"{topic}-key").schema_id == int.from_bytes(data[1:5], "big")
    assert c_avro.AvroDeserializer(theirs)(data, cctx) == {"name": "ada", "age": 36}
    # A newer reader schema reads the old record, the new field at its default.
    v2 = AvroDeserializer(ours, USER_V2, from_dict=lambda d, c: (d["name"], d["email"]))
    assert v2(data, ctx) == ("ada", None)
    assert ser(None, ctx) is None and v2(None, ctx) is None


def test_avro_violations_name_the_field(clients):
    ours, _ = clients
    ctx, _ = ctxs(topic_name("avro-bad"))
    ser = AvroSerializer(ours, USER_V1)
    with pytest.raises(SerializationError) as e:
        ser({"name": "ada", "age": "old"}, ctx)
    assert "age" in str(e.value)
    assert isinstance(e.value, ValueSerializationError) and isinstance(e.value, ValueError)
    assert e.value.args[0].code() == ferrokafka.KafkaError._VALUE_SERIALIZATION
    with pytest.raises(SerializationError) as e:
        ser({"name": "ada"}, ctx)
    assert "age" in str(e.value)
    with pytest.raises(SerializationError) as e:
        AvroDeserializer(ours)(b"not framed", ctx)
    assert e.value.args[0].code() == ferrokafka.KafkaError._VALUE_DESERIALIZATION


def test_json_bytes_match_confluent_both_ways(clients):
    ours, theirs = clients
    topic = topic_name("json")
    ctx, cctx = ctxs(topic)
    # Keys out of alphabetical order and non-ASCII text: the bytes keep both, as confluent-kafka's.
    docs = [{"id": f"o{i}", "lines": [{"sku": "café", "qty": 1.5 * i}], "cents": i * 100} for i in range(3)]
    theirs_bytes = [c_json.JSONSerializer(ORDER_JSON, theirs)(d, cctx) for d in docs]
    ours_bytes = [JSONSerializer(ORDER_JSON, ours)(d, ctx) for d in docs]
    assert ours_bytes == theirs_bytes
    assert [JSONDeserializer(None, schema_registry_client=ours)(b, ctx) for b in theirs_bytes] == docs
    assert [c_json.JSONDeserializer(None, schema_registry_client=theirs)(b, cctx) for b in ours_bytes] == docs
    # A reader schema without a registry client, as confluent-kafka allows.
    assert JSONDeserializer(ORDER_JSON)(ours_bytes[0], ctx) == docs[0]


def test_json_violations_name_the_field(clients):
    ours, _ = clients
    ctx, _ = ctxs(topic_name("json-bad"))
    with pytest.raises(SerializationError) as e:
        JSONSerializer(ORDER_JSON, ours)({"id": "o1", "cents": "lots"}, ctx)
    assert "cents" in str(e.value)
    with pytest.raises(SerializationError) as e:
        JSONSerializer(ORDER_JSON, ours)({"cents": 1}, ctx)
    assert "id" in str(e.value)


def order_class():
    """Two Protobuf message classes built at run time (no protoc) in one file importing
    google/protobuf/timestamp.proto: shop.Other and shop.Order (message index 1)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from google.protobuf import timestamp_pb2  # noqa: F401 (puts timestamp.proto in the default pool)
    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name=f"shop/order_{uuid.uuid4().hex[:6]}.proto", package="shop",
                                            syntax="proto3")
    fd.dependency.append("google/protobuf/timestamp.proto")
    fd.message_type.add(name="Other").field.add(name="x", number=1, type=F.TYPE_BOOL, label=F.LABEL_OPTIONAL)
    m = fd.message_type.add(name="Order")
    m.field.add(name="id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    m.field.add(name="cents", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    m.field.add(name="tags", number=3, type=F.TYPE_STRING, label=F.LABEL_REPEATED)
    m.field.add(name="at", number=4, type=F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp",
                label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.Default()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Order"))


def test_protobuf_bytes_match_confluent_both_ways(clients):
    ours, theirs = clients
    Order = order_class()
    topic = topic_name("proto")
    ctx, cctx = ctxs(topic)
    orders = [Order(id=f"o{i}", cents=i * 7, tags=["a", "b"]) for i in range(3)]
    for o in orders:
        o.at.seconds = 1_700_000_000
    theirs_bytes = [c_proto.ProtobufSerializer(Order, theirs, {"use.deprecated.format": False})(o, cctx)
                    for o in orders]
    ours_bytes = [ProtobufSerializer(Order, ours, {"use.deprecated.format": False})(o, ctx) for o in orders]
    assert ours_bytes == theirs_bytes
    assert [ProtobufDeserializer(Order, {"use.deprecated.format": False})(b, ctx) for b in theirs_bytes] == orders
    c_de = c_proto.ProtobufDeserializer(Order, {"use.deprecated.format": False}, schema_registry_client=theirs)
    assert [c_de(b, cctx) for b in ours_bytes] == orders
    # Ours registering first, under a topic of its own: confluent-kafka still finds the same id.
    t2 = topic_name("proto2")
    ctx2, cctx2 = ctxs(t2)
    first = ProtobufSerializer(Order, ours)(orders[0], ctx2)
    assert c_proto.ProtobufSerializer(Order, theirs, {"use.deprecated.format": False})(orders[0], cctx2) == first
    with pytest.raises(ValueError):
        ProtobufSerializer(Order, ours)("not an Order", ctx)
    with pytest.raises(SerializationError):
        ProtobufDeserializer(Order)(b"\x00\x00\x00\x00\x01\x02\xff\xff", ctx)


def test_unknown_and_unsupported_settings_are_value_errors(clients):
    ours, _ = clients
    for make in (lambda: SchemaRegistryClient({"url": "http://127.0.0.1:1", "schema.registry.url": "x"}),
                 lambda: AvroSerializer(ours, USER_V1, conf={"auto.register.schema": False}),
                 lambda: AvroSerializer(ours, USER_V1, conf={"use.deprecated.format": False}),
                 lambda: AvroSerializer(ours, USER_V1, conf={"use.latest.version": True}),
                 lambda: AvroSerializer(ours, USER_V1, conf={"auto.register.schemas": "no"}),
                 lambda: AvroSerializer(ours, USER_V1, conf={"subject.name.strategy": lambda c, r: "x"}),
                 lambda: AvroDeserializer(ours, conf={"auto.register.schemas": False}),
                 lambda: ProtobufDeserializer(object, {"use.deprecated.format": True}),
                 lambda: AvroSerializer(ours, '{"type": "nope"}')):
        with pytest.raises(ValueError):
            make()


def test_subject_name_strategies_and_registry_calls(clients):
    ours, theirs = clients
    from ferrokafka.schema_registry import record_subject_name_strategy, topic_record_subject_name_strategy
    topic = topic_name("strategy")
    ctx, _ = ctxs(topic)
    AvroSerializer(ours, USER_V1, conf={"subject.name.strategy": topic_record_subject_name_strategy})(
        {"name": "a", "age": 1}, ctx)
    AvroSerializer(ours, USER_V1, conf={"subject.name.strategy.type": "RECORD"})({"name": "a", "age": 1}, ctx)
    assert record_subject_name_strategy(ctx, "acme.User") == "acme.User"
    subjects = ours.get_subjects()
    assert f"{topic}-acme.User" in subjects and "acme.User" in subjects
    assert subjects == theirs.get_subjects()

    subject = f"{topic}-value"
    v1 = ours.register_schema(subject, Schema(USER_V1, "AVRO"))
    v2 = ours.register_schema(subject, Schema(USER_V2))
    assert theirs.get_latest_version(subject).schema_id == v2
    latest = ours.get_latest_version(subject)
    assert (latest.subject, latest.version, latest.schema_id, latest.schema.schema_type) == (subject, 2, v2, "AVRO")
    assert ours.get_version(subject, 1).schema_id == v1
    assert ours.get_schema(v1).schema_str == theirs.get_schema(v1).schema_str
    assert ours.lookup_schema(subject, Schema(USER_V1, "AVRO")).version == 1
    assert ours.get_versions(subject) == [1, 2]
    assert ours.test_compatibility(subject, Schema(USER_V1, "AVRO")) is True
    assert ours.set_compatibility(subject, "NONE") == "NONE"
    assert ours.get_compatibility(subject) == "NONE"
    assert ours.delete_version(subject, 2) == 2
    assert ours.delete_subject(subject) == [1]
    with pytest.raises(SchemaRegistryError) as missing:
        ours.get_versions(subject)
    assert (missing.value.http_status_code, missing.value.error_code) == (404, 40401)
    with pytest.raises(SchemaRegistryError) as refused:
        ours.register_schema(subject, Schema('{"type": "nope"}', "AVRO"))
    assert refused.value.http_status_code == 422
    with pytest.raises(SchemaRegistryError) as unreachable:
        SchemaRegistryClient({"url": "http://127.0.0.1:9", "max.retries": 0}).get_subjects()
    assert unreachable.value.error_code == -1


def user_code(sr, avro, serialization, url, topic):
    """confluent-kafka application code; the modules are its only inputs."""
    client = sr.SchemaRegistryClient({"url": url})
    ser = avro.AvroSerializer(client, USER_V1, conf={"auto.register.schemas": True})
    de = avro.AvroDeserializer(client, USER_V2)
    ctx = serialization.SerializationContext(topic, serialization.MessageField.VALUE)
    data = ser({"name": "ada", "age": 36}, ctx)
    try:
        ser({"name": "ada", "age": "old"}, ctx)
        failed = None
    except (serialization.SerializationError, ValueError, TypeError):
        failed = "refused"
    try:
        client.get_versions(f"{topic}-nope")
    except sr.SchemaRegistryError as e:
        missing = (e.http_status_code, e.error_code)
    registered = client.get_latest_version(f"{topic}-value")
    return data, de(data, ctx), failed, missing, registered.version, registered.schema.schema_type


def test_the_same_user_code_runs_with_only_the_import_changed(broker):
    results = []
    for package in ("confluent_kafka", "ferrokafka"):
        sr = importlib.import_module(f"{package}.schema_registry")
        results.append(user_code(sr, importlib.import_module(f"{package}.schema_registry.avro"),
                                 importlib.import_module(f"{package}.serialization"),
                                 broker.schema_registry_url, topic_name("same")))
    theirs, ours = results
    assert ours[1:] == theirs[1:]
    assert ours[0][5:] == theirs[0][5:]  # the same datum (each topic's id is its own)
    assert ours[1] == {"name": "ada", "age": 36, "email": None}


def test_the_example_runs():
    run = subprocess.run([sys.executable, EXAMPLE], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout
    assert "read back" in run.stdout and "refused" in run.stdout, run.stdout


def test_a_serializer_is_shared_by_threads(clients):
    from concurrent.futures import ThreadPoolExecutor
    ours, _ = clients
    ctx, _ = ctxs(topic_name("threads"))
    ser, de = AvroSerializer(ours, ORDER_AVRO), AvroDeserializer(ours)
    with ThreadPoolExecutor(4) as pool:
        encoded = list(pool.map(lambda i: ser(order(i), ctx), range(200)))
        decoded = list(pool.map(lambda b: de(b, ctx), encoded))
    assert [d["id"] for d in decoded] == [f"o-{i}" for i in range(200)]
    assert len({b[:5] for b in encoded}) == 1


def imported_classes():
    """shop.Line in its own file, imported by the file of shop.Basket (not a well-known type:
    registered as a reference)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    tag = uuid.uuid4().hex[:6]
    line = descriptor_pb2.FileDescriptorProto(name=f"shop/line_{tag}.proto", package=f"shop{tag}", syntax="proto3")
    m = line.message_type.add(name="Line")
    m.field.add(name="sku", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    basket = descriptor_pb2.FileDescriptorProto(name=f"shop/basket_{tag}.proto", package=f"shop{tag}",
                                                syntax="proto3", dependency=[line.name])
    b = basket.message_type.add(name="Basket")
    b.field.add(name="lines", number=1, type=F.TYPE_MESSAGE, type_name=f".shop{tag}.Line", label=F.LABEL_REPEATED)
    pool = descriptor_pool.Default()
    pool.Add(line)
    pool.Add(basket)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"shop{tag}.Basket")), line.name


def test_protobuf_imports_are_registered_as_references(clients):
    ours, theirs = clients
    Basket, line_file = imported_classes()
    topic = topic_name("basket")
    ctx, cctx = ctxs(topic)
    basket = Basket()
    basket.lines.add(sku="a")
    basket.lines.add(sku="b")
    data = ProtobufSerializer(Basket, ours)(basket, ctx)
    registered = theirs.get_latest_version(f"{topic}-value")
    assert [(r.name, r.subject) for r in registered.schema.references] == [(line_file, line_file)]
    assert c_proto.ProtobufSerializer(Basket, theirs, {"use.deprecated.format": False})(basket, cctx) == data
    assert c_proto.ProtobufDeserializer(Basket, {"use.deprecated.format": False})(data, cctx) == basket
