//! The one mapping from the core's errors to JavaScript: an `Error` carrying kafkajs's `name`
//! (`KafkaJSProtocolError`, `KafkaJSConnectionError`, ...), `type` (Kafka's name of the error,
//! e.g. `UNKNOWN_TOPIC_OR_PARTITION`, or a local kind such as `CONNECTION`), `code` (the core's
//! code: Kafka's for an error the broker sent, librdkafka's negative number for a local one,
//! the same in every binding), `retriable`, `fatal` and `txnRequiresAbort` (the transaction
//! failed: abort it and carry on).
//!
//! Errors cross threads as Rust values; the JavaScript object is built on the JavaScript thread
//! ([`to_js`]), when a promise settles ([`promise`]) or when a sync call throws ([`throw`]).

use std::future::Future;

use napi::Env;
use napi::bindgen_prelude::{AsyncBlock, AsyncBlockBuilder, JsObjectValue, JsValue, ToNapiValue};

/// An error of this binding: the core's, the bundled broker's, or one found by the binding.
#[derive(Debug)]
pub(crate) enum Error {
    Core(ferrokafka::Error),
    Broker(ferrokafka_broker::Error),
    /// Found by the binding before any Kafka work (a bad or unsupported argument, a call in
    /// the wrong state), or a JavaScript handler that failed.
    Local {
        name: &'static str,
        kind: &'static str,
        message: String,
    },
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl From<ferrokafka::Error> for Error {
    fn from(e: ferrokafka::Error) -> Self {
        Error::Core(e)
    }
}

impl From<ferrokafka_broker::Error> for Error {
    fn from(e: ferrokafka_broker::Error) -> Self {
        Error::Broker(e)
    }
}

impl Error {
    /// An argument the binding cannot accept.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::Local { name: "KafkaJSNonRetriableError", kind: "INVALID_ARGUMENT", message: message.into() }
    }

    /// A kafkajs feature the core does not have (yet).
    pub(crate) fn not_implemented(message: impl Into<String>) -> Self {
        Error::Local { name: "KafkaJSNotImplemented", kind: "NOT_IMPLEMENTED", message: message.into() }
    }

    /// A Schema Registry argument the binding cannot accept (as
    /// `@kafkajs/confluent-schema-registry`'s `ConfluentSchemaRegistryArgumentError`).
    pub(crate) fn registry_argument(message: impl Into<String>) -> Self {
        Error::Local { name: "ConfluentSchemaRegistryArgumentError", kind: "INVALID_ARGUMENT", message: message.into() }
    }

    /// A call made in a state that does not allow it (not connected, not running).
    pub(crate) fn state(message: impl Into<String>) -> Self {
        Error::Local { name: "KafkaJSNonRetriableError", kind: "INVALID_STATE", message: message.into() }
    }
}

/// What the JavaScript error says: kafkajs's class name, the type, the code, whether a retry
/// may succeed, whether the client is unusable now, whether the transaction must be aborted,
/// and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Described {
    pub(crate) name: &'static str,
    pub(crate) kind: String,
    pub(crate) code: Option<i32>,
    pub(crate) retriable: bool,
    pub(crate) fatal: bool,
    pub(crate) txn_requires_abort: bool,
    pub(crate) message: String,
    /// A Schema Registry's answer: its HTTP status and Confluent's error code (`status`,
    /// `errorCode` in JavaScript, as `@kafkajs/confluent-schema-registry`'s errors have
    /// `status`).
    pub(crate) registry_status: Option<(u16, i32)>,
}

/// The kafkajs class and type of a core error; code and flags are the core's as they are.
/// `ferrokafka::Error` is `#[non_exhaustive]`: a variant added later is a generic
/// `KafkaJSError` named by its code until it gets its own arm here.
fn kafkajs_shape(e: &ferrokafka::Error) -> (&'static str, String) {
    use ferrokafka::Error as E;
    let kafka = || ferrokafka::error::kafka_name(e.code()).unwrap_or_else(|| e.code_name());
    match e {
        E::Kafka { .. } | E::UnknownTopicOrPartition(_) | E::MessageTooLarge { .. } => {
            ("KafkaJSProtocolError", kafka())
        }
        E::Config { .. } => ("KafkaJSNonRetriableError", "INVALID_CONFIG".into()),
        E::Connection { .. } => ("KafkaJSConnectionError", "CONNECTION".into()),
        E::Protocol { .. } => ("KafkaJSError", "PROTOCOL".into()),
        E::UnsupportedVersion { .. } => ("KafkaJSServerDoesNotSupportApiKey", "UNSUPPORTED_VERSION".into()),
        E::Timeout { .. } => ("KafkaJSTimeout", "TIMEOUT".into()),
        E::QueueFull(_) => ("KafkaJSError", "QUEUE_FULL".into()),
        E::Closed => ("KafkaJSError", "CLOSED".into()),
        E::Tls { .. } => ("KafkaJSConnectionError", "SSL".into()),
        E::Authentication { .. } => ("KafkaJSSASLAuthenticationError", "SASL_AUTHENTICATION_FAILED".into()),
        E::Purged => ("KafkaJSError", "PURGED".into()),
        E::State(_) => ("KafkaJSNonRetriableError", "INVALID_STATE".into()),
        // kafkajs reports the broker's PRODUCER_FENCED (or INVALID_PRODUCER_EPOCH) as is.
        E::Fenced(_) => ("KafkaJSProtocolError", "PRODUCER_FENCED".into()),
        // The flags say what the failure leaves the producer able to do; the rest is the cause's.
        E::TxnAbortable(cause) | E::Fatal(cause) => kafkajs_shape(cause),
        // The names of @kafkajs/confluent-schema-registry's errors.
        E::Serialization { deserializing: false, .. } => {
            ("ConfluentSchemaRegistryValidationError", "SERIALIZATION".into())
        }
        E::Serialization { deserializing: true, .. } => ("ConfluentSchemaRegistryError", "DESERIALIZATION".into()),
        E::SchemaRegistry(_) => ("ConfluentSchemaRegistryError", "SCHEMA_REGISTRY".into()),
        _ => ("KafkaJSError", e.code_name()),
    }
}

