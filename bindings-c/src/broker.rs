//! The bundled broker, in-process.

use std::ffi::{CString, c_char};

use ferrokafka_broker::{Broker, BrokerConfig};

use crate::{cstr, fk_resp_err_t, guard, guard_ptr, invalid, runtime};

/// A running broker (opaque).
pub struct fk_broker_t {
    broker: Option<Broker>,
    bootstrap: CString,
}

/// Starts a broker storing its data in `data_dir`, listening on `listen` ("127.0.0.1:0" picks
/// a free port; NULL means that). Returns once clients can connect; NULL on failure.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_broker_start(
    data_dir: *const c_char,
    listen: *const c_char,
    errstr: *mut c_char,
    errstr_size: usize,
) -> *mut fk_broker_t {
    guard_ptr(errstr, errstr_size, || {
        let data_dir =
            unsafe { cstr(data_dir) }.ok_or_else(|| invalid("data_dir is NULL or not UTF-8"))?;
        let listen = unsafe { cstr(listen) }.unwrap_or("127.0.0.1:0");
        let config = BrokerConfig {
            listen: listen.to_owned(),
            data_dir: data_dir.into(),
            ..Default::default()
        };
        let broker = runtime()
            .block_on(Broker::start(config))
            .map_err(|e| (crate::FK_ERR__FAIL, format!("starting the broker: {e}")))?;
        let bootstrap = CString::new(broker.bootstrap()).unwrap_or_default();
        Ok(Box::into_raw(Box::new(fk_broker_t {
            broker: Some(broker),
            bootstrap,
        })))
    })
}

/// "host:port" for `bootstrap.servers` (owned by the broker handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_broker_bootstrap(b: *const fk_broker_t) -> *const c_char {
    // SAFETY: from fk_broker_start (header contract).
    unsafe { b.as_ref() }.map_or(std::ptr::null(), |b| b.bootstrap.as_ptr())
}

/// Stops the broker (flushing and closing every log) and frees the handle (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_broker_stop(b: *mut fk_broker_t) -> fk_resp_err_t {
    if b.is_null() {
        return crate::FK_OK;
    }
    // SAFETY: from fk_broker_start, stopped once (header contract).
    let mut me = unsafe { Box::from_raw(b) };
    guard(std::ptr::null_mut(), 0, || match me.broker.take() {
        Some(broker) => runtime()
            .block_on(broker.shutdown())
            .map_err(|e| (crate::FK_ERR__FAIL, e.to_string())),
        None => Ok(()),
    })
}
