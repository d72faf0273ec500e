//! The consumer: one thread at a time. Rebalance events the core reports inside a poll are
//! delivered to the rebalance callback when fk_consumer_poll returns to the caller's thread.

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka::consumer::Offset;
use ferrokafka::{Consumer, RebalanceEvent};

use crate::conf::{borrow_conf, fk_conf_t};
use crate::errors::fail;
use crate::message::{
    FK_OFFSET_BEGINNING, FK_OFFSET_END, FK_OFFSET_INVALID, fk_message_t, fk_topic_partition_t,
};
use crate::{cstr, fk_resp_err_t, guard, guard_ptr, invalid, runtime};

/// Partitions were assigned to this consumer.
pub const FK_REBALANCE_ASSIGN: c_int = 1;
/// Partitions are taken away (committed first when `enable.auto.commit` is on).
pub const FK_REBALANCE_REVOKE: c_int = 2;
/// The membership was lost: these partitions may already be another member's.
pub const FK_REBALANCE_LOST: c_int = 3;

/// Called with an FK_REBALANCE_* event and the partitions it concerns (lent for the call).
pub type fk_rebalance_cb = Option<
    unsafe extern "C" fn(
        c: *mut fk_consumer_t,
        event: c_int,
        partitions: *const fk_topic_partition_t,
        count: usize,
        opaque: *mut c_void,
    ),
>;

type Event = (c_int, Vec<(String, i32)>);
/// A caller's partition entry: topic, partition, offset, and its writable `err` slot.
type Entry<'a> = (String, i32, i64, &'a mut c_int);

/// A consumer (opaque; use it from one thread at a time).
pub struct fk_consumer_t {
    consumer: Option<Consumer>,
    events: Arc<Mutex<Vec<Event>>>,
    cb: fk_rebalance_cb,
    opaque: *mut c_void,
    reset_earliest: bool,
}

/// A consumer configured by `conf` (borrowed; copied). Set `group.id` to subscribe or commit.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_consumer_new(
    conf: *const fk_conf_t,
    errstr: *mut c_char,
    errstr_size: usize,
) -> *mut fk_consumer_t {
    guard_ptr(errstr, errstr_size, || {
        let config = borrow_conf(conf)?.clone();
        let reset_earliest = matches!(
            config.get("auto.offset.reset"),
            Some("earliest" | "smallest")
        );
        let mut consumer = Consumer::new(config).map_err(fail)?;
        let events: Arc<Mutex<Vec<Event>>> = Arc::default();
        let sink = Arc::clone(&events);
        consumer.on_rebalance(move |e| {
            let ev = match e {
                RebalanceEvent::Assigned(t) => (FK_REBALANCE_ASSIGN, t.clone()),
                RebalanceEvent::Revoked(t) => (FK_REBALANCE_REVOKE, t.clone()),
                RebalanceEvent::Lost(t) => (FK_REBALANCE_LOST, t.clone()),
            };
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(ev);
        });
        Ok(Box::into_raw(Box::new(fk_consumer_t {
            consumer: Some(consumer),
            events,
            cb: None,
            opaque: std::ptr::null_mut(),
            reset_earliest,
        })))
    })
}

fn consumer<'a>(c: *mut fk_consumer_t) -> Result<&'a mut fk_consumer_t, (c_int, String)> {
    // SAFETY: from fk_consumer_new; one thread at a time (header contract).
    unsafe { c.as_mut() }.ok_or_else(|| invalid("consumer is NULL"))
}

fn live(c: &mut fk_consumer_t) -> Result<&mut Consumer, (c_int, String)> {
    c.consumer
        .as_mut()
        .ok_or_else(|| (crate::FK_ERR__DESTROY, "the consumer is closed".into()))
}

unsafe fn partitions<'a>(
    p: *const fk_topic_partition_t,
    n: usize,
) -> Result<Vec<Entry<'a>>, (c_int, String)> {
    if p.is_null() {
        return if n == 0 {
            Ok(Vec::new())
        } else {
            Err(invalid("partitions is NULL"))
        };
    }
    // SAFETY: `n` entries at `p`, writable for their `err` (header contract).
    let list = unsafe { std::slice::from_raw_parts_mut(p.cast_mut(), n) };
    list.iter_mut()
        .map(|tp| {
            let topic = unsafe { cstr(tp.topic) }
                .ok_or_else(|| invalid("a topic is NULL or not UTF-8"))?
                .to_owned();
            Ok((topic, tp.partition, tp.offset, &mut tp.err))
        })
        .collect()
}

