//! libferrokafka: the ferrokafka core and the bundled broker behind a small C API in
//! librdkafka's spirit. Only conversions live here (types, errors, threads); the header
//! `include/ferrokafka.h` is generated from this crate by cbindgen.
//!
//! Threads: one tokio runtime inside the library. A producer may be used from any thread; a
//! consumer by one thread at a time. Callbacks run on the thread calling fk_poll, fk_flush,
//! fk_consumer_poll or fk_consumer_close, never on library threads.

// An FFI layer is unsafe by nature: raw pointers from C. Every use is at the boundary and says
// what it relies on.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

mod admin;
mod broker;
mod conf;
mod consumer;
mod errors;
mod message;
mod producer;

use std::ffi::{CStr, c_char, c_int};
use std::sync::OnceLock;

pub use admin::*;
pub use broker::*;
pub use conf::*;
pub use consumer::*;
pub use errors::*;
pub use message::*;
pub use producer::*;

// The embedded broker decodes untrusted requests: large allocations become lazy mappings, as
// in the broker binary. This allocator serves only this library's Rust code, never the host's
// malloc.
#[global_allocator]
static ALLOC: ferrokafka_broker::AllocGuard = ferrokafka_broker::AllocGuard;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ferrokafka")
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// A borrowed C string as &str; `None` for NULL or invalid UTF-8.
unsafe fn cstr<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller passes a NUL-terminated string valid for this call (header contract).
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

/// Runs `f`, turning a panic into FK_ERR__FAIL with a message.
fn guard(
    errstr: *mut c_char,
    errstr_size: usize,
    f: impl FnOnce() -> Result<(), (c_int, String)>,
) -> c_int {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(())) => FK_OK,
        Ok(Err((code, msg))) => {
            write_errstr(errstr, errstr_size, &msg);
            code
        }
        Err(_) => {
            write_errstr(
                errstr,
                errstr_size,
                "internal error (a panic in libferrokafka)",
            );
            FK_ERR__FAIL
        }
    }
}

/// Like [`guard`] for functions returning a pointer (NULL on failure).
fn guard_ptr<T>(
    errstr: *mut c_char,
    errstr_size: usize,
    f: impl FnOnce() -> Result<*mut T, (c_int, String)>,
) -> *mut T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(p)) => p,
        Ok(Err((_, msg))) => {
            write_errstr(errstr, errstr_size, &msg);
            std::ptr::null_mut()
        }
        Err(_) => {
            write_errstr(
                errstr,
                errstr_size,
                "internal error (a panic in libferrokafka)",
            );
            std::ptr::null_mut()
        }
    }
}

fn write_errstr(errstr: *mut c_char, size: usize, msg: &str) {
    errors::set_last_error(msg);
    if errstr.is_null() || size == 0 {
        return;
    }
    let n = msg.len().min(size - 1);
    // SAFETY: the caller gave a writable buffer of `size` bytes; we write n + 1 <= size.
    unsafe {
        std::ptr::copy_nonoverlapping(msg.as_ptr(), errstr.cast::<u8>(), n);
        *errstr.add(n) = 0;
    }
}

fn invalid(what: impl Into<String>) -> (c_int, String) {
    (FK_ERR__INVALID_ARG, what.into())
}
