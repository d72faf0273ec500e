//! The one mapping from `ferrokafka::Error` to Python. A core error becomes
//! `NativeError(code, name, message, retriable, fatal, txn_requires_abort)` with the core's code and name (which
//! are librdkafka's, what confluent-kafka users compare against); the package's `_call` turns
//! it into confluent-kafka's `KafkaException(KafkaError)`. A full producer queue is
//! `BufferError`, as confluent-kafka raises it.

use ferrokafka::Error;
use ferrokafka::error::{kafka_name, librdkafka_name};
use ferrokafka::schema_registry::RegistryError;
use pyo3::exceptions::{PyBufferError, PyException, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

pyo3::create_exception!(
    _native,
    NativeError,
    PyException,
    "An error from the ferrokafka core: args are (code, name, message, retriable, fatal, txn_requires_abort)."
);

/// What Python is told about an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Described {
    pub(crate) code: i32,
    pub(crate) name: String,
    pub(crate) message: String,
    pub(crate) retriable: bool,
    pub(crate) fatal: bool,
    pub(crate) txn_requires_abort: bool,
}

/// Code, name, message and flags of a core error: the core's classification as it is.
pub(crate) fn describe(e: &Error) -> Described {
    Described {
        code: e.code(),
        name: e.code_name(),
        message: e.to_string(),
        retriable: e.is_retriable(),
        fatal: e.is_fatal(),
        txn_requires_abort: e.txn_requires_abort(),
    }
}

/// An invalid argument detected by the binding (e.g. a logical offset `seek` cannot take),
/// reported like the core's own configuration errors.
pub(crate) fn invalid_arg(what: &str, reason: impl Into<String>) -> Error {
    Error::Config { key: what.to_owned(), reason: reason.into() }
}

/// The package's `KafkaError._native` (code, name, message and flags → KafkaError)
/// and `KafkaException`, registered by the package at import ([`bind_errors`]) so errors are
/// raised as confluent-kafka's from native code, with no Python wrapper on the hot paths.
static PY_ERRORS: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();

#[pyfunction]
pub(crate) fn bind_errors(py: Python<'_>, make_error: Py<PyAny>, exception: Py<PyAny>) {
    let _ = PY_ERRORS.set(py, (make_error, exception));
}

/// `e` as a `KafkaError` object (a tuple before the package registered its classes).
pub(crate) fn kafka_error(py: Python<'_>, e: &Error) -> PyResult<Py<PyAny>> {
    let d = describe(e);
    let args = (d.code, d.name, d.message, d.retriable, d.fatal, d.txn_requires_abort);
    match PY_ERRORS.get(py) {
        Some((make, _)) => make.call1(py, args),
        None => Ok(args.into_pyobject(py)?.into_any().unbind()),
    }
}

/// `ferrokafka.schema_registry`'s error factories, registered when it is imported
/// ([`bind_serde_errors`]): `(http status, error code, message) -> SchemaRegistryError` and
/// `KafkaError -> SerializationError` (its Key/Value (De)SerializationError subclass).
static PY_SERDE_ERRORS: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();

#[pyfunction]
pub(crate) fn bind_serde_errors(py: Python<'_>, registry_error: Py<PyAny>, serialization_error: Py<PyAny>) {
    let _ = PY_SERDE_ERRORS.set(py, (registry_error, serialization_error));
}

/// A registry or (de)serialization error as `ferrokafka.schema_registry` raises it, as
/// confluent-kafka's: SchemaRegistryError(http_status_code, error_code, error_message) (-1 for
/// the status and code when the registry did not answer), or a SerializationError.
fn serde_error(py: Python<'_>, e: &Error) -> Option<PyResult<Py<PyAny>>> {
    let (registry_error, serialization_error) = PY_SERDE_ERRORS.get(py)?;
    match e {
        Error::SchemaRegistry(r) => {
            let message = match r {
                RegistryError::Http { message, .. } => message.clone(),
                other => other.to_string(),
            };
            let status = r.status().map_or(-1, i32::from);
            Some(registry_error.call1(py, (status, r.error_code(), message)))
        }
        Error::Serialization { .. } => Some(kafka_error(py, e).and_then(|err| serialization_error.call1(py, (err,)))),
        _ => None,
    }
}