/// Calls the rebalance callback for what happened during the last call.
fn dispatch(c: *mut fk_consumer_t) {
    let Ok(me) = consumer(c) else { return };
    let events = std::mem::take(&mut *me.events.lock().unwrap_or_else(|p| p.into_inner()));
    let (Some(cb), opaque) = (me.cb, me.opaque) else {
        return;
    };
    for (kind, tps) in events {
        let names: Vec<CString> = tps
            .iter()
            .map(|(t, _)| CString::new(t.as_str()).unwrap_or_default())
            .collect();
        let list: Vec<fk_topic_partition_t> = tps
            .iter()
            .zip(&names)
            .map(|((_, p), n)| fk_topic_partition_t {
                topic: n.as_ptr(),
                partition: *p,
                offset: FK_OFFSET_INVALID,
                err: 0,
            })
            .collect();
        // SAFETY: the application's callback; the list is lent for the call.
        unsafe { cb(c, kind, list.as_ptr(), list.len(), opaque) };
    }
}

/// Sets the rebalance callback (NULL: none) and its `opaque`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_consumer_set_rebalance_cb(
    c: *mut fk_consumer_t,
    cb: fk_rebalance_cb,
    opaque: *mut c_void,
) -> fk_resp_err_t {
    guard(std::ptr::null_mut(), 0, || {
        let c = consumer(c)?;
        c.cb = cb;
        c.opaque = opaque;
        Ok(())
    })
}

/// Joins the group with these topics at the next poll (a name starting with '^' is a regex).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_subscribe(
    c: *mut fk_consumer_t,
    topics: *const *const c_char,
    count: usize,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let c = live(consumer(c)?)?;
        if topics.is_null() {
            return Err(invalid("topics is NULL"));
        }
        // SAFETY: `count` string pointers at `topics` (header contract).
        let list = unsafe { std::slice::from_raw_parts(topics, count) };
        let names = list
            .iter()
            .map(|t| unsafe { cstr(*t) }.ok_or_else(|| invalid("a topic is NULL or not UTF-8")))
            .collect::<Result<Vec<&str>, _>>()?;
        c.subscribe(&names).map_err(fail)
    })
}

/// Reads exactly these partitions, without group membership; offsets may be FK_OFFSET_*.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_assign(
    c: *mut fk_consumer_t,
    parts: *const fk_topic_partition_t,
    count: usize,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let me = consumer(c)?;
        let reset = if me.reset_earliest {
            Offset::Beginning
        } else {
            Offset::End
        };
        let list = unsafe { partitions(parts, count) }?;
        let c = live(me)?;
        let stored: Vec<(String, i32)> = list
            .iter()
            .filter(|(_, _, o, _)| *o < FK_OFFSET_END && *o != FK_OFFSET_BEGINNING)
            .map(|(t, p, _, _)| (t.clone(), *p))
            .collect();
        runtime()
            .block_on(async {
                let committed = if stored.is_empty() {
                    Vec::new()
                } else {
                    c.committed(&stored).await?
                };
                let starts: Vec<(String, i32, Offset)> = list
                    .iter()
                    .map(|(t, p, o, _)| {
                        let at = match *o {
                            FK_OFFSET_BEGINNING => Offset::Beginning,
                            FK_OFFSET_END => Offset::End,
                            o if o >= 0 => Offset::At(o),
                            _ => committed
                                .iter()
                                .find(|(tp, _)| tp.0 == *t && tp.1 == *p)
                                .and_then(|(_, c)| c.as_ref().map(|(o, _)| Offset::At(*o)))
                                .unwrap_or(reset),
                        };
                        (t.clone(), *p, at)
                    })
                    .collect();
                c.assign(starts).await
            })
            .map_err(fail)
    })
}

/// The next message, waiting up to `timeout_ms`; NULL when none arrived. A message whose
/// fk_message_error is set reports a consumer error. Free it with fk_message_destroy.
/// Rebalance callbacks run before this returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_consumer_poll(
    c: *mut fk_consumer_t,
    timeout_ms: c_int,
) -> *mut fk_message_t {
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Option<fk_message_t> {
            let me = consumer(c).ok()?;
            let Some(inner) = me.consumer.as_mut() else {
                return Some(fk_message_t::error(
                    crate::FK_ERR__DESTROY,
                    "the consumer is closed",
                ));
            };
            match runtime().block_on(inner.poll(Duration::from_millis(timeout_ms.max(0) as u64))) {
                Ok(Some(r)) => Some(fk_message_t::from_record(r)),
                Ok(None) => None,
                Err(e) => Some(fk_message_t::error(
                    crate::errors::code_of(&e),
                    &e.to_string(),
                )),
            }
        }));
    dispatch(c);
    match result {
        Ok(Some(m)) => Box::into_raw(Box::new(m)),
        Ok(None) => std::ptr::null_mut(),
        Err(_) => Box::into_raw(Box::new(fk_message_t::error(
            crate::FK_ERR__FAIL,
            "internal error (a panic in libferrokafka)",
        ))),
    }
}

