//! libferrokafka: the ferrokafka core and the bundled broker behind a small C API in
//! librdkafka's spirit. Only conversions live here (types, errors, threads); the header
//! `include/ferrokafka.h` is generated from this crate by cbindgen.
//!
//! Threads: one tokio runtime inside the library, created on first use (two worker threads
//! named `ferrokafka`). A producer, an admin client and a broker handle may be used from any
//! thread, concurrently; a configuration and a consumer by one thread at a time. Callbacks run
//! on the thread calling fk_poll, fk_flush, fk_consumer_poll or fk_consumer_close, never on a
//! library thread.
//!
//! Every exported function runs its body inside [`boundary`] (or [`guard`]/[`guard_ptr`],
//! which use it): a panic never unwinds into C, it becomes FK_ERR__FAIL (or NULL) with a
//! message.

// An FFI layer is unsafe by nature: it takes raw pointers from C. Every dereference is at the
// boundary, and its SAFETY comment names the header contract it relies on.
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
mod serde;

use std::ffi::{CStr, c_char, c_int};
use std::sync::OnceLock;

pub use admin::*;
pub use broker::*;
pub use conf::*;
pub use consumer::*;
pub use errors::*;
pub use message::*;
pub use producer::*;
pub use serde::*;

// No global allocator: Rust allocations go to the system malloc the host uses, so the static
// library links into any program (a Rust host's own allocator included). The embedded broker
// decodes untrusted requests safely without one (see vendor/kafka-protocol's patches).

/// An error for C: a code (fk_resp_err_t), a message, and what the core says the application
/// can do about it (all false for the binding's own errors: a bad argument, a closed handle).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: c_int,
    pub(crate) message: String,
    pub(crate) flags: errors::Flags,
}

impl From<(c_int, String)> for Failure {
    fn from((code, message): (c_int, String)) -> Self {
        Failure { code, message, flags: errors::Flags::default() }
    }
}

struct Runtime {
    pid: u32,
    rt: tokio::runtime::Runtime,
}

/// The library's tokio runtime, created on first use. After fork() the child has the
/// runtime's memory but none of its threads: anything waiting on it would hang forever, so the
/// child gets an error instead.
fn runtime() -> Result<&'static tokio::runtime::Runtime, Failure> {
    static RT: OnceLock<Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| Runtime {
        pid: std::process::id(),
        rt: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ferrokafka")
            .enable_all()
            .build()
            .expect("a tokio runtime"),
    });
    if rt.pid == std::process::id() {
        Ok(&rt.rt)
    } else {
        Err(Failure::from((
            FK_ERR__FAIL,
            format!(
                "libferrokafka started its threads in process {} and cannot be used after fork(): create handles in the process that uses them",
                rt.pid
            ),
        )))
    }
}

/// A C timeout in milliseconds: negative means no limit (a year: deadlines are computed by
/// adding it to now, so it must not overflow).
fn timeout(ms: c_int) -> std::time::Duration {
    u64::try_from(ms).map_or(std::time::Duration::from_secs(365 * 24 * 3600), std::time::Duration::from_millis)
}

// The thread-safety the header promises, checked at compile time: producers, admin clients and
// brokers are used from any thread at once; a consumer moves between threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_sync::<ferrokafka::Producer>();
    send_sync::<ferrokafka::Admin>();
    send_sync::<ferrokafka_broker::Broker>();
    send::<ferrokafka::Consumer>();
    send_sync::<ferrokafka::serde::generic::DocumentCodec>();
};

/// A borrowed C string as &str; `None` for NULL or invalid UTF-8.
unsafe fn cstr<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller passes a NUL-terminated string valid for this call (header contract).
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

/// A NULL-terminated array of C strings, key, value, key, value, ... (NULL itself: none), as
/// pairs borrowed for the call. A key without a value, or a string that is not UTF-8, is
/// FK_ERR__INVALID_ARG naming it.
unsafe fn key_values<'a>(settings: *const *const c_char) -> Result<Vec<(&'a str, &'a str)>, Failure> {
    let mut pairs = Vec::new();
    if settings.is_null() {
        return Ok(pairs);
    }
    for i in (0..).step_by(2) {
        // SAFETY: a NULL-terminated array of strings (header contract); read up to its NULL.
        let key = unsafe { *settings.add(i) };
        if key.is_null() {
            break;
        }
        let key = unsafe { cstr(key) }.ok_or_else(|| invalid(format!("setting {} is not UTF-8", i / 2)))?;
        let value = unsafe { *settings.add(i + 1) };
        let value = unsafe { cstr(value) }
            .ok_or_else(|| invalid(format!("the value of {key} is missing, NULL or not UTF-8")))?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// The text of a caught panic.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("internal error (a panic in libferrokafka: {what})")
}

