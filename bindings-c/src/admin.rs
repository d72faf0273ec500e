//! Admin: create and delete topics, list metadata.

use std::ffi::{CString, c_char};

use ferrokafka::{Admin, NewTopic};

use crate::conf::{borrow_conf, fk_conf_t};
use crate::errors::fail;
use crate::message::c_string;
use crate::{Failure, boundary, cstr, fk_resp_err_t, guard, guard_ptr, invalid, runtime};

/// An admin client (opaque). Any thread may use it, several at once; fk_admin_destroy must come
/// after every other call on it has returned.
pub struct fk_admin_t {
    admin: Admin,
}

/// The topics of a cluster (opaque, read-only: any thread), from fk_admin_list_topics, sorted
/// by name.
pub struct fk_topic_list_t {
    topics: Vec<(CString, i32)>,
}

/// An admin client configured by `conf` (borrowed for the call; copied), owned by the caller:
/// free it with fk_admin_destroy. NULL on failure, with `errstr` (and fk_last_error) saying why.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_admin_new(
    conf: *const fk_conf_t,
    errstr: *mut c_char,
    errstr_size: usize,
) -> *mut fk_admin_t {
    guard_ptr(errstr, errstr_size, || {
        let config = borrow_conf(conf)?.clone();
        let _rt = runtime()?.enter();
        let admin = Admin::new(config).map_err(fail)?;
        Ok(Box::into_raw(Box::new(fk_admin_t { admin })))
    })
}

fn admin<'a>(a: *const fk_admin_t) -> Result<&'a Admin, Failure> {
    // SAFETY: from fk_admin_new, alive for the call (header contract).
    unsafe { a.as_ref() }.map(|a| &a.admin).ok_or_else(|| invalid("admin is NULL"))
}

/// Creates `topic` (borrowed) with `partitions` partitions and `replication_factor` replicas
/// (-1: the broker's defaults). FK_ERR_TOPIC_ALREADY_EXISTS if it exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_admin_create_topic(
    a: *const fk_admin_t,
    topic: *const c_char,
    partitions: i32,
    replication_factor: i16,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let admin = admin(a)?;
        let topic = unsafe { cstr(topic) }.ok_or_else(|| invalid("topic is NULL or not UTF-8"))?;
        let t = NewTopic::new(topic, partitions).replication_factor(replication_factor);
        let mut results = runtime()?.block_on(admin.create_topics(&[t])).map_err(fail)?;
        results.pop().map_or(Ok(()), |(_, r)| r.map_err(fail))
    })
}

/// Deletes `topic` (borrowed) and its records. FK_ERR_UNKNOWN_TOPIC_OR_PART if there is none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_admin_delete_topic(
    a: *const fk_admin_t,
    topic: *const c_char,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let admin = admin(a)?;
        let topic = unsafe { cstr(topic) }.ok_or_else(|| invalid("topic is NULL or not UTF-8"))?;
        let mut results = runtime()?.block_on(admin.delete_topics(&[topic])).map_err(fail)?;
        results.pop().map_or(Ok(()), |(_, r)| r.map_err(fail))
    })
}

/// The cluster's metadata: its topics (internal ones excluded) with their partition counts,
/// into `*out`, owned by the caller: free it with fk_topic_list_destroy.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_admin_list_topics(
    a: *const fk_admin_t,
    out: *mut *mut fk_topic_list_t,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let admin = admin(a)?;
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        let topics = runtime()?.block_on(admin.list_topics()).map_err(fail)?;
        let list = fk_topic_list_t {
            topics: topics.into_iter().filter(|t| !t.internal).map(|t| (c_string(t.name), t.partitions)).collect(),
        };
        // SAFETY: the caller's out-parameter.
        unsafe { *out = Box::into_raw(Box::new(list)) };
        Ok(())
    })
}

/// How many topics the list has (0 for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_topic_list_count(l: *const fk_topic_list_t) -> usize {
    // SAFETY: from fk_admin_list_topics (header contract).
    boundary(0, || unsafe { l.as_ref() }.map_or(0, |l| l.topics.len()))
}

/// Topic `i`'s name (owned by the list), or NULL when out of range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_topic_list_name(l: *const fk_topic_list_t, i: usize) -> *const c_char {
    boundary(std::ptr::null(), || {
        // SAFETY: from fk_admin_list_topics (header contract).
        unsafe { l.as_ref() }.and_then(|l| l.topics.get(i)).map_or(std::ptr::null(), |(n, _)| n.as_ptr())
    })
}

/// Topic `i`'s partition count, or -1 when out of range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_topic_list_partitions(l: *const fk_topic_list_t, i: usize) -> i32 {
    boundary(-1, || {
        // SAFETY: from fk_admin_list_topics (header contract).
        unsafe { l.as_ref() }.and_then(|l| l.topics.get(i)).map_or(-1, |(_, p)| *p)
    })
}

/// Frees a topic list (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_topic_list_destroy(l: *mut fk_topic_list_t) {
    if !l.is_null() {
        // SAFETY: from fk_admin_list_topics, destroyed once (header contract).
        boundary((), || drop(unsafe { Box::from_raw(l) }));
    }
}

/// Frees an admin client (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_admin_destroy(a: *mut fk_admin_t) {
    if a.is_null() {
        return;
    }
    // SAFETY: from fk_admin_new, destroyed once (header contract).
    let a = unsafe { Box::from_raw(a) };
    boundary((), || match runtime() {
        Ok(rt) => {
            let _rt = rt.enter();
            drop(a);
        }
        // After fork(): the runtime that owns the client's tasks is not in this process.
        Err(_) => std::mem::forget(a),
    });
}
