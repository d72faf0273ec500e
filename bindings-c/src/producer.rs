//! The producer: fk_produce queues and returns; delivery reports wait in a queue until
//! fk_poll or fk_flush runs the callback on the caller's thread.
//!
//! Threads: fk_produce hands the record to the core's sender (a task on the library's
//! runtime); a small task per record waits for its acknowledgement and queues the report.

use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ferrokafka::{Producer, ProducerRecord};

use crate::conf::{borrow_conf, fk_conf_t};
use crate::errors::{code_of, fail};
use crate::message::{c_string, fk_header_t, fk_message_t};
use crate::{Failure, boundary, cstr, fk_resp_err_t, guard, guard_ptr, invalid, runtime};

/// Called once per message fk_produce accepted, from fk_poll or fk_flush on the calling thread:
/// fk_message_error says whether it was delivered; topic, partition, offset and timestamp say
/// where; fk_message_opaque gives fk_produce's `msg_opaque`. The message is lent for the call
/// (do not destroy it); `opaque` is the one given to fk_producer_new. The callback may call
/// fk_produce, but must not destroy the producer, and must not throw (C++) or longjmp.
pub type fk_delivery_cb = Option<unsafe extern "C" fn(message: *const fk_message_t, opaque: *mut c_void)>;

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

/// A producer (opaque). Any thread may use it, several at once; fk_producer_destroy must come
/// after every other call on it has returned.
pub struct fk_producer_t {
    producer: Producer,
    reports: Arc<Reports>,
    cb: fk_delivery_cb,
    opaque: usize,
}

/// A producer configured by `conf` (borrowed for the call; copied), owned by the caller: free
/// it with fk_producer_destroy. `cb` may be NULL (reports are then dropped by fk_poll). NULL on
/// failure, with `errstr` (and fk_last_error) saying why.
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
        let _rt = runtime()?.enter();
        let producer = Producer::new(config).map_err(fail)?;
        Ok(Box::into_raw(Box::new(fk_producer_t { producer, reports: Arc::default(), cb, opaque: opaque as usize })))
    })
}

fn producer<'a>(p: *const fk_producer_t) -> Result<&'a fk_producer_t, Failure> {
    // SAFETY: from fk_producer_new, alive for the call (header contract).
    unsafe { p.as_ref() }.ok_or_else(|| invalid("producer is NULL"))
}

