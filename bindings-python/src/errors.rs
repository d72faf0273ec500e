//! The one mapping from `ferrokafka::Error` to Python. A core error becomes
//! `NativeError(code, name, message, retriable, fatal)` with librdkafka's code and name (so
//! they are what confluent-kafka users compare against); the package's `_call` turns it
//! into confluent-kafka's `KafkaException(KafkaError)`. A full producer queue is `BufferError`, as
//! confluent-kafka raises it.

use ferrokafka::Error;
use kafka_protocol::ResponseError;
use pyo3::exceptions::{PyBufferError, PyException, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::error_codes::LIBRDKAFKA_CODES;

pyo3::create_exception!(
    _native,
    NativeError,
    PyException,
    "An error from the ferrokafka core: args are (code, name, message, retriable, fatal)."
);

/// librdkafka's local (negative) codes this binding reports.
pub(crate) const ERR_INVALID_ARG: i32 = -186;
const ERR_TRANSPORT: i32 = -195;
const ERR_TIMED_OUT: i32 = -185;
const ERR_BAD_MSG: i32 = -199;
const ERR_UNSUPPORTED_FEATURE: i32 = -165;
const ERR_DESTROY: i32 = -197;
const ERR_UNKNOWN_PARTITION: i32 = -190;
const ERR_QUEUE_FULL: i32 = -184;
const ERR_UNKNOWN: i32 = -1;
const ERR_SSL: i32 = -181;
const ERR_AUTHENTICATION: i32 = -169;
const ERR_PURGE_QUEUE: i32 = -152;
/// Kafka's own code, under the same number in librdkafka.
const ERR_MSG_SIZE_TOO_LARGE: i32 = 10;

/// librdkafka's name of a code, when librdkafka knows it.
pub(crate) fn librdkafka_name(code: i32) -> Option<&'static str> {
    LIBRDKAFKA_CODES.binary_search_by_key(&code, |(c, _, _)| *c).ok().map(|i| LIBRDKAFKA_CODES[i].1)
}

/// `UnknownTopicOrPartition` → `UNKNOWN_TOPIC_OR_PARTITION`.
fn screaming(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Kafka's own name of a protocol error code (`NOT_LEADER_OR_FOLLOWER`), if the protocol
/// crate knows the code.
pub(crate) fn kafka_name(code: i16) -> Option<String> {
    match ResponseError::try_from_code(code)? {
        ResponseError::Unknown(_) => None,
        known => Some(screaming(&known.to_string())),
    }
}

/// The name of a Kafka error code: librdkafka's where it has one (`UNKNOWN_TOPIC_OR_PART`),
/// else Kafka's (for codes newer than librdkafka).
fn name_of_kafka_code(code: i16) -> String {
    librdkafka_name(i32::from(code))
        .map(str::to_owned)
        .or_else(|| kafka_name(code))
        .unwrap_or_else(|| format!("UNKNOWN_{code}"))
}

/// What Python is told about an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Described {
    pub(crate) code: i32,
    pub(crate) name: String,
    pub(crate) message: String,
    pub(crate) retriable: bool,
    pub(crate) fatal: bool,
}

/// Code, name, message and flags of a core error: an exhaustive match over the variants the
/// core has today (the enum is `#[non_exhaustive]`, so a later variant lands in `_UNKNOWN`
/// with its message until it is added here).
pub(crate) fn describe(e: &Error) -> Described {
    let local = |code: i32| (code, librdkafka_name(code).unwrap_or("_UNKNOWN").to_owned());
    let (code, name) = match e {
        Error::Config { .. } => local(ERR_INVALID_ARG),
        Error::Connection { .. } => local(ERR_TRANSPORT),
        Error::Kafka { code, .. } => (i32::from(code.code()), name_of_kafka_code(code.code())),
        Error::Protocol { .. } => local(ERR_BAD_MSG),
        Error::UnsupportedVersion { .. } => local(ERR_UNSUPPORTED_FEATURE),
        Error::Timeout { .. } => local(ERR_TIMED_OUT),
        Error::QueueFull(_) => local(ERR_QUEUE_FULL),
        Error::MessageTooLarge { .. } => local(ERR_MSG_SIZE_TOO_LARGE),
        // The core raises it for a partition the topic does not have (or that is not
        // assigned): librdkafka's local "unknown partition". A topic missing from the
        // cluster comes as `Error::Kafka` with UNKNOWN_TOPIC_OR_PART.
        Error::UnknownTopicOrPartition(_) => local(ERR_UNKNOWN_PARTITION),
        Error::Closed => local(ERR_DESTROY),
        Error::Tls { .. } => local(ERR_SSL),
        Error::Authentication { .. } => local(ERR_AUTHENTICATION),
        Error::Purged => local(ERR_PURGE_QUEUE),
        _ => (ERR_UNKNOWN, "_UNKNOWN".to_owned()),
    };
    Described { code, name, message: e.to_string(), retriable: e.is_retriable(), fatal: false }
}

