//! Error codes: Kafka's own (as the broker sends them: positive, and -1 for an unknown server
//! error) and local ones (negative, numbered as librdkafka's RD_KAFKA_RESP_ERR__*). The one
//! mapping from `ferrokafka::Error` is [`code_of`], with its flags ([`Flags`]) kept on the
//! thread's last error.

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int};
use std::sync::Mutex;

use crate::boundary;

/// An error code: FK_OK (0), one of Kafka's codes (FK_ERR_*: positive, or -1) or a local one
/// (FK_ERR__*: -100 and below). Any Kafka code may appear, not only those named here;
/// fk_err2str names them all.
pub type fk_resp_err_t = c_int;

/// Success.
pub const FK_OK: fk_resp_err_t = 0;

// Local errors, numbered as librdkafka's.
/// Local: the broker's answer could not be understood.
pub const FK_ERR__BAD_MSG: fk_resp_err_t = -199;
/// Local: the handle is closed (a closed consumer, a producer being destroyed).
pub const FK_ERR__DESTROY: fk_resp_err_t = -197;
/// Local: an internal failure (a panic caught at the boundary; use after fork(); a broker that
/// would not start).
pub const FK_ERR__FAIL: fk_resp_err_t = -196;
/// Local: no broker could be reached, or a connection failed.
pub const FK_ERR__TRANSPORT: fk_resp_err_t = -195;
/// Local: the partition does not exist in the topic, or is not assigned to this consumer.
pub const FK_ERR__UNKNOWN_PARTITION: fk_resp_err_t = -190;
/// Local: a bad argument: unknown configuration key, bad value, NULL handle, invalid string.
pub const FK_ERR__INVALID_ARG: fk_resp_err_t = -186;
/// Local: the operation did not finish in time.
pub const FK_ERR__TIMED_OUT: fk_resp_err_t = -185;
/// Local: the producer queue is full: serve delivery reports with fk_poll and retry.
pub const FK_ERR__QUEUE_FULL: fk_resp_err_t = -184;
/// Local: the broker and the library share no version of an API.
pub const FK_ERR__UNSUPPORTED_FEATURE: fk_resp_err_t = -165;
/// Local: a TLS handshake or certificate failed (librdkafka's `_SSL`).
pub const FK_ERR__SSL: fk_resp_err_t = -181;
/// Local: SASL authentication failed (librdkafka's `_AUTHENTICATION`).
pub const FK_ERR__AUTHENTICATION: fk_resp_err_t = -169;
/// Local: the record was purged from the queue before it was sent (librdkafka's `_PURGE_QUEUE`):
/// also the delivery report of a record still queued when its transaction was aborted.
pub const FK_ERR__PURGE_QUEUE: fk_resp_err_t = -152;
/// Local: a transactional call made in a state that does not allow it (fk_produce outside a
/// transaction, fk_begin_transaction twice, a commit with none begun, a producer without
/// `transactional.id`).
pub const FK_ERR__STATE: fk_resp_err_t = -172;
/// Local: a newer producer with the same `transactional.id` took over (fatal: the producer
/// can do nothing more; destroy it).
pub const FK_ERR__FENCED: fk_resp_err_t = -144;
/// Local: a record's key could not be serialized: it does not fit its schema (the message names
/// the field) or is not JSON (librdkafka's `_KEY_SERIALIZATION`).
pub const FK_ERR__KEY_SERIALIZATION: fk_resp_err_t = -162;
/// Local: a record's value could not be serialized (librdkafka's `_VALUE_SERIALIZATION`).
pub const FK_ERR__VALUE_SERIALIZATION: fk_resp_err_t = -161;
/// Local: a record's key could not be deserialized: not framed, an unknown schema, bytes that
/// do not decode under it (librdkafka's `_KEY_DESERIALIZATION`).
pub const FK_ERR__KEY_DESERIALIZATION: fk_resp_err_t = -160;
/// Local: a record's value could not be deserialized (librdkafka's `_VALUE_DESERIALIZATION`).
pub const FK_ERR__VALUE_DESERIALIZATION: fk_resp_err_t = -159;

