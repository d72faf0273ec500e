//! The producer: fk_produce queues and returns; delivery reports wait in a queue until
//! fk_poll or fk_flush runs the callback on the caller's thread.

use std::collections::VecDeque;
use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ferrokafka::{Producer, ProducerRecord};

use crate::conf::{borrow_conf, fk_conf_t};
use crate::errors::{code_of, fail};
use crate::message::{fk_header_t, fk_message_t};
use crate::{cstr, fk_resp_err_t, guard, guard_ptr, invalid, runtime};

/// Called once per produced message from fk_poll/fk_flush. The message is lent for the call;
/// `opaque` is the one given to fk_producer_new.
pub type fk_delivery_cb =
    Option<unsafe extern "C" fn(message: *const fk_message_t, opaque: *mut c_void)>;

/// (topic, partition, offset, timestamp), or (code, message, topic).
type Outcome = Result<(String, i32, i64, i64), (c_int, String, String)>;

struct Report {
    result: Outcome,
    /// fk_produce's `msg_opaque`, carried as an address: it is only handed back to C.
    msg_opaque: usize,
}

#[derive(Default)]
struct Reports {
    queue: Mutex<(VecDeque<Report>, usize)>,
    ready: Condvar,
}

/// A producer (opaque; usable from any thread).
pub struct fk_producer_t {
    producer: Producer,
    reports: Arc<Reports>,
    cb: fk_delivery_cb,
    opaque: usize,
}

/// A producer configured by `conf` (borrowed; copied). `cb` may be NULL. NULL on failure, with
/// `errstr` saying why.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_producer_new(
    conf: *const fk_conf_t,
    cb: fk_delivery_cb,
    opaque: *mut c_void,
    errstr: *mut c_char,
    errstr_size: usize,
) -> *mut fk_producer_t {
    guard_ptr(errstr, errstr_size, || {
        let config = borrow_conf(conf)?.clone();
        let _rt = runtime().enter();
        let producer = Producer::new(config).map_err(fail)?;
        Ok(Box::into_raw(Box::new(fk_producer_t {
            producer,
            reports: Arc::default(),
            cb,
            opaque: opaque as usize,
        })))
    })
}

fn producer<'a>(p: *const fk_producer_t) -> Result<&'a fk_producer_t, (c_int, String)> {
    // SAFETY: from fk_producer_new, alive for the call (header contract).
    unsafe { p.as_ref() }.ok_or_else(|| invalid("producer is NULL"))
}

unsafe fn slice<'a>(p: *const c_void, len: usize) -> Option<&'a [u8]> {
    // SAFETY: the caller passes `len` readable bytes at `p`, or NULL (header contract).
    (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// Queues a message for `topic` (`partition` or FK_PARTITION_UA; `timestamp` ms or 0 for now;
/// key, value and headers are copied; NULL key/value are null). Returns at once:
/// FK_ERR__QUEUE_FULL when the queue is full (serve reports with fk_poll, then retry).
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn fk_produce(
    p: *mut fk_producer_t,
    topic: *const c_char,
    partition: i32,
    key: *const c_void,
    key_len: usize,
    value: *const c_void,
    value_len: usize,
    headers: *const fk_header_t,
    header_count: usize,
    timestamp: i64,
    msg_opaque: *mut c_void,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let p = producer(p)?;
        let topic = unsafe { cstr(topic) }
            .ok_or_else(|| invalid("topic is NULL or not UTF-8"))?
            .to_owned();
        let mut record = ProducerRecord::new(topic.clone());
        record.partition = (partition >= 0).then_some(partition);
        record.key = unsafe { slice(key, key_len) }.map(|k| k.to_vec().into());
        record.value = unsafe { slice(value, value_len) }.map(|v| v.to_vec().into());
        record.timestamp = (timestamp > 0).then_some(timestamp);
        if !headers.is_null() {
            // SAFETY: `header_count` headers at `headers` (header contract).
            for h in unsafe { std::slice::from_raw_parts(headers, header_count) } {
                let name = unsafe { cstr(h.name) }
                    .ok_or_else(|| invalid("header name is NULL or not UTF-8"))?;
                record.headers.push((
                    name.to_owned(),
                    unsafe { slice(h.value, h.value_len) }.map(|v| v.to_vec().into()),
                ));
            }
        }
        let producer = p.producer.clone();
        let delivery = runtime()
            .block_on(async move { producer.try_send(record).await })
            .map_err(fail)?;
        p.reports.queue.lock().unwrap_or_else(|e| e.into_inner()).1 += 1;
        let reports = Arc::clone(&p.reports);
        let msg_opaque = msg_opaque as usize;
        runtime().spawn(async move {
            let result = match delivery.await {
                Ok(m) => Ok((m.topic, m.partition, m.offset, m.timestamp)),
                Err(e) => Err((code_of(&e), e.to_string(), topic)),
            };
            let mut q = reports.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.0.push_back(Report { result, msg_opaque });
            q.1 -= 1;
            reports.ready.notify_all();
        });
        Ok(())
    })
}

