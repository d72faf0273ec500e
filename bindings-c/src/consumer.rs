//! The consumer: one thread at a time. Rebalance events the core reports during a call are
//! queued and handed to the rebalance callback on the caller's thread before fk_consumer_poll
//! (or fk_consumer_close) returns, so the callback may call back into the consumer.

use std::ffi::{c_char, c_int, c_void};

use ferrokafka::consumer::Offset;
use ferrokafka::{Consumer, ConsumerGroupMetadata, RebalanceEvent, TopicPartition, TopicPartitionOffset};

use crate::conf::{borrow_conf, fk_conf_t};
use crate::errors::{code_of, fail};
use crate::message::{
    FK_OFFSET_BEGINNING, FK_OFFSET_END, FK_OFFSET_INVALID, FK_OFFSET_STORED, c_string, fk_message_t,
    fk_topic_partition_t,
};
use crate::{FK_ERR__DESTROY, FK_OK, Failure, boundary, cstr, fk_resp_err_t, guard, guard_ptr, invalid, runtime};

/// Partitions were assigned to this consumer; reading starts at their committed offsets (else
/// `auto.offset.reset`).
pub const FK_REBALANCE_ASSIGN: c_int = 1;
/// Partitions were taken away, to go to another member; with `enable.auto.commit` on, their
/// positions were committed first.
pub const FK_REBALANCE_REVOKE: c_int = 2;
/// The membership was lost (session timeout, fenced, `max.poll.interval.ms` exceeded): these
/// partitions may already be another member's, and can no longer be committed.
pub const FK_REBALANCE_LOST: c_int = 3;

/// Called with an FK_REBALANCE_* event and the partitions it concerns (the array and its topic
/// strings are lent for the call; offsets are FK_OFFSET_INVALID), on the thread calling
/// fk_consumer_poll or fk_consumer_close, before that call returns. The change has already
/// happened: the callback is told, it does not decide (unlike librdkafka's, it must not call
/// fk_assign to accept an assignment). It may call the consumer's functions (fk_seek,
/// fk_commit, fk_position, ...) but must not destroy it, and must not throw (C++) or longjmp.
pub type fk_rebalance_cb = Option<
    unsafe extern "C" fn(
        c: *mut fk_consumer_t,
        event: c_int,
        partitions: *const fk_topic_partition_t,
        count: usize,
        opaque: *mut c_void,
    ),
>;

/// A consumer (opaque). One thread at a time: calls on one consumer must not overlap (a
/// consumer may move between threads). A group member heartbeats on a library thread, and
/// leaves the group when fk_consumer_poll is not called for `max.poll.interval.ms`.
pub struct fk_consumer_t {
    consumer: Option<Consumer>,
    /// The events of fk_consumer_close's last release, for its dispatch.
    closing_events: Vec<RebalanceEvent>,
    cb: fk_rebalance_cb,
    opaque: *mut c_void,
    reset_earliest: bool,
}

/// A consumer configured by `conf` (borrowed for the call; copied), owned by the caller: free it
/// with fk_consumer_destroy. Set `group.id` to subscribe or commit. NULL on failure, with
/// `errstr` (and fk_last_error) saying why.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_consumer_new(
    conf: *const fk_conf_t,
    errstr: *mut c_char,
    errstr_size: usize,
) -> *mut fk_consumer_t {
    guard_ptr(errstr, errstr_size, || {
        let config = borrow_conf(conf)?.clone();
        let reset_earliest = matches!(config.get("auto.offset.reset"), Some("earliest" | "smallest"));
        let _rt = runtime()?.enter();
        let mut consumer = Consumer::new(config).map_err(fail)?;
        consumer.queue_rebalance_events();
        Ok(Box::into_raw(Box::new(fk_consumer_t {
            consumer: Some(consumer),
            closing_events: Vec::new(),
            cb: None,
            opaque: std::ptr::null_mut(),
            reset_earliest,
        })))
    })
}

fn consumer<'a>(c: *mut fk_consumer_t) -> Result<&'a mut fk_consumer_t, Failure> {
    // SAFETY: from fk_consumer_new; one thread at a time (header contract).
    unsafe { c.as_mut() }.ok_or_else(|| invalid("consumer is NULL"))
}

fn live(c: &mut fk_consumer_t) -> Result<&mut Consumer, Failure> {
    c.consumer.as_mut().ok_or_else(|| (FK_ERR__DESTROY, "the consumer is closed".to_string()).into())
}

