"""Protobuf with a Schema Registry, as ``confluent_kafka.schema_registry.protobuf``, for
generated message classes (``google.protobuf``).

The serializer hands the core the class's file and its imports (a FileDescriptorSet): the core
registers the file, its imports first, and frames ``message.SerializeToString()`` with the
message-index path. The deserializer has the core split the frame and parses the message with
the class."""
from .. import _native
from ..serialization import Deserializer, Serializer, _from_native
from .. import KafkaError
from ._common import (PROTOBUF_DESERIALIZER, PROTOBUF_SERIALIZER, deserializing, native_client, no_rules, pairs,
                      serializing)

__all__ = ["ProtobufSerializer", "ProtobufDeserializer"]


def _descriptor_set(file):
    """`file` and everything it imports, imports first, as a serialized FileDescriptorSet."""
    from google.protobuf import descriptor_pb2
    files, seen = [], set()

    def add(f):
        if f.name in seen:
            return
        seen.add(f.name)
        for dep in f.dependencies:
            add(dep)
        proto = descriptor_pb2.FileDescriptorProto()
        f.CopyToProto(proto)
        files.append(proto)

    add(file)
    return descriptor_pb2.FileDescriptorSet(file=files).SerializeToString()


class ProtobufSerializer(Serializer):
    """Writes messages of one generated class `msg_type` with Confluent's framing. `conf`
    takes confluent-kafka's settings (``auto.register.schemas``, ``use.latest.version``,
    ``skip.known.types``, ``subject.name.strategy``, ``reference.subject.name.strategy``, ...;
    ``use.deprecated.format`` only False); unknown keys are a ValueError."""

    __slots__ = ["_native", "_msg_class"]

    def __init__(self, msg_type, schema_registry_client, conf=None, rule_conf=None, rule_registry=None):
        no_rules(rule_conf, rule_registry)
        descriptor = msg_type.DESCRIPTOR
        self._msg_class = msg_type
        self._native = _native.NativeProtobufSerializer(
            native_client(schema_registry_client), _descriptor_set(descriptor.file), descriptor.full_name,
            pairs(conf, PROTOBUF_SERIALIZER))

    def __call__(self, message, ctx=None):
        """`message` as framed Protobuf bytes (None for None)."""
        if message is None:
            return None
        if not isinstance(message, self._msg_class):
            raise ValueError("message must be of type {} not {}".format(self._msg_class, type(message)))
        topic, key = serializing(ctx)
        return self._native.serialize(message.SerializeToString(), topic, key)


class ProtobufDeserializer(Deserializer):
    """Reads framed Protobuf records as `message_type` (a generated class); the registry is
    not needed (`schema_registry_client` is accepted for confluent-kafka's signature)."""

    __slots__ = ["_msg_class"]

    def __init__(self, message_type, conf=None, schema_registry_client=None, rule_conf=None, rule_registry=None):
        no_rules(rule_conf, rule_registry)
        pairs(conf, PROTOBUF_DESERIALIZER)
        self._msg_class = message_type

    def __call__(self, data, ctx=None):
        """The message in `data` (None for None)."""
        if data is None:
            return None
        topic, key = deserializing(ctx)
        _, _, payload = _native.protobuf_split(bytes(data), topic, key)
        msg = self._msg_class()
        try:
            msg.ParseFromString(payload)
        except Exception as e:
            code = KafkaError._KEY_DESERIALIZATION if key else KafkaError._VALUE_DESERIALIZATION
            raise _from_native(KafkaError(code, f"not a {self._msg_class.DESCRIPTOR.full_name}: {e}")) from e
        return msg
