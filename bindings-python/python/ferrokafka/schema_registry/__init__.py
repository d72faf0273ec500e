"""A Schema Registry client and serializers shaped like ``confluent_kafka.schema_registry``,
on ferrokafka's Rust core. Migrating is changing the import::

    from ferrokafka.schema_registry import SchemaRegistryClient
    from ferrokafka.schema_registry.avro import AvroSerializer
    from ferrokafka.serialization import SerializationContext, MessageField

    client = SchemaRegistryClient({"url": "http://127.0.0.1:8081"})
    serialize = AvroSerializer(client, schema_str)
    value = serialize({"name": "ada", "age": 36}, SerializationContext("users", MessageField.VALUE))

The registry calls, their caches, subject naming, Confluent's framing and the Avro, JSON Schema
and Protobuf encodings are the core's (the same bytes confluent-kafka writes and reads). The
client takes the registry settings the core knows (``url``, ``basic.auth.user.info``,
``basic.auth.credentials.source``, ``ssl.ca.location``, ``ssl.certificate.location``,
``ssl.key.location``, ``timeout.ms``, ``cache.capacity``, ``cache.latest.ttl.sec``,
``max.retries``, ``retries.wait.ms``, ``retries.max.wait.ms``); any other key is a ValueError.
Registry failures raise :class:`SchemaRegistryError`.
"""
from dataclasses import dataclass, field
from typing import List, Optional

from .. import _native
from ..serialization import _from_native
from ._common import native_client, schema_tuple
from .error import SchemaRegistryError

__all__ = [
    "SchemaRegistryClient", "Schema", "SchemaReference", "RegisteredSchema", "SchemaRegistryError",
    "topic_subject_name_strategy", "topic_record_subject_name_strategy", "record_subject_name_strategy",
    "reference_subject_name_strategy",
]

# Registry and (de)serialization errors are raised as this package's from native code.
_native.bind_serde_errors(SchemaRegistryError, _from_native)


@dataclass(frozen=True)
class SchemaReference:
    """A reference from a schema to another registered one: how the referring schema names it
    (an Avro full name, a .proto import path, a JSON Schema $ref), its subject and version."""

    name: Optional[str]
    subject: Optional[str]
    version: Optional[int]


@dataclass(frozen=True)
class Schema:
    """A schema's text, its type (``AVRO``, ``JSON`` or ``PROTOBUF``) and its references."""

    schema_str: Optional[str]
    schema_type: Optional[str] = "AVRO"
    references: Optional[List[SchemaReference]] = field(default_factory=list, hash=False)


@dataclass(frozen=True)
class RegisteredSchema:
    """A schema registered under a subject: its id and version there."""

    subject: Optional[str]
    version: Optional[int]
    schema_id: Optional[int]
    guid: Optional[str] = None
    schema: Optional[Schema] = None


def _schema(t):
    kind, text, refs = t
    return Schema(text, kind, [SchemaReference(*r) for r in refs])


def _registered(t):
    schema_id, subject, version, schema = t
    return RegisteredSchema(subject, version, schema_id, None, _schema(schema))


def _pairs(conf):
    out = []
    for k, v in dict(conf).items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        out.append((str(k), str(v)))
    return out