/// Reads the caller's `n` entries at `p` (NULL with 0 is an empty list), without metadata.
pub(crate) unsafe fn partitions(
    p: *const fk_topic_partition_t,
    n: usize,
) -> Result<Vec<TopicPartitionOffset>, Failure> {
    if p.is_null() {
        return if n == 0 { Ok(Vec::new()) } else { Err(invalid("partitions is NULL")) };
    }
    // SAFETY: `n` readable entries at `p` (header contract).
    let list = unsafe { std::slice::from_raw_parts(p, n) };
    list.iter()
        .map(|tp| {
            let topic = unsafe { cstr(tp.topic) }.ok_or_else(|| invalid("a topic is NULL or not UTF-8"))?;
            Ok(TopicPartitionOffset::new(topic, tp.partition, tp.offset))
        })
        .collect()
}

/// Writes `offsets` into the caller's `n` entries at `p`, with `err` FK_OK.
unsafe fn write_offsets(p: *mut fk_topic_partition_t, offsets: impl IntoIterator<Item = i64>) {
    let mut at = p;
    for o in offsets {
        // SAFETY: one write per entry read by `partitions` from the same writable array.
        unsafe {
            (*at).offset = o;
            (*at).err = FK_OK;
            at = at.add(1);
        }
    }
}

/// Hands the events the core queued during the last call to the rebalance callback.
fn dispatch(c: *mut fk_consumer_t) {
    boundary((), || {
        let Ok(me) = consumer(c) else { return };
        let mut events = std::mem::take(&mut me.closing_events);
        if let Some(inner) = me.consumer.as_mut() {
            events.extend(inner.take_rebalance_events());
        }
        let (Some(cb), opaque) = (me.cb, me.opaque) else {
            return;
        };
        // `me` is not used past this point: the callback may call back into the consumer.
        for event in events {
            let (kind, tps) = match &event {
                RebalanceEvent::Assigned(t) => (FK_REBALANCE_ASSIGN, t),
                RebalanceEvent::Revoked(t) => (FK_REBALANCE_REVOKE, t),
                RebalanceEvent::Lost(t) => (FK_REBALANCE_LOST, t),
            };
            let names: Vec<_> = tps.iter().map(|tp| c_string(tp.topic.clone())).collect();
            let list: Vec<fk_topic_partition_t> = tps
                .iter()
                .zip(&names)
                .map(|(tp, n)| fk_topic_partition_t {
                    topic: n.as_ptr(),
                    partition: tp.partition,
                    offset: FK_OFFSET_INVALID,
                    err: FK_OK,
                })
                .collect();
            // SAFETY: the application's callback; the list is lent for the call.
            unsafe { cb(c, kind, list.as_ptr(), list.len(), opaque) };
        }
    })
}

/// Sets the rebalance callback (NULL: none) and the `opaque` it is given.
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

/// Subscribes to `count` topics (an array of strings, borrowed for the call; a name starting
/// with '^' is a regular expression over whole topic names) through the group named by
/// `group.id`, replacing any earlier subscription. Joining happens in fk_consumer_poll.
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

/// Leaves the group and gives up the subscription's partitions (FK_REBALANCE_REVOKE reaches the
/// callback before this returns); fk_subscribe may follow.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_unsubscribe(
    c: *mut fk_consumer_t,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    let rc = guard(errstr, errstr_size, || {
        let c = live(consumer(c)?)?;
        runtime()?.block_on(c.unsubscribe()).map_err(fail)
    });
    dispatch(c);
    rc
}

/// Reads exactly these `count` partitions (borrowed for the call), without group membership
/// (commits still go to `group.id` when set), replacing any subscription or earlier
/// assignment. Each entry's offset: an offset, FK_OFFSET_BEGINNING, FK_OFFSET_END, or
/// FK_OFFSET_STORED or FK_OFFSET_INVALID (the group's committed offset, else
/// `auto.offset.reset`).
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
        let reset = if me.reset_earliest { Offset::Beginning } else { Offset::End };
        let list = unsafe { partitions(parts, count) }?;
        let c = live(me)?;
        let is_stored = |o: i64| o == FK_OFFSET_STORED || o == FK_OFFSET_INVALID;
        if let Some(e) = list.iter().find(|e| {
            e.offset < 0 && e.offset != FK_OFFSET_BEGINNING && e.offset != FK_OFFSET_END && !is_stored(e.offset)
        }) {
            let (tp, o) = (&e.topic_partition, e.offset);
            return Err(invalid(format!("{tp}: offset {o} is neither an offset nor an FK_OFFSET_* constant")));
        }
        // FK_OFFSET_STORED is resolved here as the core resolves a group member's new
        // partitions: the committed offset, else the reset policy.
        let stored: Vec<TopicPartition> =
            list.iter().filter(|e| is_stored(e.offset)).map(|e| e.topic_partition.clone()).collect();
        runtime()?
            .block_on(async {
                let committed = if stored.is_empty() { Vec::new() } else { c.committed(&stored).await? };
                let starts: Vec<(TopicPartition, Offset)> = list
                    .into_iter()
                    .map(|e| {
                        let at = match e.offset {
                            FK_OFFSET_BEGINNING => Offset::Beginning,
                            FK_OFFSET_END => Offset::End,
                            o if is_stored(o) => committed
                                .iter()
                                .find(|(tp, _)| *tp == e.topic_partition)
                                .and_then(|(_, c)| c.as_ref().map(|(o, _)| Offset::At(*o)))
                                .unwrap_or(reset),
                            o => Offset::At(o),
                        };
                        (e.topic_partition, at)
                    })
                    .collect();
                c.assign(starts).await
            })
            .map_err(fail)
    })
}

