//! Configuration: Kafka's property names, checked as they are set.

use std::ffi::{CStr, c_char, c_int, c_void};

use ferrokafka::{ClientConfig, OAuthBearerToken, OAuthBearerTokenProvider};

use crate::{Failure, boundary, cstr, errors::fail, fk_resp_err_t, guard, invalid};

/// A configuration under construction (opaque; one thread at a time). Clients copy it when
/// they are created, so it may be changed or destroyed afterwards.
pub struct fk_conf_t {
    pub(crate) config: ClientConfig,
}

/// A new, empty configuration, owned by the caller: free it with fk_conf_destroy.
#[unsafe(no_mangle)]
pub extern "C" fn fk_conf_new() -> *mut fk_conf_t {
    boundary(std::ptr::null_mut(), || Box::into_raw(Box::new(fk_conf_t { config: ClientConfig::new() })))
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
        let value =
            unsafe { cstr(value) }.ok_or_else(|| invalid(format!("the value of {key} is NULL or not UTF-8")))?;
        conf.config.set(key, value).map(|_| ()).map_err(fail)
    })
}

/// Asked for an OAUTHBEARER token on every authentication (first connection to a broker and
/// each re-authentication) when `sasl.mechanism` is OAUTHBEARER; on a library thread, possibly
/// on several at once, so `opaque` must be safe to use from any thread. Write the token (e.g.
/// a JWT, NUL-terminated) into `token`, a buffer of `token_size` bytes, and return 0; to
/// refuse, write the reason into `errstr` (`errstr_size` bytes) and return nonzero: that
/// connection then fails with FK_ERR__AUTHENTICATION, naming the reason. It must not throw
/// (C++) or longjmp.
pub type fk_oauthbearer_token_cb = Option<
    unsafe extern "C" fn(
        opaque: *mut c_void,
        token: *mut c_char,
        token_size: usize,
        errstr: *mut c_char,
        errstr_size: usize,
    ) -> c_int,
>;

/// The largest token the callback may write, with its terminating NUL.
const TOKEN_BUFFER: usize = 16 * 1024;

struct CallbackProvider {
    cb: unsafe extern "C" fn(*mut c_void, *mut c_char, usize, *mut c_char, usize) -> c_int,
    /// The caller's pointer, only handed back to the callback (the header says it must be
    /// usable from any thread).
    opaque: usize,
}

impl OAuthBearerTokenProvider for CallbackProvider {
    fn token(&self) -> Result<OAuthBearerToken, String> {
        let mut token = vec![0u8; TOKEN_BUFFER];
        let mut errstr = [0u8; 512];
        // SAFETY: both buffers are writable for the sizes given; the callback's contract is in
        // the header (no unwinding, writes within the sizes).
        let rc = unsafe {
            (self.cb)(
                self.opaque as *mut c_void,
                token.as_mut_ptr().cast(),
                token.len(),
                errstr.as_mut_ptr().cast(),
                errstr.len(),
            )
        };
        let text = |buf: &[u8]| CStr::from_bytes_until_nul(buf).ok().map(|s| s.to_string_lossy().into_owned());
        if rc != 0 {
            let reason = text(&errstr).filter(|r| !r.is_empty()).unwrap_or_else(|| format!("returned {rc}"));
            return Err(format!("the OAUTHBEARER token callback refused: {reason}"));
        }
        match text(&token) {
            Some(value) if !value.is_empty() => Ok(OAuthBearerToken { value, extensions: Vec::new() }),
            Some(_) => Err("the OAUTHBEARER token callback returned an empty token".into()),
            None => Err(format!("the OAUTHBEARER token callback wrote no NUL within {TOKEN_BUFFER} bytes")),
        }
    }
}

/// Sets the OAUTHBEARER token callback (see fk_oauthbearer_token_cb) and the `opaque` given to
/// it. Clients created from this configuration keep using it until they are destroyed.
/// FK_ERR__INVALID_ARG for a NULL conf or callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_conf_set_oauthbearer_token_cb(
    conf: *mut fk_conf_t,
    cb: fk_oauthbearer_token_cb,
    opaque: *mut c_void,
) -> fk_resp_err_t {
    guard(std::ptr::null_mut(), 0, || {
        // SAFETY: `conf` came from fk_conf_new and is not used elsewhere during the call.
        let conf = unsafe { conf.as_mut() }.ok_or_else(|| invalid("conf is NULL"))?;
        let cb = cb.ok_or_else(|| invalid("the token callback is NULL"))?;
        conf.config.set_oauthbearer_token_provider(CallbackProvider { cb, opaque: opaque as usize });
        Ok(())
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
    unsafe { conf.as_ref() }.map(|c| &c.config).ok_or_else(|| invalid("conf is NULL"))
}
