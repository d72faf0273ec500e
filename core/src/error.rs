//! The client crate's one error type.

use kafka_protocol::ResponseError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key is unknown or its value is not accepted.
    #[error("invalid configuration {key}: {reason}")]
    Config { key: String, reason: String },
    /// No broker could be reached, or a connection failed.
    #[error("connection to {broker} failed: {reason}")]
    Connection { broker: String, reason: String },
    /// A broker answered a request with a Kafka error.
    #[error("{context}: {code:?} (code {}){}", code.code(), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka { code: ResponseError, message: Option<String>, context: String },
    /// The TLS handshake failed or the broker's certificate was not trusted; `reason` names why.
    #[error("TLS with {broker} failed: {reason}")]
    Tls { broker: String, reason: String },
    /// SASL authentication failed (wrong password, unknown user, mechanism not enabled...).
    #[error("SASL {mechanism} authentication with {broker} failed: {reason}")]
    Authentication { broker: String, mechanism: String, reason: String },
    /// The broker's answer could not be understood.
    #[error("protocol error talking to {broker}: {reason}")]
    Protocol { broker: String, reason: String },
    /// The broker and this client share no version of an API.
    #[error("broker {broker} does not support {api} in a version this client speaks")]
    UnsupportedVersion { broker: String, api: String },
    #[error("timed out after {ms} ms: {what}")]
    Timeout { what: String, ms: u64 },
    /// The producer queue is full (`queue.buffering.max.messages` / `.kbytes`).
    #[error("producer queue is full ({0})")]
    QueueFull(String),
    /// A record is larger than `message.max.bytes`.
    #[error("record of {size} bytes exceeds message.max.bytes={max}")]
    MessageTooLarge { size: usize, max: usize },
    #[error("unknown topic or partition: {0}")]
    UnknownTopicOrPartition(String),
    /// The client was closed.
    #[error("client is closed")]
    Closed,
    /// The record was dropped from the producer's queue by `Producer::purge` before it was
    /// sent.
    #[error("purged from the queue before it was sent")]
    Purged,
}

impl Error {
    /// An error from a response's error code (non-zero).
    pub(crate) fn code(code: i16, message: Option<String>, context: impl Into<String>) -> Self {
        let code = ResponseError::try_from_code(code).unwrap_or(ResponseError::Unknown(code));
        Error::Kafka { code, message, context: context.into() }
    }

    pub(crate) fn kafka(code: ResponseError, message: Option<String>, context: impl Into<String>) -> Self {
        Error::Kafka { code, message, context: context.into() }
    }

    /// Whether retrying the same operation may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Kafka { code, .. } => code.is_retriable(),
            Error::Connection { .. } | Error::Timeout { .. } | Error::QueueFull(_) => true,
            _ => false,
        }
    }

    /// The Kafka error code, when the broker gave one.
    pub fn kafka_code(&self) -> Option<ResponseError> {
        match self {
            Error::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }
}