/// The Python exception for `e` from the Schema Registry client and the serializers: as
/// [`to_py`], but a configuration error is a `ValueError`, as confluent-kafka's serializers
/// and registry client raise it.
pub(crate) fn serde_to_py(e: Error) -> PyErr {
    match e {
        Error::Config { .. } => PyValueError::new_err(e.to_string()),
        e => to_py(e),
    }
}

/// The Python exception for `e`: `KafkaException(KafkaError)` (NativeError before the
/// package registered its classes); `BufferError` for a full queue, as confluent-kafka.
/// Registry and (de)serialization errors are `ferrokafka.schema_registry`'s, once it is
/// imported.
pub(crate) fn to_py(e: Error) -> PyErr {
    if let Error::QueueFull(what) = &e {
        return PyBufferError::new_err(format!("Local: Queue full ({what})"));
    }
    Python::attach(|py| {
        if let Some(made) = serde_error(py, &e) {
            return match made {
                Ok(raised) => PyErr::from_value(raised.into_bound(py)),
                Err(failed) => failed,
            };
        }
        if let Some((_, exception)) = PY_ERRORS.get(py) {
            return match kafka_error(py, &e).and_then(|err| exception.call1(py, (err,))) {
                Ok(raised) => PyErr::from_value(raised.into_bound(py)),
                Err(failed) => failed,
            };
        }
        let d = describe(&e);
        NativeError::new_err((d.code, d.name, d.message, d.retriable, d.fatal, d.txn_requires_abort))
    })
}

/// An error as a plain tuple, for delivery reports and per-item admin results.
pub(crate) type ErrorTuple = (i32, String, String, bool, bool, bool);

pub(crate) fn to_tuple(e: &Error) -> ErrorTuple {
    let d = describe(e);
    (d.code, d.name, d.message, d.retriable, d.fatal, d.txn_requires_abort)
}

/// A client object used in a process other than the one that created it: after `fork()` its
/// tasks are gone with the parent's runtime threads.
pub(crate) fn forked(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!(
        "this ferrokafka {what} was created in another process (before fork()); its background work does not \
         exist here: create a new {what} in this process"
    ))
}

/// The broker's errors (configuration, I/O, binding the listener).
pub(crate) fn broker_to_py(e: ferrokafka_broker::Error) -> PyErr {
    PyRuntimeError::new_err(format!("ferrokafka broker: {e}"))
}

pub(crate) trait IntoPy<T> {
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// `(code, name, description)` of every librdkafka code, for `KafkaError`'s constants.
pub(crate) fn librdkafka_codes() -> Vec<(i32, &'static str, &'static str)> {
    ferrokafka::error::librdkafka_codes().to_vec()
}

/// `(code, Kafka's name)` of each protocol error whose Kafka name differs from librdkafka's
/// (`UNKNOWN_TOPIC_OR_PARTITION` for `UNKNOWN_TOPIC_OR_PART`): extra `KafkaError` constants.
pub(crate) fn kafka_aliases() -> Vec<(i32, String)> {
    (1..=1000)
        .filter_map(|code| Some((code, kafka_name(code)?)))
        .filter(|(code, name)| librdkafka_name(*code) != Some(name.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The agreement test's Python third (the C and Node bindings have the same): every kind
    /// of core error reaches Python with the core's code, name and flags.
    #[test]
    fn python_errors_carry_the_cores_classification() {
        for e in Error::examples() {
            let d = describe(&e);
            assert_eq!(
                (d.code, d.name.as_str(), d.retriable, d.fatal, d.txn_requires_abort),
                (e.code(), e.code_name().as_str(), e.is_retriable(), e.is_fatal(), e.txn_requires_abort()),
                "{e:?}"
            );
        }
        assert!(kafka_aliases().contains(&(3, "UNKNOWN_TOPIC_OR_PARTITION".to_owned())));
        assert!(!kafka_aliases().iter().any(|(c, _)| *c == 36), "TOPIC_ALREADY_EXISTS is spelled the same");
    }
}
