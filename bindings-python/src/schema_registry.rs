//! The Schema Registry client and the Avro, JSON Schema and Protobuf serializers of the core,
//! for `ferrokafka.schema_registry`. Only conversions live here: Python objects to and from
//! apache-avro values, schemas to and from tuples, and bytes. Framing, subject naming,
//! caching and validation are the core's.
//!
//! JSON Schema documents cross as JSON text (the package encodes and decodes with Python's
//! `json`, as confluent-kafka does), so the bytes keep the encoder's key order and spacing.
//! Protobuf messages cross as their encoding (generated classes encode and decode them).

use ferrokafka::Error;
use ferrokafka::schema_registry::{RegisteredSchema, Schema, SchemaReference, SchemaRegistryClient, SchemaType};
use ferrokafka::serde::avro::{AvroDeserializer, AvroSerializer, Value};
use ferrokafka::serde::json::{JsonDeserializer, JsonSerializer};
use ferrokafka::serde::protobuf::{self, ProtobufSerializer};
use ferrokafka::serde::{MessageField, SerdeConfig, SerdeKind, SerializationContext, wire};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyNone, PyString, PyTuple};

use crate::errors::{IntoPy, serde_to_py};
use crate::runtime::{Owner, block_on};

/// (schema type, schema text, [(name, subject, version)]).
type SchemaTuple = (String, String, Vec<(String, String, i32)>);
/// (id, subject, version, schema).
type RegisteredTuple = (i32, String, i32, SchemaTuple);
type Pairs = Vec<(String, String)>;

fn schema_from(t: SchemaTuple) -> PyResult<Schema> {
    let (kind, text, refs) = t;
    let schema_type = SchemaType::parse(&kind)
        .ok_or_else(|| PyValueError::new_err(format!("{kind:?} is not a schema type (AVRO, JSON or PROTOBUF)")))?;
    Ok(Schema::new(schema_type, text).with_references(
        refs.into_iter().map(|(name, subject, version)| SchemaReference { name, subject, version }).collect(),
    ))
}

fn schema_tuple(s: Schema) -> SchemaTuple {
    (
        s.schema_type.name().to_owned(),
        s.schema,
        s.references.into_iter().map(|r| (r.name, r.subject, r.version)).collect(),
    )
}

fn registered_tuple(r: RegisteredSchema) -> RegisteredTuple {
    (r.id, r.subject, r.version, schema_tuple(r.schema))
}

fn field(key: bool) -> MessageField {
    if key { MessageField::Key } else { MessageField::Value }
}

fn config(kind: SerdeKind, conf: Pairs) -> PyResult<SerdeConfig> {
    SerdeConfig::from_pairs(kind, conf).map_err(serde_to_py)
}

/// The registry client; every call waits without the GIL.
#[pyclass(module = "ferrokafka._native", frozen)]
pub(crate) struct NativeSchemaRegistry {
    client: SchemaRegistryClient,
    owner: Owner,
}

impl NativeSchemaRegistry {
    fn client(&self) -> PyResult<&SchemaRegistryClient> {
        self.owner.check()?;
        Ok(&self.client)
    }
}

#[pymethods]
impl NativeSchemaRegistry {
    #[new]
    fn new(conf: Pairs) -> PyResult<Self> {
        let client = SchemaRegistryClient::new(conf).map_err(serde_to_py)?;
        Ok(NativeSchemaRegistry { client, owner: Owner::here("SchemaRegistryClient") })
    }

    fn register(&self, py: Python<'_>, subject: String, schema: SchemaTuple, normalize: bool) -> PyResult<i32> {
        let (c, schema) = (self.client()?, schema_from(schema)?);
        block_on(py, c.register(&subject, &schema, normalize)).py_err()
    }

    fn lookup(
        &self,
        py: Python<'_>,
        subject: String,
        schema: SchemaTuple,
        normalize: bool,
    ) -> PyResult<RegisteredTuple> {
        let (c, schema) = (self.client()?, schema_from(schema)?);
        block_on(py, c.lookup(&subject, &schema, normalize)).py_err().map(registered_tuple)
    }

    fn schema(&self, py: Python<'_>, id: i32) -> PyResult<SchemaTuple> {
        let c = self.client()?;
        block_on(py, c.schema(id)).py_err().map(schema_tuple)
    }