fn serve(p: &fk_producer_t, wait: Duration) -> c_int {
    let ready: Vec<Report> = {
        let mut q = p.reports.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.0.is_empty() && !wait.is_zero() {
            q = p
                .reports
                .ready
                .wait_timeout_while(q, wait, |q| q.0.is_empty())
                .map(|(q, _)| q)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        q.0.drain(..).collect()
    };
    let n = ready.len();
    if let Some(cb) = p.cb {
        for r in ready {
            let mut m = match r.result {
                Ok((topic, partition, offset, timestamp)) => {
                    let mut m = fk_message_t::error(0, "");
                    m.topic = CString::new(topic).unwrap_or_default();
                    (m.partition, m.offset, m.timestamp) = (partition, offset, timestamp);
                    m
                }
                Err((code, msg, topic)) => {
                    let mut m = fk_message_t::error(code, &msg);
                    m.topic = CString::new(topic).unwrap_or_default();
                    m
                }
            };
            m.opaque = r.msg_opaque as *mut c_void;
            // SAFETY: the application's callback, with the message lent for the call.
            unsafe { cb(&m, p.opaque as *mut c_void) };
        }
    }
    n as c_int
}

/// Runs delivery callbacks for finished messages, waiting up to `timeout_ms` for the first
/// (0: no wait). Returns how many were served, or a negative error code.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_poll(p: *mut fk_producer_t, timeout_ms: c_int) -> c_int {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        producer(p).map(|p| serve(p, Duration::from_millis(timeout_ms.max(0) as u64)))
    })) {
        Ok(Ok(n)) => n,
        Ok(Err((code, _))) => code,
        Err(_) => crate::FK_ERR__FAIL,
    }
}

/// Waits up to `timeout_ms` (negative: no limit) until every queued message is delivered,
/// running their callbacks. FK_ERR__TIMED_OUT if some are still outstanding.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_flush(p: *mut fk_producer_t, timeout_ms: c_int) -> fk_resp_err_t {
    guard(std::ptr::null_mut(), 0, || {
        let p = producer(p)?;
        let limit = if timeout_ms < 0 {
            Duration::from_secs(u32::MAX as u64)
        } else {
            Duration::from_millis(timeout_ms as u64)
        };
        let producer = p.producer.clone();
        let _ =
            runtime().block_on(async move { tokio::time::timeout(limit, producer.flush()).await });
        let outstanding = {
            let q = p.reports.queue.lock().unwrap_or_else(|e| e.into_inner());
            p.reports
                .ready
                .wait_timeout_while(q, limit, |q| q.1 > 0)
                .map(|(q, _)| q.1)
                .unwrap_or_else(|e| e.into_inner().0.1)
        };
        serve(p, Duration::ZERO);
        if outstanding > 0 {
            Err((
                crate::FK_ERR__TIMED_OUT,
                format!("{outstanding} messages not delivered yet"),
            ))
        } else {
            Ok(())
        }
    })
}

/// Messages queued or in flight, plus delivery reports not yet served.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_outq_len(p: *const fk_producer_t) -> c_int {
    producer(p).map_or(0, |p| {
        let q = p.reports.queue.lock().unwrap_or_else(|e| e.into_inner());
        (q.0.len() + q.1) as c_int
    })
}

/// Frees the producer (NULL is fine). Undelivered messages are abandoned: fk_flush first.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_producer_destroy(p: *mut fk_producer_t) {
    if !p.is_null() {
        // SAFETY: from fk_producer_new, destroyed once (header contract).
        let p = unsafe { Box::from_raw(p) };
        let _rt = runtime().enter();
        drop(p);
    }
}
