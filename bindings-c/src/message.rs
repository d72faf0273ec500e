//! Messages: what a consumer returns, and the subject of a delivery report.

use std::ffi::{CString, c_char, c_int, c_void};

use crate::fk_resp_err_t;

/// A record header, for fk_produce: `value` may be NULL (a null header value).
#[repr(C)]
pub struct fk_header_t {
    pub name: *const c_char,
    pub value: *const c_void,
    pub value_len: usize,
}

/// A topic partition with an offset, for assignment, commits and positions. `offset` uses
/// FK_OFFSET_* for logical positions; `err` is set by calls that report per partition.
#[repr(C)]
pub struct fk_topic_partition_t {
    pub topic: *const c_char,
    pub partition: i32,
    pub offset: i64,
    pub err: c_int,
}

/// Read from the beginning of the partition.
pub const FK_OFFSET_BEGINNING: i64 = -2;
/// Read from the end (only new records).
pub const FK_OFFSET_END: i64 = -1;
/// The group's committed offset, else `auto.offset.reset`.
pub const FK_OFFSET_STORED: i64 = -1000;
/// No offset (nothing committed).
pub const FK_OFFSET_INVALID: i64 = -1001;
/// Any partition: let the partitioner choose.
pub const FK_PARTITION_UA: i32 = -1;

/// A message (opaque). Consumed messages are freed with fk_message_destroy; delivery-report
/// messages are lent to the callback and freed by the library.
pub struct fk_message_t {
    pub(crate) topic: CString,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) headers: Vec<(CString, Option<Vec<u8>>)>,
    pub(crate) err: c_int,
    pub(crate) errstr: CString,
    pub(crate) opaque: *mut c_void,
}

impl fk_message_t {
    pub(crate) fn from_record(r: ferrokafka::ConsumerRecord) -> fk_message_t {
        fk_message_t {
            topic: CString::new(r.topic).unwrap_or_default(),
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key.map(|k| k.to_vec()),
            value: r.value.map(|v| v.to_vec()),
            headers: r
                .headers
                .into_iter()
                .map(|(k, v)| (CString::new(k).unwrap_or_default(), v.map(|v| v.to_vec())))
                .collect(),
            err: 0,
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
            errstr: CString::new(msg.replace('\0', " ")).unwrap_or_default(),
            opaque: std::ptr::null_mut(),
        }
    }
}

fn msg<'a>(m: *const fk_message_t) -> Option<&'a fk_message_t> {
    // SAFETY: a message from this library, alive for the call (header contract).
    unsafe { m.as_ref() }
}

fn bytes(b: Option<&Vec<u8>>, len: *mut usize) -> *const c_void {
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

/// The topic (owned by the message).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_topic(m: *const fk_message_t) -> *const c_char {
    msg(m).map_or(std::ptr::null(), |m| m.topic.as_ptr())
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_partition(m: *const fk_message_t) -> i32 {
    msg(m).map_or(-1, |m| m.partition)
}

/// The offset, or -1 when unknown (acks=0, or an error).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_offset(m: *const fk_message_t) -> i64 {
    msg(m).map_or(-1, |m| m.offset)
}

/// Milliseconds since the epoch, or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_timestamp(m: *const fk_message_t) -> i64 {
    msg(m).map_or(-1, |m| m.timestamp)
}

/// The key (NULL for a null key); its length in `*len` when `len` is not NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_key(m: *const fk_message_t, len: *mut usize) -> *const c_void {
    bytes(msg(m).and_then(|m| m.key.as_ref()), len)
}

/// The value (NULL for a null value); its length in `*len` when `len` is not NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_value(
    m: *const fk_message_t,
    len: *mut usize,
) -> *const c_void {
    bytes(msg(m).and_then(|m| m.value.as_ref()), len)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_header_count(m: *const fk_message_t) -> usize {
    msg(m).map_or(0, |m| m.headers.len())
}

/// Header `idx`: its name and value (value NULL for a null header). FK_ERR__INVALID_ARG when
/// out of range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_header(
    m: *const fk_message_t,
    idx: usize,
    name: *mut *const c_char,
    value: *mut *const c_void,
    value_len: *mut usize,
) -> fk_resp_err_t {
    let Some((n, v)) = msg(m).and_then(|m| m.headers.get(idx)) else {
        return crate::FK_ERR__INVALID_ARG;
    };
    if !name.is_null() {
        // SAFETY: the caller's out-parameter.
        unsafe { *name = n.as_ptr() };
    }
    let p = bytes(v.as_ref(), value_len);
    if !value.is_null() {
        // SAFETY: the caller's out-parameter.
        unsafe { *value = p };
    }
    crate::FK_OK
}

/// FK_OK, or the error this message reports (a failed delivery, a consumer error).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_error(m: *const fk_message_t) -> fk_resp_err_t {
    msg(m).map_or(crate::FK_ERR__INVALID_ARG, |m| m.err)
}

/// The error's description ("" without an error; owned by the message).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_errstr(m: *const fk_message_t) -> *const c_char {
    msg(m).map_or(c"".as_ptr(), |m| m.errstr.as_ptr())
}

/// The `opaque` pointer given to fk_produce (delivery reports only).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_opaque(m: *const fk_message_t) -> *mut c_void {
    msg(m).map_or(std::ptr::null_mut(), |m| m.opaque)
}

/// Frees a message returned by fk_consumer_poll (NULL is fine). Never call it on a
/// delivery-report message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_message_destroy(m: *mut fk_message_t) {
    if !m.is_null() {
        // SAFETY: from fk_consumer_poll, destroyed once (header contract).
        drop(unsafe { Box::from_raw(m) });
    }
}