// Kafka's codes (https://kafka.apache.org/protocol#protocol_error_codes): those an application
// of this library most likely meets.
/// Kafka: an unexpected server error.
pub const FK_ERR_UNKNOWN: fk_resp_err_t = -1;
/// Kafka: the requested offset is not within the partition's log.
pub const FK_ERR_OFFSET_OUT_OF_RANGE: fk_resp_err_t = 1;
/// Kafka: the message failed its CRC check or is otherwise corrupt.
pub const FK_ERR_INVALID_MSG: fk_resp_err_t = 2;
/// Kafka: the topic or partition does not exist (also reported locally for a partition number
/// the topic does not have).
pub const FK_ERR_UNKNOWN_TOPIC_OR_PART: fk_resp_err_t = 3;
/// Kafka: the partition has no leader right now.
pub const FK_ERR_LEADER_NOT_AVAILABLE: fk_resp_err_t = 5;
/// Kafka: the broker is not the partition's leader.
pub const FK_ERR_NOT_LEADER_FOR_PARTITION: fk_resp_err_t = 6;
/// Kafka: the request timed out on the broker.
pub const FK_ERR_REQUEST_TIMED_OUT: fk_resp_err_t = 7;
/// Kafka: a message larger than allowed (also reported locally, above `message.max.bytes`).
pub const FK_ERR_MSG_SIZE_TOO_LARGE: fk_resp_err_t = 10;
/// Kafka: the group coordinator is not available.
pub const FK_ERR_COORDINATOR_NOT_AVAILABLE: fk_resp_err_t = 15;
/// Kafka: the broker is not the group's coordinator.
pub const FK_ERR_NOT_COORDINATOR: fk_resp_err_t = 16;
/// Kafka: an invalid topic name.
pub const FK_ERR_TOPIC_EXCEPTION: fk_resp_err_t = 17;
/// Kafka: the group generation is not current.
pub const FK_ERR_ILLEGAL_GENERATION: fk_resp_err_t = 22;
/// Kafka: the member is not (or no longer) in the group.
pub const FK_ERR_UNKNOWN_MEMBER_ID: fk_resp_err_t = 25;
/// Kafka: `session.timeout.ms` is outside the broker's bounds.
pub const FK_ERR_INVALID_SESSION_TIMEOUT: fk_resp_err_t = 26;
/// Kafka: the group is rebalancing.
pub const FK_ERR_REBALANCE_IN_PROGRESS: fk_resp_err_t = 27;
/// Kafka: the topic exists already.
pub const FK_ERR_TOPIC_ALREADY_EXISTS: fk_resp_err_t = 36;
/// Kafka: an invalid partition count.
pub const FK_ERR_INVALID_PARTITIONS: fk_resp_err_t = 37;
/// Kafka: an invalid replication factor.
pub const FK_ERR_INVALID_REPLICATION_FACTOR: fk_resp_err_t = 38;
/// Kafka: an invalid topic configuration.
pub const FK_ERR_INVALID_CONFIG: fk_resp_err_t = 40;
/// Kafka: an idempotent producer's sequence is out of order.
pub const FK_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER: fk_resp_err_t = 45;
/// Kafka: the producer's epoch is stale.
pub const FK_ERR_INVALID_PRODUCER_EPOCH: fk_resp_err_t = 47;
/// Kafka: the group has members (it cannot be deleted).
pub const FK_ERR_NON_EMPTY_GROUP: fk_resp_err_t = 68;
/// Kafka: the group does not exist.
pub const FK_ERR_GROUP_ID_NOT_FOUND: fk_resp_err_t = 69;
/// Kafka: a static member (`group.instance.id`) was replaced by a newer instance.
pub const FK_ERR_FENCED_INSTANCE_ID: fk_resp_err_t = 82;
/// Kafka: the principal may not use this `transactional.id`.
pub const FK_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED: fk_resp_err_t = 53;

/// The code for an error from the core: the core's own classification, as it is.
pub(crate) fn code_of(e: &ferrokafka::Error) -> c_int {
    e.code()
}

/// What the core says an error leaves the application able to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    pub(crate) fatal: bool,
    pub(crate) retriable: bool,
    pub(crate) txn_requires_abort: bool,
    /// The Schema Registry's error code (40401, 40403, 409, 42201, ...) when the registry
    /// answered with an error.
    pub(crate) registry_code: Option<i32>,
}

impl Flags {
    pub(crate) fn of(e: &ferrokafka::Error) -> Flags {
        let registry_code = match e {
            ferrokafka::Error::SchemaRegistry(r) => r.status().map(|_| r.error_code()),
            _ => None,
        };
        Flags {
            fatal: e.is_fatal(),
            retriable: e.is_retriable(),
            txn_requires_abort: e.txn_requires_abort(),
            registry_code,
        }
    }
}

/// An error from the core as a code, its message and its flags.
pub(crate) fn fail(e: ferrokafka::Error) -> crate::Failure {
    crate::Failure { code: code_of(&e), message: e.to_string(), flags: Flags::of(&e) }
}

