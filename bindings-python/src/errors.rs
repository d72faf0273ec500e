//! The one mapping from `ferrokafka::Error` to Python: `NativeError(code, name, message,
//! retriable)`, turned into confluent-kafka's `KafkaException(KafkaError)` by the Python
//! layer; a full queue is `BufferError`, as confluent-kafka raises it.

use ferrokafka::Error;
use pyo3::exceptions::{PyBufferError, PyException};
use pyo3::prelude::*;

pyo3::create_exception!(_native, NativeError, PyException, "An error from the ferrokafka core: (code, name, message, retriable).");

/// librdkafka's local (negative) codes, so code and name match what confluent-kafka users know.
const ERR_INVALID_ARG: i32 = -186;
const ERR_TRANSPORT: i32 = -195;
const ERR_TIMED_OUT: i32 = -185;
const ERR_BAD_MSG: i32 = -199;
const ERR_UNSUPPORTED_FEATURE: i32 = -165;
const ERR_DESTROY: i32 = -197;
const ERR_MSG_SIZE_TOO_LARGE: i32 = 10;
const ERR_UNKNOWN_TOPIC_OR_PART: i32 = 3;
const ERR_QUEUE_FULL: i32 = -184;

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

/// (code, name, retriable) of an error.
pub(crate) fn describe(e: &Error) -> (i32, String, bool) {
    let retriable = e.is_retriable();
    let (code, name) = match e {
        Error::Config { .. } => (ERR_INVALID_ARG, "_INVALID_ARG".to_owned()),
        Error::Connection { .. } => (ERR_TRANSPORT, "_TRANSPORT".to_owned()),
        Error::Kafka { code, .. } => {
            let debug = format!("{code:?}");
            let name = debug.split('(').next().unwrap_or(&debug).to_owned();
            (i32::from(code.code()), screaming(&name))
        }
        Error::Protocol { .. } => (ERR_BAD_MSG, "_BAD_MSG".to_owned()),
        Error::UnsupportedVersion { .. } => (ERR_UNSUPPORTED_FEATURE, "_UNSUPPORTED_FEATURE".to_owned()),
        Error::Timeout { .. } => (ERR_TIMED_OUT, "_TIMED_OUT".to_owned()),
        Error::QueueFull(_) => (ERR_QUEUE_FULL, "_QUEUE_FULL".to_owned()),
        Error::MessageTooLarge { .. } => (ERR_MSG_SIZE_TOO_LARGE, "MSG_SIZE_TOO_LARGE".to_owned()),
        Error::UnknownTopicOrPartition(_) => (ERR_UNKNOWN_TOPIC_OR_PART, "UNKNOWN_TOPIC_OR_PART".to_owned()),
        Error::Closed => (ERR_DESTROY, "_DESTROY".to_owned()),
        _ => (-1, "_UNKNOWN".to_owned()),
    };
    (code, name, retriable)
}

/// The Python exception for `e`.
pub(crate) fn to_py(e: Error) -> PyErr {
    if let Error::QueueFull(what) = &e {
        return PyBufferError::new_err(format!("Local: Queue full ({what})"));
    }
    let (code, name, retriable) = describe(&e);
    NativeError::new_err((code, name, e.to_string(), retriable))
}

/// An error as a plain tuple, for delivery reports handed to callbacks.
pub(crate) fn to_tuple(e: &Error) -> (i32, String, String, bool) {
    let (code, name, retriable) = describe(e);
    (code, name, e.to_string(), retriable)
}

pub(crate) trait IntoPy<T> {
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_follow_kafkas_spelling() {
        assert_eq!(super::screaming("UnknownTopicOrPartition"), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(super::screaming("NotLeaderOrFollower"), "NOT_LEADER_OR_FOLLOWER");
    }
}