/// The panic boundary for functions without an error channel: runs `f`; if it panics, the
/// panic becomes the thread's last error (FK_ERR__FAIL) and `on_panic` is returned.
fn boundary<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        errors::set_last_error(FK_ERR__FAIL, &panic_message(payload), errors::Flags::default());
        on_panic
    })
}

/// Runs `f` inside the panic boundary: FK_OK, or the error's code with its message written to
/// `errstr` and kept as the thread's last error. A panic is FK_ERR__FAIL.
fn guard(errstr: *mut c_char, errstr_size: usize, f: impl FnOnce() -> Result<(), Failure>) -> c_int {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(())) => FK_OK,
        Ok(Err(failure)) => report(errstr, errstr_size, &failure),
        Err(payload) => report(errstr, errstr_size, &(FK_ERR__FAIL, panic_message(payload)).into()),
    }
}

/// Like [`guard`] for functions returning a pointer: NULL on failure.
fn guard_ptr<T>(errstr: *mut c_char, errstr_size: usize, f: impl FnOnce() -> Result<*mut T, Failure>) -> *mut T {
    let failed = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(p)) => return p,
        Ok(Err(failure)) => failure,
        Err(payload) => (FK_ERR__FAIL, panic_message(payload)).into(),
    };
    report(errstr, errstr_size, &failed);
    std::ptr::null_mut()
}

/// Records an error as the thread's last error, copies its message into `errstr`, and returns
/// its code.
fn report(errstr: *mut c_char, errstr_size: usize, failure: &Failure) -> c_int {
    errors::set_last_error(failure.code, &failure.message, failure.flags);
    write_errstr(errstr, errstr_size, &failure.message);
    failure.code
}

