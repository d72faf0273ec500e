"""Serialization contexts and errors, shaped like ``confluent_kafka.serialization``.

A serializer is called as ``serializer(obj, SerializationContext(topic, MessageField.VALUE))``;
the context names the topic and whether the key or the value is being (de)serialized, which is
what the default subject name (``<topic>-value``) is made of.

Failures are :class:`SerializationError` (a :class:`ferrokafka.KafkaException`); those the
Schema Registry serializers raise are its subclasses :class:`KeySerializationError`,
:class:`ValueSerializationError`, :class:`KeyDeserializationError` and
:class:`ValueDeserializationError`, whose ``args[0]`` is a :class:`ferrokafka.KafkaError` with
librdkafka's code (``_VALUE_SERIALIZATION``, ...) and a message naming the failing field.
"""
from enum import Enum

from . import KafkaError, KafkaException

__all__ = [
    "MessageField", "SerializationContext", "Serializer", "Deserializer", "SerializationError",
    "KeySerializationError", "ValueSerializationError", "KeyDeserializationError", "ValueDeserializationError",
]


class MessageField(str, Enum):
    """Which part of a record is (de)serialized: ``MessageField.KEY`` or ``MessageField.VALUE``."""

    NONE = "none"
    KEY = "key"
    VALUE = "value"

    def __str__(self):
        return str(self.value)


class SerializationContext:
    """Where the bytes go or come from: ``topic``, ``field`` (a MessageField) and ``headers``."""

    def __init__(self, topic, field, headers=None):
        self.topic = topic
        self.field = field
        self.headers = headers


class Serializer:
    """Base of serializers: ``serializer(obj, ctx)`` returns bytes (None for None)."""

    __slots__ = []

    def __call__(self, obj, ctx=None):
        """Converts `obj` to bytes."""
        raise NotImplementedError


class Deserializer:
    """Base of deserializers: ``deserializer(data, ctx)`` returns an object (None for None)."""

    __slots__ = []

    def __call__(self, value, ctx=None):
        """Converts bytes to an object."""
        raise NotImplementedError


class SerializationError(KafkaException):
    """A key or value could not be serialized or deserialized."""


class _SerdeError(SerializationError):
    """A (de)serialization failure with its KafkaError, as confluent-kafka's wrappers."""

    _CODE = None

    def __init__(self, exception=None, kafka_message=None):
        super().__init__(KafkaError(self._CODE, str(exception)))
        self.exception = exception
        self.kafka_message = kafka_message

    @classmethod
    def _from_error(cls, kafka_error):
        err = cls.__new__(cls)
        KafkaException.__init__(err, kafka_error)
        err.exception = None
        err.kafka_message = None
        return err

    @property
    def code(self):
        """The KafkaError's code (e.g. ``KafkaError._VALUE_SERIALIZATION``)."""
        return self.args[0].code()

    @property
    def name(self):
        """The KafkaError's name."""
        return self.args[0].name()


class KeySerializationError(_SerdeError, ValueError):
    """A record's key does not fit its schema (also a ValueError, as confluent-kafka's
    serializers raise for values that do not fit)."""

    _CODE = KafkaError._KEY_SERIALIZATION


class ValueSerializationError(_SerdeError, ValueError):
    """A record's value does not fit its schema (also a ValueError)."""

    _CODE = KafkaError._VALUE_SERIALIZATION


class KeyDeserializationError(_SerdeError):
    """A record's key could not be read (not framed, unknown schema, does not match it)."""

    _CODE = KafkaError._KEY_DESERIALIZATION


class ValueDeserializationError(_SerdeError):
    """A record's value could not be read (not framed, unknown schema, does not match it)."""

    _CODE = KafkaError._VALUE_DESERIALIZATION


_BY_CODE = {cls._CODE: cls for cls in
            (KeySerializationError, ValueSerializationError, KeyDeserializationError, ValueDeserializationError)}


def _from_native(kafka_error):
    """The exception for a core (de)serialization error (registered with the native module)."""
    return _BY_CODE.get(kafka_error.code(), _SerdeError)._from_error(kafka_error)
