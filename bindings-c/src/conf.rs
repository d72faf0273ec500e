//! Configuration: Kafka's property names, checked as they are set.

use std::ffi::c_char;

use ferrokafka::ClientConfig;

use crate::{Failure, boundary, cstr, errors::fail, fk_resp_err_t, guard, invalid};

/// A configuration under construction (opaque; one thread at a time). Clients copy it when
/// they are created, so it may be changed or destroyed afterwards.
pub struct fk_conf_t {
    pub(crate) config: ClientConfig,
}

/// A new, empty configuration, owned by the caller: free it with fk_conf_destroy.
#[unsafe(no_mangle)]
pub extern "C" fn fk_conf_new() -> *mut fk_conf_t {
    boundary(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(fk_conf_t {
            config: ClientConfig::new(),
        }))
    })
}

/// Sets `key` (a Kafka property name such as "bootstrap.servers") to `value` (both borrowed
/// for the call). An unknown key or a bad value is FK_ERR__INVALID_ARG, with `errstr` (a
/// buffer of `errstr_size` bytes, or NULL) naming the key and what it accepts.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_conf_set(
    conf: *mut fk_conf_t,
    key: *const c_char,
    value: *const c_char,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        // SAFETY: `conf` came from fk_conf_new and is not used elsewhere during the call.
        let conf = unsafe { conf.as_mut() }.ok_or_else(|| invalid("conf is NULL"))?;
        let key = unsafe { cstr(key) }.ok_or_else(|| invalid("key is NULL or not UTF-8"))?;
        let value = unsafe { cstr(value) }
            .ok_or_else(|| invalid(format!("the value of {key} is NULL or not UTF-8")))?;
        conf.config.set(key, value).map(|_| ()).map_err(fail)
    })
}

/// Frees a configuration (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_conf_destroy(conf: *mut fk_conf_t) {
    if !conf.is_null() {
        // SAFETY: from fk_conf_new, destroyed once (header contract).
        boundary((), || drop(unsafe { Box::from_raw(conf) }));
    }
}

pub(crate) fn borrow_conf<'a>(conf: *const fk_conf_t) -> Result<&'a ClientConfig, Failure> {
    // SAFETY: from fk_conf_new and alive for the call (header contract).
    unsafe { conf.as_ref() }
        .map(|c| &c.config)
        .ok_or_else(|| invalid("conf is NULL"))
}
