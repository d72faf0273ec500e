//! Admin: create and delete topics, list metadata.

use std::ffi::{CString, c_char, c_int};

use ferrokafka::{Admin, NewTopic};

use crate::conf::{borrow_conf, fk_conf_t};
use crate::errors::fail;
use crate::{cstr, fk_resp_err_t, guard, guard_ptr, invalid, runtime};

/// An admin client (opaque; usable from any thread).
pub struct fk_admin_t {
    admin: Admin,
}

/// The topics of a cluster (opaque), from fk_admin_list_topics.
pub struct fk_topic_list_t {
    topics: Vec<(CString, i32)>,
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_admin_new(
    conf: *const fk_conf_t,
    errstr: *mut c_char,
    errstr_size: usize,
) -> *mut fk_admin_t {
    guard_ptr(errstr, errstr_size, || {
        let admin = Admin::new(borrow_conf(conf)?.clone()).map_err(fail)?;
        Ok(Box::into_raw(Box::new(fk_admin_t { admin })))
    })
}

fn admin<'a>(a: *const fk_admin_t) -> Result<&'a Admin, (c_int, String)> {
    // SAFETY: from fk_admin_new, alive for the call (header contract).
    unsafe { a.as_ref() }
        .map(|a| &a.admin)
        .ok_or_else(|| invalid("admin is NULL"))
}

/// Creates a topic (`partitions`/`replication_factor` -1: the broker's defaults).
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
        let mut results = runtime()
            .block_on(admin.create_topics(&[t]))
            .map_err(fail)?;
        results.pop().map_or(Ok(()), |(_, r)| r.map_err(fail))
    })
}

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
        let mut results = runtime()
            .block_on(admin.delete_topics(&[topic]))
            .map_err(fail)?;
        results.pop().map_or(Ok(()), |(_, r)| r.map_err(fail))
    })
}

/// Lists the cluster's topics into `*out` (free it with fk_topic_list_destroy).
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
        let topics = runtime().block_on(admin.list_topics()).map_err(fail)?;
        let list = fk_topic_list_t {
            topics: topics
                .into_iter()
                .map(|t| (CString::new(t.name).unwrap_or_default(), t.partitions))
                .collect(),
        };
        // SAFETY: the caller's out-parameter.
        unsafe { *out = Box::into_raw(Box::new(list)) };
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_topic_list_count(l: *const fk_topic_list_t) -> usize {
    // SAFETY: from fk_admin_list_topics (header contract).
    unsafe { l.as_ref() }.map_or(0, |l| l.topics.len())
}

/// Topic `i`'s name (owned by the list), or NULL when out of range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_topic_list_name(l: *const fk_topic_list_t, i: usize) -> *const c_char {
    // SAFETY: from fk_admin_list_topics (header contract).
    unsafe { l.as_ref() }
        .and_then(|l| l.topics.get(i))
        .map_or(std::ptr::null(), |(n, _)| n.as_ptr())
}

/// Topic `i`'s partition count, or -1 when out of range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_topic_list_partitions(l: *const fk_topic_list_t, i: usize) -> i32 {
    // SAFETY: from fk_admin_list_topics (header contract).
    unsafe { l.as_ref() }
        .and_then(|l| l.topics.get(i))
        .map_or(-1, |(_, p)| *p)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_topic_list_destroy(l: *mut fk_topic_list_t) {
    if !l.is_null() {
        // SAFETY: from fk_admin_list_topics, destroyed once.
        drop(unsafe { Box::from_raw(l) });
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_admin_destroy(a: *mut fk_admin_t) {
    if !a.is_null() {
        // SAFETY: from fk_admin_new, destroyed once.
        drop(unsafe { Box::from_raw(a) });
    }
}
