"""JSON Schema with a Schema Registry, as ``confluent_kafka.schema_registry.json_schema``.

Documents are encoded with Python's ``json`` as confluent-kafka does (compact, non-ASCII kept,
or `json_encode`), so the bytes are the same; the core validates each document against the
writer's schema and frames it. A document that breaks its schema raises
ValueSerializationError naming the failing field (``$.cents: "x" is not of type "integer"``)."""
import json

from .. import _native
from ..serialization import Deserializer, Serializer
from . import Schema
from ._common import (DESERIALIZER, JSON_SERIALIZER, deserializing, native_client, no_rules, pairs,
                      schema_tuple, serializing)

__all__ = ["JSONSerializer", "JSONDeserializer"]


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _schema(schema_str):
    if schema_str is None or isinstance(schema_str, Schema):
        return schema_str
    if isinstance(schema_str, str):
        return Schema(schema_str, "JSON")
    raise TypeError("You must pass either schema string or schema object")


class JSONSerializer(Serializer):
    """Writes JSON documents with Confluent's framing, each validated first. `schema_str` is
    the documents' JSON Schema (text or Schema); `to_dict` turns an application object into a
    dict first; `conf` takes confluent-kafka's serializer settings; unknown keys are a
    ValueError."""

    __slots__ = ["_native", "_to_dict", "_json_encode"]

    def __init__(self, schema_str, schema_registry_client, to_dict=None, conf=None, rule_conf=None,
                 rule_registry=None, json_encode=None):
        no_rules(rule_conf, rule_registry)
        if to_dict is not None and not callable(to_dict):
            raise ValueError("to_dict must be callable with the signature to_dict(object, SerializationContext)->dict")
        self._to_dict = to_dict
        self._json_encode = json_encode or _dumps
        self._native = _native.NativeJsonSerializer(native_client(schema_registry_client),
                                                    schema_tuple(_schema(schema_str)), pairs(conf, JSON_SERIALIZER))

    def __call__(self, obj, ctx=None):
        """`obj` as framed JSON bytes (None for None)."""
        if obj is None:
            return None
        topic, key = serializing(ctx)
        if self._to_dict is not None:
            obj = self._to_dict(obj, ctx)
        text = self._json_encode(obj)
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8")
        return self._native.serialize(text, topic, key)


class JSONDeserializer(Deserializer):
    """Reads framed JSON documents (validated against `schema_str`, or the writer's schema
    from the registry) into Python objects (or `from_dict`'s). ``conf={"validate": False}``
    skips validation."""

    __slots__ = ["_native", "_from_dict", "_json_decode"]

    def __init__(self, schema_str, from_dict=None, schema_registry_client=None, conf=None, rule_conf=None,
                 rule_registry=None, json_decode=None):
        no_rules(rule_conf, rule_registry)
        if from_dict is not None and not callable(from_dict):
            raise ValueError("from_dict must be callable with the signature from_dict(dict, SerializationContext) -> object")
        schema = _schema(schema_str)
        conf = dict(conf or {})
        validate = conf.pop("validate", True)
        if not isinstance(validate, bool):
            raise ValueError("validate must be a boolean value")
        if schema_registry_client is None:
            if schema is None and validate:
                raise ValueError("schema_registry_client is required without schema_str")
            # A reader schema without references is compiled offline: the registry named here
            # is never called (a schema with references needs a real client).
            from . import SchemaRegistryClient
            schema_registry_client = SchemaRegistryClient({"url": "http://127.0.0.1:9"})
        self._from_dict = from_dict
        self._json_decode = json_decode or json.loads
        self._native = _native.NativeJsonDeserializer(native_client(schema_registry_client), schema_tuple(schema),
                                                      pairs(conf, DESERIALIZER), validate)

    def __call__(self, data, ctx=None):
        """The document in `data` (None for None)."""
        if data is None:
            return None
        topic, key = deserializing(ctx)
        value = self._json_decode(self._native.deserialize(bytes(data), topic, key))
        if self._from_dict is not None:
            return self._from_dict(value, ctx)
        return value
