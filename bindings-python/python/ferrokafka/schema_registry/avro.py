"""Avro with a Schema Registry, as ``confluent_kafka.schema_registry.avro``: the core encodes
and decodes (Confluent's framing, then Avro's binary encoding under the writer's schema).

Values are plain Python: dicts for records and maps, str for enums, int, float, bool, bytes,
lists and None; a value that does not fit the schema raises ValueSerializationError (a
SerializationError and a ValueError) naming the failing field. Decoded records are dicts in
field order; logical types come back as their underlying number (dates, times, timestamps) or
text (uuid)."""
from .. import _native
from ..serialization import Deserializer, Serializer
from . import Schema
from ._common import (AVRO_SERIALIZER, DESERIALIZER, deserializing, native_client, no_rules, pairs,
                      schema_tuple, serializing)

__all__ = ["AvroSerializer", "AvroDeserializer"]


def _schema(schema_str):
    if schema_str is None or isinstance(schema_str, Schema):
        return schema_str
    if isinstance(schema_str, str):
        return Schema(schema_str, "AVRO")
    raise TypeError("You must pass either schema string or schema object")


class AvroSerializer(Serializer):
    """Writes Avro records with Confluent's framing. `schema_str` is the writer's schema
    (text or Schema; None only with ``use.latest.version`` or ``use.schema.id``); `to_dict`
    turns an application object into a dict first; `conf` takes confluent-kafka's serializer
    settings (``auto.register.schemas``, ``normalize.schemas``, ``use.schema.id``,
    ``use.latest.version``, ``subject.name.strategy``); unknown keys are a ValueError."""

    __slots__ = ["_native", "_to_dict"]

    def __init__(self, schema_registry_client, schema_str=None, to_dict=None, conf=None, rule_conf=None,
                 rule_registry=None):
        no_rules(rule_conf, rule_registry)
        if to_dict is not None and not callable(to_dict):
            raise ValueError("to_dict must be callable with the signature to_dict(object, SerializationContext)->dict")
        self._to_dict = to_dict
        self._native = _native.NativeAvroSerializer(native_client(schema_registry_client),
                                                    schema_tuple(_schema(schema_str)), pairs(conf, AVRO_SERIALIZER))

    def __call__(self, obj, ctx=None):
        """`obj` as framed Avro bytes (None for None)."""
        if obj is None:
            return None
        topic, key = serializing(ctx)
        if self._to_dict is not None:
            obj = self._to_dict(obj, ctx)
        return self._native.serialize(obj, topic, key)


class AvroDeserializer(Deserializer):
    """Reads framed Avro records into dicts (or `from_dict`'s objects). `schema_str` is the
    reader's schema (None: each record's writer schema, or the subject's latest with
    ``use.latest.version``); the writer's schema comes from the registry by the record's id."""

    __slots__ = ["_native", "_from_dict"]

    def __init__(self, schema_registry_client, schema_str=None, from_dict=None, return_record_name=False, conf=None,
                 rule_conf=None, rule_registry=None):
        no_rules(rule_conf, rule_registry)
        if from_dict is not None and not callable(from_dict):
            raise ValueError("from_dict must be callable with the signature from_dict(SerializationContext, dict) -> object")
        if not isinstance(return_record_name, bool):
            raise ValueError("return_record_name must be a boolean value")
        if return_record_name:
            raise ValueError("return_record_name=True is not supported by ferrokafka")
        self._from_dict = from_dict
        self._native = _native.NativeAvroDeserializer(native_client(schema_registry_client),
                                                      schema_tuple(_schema(schema_str)), pairs(conf, DESERIALIZER))

    def __call__(self, data, ctx=None):
        """The record in `data` (None for None)."""
        if data is None:
            return None
        topic, key = deserializing(ctx)
        value = self._native.deserialize(bytes(data), topic, key)
        if self._from_dict is not None:
            return self._from_dict(value, ctx)
        return value