    fn latest(&self, py: Python<'_>, subject: String) -> PyResult<RegisteredTuple> {
        let c = self.client()?;
        block_on(py, c.latest(&subject)).py_err().map(registered_tuple)
    }

    fn version(&self, py: Python<'_>, subject: String, version: i32) -> PyResult<RegisteredTuple> {
        let c = self.client()?;
        block_on(py, c.version(&subject, version)).py_err().map(registered_tuple)
    }

    fn subjects(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let c = self.client()?;
        block_on(py, c.subjects()).py_err()
    }

    fn versions(&self, py: Python<'_>, subject: String) -> PyResult<Vec<i32>> {
        let c = self.client()?;
        block_on(py, c.versions(&subject)).py_err()
    }

    fn delete_subject(&self, py: Python<'_>, subject: String, permanent: bool) -> PyResult<Vec<i32>> {
        let c = self.client()?;
        block_on(py, c.delete_subject(&subject, permanent)).py_err()
    }

    fn delete_version(&self, py: Python<'_>, subject: String, version: i32, permanent: bool) -> PyResult<i32> {
        let c = self.client()?;
        block_on(py, c.delete_version(&subject, version, permanent)).py_err()
    }

    #[pyo3(signature = (subject, schema, version=None))]
    fn test_compatibility(
        &self,
        py: Python<'_>,
        subject: String,
        schema: SchemaTuple,
        version: Option<i32>,
    ) -> PyResult<bool> {
        let (c, schema) = (self.client()?, schema_from(schema)?);
        block_on(py, c.test_compatibility(&subject, &schema, version)).py_err()
    }

    #[pyo3(signature = (subject=None))]
    fn compatibility(&self, py: Python<'_>, subject: Option<String>) -> PyResult<String> {
        let c = self.client()?;
        block_on(py, c.compatibility(subject.as_deref())).py_err()
    }

    #[pyo3(signature = (subject, level))]
    fn set_compatibility(&self, py: Python<'_>, subject: Option<String>, level: String) -> PyResult<String> {
        let c = self.client()?;
        block_on(py, c.set_compatibility(subject.as_deref(), &level)).py_err()
    }
}

/// Writes Python values (dicts for records, str for enums, int, float, bytes, lists, None) as
/// Avro under one schema.
#[pyclass(module = "ferrokafka._native", frozen)]
pub(crate) struct NativeAvroSerializer {
    inner: AvroSerializer,
    owner: Owner,
}

#[pymethods]
impl NativeAvroSerializer {
    #[new]
    #[pyo3(signature = (registry, schema, conf))]
    fn new(registry: &NativeSchemaRegistry, schema: Option<SchemaTuple>, conf: Pairs) -> PyResult<Self> {
        let schema = schema.map(schema_from).transpose()?;
        let inner = AvroSerializer::new(registry.client()?.clone(), schema, config(SerdeKind::Serializer, conf)?)
            .map_err(serde_to_py)?;
        Ok(NativeAvroSerializer { inner, owner: Owner::here("AvroSerializer") })
    }

    fn serialize<'py>(
        &self,
        py: Python<'py>,
        obj: &Bound<'py, PyAny>,
        topic: String,
        key: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.owner.check()?;
        let value = to_avro(obj, &mut String::from("$"))?;
        let bytes =
            block_on(py, async { self.inner.serialize(value, &SerializationContext::new(&topic, field(key))).await })
                .py_err()?;
        Ok(PyBytes::new(py, &bytes))
    }
}

/// Reads framed Avro records into Python values (records as dicts in field order).
#[pyclass(module = "ferrokafka._native", frozen)]
pub(crate) struct NativeAvroDeserializer {
    inner: AvroDeserializer,
    owner: Owner,
}

#[pymethods]
impl NativeAvroDeserializer {
    #[new]
    #[pyo3(signature = (registry, schema, conf))]
    fn new(registry: &NativeSchemaRegistry, schema: Option<SchemaTuple>, conf: Pairs) -> PyResult<Self> {
        let schema = schema.map(schema_from).transpose()?;
        let inner = AvroDeserializer::new(registry.client()?.clone(), schema, config(SerdeKind::Deserializer, conf)?)
            .map_err(serde_to_py)?;
        Ok(NativeAvroDeserializer { inner, owner: Owner::here("AvroDeserializer") })
    }

