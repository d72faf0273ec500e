"""What the serializer modules share: confluent-kafka's configuration dictionaries as the
core's settings, schemas as the native tuples, and where a context says the bytes go."""
from .. import _native
from ..serialization import MessageField

_STRATEGIES = {
    "topic_subject_name_strategy": "TopicNameStrategy",
    "record_subject_name_strategy": "RecordNameStrategy",
    "topic_record_subject_name_strategy": "TopicRecordNameStrategy",
}
_STRATEGY_TYPES = {"TOPIC": "TopicNameStrategy", "RECORD": "RecordNameStrategy",
                   "TOPIC_RECORD": "TopicRecordNameStrategy"}


def _flag(key, value):
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be a boolean value")
    return "true" if value else "false"


def _strategy(key, value):
    if isinstance(value, str):
        return value
    name = getattr(value, "__name__", None)
    if callable(value) and name in _STRATEGIES and value.__module__.endswith("schema_registry"):
        return _STRATEGIES[name]
    raise ValueError(f"{key} must be one of ferrokafka.schema_registry's topic_subject_name_strategy, "
                     "record_subject_name_strategy or topic_record_subject_name_strategy (custom strategies "
                     "are not supported)")


def _strategy_type(key, value):
    name = str(getattr(value, "value", value)).upper()
    if name not in _STRATEGY_TYPES:
        raise ValueError(f"{key} must be TOPIC, RECORD or TOPIC_RECORD")
    return _STRATEGY_TYPES[name]


def _reference_strategy(key, value):
    if isinstance(value, str):
        return value
    if callable(value) and getattr(value, "__name__", None) == "reference_subject_name_strategy":
        return "DefaultReferenceSubjectNameStrategy"
    raise ValueError(f"{key}: custom reference subject name strategies are not supported")


def _unsupported(default):
    """A confluent-kafka setting ferrokafka does not implement: only its default is accepted."""
    def check(key, value):
        if value is default or value == default or str(getattr(value, "name", "")) == "DISABLED":
            return None
        raise ValueError(f"{key} is not supported by ferrokafka (only its default, {default!r})")
    return check


# confluent-kafka's keys: each is translated into the core's setting, or accepted at its default
# and refused otherwise; anything else is "Unrecognized", as confluent-kafka says.
_COMMON = {
    "use.latest.version": ("use.latest.version", _flag),
    "use.latest.with.metadata": (None, _unsupported(None)),
    "subject.name.strategy": ("subject.name.strategy", _strategy),
    "subject.name.strategy.type": ("subject.name.strategy", _strategy_type),
    "subject.name.strategy.conf": (None, _unsupported(None)),
}
SERIALIZER = dict(_COMMON, **{
    "auto.register.schemas": ("auto.register.schemas", _flag),
    "normalize.schemas": ("normalize.schemas", _flag),
    "use.schema.id": ("use.schema.id", lambda key, v: str(int(v))),
    "schema.id.serializer": (None, _unsupported(None)),
    "validation.rules.execution": (None, _unsupported(None)),
    "validation.rules.fail.fast": (None, _unsupported(False)),
    "validation.rules.executor": (None, _unsupported(None)),
})
DESERIALIZER = dict(_COMMON, **{"schema.id.deserializer": (None, _unsupported(None))})
AVRO_SERIALIZER = dict(SERIALIZER, **{
    "validate.strict": (None, _unsupported(False)),
    "validate.strict.allow.default": (None, _unsupported(False)),
})
JSON_SERIALIZER = dict(SERIALIZER, **{"validate": (None, _unsupported(True))})
PROTOBUF_SERIALIZER = dict(SERIALIZER, **{
    "skip.known.types": ("skip.known.types", _flag),
    "reference.subject.name.strategy": ("reference.subject.name.strategy", _reference_strategy),
    "use.deprecated.format": (None, _unsupported(False)),
})
PROTOBUF_DESERIALIZER = dict(DESERIALIZER, **{"use.deprecated.format": (None, _unsupported(False))})


def pairs(conf, known, extra=()):
    """confluent-kafka's serializer `conf` as the core's (key, value) strings; ValueError for
    keys confluent-kafka does not know, and for values ferrokafka cannot honour. Keys in
    `extra` are left to the caller."""
    conf = dict(conf or {})
    unknown = [k for k in conf if k not in known and k not in extra]
    if unknown:
        raise ValueError("Unrecognized properties: {}".format(", ".join(unknown)))
    out = []
    for key, value in conf.items():
        if key in extra or value is None and known[key][0] is not None:
            continue
        core_key, convert = known[key]
        converted = convert(key, value)
        if core_key is not None:
            out.append((core_key, converted))
    return out


def no_rules(rule_conf, rule_registry):
    """Data-contract rules are not implemented: refused rather than ignored."""
    if rule_conf or rule_registry is not None:
        raise ValueError("rule_conf and rule_registry (data contract rules) are not supported by ferrokafka")


def schema_tuple(schema):
    """A Schema (or None) as the native module takes it."""
    if schema is None:
        return None
    refs = [(r.name, r.subject, int(r.version)) for r in (schema.references or [])]
    return (str(schema.schema_type or "AVRO"), schema.schema_str, refs)


def native_client(client):
    """The native registry client behind a ferrokafka SchemaRegistryClient."""
    native = getattr(client, "_native", None)
    if not isinstance(native, _native.NativeSchemaRegistry):
        raise TypeError("schema_registry_client must be a ferrokafka.schema_registry.SchemaRegistryClient")
    return native


def serializing(ctx):
    """(topic, is key) for a serializer: the context names the subject, so it is required."""
    if ctx is None:
        raise ValueError("a SerializationContext(topic, MessageField.VALUE or KEY) is required to name the subject")
    return str(ctx.topic), ctx.field == MessageField.KEY


def deserializing(ctx):
    """(topic, is key) for a deserializer (no context: a value of no topic)."""
    if ctx is None:
        return "", False
    return str(ctx.topic), ctx.field == MessageField.KEY