/// An invalid argument detected by the binding (e.g. a logical offset `seek` cannot take),
/// reported like the core's own configuration errors.
pub(crate) fn invalid_arg(what: &str, reason: impl Into<String>) -> Error {
    Error::Config { key: what.to_owned(), reason: reason.into() }
}

/// The package's `KafkaError._native` (code, name, message, retriable, fatal → KafkaError)
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
    let args = (d.code, d.name, d.message, d.retriable, d.fatal);
    match PY_ERRORS.get(py) {
        Some((make, _)) => make.call1(py, args),
        None => Ok(args.into_pyobject(py)?.into_any().unbind()),
    }
}

/// The Python exception for `e`: `KafkaException(KafkaError)` (NativeError before the
/// package registered its classes); `BufferError` for a full queue, as confluent-kafka.
pub(crate) fn to_py(e: Error) -> PyErr {
    if let Error::QueueFull(what) = &e {
        return PyBufferError::new_err(format!("Local: Queue full ({what})"));
    }
    Python::attach(|py| {
        if let Some((_, exception)) = PY_ERRORS.get(py) {
            return match kafka_error(py, &e).and_then(|err| exception.call1(py, (err,))) {
                Ok(raised) => PyErr::from_value(raised.into_bound(py)),
                Err(failed) => failed,
            };
        }
        let d = describe(&e);
        NativeError::new_err((d.code, d.name, d.message, d.retriable, d.fatal))
    })
}

/// An error as a plain tuple, for delivery reports and per-item admin results.
pub(crate) type ErrorTuple = (i32, String, String, bool, bool);

pub(crate) fn to_tuple(e: &Error) -> ErrorTuple {
    let d = describe(e);
    (d.code, d.name, d.message, d.retriable, d.fatal)
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
    LIBRDKAFKA_CODES.to_vec()
}

/// `(code, Kafka's name)` of each protocol error whose Kafka name differs from librdkafka's
/// (`UNKNOWN_TOPIC_OR_PARTITION` for `UNKNOWN_TOPIC_OR_PART`): extra `KafkaError` constants.
pub(crate) fn kafka_aliases() -> Vec<(i32, String)> {
    (1..=1000)
        .filter_map(|code| Some((code, kafka_name(code)?)))
        .filter(|(code, name)| librdkafka_name(i32::from(*code)) != Some(name.as_str()))
        .map(|(code, name)| (i32::from(code), name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafkas_spelling() {
        assert_eq!(screaming("UnknownTopicOrPartition"), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(screaming("NotLeaderOrFollower"), "NOT_LEADER_OR_FOLLOWER");
    }

    #[test]
    fn kafka_codes_get_librdkafkas_names_and_keep_their_numbers() {
        let e = Error::Kafka { code: ResponseError::UnknownTopicOrPartition, message: None, context: "t".into() };
        let d = describe(&e);
        assert_eq!((d.code, d.name.as_str()), (3, "UNKNOWN_TOPIC_OR_PART"));
        let e = Error::Kafka { code: ResponseError::NotLeaderOrFollower, message: None, context: "t".into() };
        assert_eq!(describe(&e).name, "NOT_LEADER_FOR_PARTITION");
        assert!(describe(&e).retriable);
        assert!(kafka_aliases().contains(&(3, "UNKNOWN_TOPIC_OR_PARTITION".to_owned())));
        assert!(!kafka_aliases().iter().any(|(c, _)| *c == 36), "TOPIC_ALREADY_EXISTS is spelled the same");
    }

    #[test]
    fn local_errors_get_librdkafkas_local_codes() {
        let d = describe(&Error::Config { key: "linger.mss".into(), reason: "unknown key".into() });
        assert_eq!((d.code, d.name.as_str()), (-186, "_INVALID_ARG"));
        assert!(d.message.contains("linger.mss"));
        let d = describe(&Error::UnknownTopicOrPartition("t-9".into()));
        assert_eq!((d.code, d.name.as_str()), (-190, "_UNKNOWN_PARTITION"));
        let d = describe(&Error::Timeout { what: "x".into(), ms: 1 });
        assert_eq!((d.code, d.name.as_str(), d.retriable), (-185, "_TIMED_OUT", true));
    }

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        assert!(LIBRDKAFKA_CODES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