unsafe fn slice<'a>(p: *const c_void, len: usize) -> Option<&'a [u8]> {
    // SAFETY: the caller passes `len` readable bytes at `p`, or NULL (header contract).
    (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// Queues a message for `topic`, at `partition` or FK_PARTITION_UA (the partitioner chooses),
/// with `timestamp` (ms since the epoch, or 0 for now). Topic, key, value and headers are
/// borrowed for the call and copied; a NULL key or value is a null one. `msg_opaque` comes back
/// in the delivery report. FK_OK means a report will follow. Does not wait for the broker,
/// except to learn a topic's partitions the first time it is used: FK_ERR__QUEUE_FULL when
/// `queue.buffering.max.messages`/`.kbytes` are reached (serve reports with fk_poll, then
/// retry), FK_ERR_UNKNOWN_TOPIC_OR_PART for a partition the topic lacks,
/// FK_ERR_MSG_SIZE_TOO_LARGE above `message.max.bytes`.
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
        let topic = unsafe { cstr(topic) }.ok_or_else(|| invalid("topic is NULL or not UTF-8"))?.to_owned();
        let mut record = ProducerRecord::new(topic.clone());
        record.partition = (partition >= 0).then_some(partition);
        record.key = unsafe { slice(key, key_len) }.map(|k| k.to_vec().into());
        record.value = unsafe { slice(value, value_len) }.map(|v| v.to_vec().into());
        record.timestamp = (timestamp > 0).then_some(timestamp);
        if !headers.is_null() {
            // SAFETY: `header_count` headers at `headers` (header contract).
            for h in unsafe { std::slice::from_raw_parts(headers, header_count) } {
                let name = unsafe { cstr(h.name) }.ok_or_else(|| invalid("header name is NULL or not UTF-8"))?;
                record
                    .headers
                    .push((name.to_owned(), unsafe { slice(h.value, h.value_len) }.map(|v| v.to_vec().into())));
            }
        }
        let producer = p.producer.clone();
        let rt = runtime()?;
        let delivery = rt.block_on(async move { producer.try_send(record).await }).map_err(fail)?;
        p.reports.queue.lock().unwrap_or_else(|e| e.into_inner()).1 += 1;
        let reports = Arc::clone(&p.reports);
        let msg_opaque = msg_opaque as usize;
        rt.spawn(async move {
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
                    m.topic = c_string(topic);
                    (m.partition, m.offset, m.timestamp) = (partition, offset, timestamp);
                    m
                }
                Err((code, msg, topic)) => {
                    let mut m = fk_message_t::error(code, &msg);
                    m.topic = c_string(topic);
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

/// Runs the delivery callback for each finished message, on this thread, waiting up to
/// `timeout_ms` for the first (0: no wait; negative: until one arrives). Returns how many were
/// served, or a negative fk_resp_err_t (FK_ERR__INVALID_ARG for a NULL producer).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_poll(p: *mut fk_producer_t, timeout_ms: c_int) -> c_int {
    let mut served = 0;
    let rc = guard(std::ptr::null_mut(), 0, || {
        served = serve(producer(p)?, crate::timeout(timeout_ms));
        Ok(())
    });
    if rc == crate::FK_OK { served } else { rc }
}

/// Sends everything queued and waits until every message is delivered or failed, running
/// their callbacks on this thread: FK_OK, or FK_ERR__TIMED_OUT when some are still outstanding
/// after `timeout_ms` (negative: no limit).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_flush(p: *mut fk_producer_t, timeout_ms: c_int) -> fk_resp_err_t {
    guard(std::ptr::null_mut(), 0, || {
        let p = producer(p)?;
        let deadline = u64::try_from(timeout_ms).ok().map(|ms| Instant::now() + Duration::from_millis(ms));
        let producer = p.producer.clone();
        let flushed = async move {
            match deadline {
                Some(d) => tokio::time::timeout_at(d.into(), producer.flush()).await.unwrap_or(Ok(())),
                None => producer.flush().await,
            }
        };
        // The core's flush only fails if the producer is gone; each record's own outcome
        // arrives as its delivery report.
        let _ = runtime()?.block_on(flushed);
        let outstanding = {
            let q = p.reports.queue.lock().unwrap_or_else(|e| e.into_inner());
            let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
            p.reports
                .ready
                .wait_timeout_while(q, left, |q| q.1 > 0)
                .map(|(q, _)| q.1)
                .unwrap_or_else(|e| e.into_inner().0.1)
        };
        serve(p, Duration::ZERO);
        if outstanding > 0 {
            Err((crate::FK_ERR__TIMED_OUT, format!("{outstanding} messages not delivered after {timeout_ms} ms")))
        } else {
            Ok(())
        }
    })
}

/// Messages queued or in flight plus delivery reports not yet served (0 for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_outq_len(p: *const fk_producer_t) -> c_int {
    boundary(0, || {
        producer(p).map_or(0, |p| {
            let q = p.reports.queue.lock().unwrap_or_else(|e| e.into_inner());
            c_int::try_from(q.0.len() + q.1).unwrap_or(c_int::MAX)
        })
    })
}

/// Frees the producer (NULL is fine). Messages not yet delivered are abandoned and their
/// reports dropped: call fk_flush first.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_producer_destroy(p: *mut fk_producer_t) {
    if p.is_null() {
        return;
    }
    // SAFETY: from fk_producer_new, destroyed once (header contract).
    let p = unsafe { Box::from_raw(p) };
    boundary((), || match runtime() {
        Ok(rt) => {
            let _rt = rt.enter();
            drop(p);
        }
        // After fork(): the runtime that owns the producer's tasks is not in this process.
        Err(_) => std::mem::forget(p),
    });
}