    fn deserialize<'py>(&self, py: Python<'py>, data: &[u8], topic: String, key: bool) -> PyResult<Bound<'py, PyAny>> {
        self.owner.check()?;
        let value =
            block_on(py, async { self.inner.deserialize(data, &SerializationContext::new(&topic, field(key))).await })
                .py_err()?;
        from_avro(py, &value)
    }
}

/// Validates JSON text against the writer's schema and frames it.
#[pyclass(module = "ferrokafka._native", frozen)]
pub(crate) struct NativeJsonSerializer {
    inner: JsonSerializer,
    owner: Owner,
}

#[pymethods]
impl NativeJsonSerializer {
    #[new]
    #[pyo3(signature = (registry, schema, conf))]
    fn new(registry: &NativeSchemaRegistry, schema: Option<SchemaTuple>, conf: Pairs) -> PyResult<Self> {
        let schema = schema.map(schema_from).transpose()?;
        let inner = JsonSerializer::new(registry.client()?.clone(), schema, config(SerdeKind::Serializer, conf)?)
            .map_err(serde_to_py)?;
        Ok(NativeJsonSerializer { inner, owner: Owner::here("JSONSerializer") })
    }

    fn serialize<'py>(&self, py: Python<'py>, text: &str, topic: String, key: bool) -> PyResult<Bound<'py, PyBytes>> {
        self.owner.check()?;
        let bytes = block_on(py, async {
            self.inner.serialize_text(text, &SerializationContext::new(&topic, field(key))).await
        })
        .py_err()?;
        Ok(PyBytes::new(py, &bytes))
    }
}

/// Checks framed JSON records against their schema; hands back the JSON text.
#[pyclass(module = "ferrokafka._native", frozen)]
pub(crate) struct NativeJsonDeserializer {
    inner: JsonDeserializer,
    owner: Owner,
}

#[pymethods]
impl NativeJsonDeserializer {
    #[new]
    #[pyo3(signature = (registry, schema, conf, validate))]
    fn new(
        registry: &NativeSchemaRegistry,
        schema: Option<SchemaTuple>,
        conf: Pairs,
        validate: bool,
    ) -> PyResult<Self> {
        let schema = schema.map(schema_from).transpose()?;
        let config = config(SerdeKind::Deserializer, conf)?;
        let inner = JsonDeserializer::new(registry.client()?.clone(), schema, config, validate).map_err(serde_to_py)?;
        Ok(NativeJsonDeserializer { inner, owner: Owner::here("JSONDeserializer") })
    }

    /// The record's JSON text, once the core has checked it (frame, JSON, schema).
    fn deserialize<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        topic: String,
        key: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.owner.check()?;
        block_on(py, async { self.inner.deserialize(data, &SerializationContext::new(&topic, field(key))).await })
            .py_err()?;
        let (_, payload) = wire::split(data).map_err(|reason| split_error(&topic, key, reason))?;
        Ok(PyBytes::new(py, payload))
    }
}

/// Frames encoded messages of one Protobuf type (registering its file and imports).
#[pyclass(module = "ferrokafka._native", frozen)]
pub(crate) struct NativeProtobufSerializer {
    inner: ProtobufSerializer,
    owner: Owner,
}

#[pymethods]
impl NativeProtobufSerializer {
    /// `descriptor_set`: a serialized FileDescriptorSet holding the message's file and its
    /// imports; `name`: the message's full name.
    #[new]
    fn new(registry: &NativeSchemaRegistry, descriptor_set: &[u8], name: &str, conf: Pairs) -> PyResult<Self> {
        let message = protobuf::message_from_descriptor_set(descriptor_set, Some(name)).map_err(serde_to_py)?;
        let config = config(SerdeKind::ProtobufSerializer, conf)?;
        let inner = ProtobufSerializer::new(registry.client()?.clone(), message, config);
        Ok(NativeProtobufSerializer { inner, owner: Owner::here("ProtobufSerializer") })
    }

    fn serialize<'py>(
        &self,
        py: Python<'py>,
        payload: &[u8],
        topic: String,
        key: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.owner.check()?;
        let bytes = block_on(py, async {
            self.inner.serialize_encoded(payload, &SerializationContext::new(&topic, field(key))).await
        })
        .py_err()?;
        Ok(PyBytes::new(py, &bytes))
    }
}

fn split_error(topic: &str, key: bool, reason: String) -> PyErr {
    crate::errors::to_py(Error::Serialization {
        field: field(key),
        deserializing: true,
        topic: topic.to_owned(),
        reason,
    })
}

