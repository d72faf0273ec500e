//! The producer: fk_produce queues and returns; delivery reports wait in the core's report
//! queue until fk_poll or fk_flush takes them and runs the callback on the caller's thread.
//!
//! Threads: fk_produce hands the record to the core's sender (a task on the library's
//! runtime) with `msg_opaque` as its report token; nothing here runs per record on the runtime.
//!
//! Transactions (`transactional.id`): fk_init_transactions, fk_begin_transaction,
//! fk_send_offsets_to_transaction, fk_commit_transaction and fk_abort_transaction are the
//! core's calls of the same names, run on the caller's thread until they finish or time out.

use std::ffi::{CString, c_char, c_int, c_void};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokafka::{Producer, ProducerRecord};

use crate::conf::{borrow_conf, fk_conf_t};
use crate::consumer::{fk_consumer_group_metadata_t, partitions};
use crate::errors::{code_of, fail};
use crate::message::{FK_OFFSET_INVALID, c_string, fk_header_t, fk_message_t, fk_topic_partition_t};
use crate::{Failure, boundary, cstr, fk_resp_err_t, guard, guard_ptr, invalid, runtime};

/// Called once per message fk_produce accepted, from fk_poll or fk_flush on the calling thread:
/// fk_message_error says whether it was delivered; topic, partition, offset and timestamp say
/// where (offset and timestamp are -1 for one that failed); fk_message_opaque gives
/// fk_produce's `msg_opaque`. One partition's messages are reported in the order they were
/// produced, which with `enable.idempotence` is offset order. The message is lent for the call
/// (do not destroy it); `opaque` is the one given to fk_producer_new. The callback may call
/// fk_produce, but must not destroy the producer, and must not throw (C++) or longjmp.
pub type fk_delivery_cb = Option<unsafe extern "C" fn(message: *const fk_message_t, opaque: *mut c_void)>;

/// A producer (opaque). Any thread may use it, several at once; fk_producer_destroy must come
/// after every other call on it has returned.
pub struct fk_producer_t {
    producer: Producer,
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
        Ok(Box::into_raw(Box::new(fk_producer_t { producer, cb, opaque: opaque as usize })))
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
        let topic = unsafe { cstr(topic) }.ok_or_else(|| invalid("topic is NULL or not UTF-8"))?;
        let mut record = ProducerRecord::new(topic);
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
        // The token is the address: it only comes back to C.
        let token = msg_opaque as usize as u64;
        let rt = runtime()?;
        let mut queued = std::pin::pin!(p.producer.try_send_with_report(record, token));
        // With the topic's metadata cached, queueing needs no I/O and finishes on the first
        // poll: no hand-off to the runtime. Otherwise (a topic's first record) the same future
        // is driven to the end by block_on.
        let first = {
            let _rt = rt.enter();
            queued.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        };
        match first {
            std::task::Poll::Ready(r) => r,
            std::task::Poll::Pending => rt.block_on(queued),
        }
        .map_err(fail)
    })
}

/// Runs the callback on every report queued, waiting up to `wait` for the first; returns how
/// many there were.
fn serve(p: &fk_producer_t, wait: Duration) -> c_int {
    let ready = p.producer.delivery_reports().poll(usize::MAX, wait);
    let n = ready.len();
    let Some(cb) = p.cb else { return c_int::try_from(n).unwrap_or(c_int::MAX) };
    // One message lent to every call: only what differs from the last report is rebuilt, so a
    // run of reports of one topic converts its name once.
    let mut m = fk_message_t::error(crate::FK_OK, "");
    let mut topic: Option<Arc<str>> = None;
    for r in ready {
        if !topic.as_ref().is_some_and(|t| Arc::ptr_eq(t, &r.topic)) {
            m.topic = c_string(r.topic.to_string());
            topic = Some(r.topic);
        }
        m.partition = r.partition;
        match r.result {
            Ok(d) => {
                (m.offset, m.timestamp) = (d.offset, d.timestamp);
                if m.err != crate::FK_OK {
                    (m.err, m.errstr) = (crate::FK_OK, CString::default());
                }
            }
            Err(e) => {
                (m.offset, m.timestamp) = (-1, -1);
                (m.err, m.errstr) = (code_of(&e), c_string(e.to_string()));
            }
        }
        m.opaque = r.token as usize as *mut c_void;
        // SAFETY: the application's callback, with the message lent for the call.
        unsafe { cb(&m, p.opaque as *mut c_void) };
    }
    c_int::try_from(n).unwrap_or(c_int::MAX)
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
        let rt = runtime()?;
        loop {
            let flushed = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d.into(), p.producer.flush()).await.unwrap_or(Ok(())),
                    None => p.producer.flush().await,
                }
            };
            // The core's flush only fails if the producer is gone; each record's own outcome
            // arrives as its delivery report, and all of them are queued once it returns.
            let _ = rt.block_on(flushed);
            serve(p, Duration::ZERO);
            // Callbacks may have produced more (or another thread did meanwhile): flush
            // those too, within the same deadline.
            let outstanding = p.producer.delivery_reports().pending();
            if outstanding == 0 {
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err((
                    crate::FK_ERR__TIMED_OUT,
                    format!("{outstanding} messages not delivered after {timeout_ms} ms"),
                )
                    .into());
            }
        }
    })
}

