//! The client crate's one error type, and its one classification: every error has a stable
//! numeric code ([`Error::code`]: Kafka's own code for an error a broker sent, librdkafka's
//! negative number for a local one), a name ([`Error::code_name`]) and flags saying what the
//! application can do about it ([`Error::is_retriable`], [`Error::is_fatal`],
//! [`Error::txn_requires_abort`]). Each language binding maps this one table to its idiom and
//! nothing else, so the same failure carries the same code in Rust, Python, Node and C.

use kafka_protocol::ResponseError;

use crate::schema_registry::RegistryError;

// Generated: rustfmt leaves it as the generator wrote it (a test compares the two).
#[rustfmt::skip]
#[path = "error_codes.rs"]
mod table;

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
    /// Called outside a tokio runtime where one is needed to spawn the client's tasks (names
    /// the function).
    #[error("{0} needs a tokio runtime: call it from async code or inside Runtime::enter")]
    NoRuntime(&'static str),
    /// A transactional call made in a state that does not allow it (a send outside a
    /// transaction, `begin_transaction` twice, a commit with none begun); names the call.
    #[error("invalid transaction state: {0}")]
    State(String),
    /// A newer producer with the same `transactional.id` took over: this one can no longer
    /// write or commit, and must be closed (fatal).
    #[error("producer fenced by a newer instance with the same transactional.id: {0}")]
    Fenced(String),
    /// The current transaction failed (a record could not be written, offsets could not be
    /// added, ...): the application aborts it and carries on with the next one.
    #[error("the transaction must be aborted: {0}")]
    TxnAbortable(Box<Error>),
    /// The transactional producer failed in a way it cannot recover from (no authorization
    /// for its `transactional.id`, a broker without transactions, ...): it must be closed.
    #[error("the producer is in a fatal state: {0}")]
    Fatal(Box<Error>),
    /// A record's key or value could not be serialized or deserialized: it does not fit its
    /// schema (the reason names the failing field), its bytes are not in the expected format,
    /// or its schema could not be had from the registry.
    #[error("{} {} for topic {topic:?} failed: {reason}", field.name(), if *deserializing { "deserialization" } else { "serialization" })]
    Serialization { field: crate::serde::MessageField, deserializing: bool, topic: String, reason: String },
    /// A Schema Registry call failed (see [`RegistryError::status`] and
    /// [`RegistryError::error_code`] for the registry's answer).
    #[error(transparent)]
    SchemaRegistry(#[from] crate::schema_registry::RegistryError),
}

/// librdkafka's numbers for local errors (negative), as [`Error::code`] returns them.
pub mod codes {
    /// The broker's answer could not be understood.
    pub const BAD_MSG: i32 = -199;
    /// The client (or handle) is closed.
    pub const DESTROY: i32 = -197;
    /// An internal failure: a bug caught at a binding's boundary, a use after `fork()`, a
    /// client made outside a tokio runtime.
    pub const FAIL: i32 = -196;
    /// No broker could be reached, or a connection failed.
    pub const TRANSPORT: i32 = -195;
    /// The partition does not exist in the topic (or is not assigned to this consumer).
    pub const UNKNOWN_PARTITION: i32 = -190;
    /// An unknown configuration key, a bad value or a bad argument.
    pub const INVALID_ARG: i32 = -186;
    pub const TIMED_OUT: i32 = -185;
    /// The producer queue is full.
    pub const QUEUE_FULL: i32 = -184;
    /// A TLS handshake or certificate failed.
    pub const SSL: i32 = -181;
    /// SASL authentication failed.
    pub const AUTHENTICATION: i32 = -169;
    /// The broker and this client share no version of an API.
    pub const UNSUPPORTED_FEATURE: i32 = -165;
    /// The record was purged from the queue before it was sent.
    pub const PURGE_QUEUE: i32 = -152;
    /// Kafka's own MESSAGE_TOO_LARGE, also raised locally above `message.max.bytes`.
    pub const MSG_SIZE_TOO_LARGE: i32 = 10;
    pub const KEY_SERIALIZATION: i32 = -162;
    pub const VALUE_SERIALIZATION: i32 = -161;
    pub const KEY_DESERIALIZATION: i32 = -160;
    pub const VALUE_DESERIALIZATION: i32 = -159;
    /// A transactional call in a state that does not allow it.
    pub const STATE: i32 = -172;
    /// Fenced by a newer producer with the same `transactional.id`.
    pub const FENCED: i32 = -144;
    /// Kafka's "unknown server error".
    pub const UNKNOWN: i32 = -1;
}

/// librdkafka's name for `code` (`UNKNOWN_TOPIC_OR_PART`, `_TIMED_OUT`), when librdkafka has one.
pub fn librdkafka_name(code: i32) -> Option<&'static str> {
    table::LIBRDKAFKA_CODES.binary_search_by_key(&code, |(c, _, _)| *c).ok().map(|i| table::LIBRDKAFKA_CODES[i].1)
}