/// A framed Protobuf record's (schema id, message-index path, encoded message).
#[pyfunction]
pub(crate) fn protobuf_split<'py>(
    py: Python<'py>,
    data: &[u8],
    topic: &str,
    key: bool,
) -> PyResult<(i32, Vec<i32>, Bound<'py, PyBytes>)> {
    let (id, indexes, payload) = protobuf::split(data).map_err(|reason| split_error(topic, key, reason))?;
    Ok((id, indexes, PyBytes::new(py, payload)))
}

fn type_error(path: &str, obj: &Bound<'_, PyAny>, what: &str) -> PyErr {
    let name = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".to_owned());
    PyTypeError::new_err(format!("{path}: a {name} {what}"))
}

/// A Python value as a plain Avro value tree (the core fits it to the schema).
fn to_avro(obj: &Bound<'_, PyAny>, path: &mut String) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Boolean(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj
            .extract::<i64>()
            .map(Value::Long)
            .map_err(|_| PyValueError::new_err(format!("{path}: {obj} does not fit in 64 bits")));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::Double(f.value()));
    }
    if obj.is_instance_of::<PyString>() {
        return Ok(Value::String(obj.extract()?));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec()));
    }
    let len = path.len();
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut out = std::collections::HashMap::with_capacity(d.len());
        for (k, v) in d.iter() {
            let k: String = k.extract().map_err(|_| type_error(path, &k, "as a key (keys are str)"))?;
            path.push('.');
            path.push_str(&k);
            let v = to_avro(&v, path)?;
            path.truncate(len);
            out.insert(k, v);
        }
        return Ok(Value::Map(out));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for (i, item) in obj.try_iter()?.enumerate() {
            path.push_str(&format!("[{i}]"));
            out.push(to_avro(&item?, path)?);
            path.truncate(len);
        }
        return Ok(Value::Array(out));
    }
    Err(type_error(path, obj, "cannot be written as Avro (use dict, list, str, bytes, int, float, bool or None)"))
}

/// A decoded Avro value as Python: records and maps as dicts (records in field order), unions
/// as their branch, enums as str, bytes and fixed as bytes, logical types as their number
/// (dates, times and timestamps) or text (uuid, big decimal).
fn from_avro<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => PyNone::get(py).to_owned().into_any(),
        Value::Boolean(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) | Value::Date(i) | Value::TimeMillis(i) => i.into_pyobject(py)?.into_any(),
        Value::Long(i)
        | Value::TimeMicros(i)
        | Value::TimestampMillis(i)
        | Value::TimestampMicros(i)
        | Value::TimestampNanos(i)
        | Value::LocalTimestampMillis(i)
        | Value::LocalTimestampMicros(i)
        | Value::LocalTimestampNanos(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => PyFloat::new(py, f64::from(*f)).into_any(),
        Value::Double(f) => PyFloat::new(py, *f).into_any(),
        Value::Bytes(b) | Value::Fixed(_, b) => PyBytes::new(py, b).into_any(),
        Value::String(s) | Value::Enum(_, s) => PyString::new(py, s).into_any(),
        Value::Uuid(u) => PyString::new(py, &u.to_string()).into_any(),
        Value::BigDecimal(d) => PyString::new(py, &d.to_string()).into_any(),
        Value::Union(_, inner) => from_avro(py, inner)?,
        Value::Array(items) => {
            PyList::new(py, items.iter().map(|i| from_avro(py, i)).collect::<PyResult<Vec<_>>>()?)?.into_any()
        }
        Value::Map(m) => {
            let d = PyDict::new(py);
            for (k, v) in m {
                d.set_item(k, from_avro(py, v)?)?;
            }
            d.into_any()
        }
        Value::Record(fields) => {
            let d = PyDict::new(py);
            for (k, v) in fields {
                d.set_item(k, from_avro(py, v)?)?;
            }
            d.into_any()
        }
        // Their JSON forms are the core's bytes-as-code-points strings: as bytes here.
        Value::Decimal(_) | Value::Duration(_) => {
            let text = ferrokafka::serde::avro::to_json(v);
            let s = text.as_str().unwrap_or_default();
            PyBytes::new(py, &s.chars().map(|c| c as u8).collect::<Vec<u8>>()).into_any()
        }
    })
}