class SchemaRegistryClient:
    """A Schema Registry client (the bundled broker's registry, Confluent's, or any serving the
    same REST API), with the core's caches: ids to schemas, schemas to ids and versions,
    subjects to their latest version."""

    def __init__(self, conf):
        if not isinstance(conf, dict):
            raise TypeError("conf must be a dict")
        self._conf = dict(conf)
        self._native = _native.NativeSchemaRegistry(_pairs(conf))

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.close()

    def close(self):
        """Nothing to release: connections belong to the core and close with the client."""

    def config(self):
        """The configuration the client was made with."""
        return dict(self._conf)

    def register_schema(self, subject_name, schema, normalize_schemas=False):
        """Registers `schema` under `subject_name` (or finds it there); its schema id."""
        return self._native.register(subject_name, schema_tuple(schema), bool(normalize_schemas))

    def register_schema_full_response(self, subject_name, schema, normalize_schemas=False):
        """Registers `schema` under `subject_name`; the RegisteredSchema (id and version)."""
        self.register_schema(subject_name, schema, normalize_schemas)
        return self.lookup_schema(subject_name, schema, normalize_schemas)

    def get_schema(self, schema_id, subject_name=None, fmt=None):
        """The Schema with `schema_id`."""
        _refuse_format(fmt)
        return _schema(self._native.schema(int(schema_id)))

    def lookup_schema(self, subject_name, schema, normalize_schemas=False, fmt=None, deleted=False):
        """The RegisteredSchema of `subject_name` that holds `schema` (SchemaRegistryError
        40403 if none does)."""
        _refuse_format(fmt)
        if deleted:
            raise ValueError("deleted=True is not supported by ferrokafka")
        return _registered(self._native.lookup(subject_name, schema_tuple(schema), bool(normalize_schemas)))

    def get_subjects(self):
        """Every subject."""
        return self._native.subjects()

    def get_versions(self, subject_name):
        """The versions of `subject_name`."""
        return self._native.versions(subject_name)

    def get_latest_version(self, subject_name, fmt=None):
        """The latest RegisteredSchema of `subject_name`."""
        _refuse_format(fmt)
        return _registered(self._native.latest(subject_name))

    def get_version(self, subject_name, version="latest", deleted=False, fmt=None):
        """Version `version` (a number, or ``"latest"``) of `subject_name`."""
        _refuse_format(fmt)
        if deleted:
            raise ValueError("deleted=True is not supported by ferrokafka")
        if version == "latest":
            return self.get_latest_version(subject_name)
        return _registered(self._native.version(subject_name, int(version)))

    def delete_subject(self, subject_name, permanent=False):
        """Deletes `subject_name` (softly, or for good with `permanent` after a soft delete);
        the versions deleted."""
        return self._native.delete_subject(subject_name, bool(permanent))

    def delete_version(self, subject_name, version, permanent=False):
        """Deletes one version of `subject_name`; the version deleted."""
        return self._native.delete_version(subject_name, int(version), bool(permanent))

    def test_compatibility(self, subject_name, schema, version="latest"):
        """Whether `schema` may be registered as the next version of `subject_name` (compared
        with `version`, or the latest)."""
        v = None if version == "latest" else int(version)
        return self._native.test_compatibility(subject_name, schema_tuple(schema), v)

    def get_compatibility(self, subject_name=None):
        """The compatibility level of `subject_name`, or the registry's default."""
        return self._native.compatibility(subject_name)

    def set_compatibility(self, subject_name=None, level=None):
        """Sets the compatibility level (``BACKWARD``, ``FULL_TRANSITIVE``, ``NONE``, ...) of
        `subject_name`, or the registry's default; the level set."""
        if level is None:
            raise ValueError("level must be set")
        return self._native.set_compatibility(subject_name, str(getattr(level, "value", level)).upper())


def _refuse_format(fmt):
    if fmt is not None:
        raise ValueError("fmt is not supported by ferrokafka")


# Subject name strategies, for the serializers' ``subject.name.strategy`` setting (the core
# names subjects; these give the same names for code that calls them).
def topic_subject_name_strategy(ctx, record_name):
    """``<topic>-key`` or ``<topic>-value`` (the default)."""
    if ctx is None:
        raise ValueError("a SerializationContext is required")
    return f"{ctx.topic}-{ctx.field}"


def topic_record_subject_name_strategy(ctx, record_name):
    """``<topic>-<record name>``."""
    if ctx is None:
        raise ValueError("a SerializationContext is required")
    return f"{ctx.topic}-{record_name}" if record_name is not None else None


def record_subject_name_strategy(ctx, record_name):
    """``<record name>``."""
    return record_name


def reference_subject_name_strategy(ctx, schema_ref):
    """A Protobuf import's subject: its file name (the default)."""
    return schema_ref.name

