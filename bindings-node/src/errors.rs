//! The one mapping from the core's errors to JavaScript: an `Error` carrying kafkajs's `name`
//! (`KafkaJSProtocolError`, `KafkaJSConnectionError`, ...), `type` (the Kafka error's name,
//! e.g. `UNKNOWN_TOPIC_OR_PARTITION`, or a local kind such as `CONNECTION`), `code` (the Kafka
//! error code, when there is one) and `retriable`.
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

    /// A call made in a state that does not allow it (not connected, not running).
    pub(crate) fn state(message: impl Into<String>) -> Self {
        Error::Local { name: "KafkaJSNonRetriableError", kind: "INVALID_STATE", message: message.into() }
    }
}

/// What the JavaScript error says: kafkajs's class name, the type, the Kafka code, whether a
/// retry may succeed, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Described {
    pub(crate) name: &'static str,
    pub(crate) kind: String,
    pub(crate) code: Option<i32>,
    pub(crate) retriable: bool,
    pub(crate) message: String,
}

/// `UnknownTopicOrPartition` → `UNKNOWN_TOPIC_OR_PARTITION`, as Kafka spells its errors.
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

fn local(name: &'static str, kind: &str, e: &ferrokafka::Error) -> Described {
    Described { name, kind: kind.to_owned(), code: None, retriable: e.is_retriable(), message: e.to_string() }
}

/// The mapping, in one place. `ferrokafka::Error` is `#[non_exhaustive]`: a variant added
/// later is reported as a generic `KafkaJSError` until it gets its own arm here.
pub(crate) fn describe(e: &Error) -> Described {
    use ferrokafka::Error as E;
    match e {
        Error::Core(core) => match core {
            E::Kafka { code, .. } => {
                let debug = format!("{code:?}");
                Described {
                    name: "KafkaJSProtocolError",
                    kind: screaming(debug.split('(').next().unwrap_or(&debug)),
                    code: Some(i32::from(code.code())),
                    retriable: core.is_retriable(),
                    message: core.to_string(),
                }
            }
            E::UnknownTopicOrPartition(_) => Described {
                name: "KafkaJSProtocolError",
                kind: "UNKNOWN_TOPIC_OR_PARTITION".into(),
                code: Some(3),
                retriable: core.is_retriable(),
                message: core.to_string(),
            },
            E::MessageTooLarge { .. } => Described {
                name: "KafkaJSProtocolError",
                kind: "MESSAGE_TOO_LARGE".into(),
                code: Some(10),
                retriable: core.is_retriable(),
                message: core.to_string(),
            },
            E::Config { .. } => local("KafkaJSNonRetriableError", "INVALID_CONFIG", core),
            E::Connection { .. } => local("KafkaJSConnectionError", "CONNECTION", core),
            E::Protocol { .. } => local("KafkaJSError", "PROTOCOL", core),
            E::UnsupportedVersion { .. } => local("KafkaJSServerDoesNotSupportApiKey", "UNSUPPORTED_VERSION", core),
            E::Timeout { .. } => local("KafkaJSTimeout", "TIMEOUT", core),
            E::QueueFull(_) => local("KafkaJSError", "QUEUE_FULL", core),
            E::Closed => local("KafkaJSError", "CLOSED", core),
            E::Tls { .. } => local("KafkaJSConnectionError", "SSL", core),
            E::Authentication { .. } => local("KafkaJSSASLAuthenticationError", "SASL_AUTHENTICATION_FAILED", core),
            E::Purged => local("KafkaJSError", "PURGED", core),
            _ => local("KafkaJSError", "UNKNOWN", core),
        },
        Error::Broker(b) => Described {
            name: "FerrokafkaBrokerError",
            kind: "BROKER".into(),
            code: None,
            retriable: false,
            message: b.to_string(),
        },
        Error::Local { name, kind, message } => {
            Described { name, kind: (*kind).to_owned(), code: None, retriable: false, message: message.clone() }
        }
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
        match d.code {
            Some(code) => obj.set("code", code)?,
            None => {
                obj.delete_named_property("code")?;
            }
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

    #[test]
    fn names_follow_kafkas_spelling() {
        assert_eq!(screaming("UnknownTopicOrPartition"), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(screaming("NotLeaderOrFollower"), "NOT_LEADER_OR_FOLLOWER");
    }

    #[test]
    fn local_errors_have_no_kafka_code() {
        let d = describe(&Error::Core(ferrokafka::Error::Connection { broker: "b".into(), reason: "refused".into() }));
        assert_eq!(
            (d.name, d.kind.as_str(), d.code, d.retriable),
            ("KafkaJSConnectionError", "CONNECTION", None, true)
        );
        let d = describe(&Error::invalid("x"));
        assert_eq!((d.kind.as_str(), d.retriable), ("INVALID_ARGUMENT", false));
    }
}
