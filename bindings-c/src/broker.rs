//! The bundled broker, in-process: its tasks run on the library's runtime.

use std::ffi::{CString, c_char};

use ferrokafka_broker::{Broker, BrokerConfig};

use crate::{
    FK_ERR__FAIL, FK_OK, Failure, boundary, cstr, fk_resp_err_t, guard, guard_ptr, invalid, key_values, runtime,
};

/// A running broker (opaque). Any thread may use it; fk_broker_stop must come after every
/// other call on it has returned.
pub struct fk_broker_t {
    broker: Option<Broker>,
    bootstrap: CString,
    schema_registry_url: Option<CString>,
}

/// Starts a broker in this process storing its data in `data_dir` (created if missing; an
/// earlier run's data is recovered) and listening on `listen` ("host:port"; port 0 picks a free
/// one; NULL means "127.0.0.1:0"). Both strings are borrowed for the call. Returns once clients
/// can connect; the handle is the caller's, released by fk_broker_stop. NULL on failure, with
/// `errstr` (and fk_last_error) saying why.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_broker_start(
    data_dir: *const c_char,
    listen: *const c_char,
    errstr: *mut c_char,
    errstr_size: usize,
) -> *mut fk_broker_t {
    guard_ptr(errstr, errstr_size, || {
        let mut config = unsafe { config_in(data_dir) }?;
        if !listen.is_null() {
            let listen = unsafe { cstr(listen) }.ok_or_else(|| invalid("listen is not UTF-8"))?;
            config.listen = listen.to_owned();
        }
        start(config)
    })
}

/// The defaults with `data_dir` (borrowed C string) and listening on 127.0.0.1, any port.
unsafe fn config_in(data_dir: *const c_char) -> Result<BrokerConfig, Failure> {
    let data_dir = unsafe { cstr(data_dir) }.ok_or_else(|| invalid("data_dir is NULL or not UTF-8"))?;
    // In-process, the Schema Registry is on unless a setting turns it off (an empty value).
    Ok(BrokerConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: data_dir.into(),
        schema_registry_listeners: Some("127.0.0.1:0".into()),
        ..Default::default()
    })
}

fn start(config: BrokerConfig) -> Result<*mut fk_broker_t, Failure> {
    let (listen, data_dir) = (config.listen.clone(), config.data_dir.display().to_string());
    let broker = runtime()?.block_on(Broker::start(config)).map_err(|e| {
        Failure::from((FK_ERR__FAIL, format!("starting the broker on {listen} with data in {data_dir}: {e}")))
    })?;
    let bootstrap = CString::new(broker.bootstrap()).unwrap_or_default();
    let schema_registry_url = broker.schema_registry_url().and_then(|u| CString::new(u).ok());
    Ok(Box::into_raw(Box::new(fk_broker_t { broker: Some(broker), bootstrap, schema_registry_url })))
}

/// Like fk_broker_start, with broker settings by their Kafka names (see the README's broker
/// section): `settings` is an array of key, value, key, value, ... ended by NULL (NULL itself
/// means none), e.g. {"listeners", "SASL_PLAINTEXT://127.0.0.1:0", "sasl.enabled.mechanisms",
/// "OAUTHBEARER", NULL}. "listen" defaults to "127.0.0.1:0". An unknown key or a bad value
/// is NULL with `errstr` naming it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_broker_start_with(
    data_dir: *const c_char,
    settings: *const *const c_char,
    errstr: *mut c_char,
    errstr_size: usize,
) -> *mut fk_broker_t {
    guard_ptr(errstr, errstr_size, || {
        let mut config = unsafe { config_in(data_dir) }?;
        for (key, value) in unsafe { key_values(settings) }? {
            config.set(key, value).map_err(|e| invalid(e.to_string()))?;
        }
        start(config)
    })
}

/// "host:port" to give clients as `bootstrap.servers` (owned by the broker handle), or NULL
/// for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_broker_bootstrap(b: *const fk_broker_t) -> *const c_char {
    boundary(std::ptr::null(), || {
        // SAFETY: from fk_broker_start (header contract).
        unsafe { b.as_ref() }.map_or(std::ptr::null(), |b| b.bootstrap.as_ptr())
    })
}

/// The Schema Registry's URL, "http://host:port" (owned by the broker handle), or NULL for
/// NULL or when it is turned off ({"schema.registry.listeners", ""} in fk_broker_start_with).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_broker_schema_registry_url(b: *const fk_broker_t) -> *const c_char {
    boundary(std::ptr::null(), || {
        // SAFETY: from fk_broker_start (header contract).
        unsafe { b.as_ref() }.and_then(|b| b.schema_registry_url.as_ref()).map_or(std::ptr::null(), |u| u.as_ptr())
    })
}

/// Stops the broker (closing connections, flushing every log, writing the clean-shutdown
/// marker) and frees the handle, even when stopping reports an error. NULL is fine (FK_OK).
/// Clients still connected see their connections close.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_broker_stop(b: *mut fk_broker_t) -> fk_resp_err_t {
    if b.is_null() {
        return FK_OK;
    }
    // SAFETY: from fk_broker_start, stopped once (header contract).
    let mut me = unsafe { Box::from_raw(b) };
    guard(std::ptr::null_mut(), 0, || {
        let Some(broker) = me.broker.take() else {
            return Ok(());
        };
        match runtime() {
            Ok(rt) => rt
                .block_on(broker.shutdown())
                .map_err(|e| Failure::from((FK_ERR__FAIL, format!("stopping the broker: {e}")))),
            Err(after_fork) => {
                // The broker's tasks are in the parent process; the child must not touch them.
                std::mem::forget(broker);
                Err(after_fork)
            }
        }
    })
}