/// Copies `msg` into the caller's buffer of `size` bytes, truncated and NUL-terminated.
fn write_errstr(errstr: *mut c_char, size: usize, msg: &str) {
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

fn invalid(what: impl Into<String>) -> Failure {
    (FK_ERR__INVALID_ARG, what.into()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(buf: &[c_char]) -> String {
        // SAFETY: write_errstr NUL-terminates within the buffer.
        unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
    }

    fn last() -> (c_int, String) {
        // SAFETY: fk_last_error returns a NUL-terminated thread-local string.
        (fk_last_error_code(), unsafe { CStr::from_ptr(fk_last_error()) }.to_string_lossy().into_owned())
    }

    #[test]
    fn a_panic_becomes_fk_err_fail_with_its_message() {
        let mut buf = [0 as c_char; 128];
        let rc = guard(buf.as_mut_ptr(), buf.len(), || panic!("boom {}", 42));
        assert_eq!(rc, FK_ERR__FAIL);
        assert_eq!(text(&buf), "internal error (a panic in libferrokafka: boom 42)");
        assert_eq!(last(), (FK_ERR__FAIL, text(&buf)));
        let p: *mut u8 = guard_ptr(buf.as_mut_ptr(), buf.len(), || panic!("static"));
        assert!(p.is_null());
        assert_eq!(text(&buf), "internal error (a panic in libferrokafka: static)");
        assert_eq!(boundary(7, || -> i32 { panic!("x") }), 7);
    }

    #[test]
    fn errors_are_truncated_to_the_buffer_and_kept_per_thread() {
        let mut buf = [1 as c_char; 8];
        let rc = guard(buf.as_mut_ptr(), buf.len(), || Err(invalid("a rather long message")));
        assert_eq!(rc, FK_ERR__INVALID_ARG);
        assert_eq!(text(&buf), "a rathe");
        assert_eq!(last(), (FK_ERR__INVALID_ARG, "a rather long message".to_string()));
        // A buffer of one byte holds only the NUL; no buffer at all is fine.
        let mut one = [1 as c_char; 1];
        guard(one.as_mut_ptr(), 1, || Err(invalid("x")));
        assert_eq!(one[0], 0);
        guard(std::ptr::null_mut(), 100, || Err(invalid("y")));
        // Another thread has its own last error.
        let other = std::thread::spawn(|| {
            guard(std::ptr::null_mut(), 0, || Err((FK_ERR__TIMED_OUT, "elsewhere".to_string()).into()));
            last()
        })
        .join()
        .unwrap();
        assert_eq!(other, (FK_ERR__TIMED_OUT, "elsewhere".to_string()));
        assert_eq!(last(), (FK_ERR__INVALID_ARG, "y".to_string()));
    }

    /// The agreement test's C third (the Python and Node bindings have the same): every kind
    /// of core error reaches C with the core's code.
    #[test]
    fn c_codes_are_the_cores() {
        for e in ferrokafka::Error::examples() {
            assert_eq!(crate::errors::code_of(&e), e.code(), "{e:?}");
        }
        assert_eq!(
            crate::errors::code_of(&ferrokafka::Error::UnknownTopicOrPartition("t-9".into())),
            FK_ERR__UNKNOWN_PARTITION
        );
        use ferrokafka::error::codes;
        assert_eq!(
            [
                FK_ERR__KEY_SERIALIZATION,
                FK_ERR__VALUE_SERIALIZATION,
                FK_ERR__KEY_DESERIALIZATION,
                FK_ERR__VALUE_DESERIALIZATION
            ],
            [
                codes::KEY_SERIALIZATION,
                codes::VALUE_SERIALIZATION,
                codes::KEY_DESERIALIZATION,
                codes::VALUE_DESERIALIZATION
            ]
        );
    }

    /// The flags of the last error are the core's, for every kind; the binding's own errors
    /// (a bad argument, a panic) have none.
    #[test]
    fn last_error_flags_are_the_cores() {
        let flags = || (fk_last_error_is_fatal(), fk_last_error_is_retriable(), fk_last_error_txn_requires_abort());
        let mut seen = [false; 3];
        for e in ferrokafka::Error::examples() {
            let want = (c_int::from(e.is_fatal()), c_int::from(e.is_retriable()), c_int::from(e.txn_requires_abort()));
            seen = [seen[0] || want.0 == 1, seen[1] || want.1 == 1, seen[2] || want.2 == 1];
            let code = e.code();
            assert_eq!(guard(std::ptr::null_mut(), 0, || Err(crate::errors::fail(e.clone()))), code);
            assert_eq!(flags(), want, "{e:?}");
        }
        assert_eq!(seen, [true; 3], "the examples have each flag");
        guard(std::ptr::null_mut(), 0, || Err(invalid("x")));
        assert_eq!(flags(), (0, 0, 0));
        guard(std::ptr::null_mut(), 0, || Err(crate::errors::fail(ferrokafka::Error::Fenced("t".into()))));
        assert_eq!((fk_last_error_code(), flags()), (FK_ERR__FENCED, (1, 0, 0)));
        guard(std::ptr::null_mut(), 0, || panic!("boom"));
        assert_eq!(flags(), (0, 0, 0));
        // The registry's own code, for its answers only.
        use ferrokafka::schema_registry::RegistryError;
        let http = RegistryError::Http { status: 404, code: 40401, message: "Subject not found".into() };
        guard(std::ptr::null_mut(), 0, || Err(crate::errors::fail(ferrokafka::Error::SchemaRegistry(http))));
        assert_eq!((fk_last_error_code(), fk_last_error_registry_code()), (FK_ERR__FAIL, 40401));
        let down = RegistryError::Transport { url: "http://r:8081".into(), reason: "refused".into() };
        guard(std::ptr::null_mut(), 0, || Err(crate::errors::fail(ferrokafka::Error::SchemaRegistry(down))));
        assert_eq!((fk_last_error_code(), fk_last_error_registry_code()), (FK_ERR__TRANSPORT, -1));
        guard(std::ptr::null_mut(), 0, || Err(invalid("x")));
        assert_eq!(fk_last_error_registry_code(), -1);
    }

    #[test]
    fn kafka_codes_have_names() {
        // SAFETY: fk_err2str returns static NUL-terminated strings.
        let s = |c| unsafe { CStr::from_ptr(fk_err2str(c)) }.to_string_lossy().into_owned();
        assert_eq!(s(FK_ERR_TOPIC_ALREADY_EXISTS), "Broker: Topic already exists");
        assert_eq!(s(FK_ERR_UNKNOWN_TOPIC_OR_PART), "Broker: Unknown topic or partition");
        assert_eq!(s(FK_ERR__QUEUE_FULL), "Local: Queue full");
        assert_eq!(s(FK_OK), "Success");
        assert_eq!(s(30000), "Broker: unknown error code 30000");
        assert_eq!(s(-1000), "Local: unknown error code -1000");
    }
}
