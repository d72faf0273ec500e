//! Messages: what a consumer returns, and the subject of a delivery report.

use std::ffi::{CString, c_char, c_int, c_void};

use bytes::Bytes;

use crate::{FK_ERR__INVALID_ARG, FK_OK, boundary, fk_resp_err_t};

/// A record header, for fk_produce. `name` is a NUL-terminated string; `value` points to
/// `value_len` bytes, or is NULL for a null header value. All borrowed for the fk_produce call.
#[repr(C)]
pub struct fk_header_t {
    pub name: *const c_char,
    pub value: *const c_void,
    pub value_len: usize,
}

/// A topic partition with an offset, for fk_assign, fk_commit, fk_committed, fk_position,
/// fk_pause and fk_resume; the caller owns the array and the topic strings. `offset` is an
/// offset or an FK_OFFSET_* constant. `err` is written FK_OK by fk_committed and fk_position
/// (reserved for per-partition errors) and ignored on input.
#[repr(C)]
pub struct fk_topic_partition_t {
    pub topic: *const c_char,
    pub partition: i32,
    pub offset: i64,
    pub err: fk_resp_err_t,
}

/// Read from the beginning of the partition.
pub const FK_OFFSET_BEGINNING: i64 = -2;
/// Read from the end (only new records).
pub const FK_OFFSET_END: i64 = -1;
/// fk_assign: the group's committed offset, else where `auto.offset.reset` says.
pub const FK_OFFSET_STORED: i64 = -1000;
/// No offset (nothing committed, or no position yet).
pub const FK_OFFSET_INVALID: i64 = -1001;
/// Any partition: let the partitioner choose.
pub const FK_PARTITION_UA: i32 = -1;

/// A message (opaque). One from fk_consumer_poll is the caller's: read it from any thread and
/// free it with fk_message_destroy. One given to a delivery-report callback is lent for the
/// call and freed by the library. Pointers its accessors return are owned by the message.
pub struct fk_message_t {
    pub(crate) topic: CString,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) headers: Vec<(CString, Option<Bytes>)>,
    pub(crate) err: c_int,
    pub(crate) errstr: CString,
    pub(crate) opaque: *mut c_void,
}

/// A string from Kafka (topic or header name) for C: an interior NUL cannot be represented, so
/// it ends the string there.
pub(crate) fn c_string(s: String) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let end = e.nul_position();
        let mut bytes = e.into_vec();
        bytes.truncate(end);
        CString::new(bytes).unwrap_or_default()
    })
}

impl fk_message_t {
    pub(crate) fn from_record(r: ferrokafka::ConsumerRecord) -> fk_message_t {
        fk_message_t {
            topic: c_string(r.topic),
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r.headers.into_iter().map(|(k, v)| (c_string(k), v)).collect(),
            err: FK_OK,
            errstr: CString::default(),
            opaque: std::ptr::null_mut(),
        }
    }

    pub(crate) fn error(code: c_int, msg: &str) -> fk_message_t {
        fk_message_t {
            topic: CString::default(),
            partition: -1,
            offset: -1,
            timestamp: -1,
            key: None,
            value: None,
            headers: Vec::new(),
            err: code,
            errstr: c_string(msg.to_owned()),
            opaque: std::ptr::null_mut(),
        }
    }
}

/// Reads a message through `f`, or returns `none` for NULL (and on a panic).
fn read<T: Copy>(m: *const fk_message_t, none: T, f: impl FnOnce(&fk_message_t) -> T) -> T {
    boundary(none, || {
        // SAFETY: a message from this library, alive for the call (header contract).
        unsafe { m.as_ref() }.map_or(none, f)
    })
}

fn bytes(b: Option<&Bytes>, len: *mut usize) -> *const c_void {
    let (p, n) = match b {
        Some(b) => (b.as_ptr().cast(), b.len()),
        None => (std::ptr::null(), 0),
    };
    if !len.is_null() {
        // SAFETY: the caller's out-parameter.
        unsafe { *len = n };
    }
    p
}