/// The next message, waiting up to `timeout_ms` (negative: until one arrives); NULL when none
/// arrived in time. The message
/// is the caller's: free it with fk_message_destroy. A message whose fk_message_error is not
/// FK_OK reports a consumer error instead of a record (also for a NULL or closed consumer).
/// Group work happens here: joining, heartbeat-detected rebalances, auto commits; rebalance
/// callbacks run before this returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_consumer_poll(c: *mut fk_consumer_t, timeout_ms: c_int) -> *mut fk_message_t {
    let message =
        boundary(Some(fk_message_t::error(crate::FK_ERR__FAIL, "internal error (a panic in libferrokafka)")), || {
            let me = match consumer(c) {
                Ok(me) => me,
                Err(f) => return Some(fk_message_t::error(f.code, &f.message)),
            };
            let Some(inner) = me.consumer.as_mut() else {
                return Some(fk_message_t::error(FK_ERR__DESTROY, "the consumer is closed"));
            };
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(f) => return Some(fk_message_t::error(f.code, &f.message)),
            };
            match rt.block_on(inner.poll(crate::timeout(timeout_ms))) {
                Ok(Some(r)) => Some(fk_message_t::from_record(r)),
                Ok(None) => None,
                Err(e) => Some(fk_message_t::error(code_of(&e), &e.to_string())),
            }
        });
    dispatch(c);
    message.map_or(std::ptr::null_mut(), |m| Box::into_raw(Box::new(m)))
}

/// Commits offsets to the group. With `offsets` NULL: the position of every assigned partition
/// (what fk_consumer_poll has returned); else `count` entries (borrowed) whose offset is the
/// next one to read. `async_` non-zero with NULL offsets returns at once and the outcome is not
/// reported; explicit offsets are always committed before returning.
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
        let explicit = if offsets.is_null() { None } else { Some(unsafe { partitions(offsets, count) }?) };
        let c = live(consumer(c)?)?;
        let rt = runtime()?;
        match (explicit, async_ != 0) {
            (None, true) => {
                let _rt = rt.enter();
                c.commit_async().map(drop).map_err(fail)
            }
            (None, false) => rt.block_on(c.commit()).map(drop).map_err(fail),
            (Some(list), _) => rt.block_on(c.commit_offsets(&list)).map(drop).map_err(fail),
        }
    })
}

/// Fills the offset of each of the `count` entries (the caller's array) with the group's
/// committed offset, FK_OFFSET_INVALID where nothing is committed.
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
        let tps: Vec<TopicPartition> = list.into_iter().map(|e| e.topic_partition).collect();
        let got = runtime()?.block_on(c.committed(&tps)).map_err(fail)?;
        unsafe { write_offsets(parts, got.into_iter().map(|(_, v)| v.map_or(FK_OFFSET_INVALID, |(o, _)| o))) };
        Ok(())
    })
}

/// Fills the offset of each of the `count` entries (the caller's array) with this consumer's
/// position: the next offset fk_consumer_poll returns, FK_OFFSET_INVALID for a partition not
/// assigned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_position(
    c: *mut fk_consumer_t,
    parts: *mut fk_topic_partition_t,
    count: usize,
) -> fk_resp_err_t {
    guard(std::ptr::null_mut(), 0, || {
        let list = unsafe { partitions(parts, count) }?;
        let c = live(consumer(c)?)?;
        let positions: Vec<i64> =
            list.iter().map(|e| c.position(e.topic(), e.partition()).unwrap_or(FK_OFFSET_INVALID)).collect();
        unsafe { write_offsets(parts, positions) };
        Ok(())
    })
}