fn describe(code: c_int) -> String {
    if let Some(text) = ferrokafka::error::librdkafka_description(code) {
        return text.to_owned();
    }
    match code {
        c if c < -1 => format!("Local: unknown error code {c}"),
        // Kafka's codes newer than librdkafka's table: their names from the protocol's.
        c => match ferrokafka::error::kafka_name(c) {
            Some(name) => format!("Broker: {name}"),
            None => format!("Broker: unknown error code {c}"),
        },
    }
}

/// A description of an error code, librdkafka's text where it has one ("Local: Timed out",
/// "Broker: Unknown topic or partition"). Never NULL; owned by the library and valid until the
/// process ends.
#[unsafe(no_mangle)]
pub extern "C" fn fk_err2str(code: fk_resp_err_t) -> *const c_char {
    boundary(c"Local: internal failure".as_ptr(), || {
        // One string per code ever asked about, kept for the life of the process (a CString's
        // bytes do not move when the map grows).
        static TEXTS: Mutex<Option<HashMap<c_int, CString>>> = Mutex::new(None);
        let mut texts = TEXTS.lock().unwrap_or_else(|p| p.into_inner());
        texts
            .get_or_insert_with(HashMap::new)
            .entry(code)
            .or_insert_with(|| CString::new(describe(code)).unwrap_or_default())
            .as_ptr()
    })
}

thread_local! {
    static LAST_ERROR: std::cell::RefCell<(c_int, CString, Flags)> =
        std::cell::RefCell::new((FK_OK, CString::default(), Flags::default()));
}

/// Records the calling thread's last error.
pub(crate) fn set_last_error(code: c_int, msg: &str, flags: Flags) {
    let text = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // try_with: a call during thread teardown has nowhere to keep it.
    let _ = LAST_ERROR.try_with(|l| *l.borrow_mut() = (code, text, flags));
}

fn last_flags() -> Flags {
    LAST_ERROR.try_with(|l| l.borrow().2).unwrap_or_default()
}

/// The message of the last error on the calling thread ("" if none), like errno: set by every
/// failing call that returns an fk_resp_err_t or a handle, untouched by successful ones. For
/// calls that fail before a handle exists, or were given no `errstr` buffer. Owned by the
/// library; valid until the next failing call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn fk_last_error() -> *const c_char {
    boundary(c"".as_ptr(), || LAST_ERROR.try_with(|l| l.borrow().1.as_ptr()).unwrap_or(c"".as_ptr()))
}

/// The code of the last error on the calling thread (FK_OK if none); see fk_last_error.
#[unsafe(no_mangle)]
pub extern "C" fn fk_last_error_code() -> fk_resp_err_t {
    boundary(FK_ERR__FAIL, || LAST_ERROR.try_with(|l| l.borrow().0).unwrap_or(FK_OK))
}

/// 1 if the last error on the calling thread (see fk_last_error) left its client unusable: a
/// transactional producer fenced by a newer instance (FK_ERR__FENCED) or refused its
/// `transactional.id`. Destroy the handle and make a new one. 0 otherwise (and when there was
/// no error).
#[unsafe(no_mangle)]
pub extern "C" fn fk_last_error_is_fatal() -> c_int {
    boundary(0, || c_int::from(last_flags().fatal))
}

/// 1 if the same call may succeed when made again (a timeout, a broker not reachable for
/// now, a coordinator moving): e.g. fk_commit_transaction after FK_ERR__TIMED_OUT. 0 otherwise.
#[unsafe(no_mangle)]
pub extern "C" fn fk_last_error_is_retriable() -> c_int {
    boundary(0, || c_int::from(last_flags().retriable))
}

/// 1 if the last error failed the current transaction: call fk_abort_transaction, then go on
/// with the next one (the code and message name the cause: a record the broker refused, a
/// zombie's offsets). 0 otherwise.
#[unsafe(no_mangle)]
pub extern "C" fn fk_last_error_txn_requires_abort() -> c_int {
    boundary(0, || c_int::from(last_flags().txn_requires_abort))
}

/// The Schema Registry's error code when the last error on the calling thread (see
/// fk_last_error) was the registry's answer: Confluent's codes, e.g. 40401 subject not found,
/// 40402 version not found, 40403 schema not found, 409 incompatible schema, 42201 invalid
/// schema (the HTTP status when the answer had no code). -1 otherwise: another kind of error,
/// a registry that could not be reached, or no error.
#[unsafe(no_mangle)]
pub extern "C" fn fk_last_error_registry_code() -> c_int {
    boundary(-1, || last_flags().registry_code.unwrap_or(-1))
}