/// Commits `offsets` (next offset to read per partition), or with NULL the positions of
/// everything consumed. With `async_` non-zero, returns at once (errors are not reported).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_commit(
    c: *mut fk_consumer_t,
    offsets: *const fk_topic_partition_t,
    count: usize,
    async_: c_int,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let explicit = if offsets.is_null() {
            None
        } else {
            Some(unsafe { partitions(offsets, count) }?)
        };
        let c = live(consumer(c)?)?;
        match (explicit, async_ != 0) {
            (None, true) => {
                let _rt = runtime().enter();
                c.commit_async().map(drop).map_err(fail)
            }
            (None, false) => runtime().block_on(c.commit()).map_err(fail),
            (Some(list), _) => {
                let triples: Vec<(String, i32, i64, Option<String>)> = list
                    .into_iter()
                    .map(|(t, p, o, _)| (t, p, o, None))
                    .collect();
                runtime().block_on(c.commit_offsets(&triples)).map_err(fail)
            }
        }
    })
}

/// Fills each entry's `offset` with the group's committed offset (FK_OFFSET_INVALID if none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_committed(
    c: *mut fk_consumer_t,
    parts: *mut fk_topic_partition_t,
    count: usize,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let list = unsafe { partitions(parts, count) }?;
        let c = live(consumer(c)?)?;
        let tps: Vec<(String, i32)> = list.iter().map(|(t, p, _, _)| (t.clone(), *p)).collect();
        let got = runtime().block_on(c.committed(&tps)).map_err(fail)?;
        // SAFETY: the same `count` writable entries.
        let out = unsafe { std::slice::from_raw_parts_mut(parts, count) };
        for (slot, (_, value)) in out.iter_mut().zip(got) {
            slot.offset = value.map_or(FK_OFFSET_INVALID, |(o, _)| o);
        }
        Ok(())
    })
}

/// Fills each entry's `offset` with this consumer's position (FK_OFFSET_INVALID if unassigned).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_position(
    c: *mut fk_consumer_t,
    parts: *mut fk_topic_partition_t,
    count: usize,
) -> fk_resp_err_t {
    guard(std::ptr::null_mut(), 0, || {
        let list = unsafe { partitions(parts, count) }?;
        let c = live(consumer(c)?)?;
        let positions: Vec<i64> = list
            .iter()
            .map(|(t, p, _, _)| c.position(t, *p).unwrap_or(FK_OFFSET_INVALID))
            .collect();
        // SAFETY: the same `count` writable entries.
        let out = unsafe { std::slice::from_raw_parts_mut(parts, count) };
        for (slot, o) in out.iter_mut().zip(positions) {
            slot.offset = o;
        }
        Ok(())
    })
}

/// Moves a partition's position (an offset or FK_OFFSET_BEGINNING/END).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_seek(
    c: *mut fk_consumer_t,
    topic: *const c_char,
    partition: i32,
    offset: i64,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let topic = unsafe { cstr(topic) }.ok_or_else(|| invalid("topic is NULL or not UTF-8"))?;
        let c = live(consumer(c)?)?;
        let at = match offset {
            FK_OFFSET_BEGINNING => Offset::Beginning,
            o if o >= 0 => Offset::At(o),
            _ => Offset::End,
        };
        runtime()
            .block_on(c.seek(topic, partition, at))
            .map_err(fail)
    })
}

fn pause_resume(
    c: *mut fk_consumer_t,
    parts: *const fk_topic_partition_t,
    count: usize,
    pause: bool,
) -> c_int {
    guard(std::ptr::null_mut(), 0, || {
        let list = unsafe { partitions(parts, count) }?;
        let c = live(consumer(c)?)?;
        let tps: Vec<(String, i32)> = list.into_iter().map(|(t, p, _, _)| (t, p)).collect();
        if pause {
            c.pause(&tps)
        } else {
            c.resume(&tps)
        }
        Ok(())
    })
}

/// Stops fetching these partitions (positions are kept).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_pause(
    c: *mut fk_consumer_t,
    parts: *const fk_topic_partition_t,
    count: usize,
) -> fk_resp_err_t {
    pause_resume(c, parts, count, true)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_resume(
    c: *mut fk_consumer_t,
    parts: *const fk_topic_partition_t,
    count: usize,
) -> fk_resp_err_t {
    pause_resume(c, parts, count, false)
}

/// Commits (with auto commit), revokes (calling the rebalance callback) and leaves the group.
/// The handle stays valid until fk_consumer_destroy; further calls report FK_ERR__DESTROY.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_consumer_close(
    c: *mut fk_consumer_t,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    let rc = guard(errstr, errstr_size, || {
        let me = consumer(c)?;
        match me.consumer.take() {
            Some(inner) => runtime().block_on(inner.close()).map_err(fail),
            None => Ok(()),
        }
    });
    dispatch(c);
    rc
}

/// Frees the consumer (NULL is fine); closes it first if needed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_consumer_destroy(c: *mut fk_consumer_t) {
    if c.is_null() {
        return;
    }
    // SAFETY: from fk_consumer_new, destroyed once (header contract).
    let mut me = unsafe { Box::from_raw(c) };
    if let Some(inner) = me.consumer.take() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime().block_on(inner.close())
        }));
    }
}