/// The topic (owned by the message; "" on a consumer error), or NULL for a NULL message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_topic(m: *const fk_message_t) -> *const c_char {
    read(m, std::ptr::null(), |m| m.topic.as_ptr())
}

/// The partition, or -1 (unknown, or a NULL message).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_partition(m: *const fk_message_t) -> i32 {
    read(m, -1, |m| m.partition)
}

/// The offset, or -1 when unknown (acks=0, an error, a NULL message).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_offset(m: *const fk_message_t) -> i64 {
    read(m, -1, |m| m.offset)
}

/// The timestamp in milliseconds since the epoch, or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_timestamp(m: *const fk_message_t) -> i64 {
    read(m, -1, |m| m.timestamp)
}

/// The key (owned by the message; NULL for a null key), its length in `*len` when `len` is
/// not NULL. Bytes, not NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_key(m: *const fk_message_t, len: *mut usize) -> *const c_void {
    boundary(std::ptr::null(), || {
        // SAFETY: a message from this library, alive for the call (header contract).
        bytes(unsafe { m.as_ref() }.and_then(|m| m.key.as_ref()), len)
    })
}

/// The value (owned by the message; NULL for a null value), its length in `*len` when `len`
/// is not NULL. Bytes, not NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_value(m: *const fk_message_t, len: *mut usize) -> *const c_void {
    boundary(std::ptr::null(), || {
        // SAFETY: a message from this library, alive for the call (header contract).
        bytes(unsafe { m.as_ref() }.and_then(|m| m.value.as_ref()), len)
    })
}

/// How many headers the message has (0 for a NULL message).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_header_count(m: *const fk_message_t) -> usize {
    read(m, 0, |m| m.headers.len())
}

/// Header `idx`: `*name` (a NUL-terminated string) and `*value`/`*value_len` (bytes; NULL for
/// a null header value), all owned by the message; any out-parameter may be NULL.
/// FK_ERR__INVALID_ARG when `idx` is out of range or the message is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_header(
    m: *const fk_message_t,
    idx: usize,
    name: *mut *const c_char,
    value: *mut *const c_void,
    value_len: *mut usize,
) -> fk_resp_err_t {
    crate::guard(std::ptr::null_mut(), 0, || {
        // SAFETY: a message from this library, alive for the call (header contract).
        let message = unsafe { m.as_ref() }.ok_or_else(|| crate::invalid("message is NULL"))?;
        let (n, v) = message
            .headers
            .get(idx)
            .ok_or_else(|| crate::invalid(format!("header {idx} of {}", message.headers.len())))?;
        if !name.is_null() {
            // SAFETY: the caller's out-parameter.
            unsafe { *name = n.as_ptr() };
        }
        let p = bytes(v.as_ref(), value_len);
        if !value.is_null() {
            // SAFETY: the caller's out-parameter.
            unsafe { *value = p };
        }
        Ok(())
    })
}

/// FK_OK, or the error this message reports (a failed delivery, a consumer error);
/// FK_ERR__INVALID_ARG for a NULL message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_error(m: *const fk_message_t) -> fk_resp_err_t {
    read(m, FK_ERR__INVALID_ARG, |m| m.err)
}

/// The error's description ("" without an error; owned by the message, or static for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_errstr(m: *const fk_message_t) -> *const c_char {
    read(m, c"".as_ptr(), |m| m.errstr.as_ptr())
}

/// The `msg_opaque` given to fk_produce (delivery reports; NULL for consumed messages).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_opaque(m: *const fk_message_t) -> *mut c_void {
    read(m, std::ptr::null_mut(), |m| m.opaque)
}

/// Frees a message returned by fk_consumer_poll (NULL is fine). Never call it on a
/// delivery-report message: those belong to the library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_destroy(m: *mut fk_message_t) {
    if !m.is_null() {
        // SAFETY: from fk_consumer_poll, destroyed once (header contract).
        boundary((), || drop(unsafe { Box::from_raw(m) }));
    }
}
