//! Error codes: Kafka's own (positive, as the broker sends them) and local ones (negative,
//! numbered as librdkafka's). The one mapping from `ferrokafka::Error` is [`code_of`].

use std::ffi::{c_char, c_int};

/// An error code: FK_OK (0), one of Kafka's codes (positive) or a local one (negative).
pub type fk_resp_err_t = c_int;

/// Success.
pub const FK_OK: c_int = 0;
/// An internal failure (a panic was caught at the boundary).
pub const FK_ERR__FAIL: c_int = -196;
/// A bad argument: unknown configuration key, bad value, NULL handle, invalid string.
pub const FK_ERR__INVALID_ARG: c_int = -186;
/// The broker could not be reached, or the connection failed.
pub const FK_ERR__TRANSPORT: c_int = -195;
/// The operation did not finish in time.
pub const FK_ERR__TIMED_OUT: c_int = -185;
/// The producer queue is full: serve delivery reports with fk_poll and retry.
pub const FK_ERR__QUEUE_FULL: c_int = -184;
/// The broker's answer could not be understood.
pub const FK_ERR__BAD_MSG: c_int = -199;
/// The broker and the library share no version of an API.
pub const FK_ERR__UNSUPPORTED_FEATURE: c_int = -165;
/// The handle is closed.
pub const FK_ERR__DESTROY: c_int = -197;
/// Kafka: the topic or partition does not exist.
pub const FK_ERR_UNKNOWN_TOPIC_OR_PART: c_int = 3;
/// Kafka: a message larger than allowed.
pub const FK_ERR_MSG_SIZE_TOO_LARGE: c_int = 10;

/// The code for an error from the core.
pub(crate) fn code_of(e: &ferrokafka::Error) -> c_int {
    use ferrokafka::Error as E;
    match e {
        E::Config { .. } => FK_ERR__INVALID_ARG,
        E::Connection { .. } => FK_ERR__TRANSPORT,
        E::Kafka { code, .. } => c_int::from(code.code()),
        E::Protocol { .. } => FK_ERR__BAD_MSG,
        E::UnsupportedVersion { .. } => FK_ERR__UNSUPPORTED_FEATURE,
        E::Timeout { .. } => FK_ERR__TIMED_OUT,
        E::QueueFull(_) => FK_ERR__QUEUE_FULL,
        E::MessageTooLarge { .. } => FK_ERR_MSG_SIZE_TOO_LARGE,
        E::UnknownTopicOrPartition(_) => FK_ERR_UNKNOWN_TOPIC_OR_PART,
        E::Closed => FK_ERR__DESTROY,
        _ => FK_ERR__FAIL,
    }
}

pub(crate) fn fail(e: ferrokafka::Error) -> (c_int, String) {
    (code_of(&e), e.to_string())
}

/// A static description of an error code (never NULL; owned by the library).
#[unsafe(no_mangle)]
pub extern "C" fn fk_err2str(code: fk_resp_err_t) -> *const c_char {
    let s: &'static [u8] = match code {
        FK_OK => b"Success\0",
        FK_ERR__FAIL => b"Local: internal failure\0",
        FK_ERR__INVALID_ARG => b"Local: invalid argument or configuration\0",
        FK_ERR__TRANSPORT => b"Local: broker transport failure\0",
        FK_ERR__TIMED_OUT => b"Local: timed out\0",
        FK_ERR__QUEUE_FULL => b"Local: queue full\0",
        FK_ERR__BAD_MSG => b"Local: bad message format\0",
        FK_ERR__UNSUPPORTED_FEATURE => b"Local: required feature not supported by broker\0",
        FK_ERR__DESTROY => b"Local: handle is closed\0",
        FK_ERR_UNKNOWN_TOPIC_OR_PART => b"Broker: unknown topic or partition\0",
        FK_ERR_MSG_SIZE_TOO_LARGE => b"Broker: message size too large\0",
        c if c > 0 => b"Broker: error (see the Kafka protocol's error codes)\0",
        _ => b"Local: unknown error\0",
    };
    s.as_ptr().cast()
}

thread_local! {
    static LAST_ERROR: std::cell::RefCell<std::ffi::CString> = std::cell::RefCell::new(std::ffi::CString::default());
}

pub(crate) fn set_last_error(msg: &str) {
    let c = std::ffi::CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|l| *l.borrow_mut() = c);
}

/// The message of the last error on this thread ("" if none): useful when a call fails before
/// a handle exists and no `errstr` was given. Valid until the next failing call on the thread.
#[unsafe(no_mangle)]
pub extern "C" fn fk_last_error() -> *const c_char {
    LAST_ERROR.with(|l| l.borrow().as_ptr())
}
