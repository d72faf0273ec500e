"""Avro records through the bundled broker with a Schema Registry, confluent-kafka's
serializer API on ferrokafka: starts the broker (its registry included) in-process,
produces users serialized with AvroSerializer (the schema registered on first use), reads them
back with AvroDeserializer under a newer reader schema, and shows a record that does not fit
its schema being refused with the field named.

    bindings-python/test.sh            # builds and installs the wheel into .cache/venv
    .cache/venv/bin/python examples/python/avro_serde.py

Code written for confluent-kafka runs by changing ``confluent_kafka`` to ``ferrokafka`` in
its imports.
"""
import tempfile

from ferrokafka import Consumer, Producer
from ferrokafka.broker import start
from ferrokafka.schema_registry import SchemaRegistryClient
from ferrokafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from ferrokafka.serialization import MessageField, SerializationContext, SerializationError

USER = """{"type": "record", "name": "User", "namespace": "example",
  "fields": [{"name": "name", "type": "string"},
             {"name": "age", "type": "int"},
             {"name": "colour", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN", "BLUE"]}}]}"""
# A later version of the schema: a field added with a default, which readers fill in.
USER_V2 = USER.replace('"BLUE"]}}]}', '"BLUE"]}}, {"name": "email", "type": ["null", "string"], "default": null}]}')

with tempfile.TemporaryDirectory() as data_dir, start("127.0.0.1:0", data_dir) as broker:
    print(f"broker     listening on {broker.bootstrap}, schema registry on {broker.schema_registry_url}")
    registry = SchemaRegistryClient({"url": broker.schema_registry_url})
    serialize = AvroSerializer(registry, USER)
    ctx = SerializationContext("users", MessageField.VALUE)

    producer = Producer({"bootstrap.servers": broker.bootstrap})
    users = [{"name": name, "age": age, "colour": colour}
             for name, age, colour in [("ada", 36, "RED"), ("alan", 41, "GREEN"), ("grace", 85, "BLUE")]]
    for user in users:
        producer.produce("users", key=user["name"], value=serialize(user, ctx))
    producer.flush()
    latest = registry.get_latest_version("users-value")
    print(f"produced   {len(users)} users; schema registered as id {latest.schema_id} "
          f"(subject {latest.subject} version {latest.version})")

    try:
        serialize({"name": "bob", "age": "forty", "colour": "RED"}, ctx)
    except SerializationError as e:
        print(f"refused    {e.args[0].str()}")

    deserialize = AvroDeserializer(registry, USER_V2)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "avro-example",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe(["users"])
    read = []
    while len(read) < len(users):
        msg = consumer.poll(5)
        if msg is not None and msg.error() is None:
            read.append(deserialize(msg.value(), SerializationContext(msg.topic(), MessageField.VALUE)))
    consumer.close()
    for user in read:
        print(f"read back  {user}")
    assert [{**u, "email": None} for u in users] == read
print("done       broker stopped")