/// Moves an assigned partition's position to `offset`, FK_OFFSET_BEGINNING or FK_OFFSET_END.
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
            FK_OFFSET_END => Offset::End,
            o if o >= 0 => Offset::At(o),
            o => {
                return Err(invalid(format!("fk_seek takes an offset, FK_OFFSET_BEGINNING or FK_OFFSET_END, not {o}")));
            }
        };
        runtime()?.block_on(c.seek(topic, partition, at)).map_err(fail)
    })
}

fn pause_resume(c: *mut fk_consumer_t, parts: *const fk_topic_partition_t, count: usize, pause: bool) -> fk_resp_err_t {
    guard(std::ptr::null_mut(), 0, || {
        let list = unsafe { partitions(parts, count) }?;
        let c = live(consumer(c)?)?;
        let tps: Vec<TopicPartition> = list.into_iter().map(|e| e.topic_partition).collect();
        if pause {
            c.pause(&tps)
        } else {
            c.resume(&tps)
        }
        Ok(())
    })
}

/// Stops fetching these `count` partitions (borrowed; offsets ignored); positions are kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_pause(
    c: *mut fk_consumer_t,
    parts: *const fk_topic_partition_t,
    count: usize,
) -> fk_resp_err_t {
    pause_resume(c, parts, count, true)
}

/// Fetches these `count` paused partitions again (borrowed; offsets ignored).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_resume(
    c: *mut fk_consumer_t,
    parts: *const fk_topic_partition_t,
    count: usize,
) -> fk_resp_err_t {
    pause_resume(c, parts, count, false)
}

/// A consumer's group, generation and member ids (opaque), for
/// fk_send_offsets_to_transaction. A snapshot: take a new one after a rebalance. Any thread
/// may use it; free it with fk_consumer_group_metadata_destroy.
pub struct fk_consumer_group_metadata_t {
    pub(crate) metadata: ConsumerGroupMetadata,
}

/// This consumer's place in its group now (group id, generation, member id, instance id), for
/// a transactional producer to commit the consumer's offsets with fk_send_offsets_to_transaction;
/// the caller's, freed with fk_consumer_group_metadata_destroy. Outside a generation (before
/// joining, or with fk_assign) the offsets are committed whatever the generation. NULL for a
/// consumer without `group.id` (FK_ERR__INVALID_ARG), a closed one (FK_ERR__DESTROY) or NULL,
/// with fk_last_error saying why.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_consumer_group_metadata(c: *mut fk_consumer_t) -> *mut fk_consumer_group_metadata_t {
    guard_ptr(std::ptr::null_mut(), 0, || {
        let c = live(consumer(c)?)?;
        let metadata = c.group_metadata().ok_or_else(|| invalid("the consumer has no group.id"))?;
        Ok(Box::into_raw(Box::new(fk_consumer_group_metadata_t { metadata })))
    })
}

/// Frees group metadata from fk_consumer_group_metadata (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_consumer_group_metadata_destroy(g: *mut fk_consumer_group_metadata_t) {
    if !g.is_null() {
        // SAFETY: from fk_consumer_group_metadata, destroyed once (header contract).
        boundary((), || drop(unsafe { Box::from_raw(g) }));
    }
}

/// Commits (with `enable.auto.commit` on), gives the partitions back (FK_REBALANCE_REVOKE
/// reaches the callback before this returns) and leaves the group, so the other members take
/// over at once. The handle stays valid until fk_consumer_destroy; other calls then report
/// FK_ERR__DESTROY, and closing again is FK_OK.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_consumer_close(
    c: *mut fk_consumer_t,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    let rc = guard(errstr, errstr_size, || {
        let me = consumer(c)?;
        let rt = runtime()?;
        match me.consumer.take() {
            Some(inner) => rt.block_on(inner.close()).map(|events| me.closing_events = events).map_err(fail),
            None => Ok(()),
        }
    });
    dispatch(c);
    rc
}

/// Frees the consumer (NULL is fine), closing it first if fk_consumer_close was not called
/// (without running the rebalance callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_consumer_destroy(c: *mut fk_consumer_t) {
    if c.is_null() {
        return;
    }
    // SAFETY: from fk_consumer_new, destroyed once (header contract).
    let mut me = unsafe { Box::from_raw(c) };
    boundary((), || match (me.consumer.take(), runtime()) {
        (Some(inner), Ok(rt)) => {
            if let Err(e) = rt.block_on(inner.close()).map(drop) {
                crate::errors::set_last_error(code_of(&e), &e.to_string(), crate::errors::Flags::of(&e));
            }
        }
        // After fork(): the runtime that owns the consumer's tasks is not in this process.
        (Some(inner), Err(_)) => std::mem::forget(inner),
        (None, _) => {}
    });
}