/// librdkafka's description of `code` ("Local: Timed out", "Broker: Unknown topic or
/// partition"), when librdkafka has one.
pub fn librdkafka_description(code: i32) -> Option<&'static str> {
    table::LIBRDKAFKA_CODES.binary_search_by_key(&code, |(c, _, _)| *c).ok().map(|i| table::LIBRDKAFKA_CODES[i].2)
}

/// Every `(code, name, description)` librdkafka knows, by code.
pub fn librdkafka_codes() -> &'static [(i32, &'static str, &'static str)] {
    table::LIBRDKAFKA_CODES
}

/// Kafka's own name of a protocol error code (`NOT_LEADER_OR_FOLLOWER`,
/// `UNKNOWN_TOPIC_OR_PARTITION`), when the protocol knows the code.
pub fn kafka_name(code: i32) -> Option<String> {
    match ResponseError::try_from_code(i16::try_from(code).ok()?)? {
        ResponseError::Unknown(_) => None,
        known => Some(screaming(&format!("{known:?}"))),
    }
}

/// `UnknownTopicOrPartition` → `UNKNOWN_TOPIC_OR_PARTITION`.
fn screaming(name: &str) -> String {
    let name = name.split('(').next().unwrap_or(name);
    let mut out = String::with_capacity(name.len() + 8);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

impl Error {
    /// The stable code of this error: Kafka's code for an error the broker sent, librdkafka's
    /// negative number (see [`codes`]) for a local one.
    pub fn code(&self) -> i32 {
        match self {
            Error::Kafka { code, .. } => i32::from(code.code()),
            Error::Config { .. } => codes::INVALID_ARG,
            Error::Connection { .. } => codes::TRANSPORT,
            Error::Tls { .. } => codes::SSL,
            Error::Authentication { .. } => codes::AUTHENTICATION,
            Error::Protocol { .. } => codes::BAD_MSG,
            Error::UnsupportedVersion { .. } => codes::UNSUPPORTED_FEATURE,
            Error::Timeout { .. } => codes::TIMED_OUT,
            Error::QueueFull(_) => codes::QUEUE_FULL,
            Error::MessageTooLarge { .. } => codes::MSG_SIZE_TOO_LARGE,
            // Raised for a partition number the topic does not have, or one not assigned to
            // this consumer (librdkafka's local "unknown partition"); a topic the cluster does
            // not know comes from the broker as `Kafka` UNKNOWN_TOPIC_OR_PARTITION (3).
            Error::UnknownTopicOrPartition(_) => codes::UNKNOWN_PARTITION,
            Error::Closed => codes::DESTROY,
            Error::Purged => codes::PURGE_QUEUE,
            Error::NoRuntime(_) => codes::FAIL,
            Error::State(_) => codes::STATE,
            Error::Fenced(_) => codes::FENCED,
            // The cause's code; the flags say what the failure leaves the producer able to do.
            Error::TxnAbortable(cause) | Error::Fatal(cause) => cause.code(),
            Error::Serialization { field, deserializing, .. } => {
                use crate::serde::MessageField::{Key, Value};
                match (field, deserializing) {
                    (Key, false) => codes::KEY_SERIALIZATION,
                    (Value, false) => codes::VALUE_SERIALIZATION,
                    (Key, true) => codes::KEY_DESERIALIZATION,
                    (Value, true) => codes::VALUE_DESERIALIZATION,
                }
            }
            Error::SchemaRegistry(RegistryError::Transport { .. }) => codes::TRANSPORT,
            Error::SchemaRegistry(_) => codes::FAIL,
        }
    }

    /// The name of [`Error::code`]: librdkafka's (`UNKNOWN_TOPIC_OR_PART`, `_TIMED_OUT`), or
    /// Kafka's for codes newer than librdkafka, or `UNKNOWN_<code>`.
    pub fn code_name(&self) -> String {
        let code = self.code();
        librdkafka_name(code)
            .map(str::to_owned)
            .or_else(|| kafka_name(code))
            .unwrap_or_else(|| format!("UNKNOWN_{code}"))
    }

    /// Whether the operation failed for good and the client cannot recover: it must be
    /// closed and made anew (a fenced transactional producer).
    pub fn is_fatal(&self) -> bool {
        matches!(self, Error::Fenced(_) | Error::Fatal(_))
    }

    /// Whether, in a transaction, the error leaves the transaction needing an abort (the
    /// application aborts and carries on with the next one).
    pub fn txn_requires_abort(&self) -> bool {
        matches!(self, Error::TxnAbortable(_))
    }

    /// One error of each kind, for the bindings' tests that their mapping agrees with
    /// [`Error::code`] and the flags.
    #[doc(hidden)]
    pub fn examples() -> Vec<Error> {
        let s = String::new;
        vec![
            Error::Config { key: "linger.mss".into(), reason: "unknown key".into() },
            Error::Connection { broker: "b:9092".into(), reason: "refused".into() },
            Error::Kafka { code: ResponseError::UnknownTopicOrPartition, message: None, context: s() },
            Error::Kafka { code: ResponseError::NotLeaderOrFollower, message: Some("moved".into()), context: s() },
            Error::Kafka { code: ResponseError::TopicAlreadyExists, message: None, context: s() },
            Error::Kafka { code: ResponseError::Unknown(-1), message: None, context: s() },
            Error::Tls { broker: s(), reason: "bad certificate".into() },
            Error::Authentication { broker: s(), mechanism: "PLAIN".into(), reason: "bad password".into() },
            Error::Protocol { broker: s(), reason: "garbage".into() },
            Error::UnsupportedVersion { broker: s(), api: "Fetch".into() },
            Error::Timeout { what: "flush".into(), ms: 1 },
            Error::QueueFull("100000 records".into()),
            Error::MessageTooLarge { size: 2, max: 1 },
            Error::UnknownTopicOrPartition("t-9".into()),
            Error::Closed,
            Error::Purged,
            Error::NoRuntime("Producer::new"),
            Error::State("begin_transaction: a transaction is already in progress".into()),
            Error::Fenced("transactional.id \"t\"".into()),
            Error::TxnAbortable(Box::new(Error::Kafka {
                code: ResponseError::TopicAuthorizationFailed,
                message: None,
                context: s(),
            })),
            Error::Fatal(Box::new(Error::Kafka {
                code: ResponseError::TransactionalIdAuthorizationFailed,
                message: None,
                context: s(),
            })),
            Error::Serialization {
                field: crate::serde::MessageField::Value,
                deserializing: false,
                topic: "t".into(),
                reason: "$.age: \"x\" is not of type \"integer\"".into(),
            },
            Error::Serialization {
                field: crate::serde::MessageField::Key,
                deserializing: true,
                topic: "t".into(),
                reason: "unknown magic byte".into(),
            },
            Error::SchemaRegistry(RegistryError::Http {
                status: 404,
                code: 40401,
                message: "Subject not found".into(),
            }),
            Error::SchemaRegistry(RegistryError::Transport { url: "http://r:8081".into(), reason: "refused".into() }),
        ]
    }

    /// An error from a response's error code (non-zero).
    pub(crate) fn from_code(code: i16, message: Option<String>, context: impl Into<String>) -> Self {
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
            Error::SchemaRegistry(e) => e.retriable(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_follow_librdkafka_then_kafka() {
        let e = Error::Kafka { code: ResponseError::UnknownTopicOrPartition, message: None, context: String::new() };
        assert_eq!((e.code(), e.code_name().as_str()), (3, "UNKNOWN_TOPIC_OR_PART"));
        assert_eq!(kafka_name(3).as_deref(), Some("UNKNOWN_TOPIC_OR_PARTITION"));
        assert_eq!(kafka_name(6).as_deref(), Some("NOT_LEADER_OR_FOLLOWER"));
        let e = Error::Timeout { what: "x".into(), ms: 1 };
        assert_eq!((e.code(), e.code_name().as_str(), e.is_retriable()), (-185, "_TIMED_OUT", true));
        assert_eq!(Error::UnknownTopicOrPartition("t-9".into()).code_name(), "_UNKNOWN_PARTITION");
        assert_eq!(librdkafka_description(-185), Some("Local: Timed out"));
    }

    #[test]
    fn every_example_has_a_named_code() {
        for e in Error::examples() {
            assert_ne!(e.code_name(), format!("UNKNOWN_{}", e.code()), "{e:?}");
        }
    }

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        assert!(table::LIBRDKAFKA_CODES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