/// The mapping, in one place.
pub(crate) fn describe(e: &Error) -> Described {
    match e {
        Error::Core(core) => {
            let (name, kind) = kafkajs_shape(core);
            Described {
                name,
                kind,
                code: Some(core.code()),
                retriable: core.is_retriable(),
                fatal: core.is_fatal(),
                txn_requires_abort: core.txn_requires_abort(),
                message: core.to_string(),
                registry_status: match core {
                    ferrokafka::Error::SchemaRegistry(r) => r.status().map(|s| (s, r.error_code())),
                    _ => None,
                },
            }
        }
        Error::Broker(b) => Described {
            name: "FerrokafkaBrokerError",
            kind: "BROKER".into(),
            code: None,
            retriable: false,
            fatal: false,
            txn_requires_abort: false,
            message: b.to_string(),
            registry_status: None,
        },
        Error::Local { name, kind, message } => Described {
            name,
            kind: (*kind).to_owned(),
            code: None,
            retriable: false,
            fatal: false,
            txn_requires_abort: false,
            message: message.clone(),
            registry_status: None,
        },
    }
}

/// The JavaScript `Error` for `e`, as a `napi::Error` holding it (so napi throws or rejects
/// with this very object). Must run on the JavaScript thread.
pub(crate) fn to_js(env: &Env, e: &Error) -> napi::Error {
    let d = describe(e);
    let built = (|| -> napi::Result<napi::Error> {
        let mut obj = env.create_error(napi::Error::from_reason(d.message.clone()))?;
        obj.set("name", d.name)?;
        obj.set("type", d.kind.as_str())?;
        obj.set("retriable", d.retriable)?;
        obj.set("fatal", d.fatal)?;
        obj.set("txnRequiresAbort", d.txn_requires_abort)?;
        match d.code {
            Some(code) => obj.set("code", code)?,
            None => {
                obj.delete_named_property("code")?;
            }
        }
        if let Some((status, code)) = d.registry_status {
            obj.set("status", u32::from(status))?;
            obj.set("errorCode", code)?;
        }
        Ok(napi::Error::from(obj.to_unknown()))
    })();
    built.unwrap_or_else(|_| napi::Error::from_reason(format!("{}: {}", d.name, d.message)))
}

/// Converts a sync call's result, throwing the mapped error.
pub(crate) fn throw<T>(env: &Env, r: Result<T>) -> napi::Result<T> {
    r.map_err(|e| to_js(env, &e))
}

/// Runs `fut` on the tokio runtime and returns a promise of its output. Rejections carry the
/// mapped error, built on the JavaScript thread when the promise settles.
pub(crate) fn promise<T, F>(env: &Env, fut: F) -> napi::Result<AsyncBlock<T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    AsyncBlockBuilder::build_with_map(env, async move { Ok(fut.await) }, |env, r: Result<T>| {
        r.map_err(|e| to_js(&env, &e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The agreement test's Node third (the Python and C bindings have the same): every kind of
    /// core error reaches JavaScript with the core's code and flags.
    #[test]
    fn js_errors_carry_the_cores_classification() {
        for e in ferrokafka::Error::examples() {
            let (code, retriable, fatal, abort) = (e.code(), e.is_retriable(), e.is_fatal(), e.txn_requires_abort());
            let d = describe(&Error::Core(e));
            assert_eq!((d.code, d.retriable, d.fatal, d.txn_requires_abort), (Some(code), retriable, fatal, abort));
        }
        let fenced = ferrokafka::Error::Fenced("transactional.id \"t\"".into());
        let d = describe(&Error::Core(fenced));
        assert_eq!((d.name, d.kind.as_str(), d.fatal), ("KafkaJSProtocolError", "PRODUCER_FENCED", true));
        let abortable = ferrokafka::Error::examples().into_iter().find(|e| e.txn_requires_abort()).unwrap();
        let d = describe(&Error::Core(abortable));
        assert_eq!(
            (d.name, d.kind.as_str(), d.txn_requires_abort, d.fatal),
            ("KafkaJSProtocolError", "TOPIC_AUTHORIZATION_FAILED", true, false),
            "an abortable error is shaped as its cause"
        );
        let unknown_topic = ferrokafka::Error::examples().into_iter().find(|e| e.code() == 3).unwrap();
        let d = describe(&Error::Core(unknown_topic));
        assert_eq!((d.name, d.kind.as_str(), d.code), ("KafkaJSProtocolError", "UNKNOWN_TOPIC_OR_PARTITION", Some(3)));
        let d = describe(&Error::Core(ferrokafka::Error::Connection { broker: "b".into(), reason: "refused".into() }));
        assert_eq!(
            (d.name, d.kind.as_str(), d.code, d.retriable),
            ("KafkaJSConnectionError", "CONNECTION", Some(-195), true)
        );
        let d = describe(&Error::Core(ferrokafka::Error::SchemaRegistry(
            ferrokafka::schema_registry::RegistryError::Http { status: 409, code: 409, message: "incompatible".into() },
        )));
        assert_eq!((d.name, d.registry_status), ("ConfluentSchemaRegistryError", Some((409, 409))));
        let d = describe(&Error::invalid("x"));
        assert_eq!((d.kind.as_str(), d.code, d.retriable), ("INVALID_ARGUMENT", None, false));
    }
}