/// Runs a transactional call of the core on the caller's thread, then serves the delivery
/// reports that are ready (the records the call flushed or abandoned), as fk_flush does.
fn transactional(
    p: *mut fk_producer_t,
    call: impl AsyncFnOnce(&Producer) -> ferrokafka::Result<()>,
) -> Result<(), Failure> {
    let p = producer(p)?;
    let result = runtime()?.block_on(call(&p.producer));
    serve(p, Duration::ZERO);
    result.map_err(fail)
}

/// Transactions: gets the producer id and epoch of the configured `transactional.id` from its
/// coordinator, fencing any older producer with the same id (its open transaction is aborted,
/// so nothing of it is ever read by a read_committed consumer). Call it once, before the first
/// fk_begin_transaction; waits up to `timeout_ms` (negative: no limit). FK_ERR__TIMED_OUT with
/// fk_last_error_is_retriable: call it again. FK_ERR__STATE for a producer without
/// `transactional.id`, or when called twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_init_transactions(
    p: *mut fk_producer_t,
    timeout_ms: c_int,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        transactional(p, async |producer| producer.init_transactions(crate::timeout(timeout_ms)).await)
    })
}

/// Starts a transaction: the messages fk_produce queues from now until fk_commit_transaction
/// or fk_abort_transaction are written atomically with it (fk_produce outside a transaction is
/// FK_ERR__STATE). Does not wait for the broker. FK_ERR__STATE before fk_init_transactions,
/// inside a transaction, or after a failure that needs fk_abort_transaction first; a fatal
/// error (fk_last_error_is_fatal) once the producer is fenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_begin_transaction(
    p: *mut fk_producer_t,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || producer(p)?.producer.begin_transaction().map_err(fail))
}

/// Commits a consumer's offsets in the current transaction: they are stored for the group if
/// and only if the transaction commits (consume-transform-produce, exactly once). `offsets`:
/// `count` entries (borrowed for the call; `err` ignored) whose offset is the next one to read,
/// as fk_position fills them; entries with FK_OFFSET_INVALID are skipped. `group` comes from
/// fk_consumer_group_metadata (borrowed for the call): the group's coordinator refuses the
/// offsets of a member whose generation is over (a zombie), and the transaction must then be
/// aborted (fk_last_error_txn_requires_abort). Waits up to `timeout_ms` (negative: no limit).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_send_offsets_to_transaction(
    p: *mut fk_producer_t,
    offsets: *const fk_topic_partition_t,
    count: usize,
    group: *const fk_consumer_group_metadata_t,
    timeout_ms: c_int,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        // SAFETY: from fk_consumer_group_metadata, alive for the call (header contract).
        let group = unsafe { group.as_ref() }.ok_or_else(|| invalid("group metadata is NULL"))?;
        let mut list = Vec::with_capacity(count);
        for e in unsafe { partitions(offsets, count) }? {
            match e.offset {
                FK_OFFSET_INVALID => {}
                o if o >= 0 => list.push(e),
                o => {
                    let tp = e.topic_partition;
                    return Err(invalid(format!("{tp}: offset {o} is neither an offset nor FK_OFFSET_INVALID")));
                }
            }
        }
        transactional(p, async |producer| {
            producer.send_offsets_to_transaction(&list, &group.metadata, crate::timeout(timeout_ms)).await
        })
    })
}

/// Sends every message of the transaction, waits for them to be acknowledged, and commits it;
/// the delivery callback runs for them on this thread before this returns (as in fk_flush).
/// Waits up to `timeout_ms` (negative: no limit); after FK_ERR__TIMED_OUT
/// (fk_last_error_is_retriable) call it again to finish the commit. An error with
/// fk_last_error_txn_requires_abort (a message the broker refused, named in the message):
/// call fk_abort_transaction and go on. An error with fk_last_error_is_fatal (FK_ERR__FENCED:
/// a newer producer with the same `transactional.id`): destroy the producer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_commit_transaction(
    p: *mut fk_producer_t,
    timeout_ms: c_int,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        transactional(p, async |producer| producer.commit_transaction(crate::timeout(timeout_ms)).await)
    })
}

/// Aborts the transaction: messages not yet sent are dropped (their delivery reports carry
/// FK_ERR__PURGE_QUEUE), those in flight are waited for, and read_committed consumers never
/// see any of it; the delivery callback runs for them on this thread before this returns.
/// Waits up to `timeout_ms` (negative: no limit); after FK_ERR__TIMED_OUT call it again. The
/// consumer's position is not moved back: seek it to the committed offsets (fk_committed) to
/// read the aborted input again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_abort_transaction(
    p: *mut fk_producer_t,
    timeout_ms: c_int,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        transactional(p, async |producer| producer.abort_transaction(crate::timeout(timeout_ms)).await)
    })
}

/// Messages queued or in flight plus delivery reports not yet served (0 for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_outq_len(p: *const fk_producer_t) -> c_int {
    boundary(0, || {
        producer(p).map_or(0, |p| c_int::try_from(p.producer.delivery_reports().pending()).unwrap_or(c_int::MAX))
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
