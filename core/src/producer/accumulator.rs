//! Open batches per partition, the queue of closed batches waiting to be sent, and the
//! bookkeeping that keeps order per partition: one batch in flight per partition, or with
//! idempotence up to `max.in.flight.requests.per.connection` (at most 5, the broker
//! remembers 5 batches per producer), ordered by sequence numbers assigned here at drain.
//!
//! A batch that fails for good after it got a sequence number leaves a gap the broker will
//! never see filled: every later batch of its partition would be refused as out of order. So
//! the producer then bumps its epoch (KIP-360): it stops sending new batches, lets the
//! requests in flight finish (their answers still count), gets the next epoch with
//! InitProducerId and numbers every partition from 0 again, re-encoding the batches waiting.
//!
//! Batches settle out of order (each one's response is awaited by a task of its own, and a
//! retried batch can settle after later ones its retry did not hold back), but each partition's
//! deliveries are released in the order its batches were made: a batch settled early waits
//! here for the ones before it. That is what puts delivery reports in offset order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, TimestampType};
use tokio::sync::oneshot;

use super::{RecordMetadata, SendOptions};
use crate::TopicPartition;
use crate::error::Result;

/// Where one record's outcome goes.
#[derive(Debug)]
pub(super) enum Delivery {
    /// A [`super::DeliveryFuture`].
    Future(oneshot::Sender<Result<RecordMetadata>>),
    /// The delivery-report queue, with the caller's token.
    Report(u64),
}

/// A record as it waits in a batch: the producer id, epoch, offset and sequence are written
/// when the batch is encoded.
pub(super) fn unsent_record(
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<Bytes>)>,
) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp,
        key,
        value,
        headers: headers.into_iter().map(|(k, v)| (StrBytes::from_string(k), v)).collect(),
    }
}

/// A batch's outcome: `(base offset, log append time)` (-1 when unknown), or why it failed.
pub(super) type Outcome = Result<(i64, i64)>;

#[derive(Debug)]
pub(super) struct Batch {
    pub(super) tp: TopicPartition,
    /// The per-send settings every record of the batch was sent with.
    pub(super) options: SendOptions,
    pub(super) records: Vec<Record>,
    pub(super) waiters: Vec<Delivery>,
    pub(super) bytes: usize,
    /// The batch's place among its partition's batches, in the order they were made.
    ordinal: u64,
    pub(super) created: Instant,
    /// Encoded once, on first send; retries resend these bytes (same producer id, epoch and
    /// sequence numbers). Dropped when an epoch bump renumbers the batch.
    pub(super) encoded: Option<Bytes>,
    pub(super) attempts: u32,
    /// Idempotence: the first record's sequence number, assigned when the batch is first
    /// drained and kept across retries; -1 before that (or without idempotence).
    pub(super) base_seq: i32,
    /// The last attempt got no answer (connection lost, request timed out): the broker may
    /// have written the batch. Such a batch is resent as it was, under its old epoch, before
    /// an epoch bump: the broker's duplicate check then tells whether it was written, where a
    /// renumbered copy could be written twice.
    pub(super) outcome_unknown: bool,
}

impl Batch {
    fn new(tp: TopicPartition, options: SendOptions, ordinal: u64) -> Self {
        Batch {
            tp,
            options,
            records: Vec::new(),
            waiters: Vec::new(),
            bytes: 0,
            ordinal,
            created: Instant::now(),
            encoded: None,
            attempts: 0,
            base_seq: -1,
            outcome_unknown: false,
        }
    }
}

/// Per partition: how far its deliveries have been released, and the settled batches that
/// wait for an earlier one.
#[derive(Debug, Default)]
struct Release {
    made: u64,
    released: u64,
    early: Vec<(Batch, Outcome)>,
}

#[derive(Debug, Default)]
pub(super) struct Accumulator {
    open: HashMap<TopicPartition, Batch>,
    /// Closed batches in send order; retries go back to the front.
    ready: VecDeque<Batch>,
    in_flight: HashMap<TopicPartition, usize>,
    /// Batches per partition in flight at once (1 without idempotence).
    pub(super) max_in_flight: usize,
    pub(super) idempotent: bool,
    /// The most batches of one partition in flight at once so far (statistics).
    pub(super) peak_in_flight: usize,
    /// Idempotence: the sequence number of the next batch drained, per partition.
    next_seq: HashMap<TopicPartition, i32>,
    /// Idempotence: the sequence after the last acknowledged batch, per partition. A batch
    /// refused as out of order whose sequence is not this one was refused because an earlier
    /// batch failed, and is retried after it.
    acked_seq: HashMap<TopicPartition, i32>,
    /// Idempotence: partitions where a batch's fate became unknown (a retriable failure),
    /// with the sequence everything sent so far ends at. Until that is acknowledged they send
    /// one batch at a time: a stale request the broker still holds could land the failed
    /// batch late, and the batches overtaking it would push it out of the 5 the broker
    /// remembers, turning its retry into an out-of-order refusal.
    unresolved: HashMap<TopicPartition, i32>,
    pub(super) queued_records: usize,
    pub(super) queued_bytes: usize,
    /// Callers of flush() waiting: linger is skipped while any are.
    pub(super) flushing: usize,
    /// Idempotence: the producer id and epoch batches are numbered under (`None` until
    /// InitProducerId answered).
    pub(super) producer: Option<(i64, i16)>,
    /// Idempotence: a sequenced batch failed for good (or the broker lost this producer's
    /// state); no new batch is sent until the epoch is bumped.
    pub(super) bump_needed: bool,
    release: HashMap<TopicPartition, Release>,
}

impl Accumulator {
    /// Adds a record; closes its batch when it reaches `batch_size`.
    pub(super) fn push(
        &mut self,
        tp: TopicPartition,
        options: SendOptions,
        record: Record,
        size: usize,
        waiter: Delivery,
        batch_size: usize,
    ) -> bool {
        // A record that would overflow the open batch, or was sent with other options, starts
        // a new one.
        let fits =
            self.open.get(&tp).map(|b| b.records.is_empty() || (b.bytes + size <= batch_size && b.options == options));
        if fits == Some(false) {
            let full = self.open.remove(&tp).expect("present");
            self.ready.push_back(full);
        }
        if fits != Some(true) {
            let release = self.release.entry(tp.clone()).or_default();
            release.made += 1;
            self.open.insert(tp.clone(), Batch::new(tp.clone(), options, release.made - 1));
        }
        let batch = self.open.get_mut(&tp).expect("present");
        batch.records.push(record);
        batch.waiters.push(waiter);
        batch.bytes += size;
        self.queued_records += 1;
        self.queued_bytes += size;
        if batch.bytes >= batch_size {
            let full = self.open.remove(&tp).expect("present");
            self.ready.push_back(full);
            return true;
        }
        false
    }

    /// Closes batches whose linger has passed (all of them while flushing), then takes ready
    /// batches in order, per partition up to `max_in_flight` in flight; a retried batch (its
    /// sequence already assigned) goes only alone, so nothing overtakes it. Returns those and
    /// when the next open batch's linger ends.
    pub(super) fn drain(&mut self, linger: Duration, now: Instant) -> (Vec<Batch>, Option<Instant>) {
        let flushing = self.flushing > 0;
        let due: Vec<TopicPartition> = self
            .open
            .iter()
            .filter(|(_, b)| flushing || now.duration_since(b.created) >= linger)
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in due {
            let b = self.open.remove(&tp).expect("present");
            self.ready.push_back(b);
        }
        let mut out = Vec::new();
        let mut keep = VecDeque::with_capacity(self.ready.len());
        // Partitions with a batch held back: their later batches wait too.
        let mut held: HashSet<TopicPartition> = HashSet::new();
        let max = self.max_in_flight.max(1);
        while let Some(mut b) = self.ready.pop_front() {
            // Waiting for an epoch bump: only batches whose fate is unknown go out, to learn it.
            if self.bump_needed && !(b.base_seq >= 0 && b.outcome_unknown) {
                keep.push_back(b);
                continue;
            }
            let n = self.in_flight.get(&b.tp).copied().unwrap_or(0);
            // Until a partition's first batch is acknowledged the broker may not know this
            // producer there, and it accepts any first sequence from an unknown producer
            // (KIP-360): a later batch overtaking a lost first one would be written before it.
            let first_unacked = self.idempotent && !self.acked_seq.contains_key(&b.tp);
            let limit = if b.base_seq >= 0 || first_unacked || self.unresolved.contains_key(&b.tp) { 1 } else { max };
            if held.contains(&b.tp) || n >= limit {
                held.insert(b.tp.clone());
                keep.push_back(b);
                continue;
            }
            if self.idempotent && b.base_seq < 0 {
                let next = self.next_seq.entry(b.tp.clone()).or_insert(0);
                b.base_seq = *next;
                *next = next.wrapping_add(b.records.len() as i32) & i32::MAX;
            }
            let n = self.in_flight.entry(b.tp.clone()).or_insert(0);
            *n += 1;
            self.peak_in_flight = self.peak_in_flight.max(*n);
            out.push(b);
        }
        self.ready = keep;
        let next = self.open.values().map(|b| b.created + linger).min();
        (out, next)
    }

    fn landed(&mut self, tp: &TopicPartition) {
        if let Some(n) = self.in_flight.get_mut(tp) {
            *n -= 1;
            if *n == 0 {
                self.in_flight.remove(tp);
            }
        }
    }

    /// A batch failed retriably: its partition sends one batch at a time until everything
    /// sent so far is acknowledged.
    pub(super) fn failed(&mut self, tp: &TopicPartition) {
        if self.idempotent {
            let until = self.next_seq.get(tp).copied().unwrap_or(0);
            self.unresolved.insert(tp.clone(), until);
        }
    }

    /// A batch to send again before anything newer of its partition: retried batches of one
    /// partition come back in any order and are queued by sequence number.
    pub(super) fn retry(&mut self, batch: Batch) {
        self.landed(&batch.tp);
        let at = self
            .ready
            .iter()
            .position(|b| b.tp == batch.tp && (b.base_seq < 0 || b.base_seq > batch.base_seq))
            .unwrap_or(self.ready.len());
        let at = if batch.base_seq < 0 { 0 } else { at };
        self.ready.insert(at, batch);
    }

    /// Whether an out-of-order refusal of this batch is explained by an earlier batch of its
    /// partition not having been written (yet): then it is retried after that one.
    pub(super) fn behind_a_gap(&self, batch: &Batch) -> bool {
        batch.base_seq >= 0 && self.acked_seq.get(&batch.tp).copied().unwrap_or(0) != batch.base_seq
    }

    /// Whether the epoch bump can go ahead: nothing in flight, and no batch waiting whose
    /// outcome under the current epoch is still unknown.
    pub(super) fn ready_to_bump(&self) -> bool {
        self.bump_needed
            && self.in_flight.is_empty()
            && !self.ready.iter().any(|b| b.base_seq >= 0 && b.outcome_unknown)
    }

    /// The epoch was bumped (or a new producer id given): every partition's sequence starts
    /// again at 0, and the waiting batches are numbered afresh when drained, in the order
    /// they wait in (retried ones first, by their old sequence).
    pub(super) fn new_epoch(&mut self, producer: (i64, i16)) {
        self.producer = Some(producer);
        self.bump_needed = false;
        self.next_seq.clear();
        self.acked_seq.clear();
        self.unresolved.clear();
        for b in &mut self.ready {
            b.base_seq = -1;
            b.encoded = None;
            b.outcome_unknown = false;
        }
    }

    /// While an epoch bump waits (the broker unreachable): the batches that have waited past
    /// `delivery.timeout.ms` and were never written, taken out to be failed.
    pub(super) fn take_expired(&mut self, timeout: Duration, now: Instant) -> Vec<Batch> {
        let (expired, keep): (VecDeque<Batch>, VecDeque<Batch>) = std::mem::take(&mut self.ready)
            .into_iter()
            .partition(|b| !b.outcome_unknown && now.duration_since(b.created) >= timeout);
        self.ready = keep;
        expired.into()
    }

    /// Takes every batch no request has carried yet: the open ones and the closed ones not
    /// drained (a batch with a sequence number is, or was, on the wire; dropping it would
    /// leave a gap the broker refuses).
    pub(super) fn take_unsent(&mut self) -> Vec<Batch> {
        let mut out: Vec<Batch> = self.open.drain().map(|(_, b)| b).collect();
        let (unsent, keep): (VecDeque<Batch>, VecDeque<Batch>) =
            std::mem::take(&mut self.ready).into_iter().partition(|b| b.base_seq < 0 && b.encoded.is_none());
        self.ready = keep;
        out.extend(unsent);
        out
    }

    /// Takes every batch not in flight, sequenced or not: the transaction they belong to
    /// failed or is being aborted, so none of them may be written now. Returns them and
    /// whether any had a sequence number (its partition's next batch would then leave a gap:
    /// the epoch must be bumped before the next transaction).
    pub(super) fn take_waiting(&mut self) -> (Vec<Batch>, bool) {
        let mut out: Vec<Batch> = self.open.drain().map(|(_, b)| b).collect();
        out.extend(self.ready.drain(..));
        let sequenced = out.iter().any(|b| b.base_seq >= 0);
        if sequenced {
            self.bump_needed = true;
        }
        (out, sequenced)
    }

    /// A batch in flight finished (acknowledged or failed for good); [`settle`](Self::settle)
    /// delivers it.
    pub(super) fn done(&mut self, batch: &Batch, acked: bool) {
        self.landed(&batch.tp);
        if acked && batch.base_seq >= 0 {
            let after = batch.base_seq.wrapping_add(batch.records.len() as i32) & i32::MAX;
            let acked = self.acked_seq.entry(batch.tp.clone()).or_insert(0);
            // Responses of one partition may be handled out of order; sequences only grow
            // (wrap-around at i32::MAX aside).
            if after > *acked || after < batch.base_seq {
                *acked = after;
            }
            let acked = *acked;
            if self.unresolved.get(&batch.tp).is_some_and(|&until| acked >= until) {
                self.unresolved.remove(&batch.tp);
            }
        } else if !acked {
            // Failed for good: the gap stays until the epoch is bumped, nothing to wait for.
            self.unresolved.remove(&batch.tp);
            if self.idempotent && batch.base_seq >= 0 {
                self.bump_needed = true;
            }
        }
    }

    /// A batch is settled (acknowledged, failed for good, purged or expired): it leaves the
    /// queue, and `deliver` gets it and every batch of its partition that settled early and
    /// waited for it, in the order they were made. Called with the accumulator locked, so
    /// one partition's deliveries are never interleaved.
    pub(super) fn settle(&mut self, batch: Batch, outcome: Outcome, mut deliver: impl FnMut(Batch, Outcome)) {
        let release = self.release.get_mut(&batch.tp).expect("made by push");
        if batch.ordinal != release.released {
            release.early.push((batch, outcome));
            return;
        }
        let mut next = Some((batch, outcome));
        while let Some((batch, outcome)) = next {
            release.released += 1;
            self.queued_records -= batch.records.len();
            self.queued_bytes -= batch.bytes;
            deliver(batch, outcome);
            next = release
                .early
                .iter()
                .position(|(b, _)| b.ordinal == release.released)
                .map(|i| release.early.swap_remove(i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens delivered, in order, when batches are settled in `order` (indexes into the
    /// batches made: one record each, tokens 0, 1, 2... on partition 0, 100... on partition 1).
    fn delivered_when_settled(order: &[usize]) -> Vec<u64> {
        let mut acc = Accumulator { max_in_flight: 5, ..Default::default() };
        for i in 0..order.len() as u64 {
            // A batch size of 1 byte closes every batch at its first record.
            let (p, token) = if i % 2 == 0 { (0, i / 2) } else { (1, 100 + i / 2) };
            acc.push(
                TopicPartition::new("t", p),
                SendOptions::default(),
                unsent_record(0, None, None, Vec::new()),
                10,
                Delivery::Report(token),
                1,
            );
        }
        let (mut batches, _) = acc.drain(Duration::ZERO, Instant::now());
        let made: Vec<u64> = batches.iter().map(|b| b.ordinal).collect();
        assert_eq!(made.len(), order.len(), "all drained: {made:?}");
        let mut slots: Vec<Option<Batch>> = batches.drain(..).map(Some).collect();
        let mut out = Vec::new();
        for &i in order {
            let batch = slots[i].take().expect("settled once");
            acc.done(&batch, true);
            acc.settle(batch, Ok((0, 0)), |b, _| {
                out.extend(b.waiters.iter().map(|w| match w {
                    Delivery::Report(t) => *t,
                    Delivery::Future(_) => unreachable!(),
                }))
            });
        }
        assert_eq!((acc.queued_records, acc.queued_bytes), (0, 0), "every record left the queue");
        out
    }

    #[test]
    fn batches_settled_out_of_order_are_delivered_in_the_order_made_per_partition() {
        // Batches alternate partitions: 0, 2, 4 are partition 0's, 1, 3, 5 partition 1's.
        assert_eq!(delivered_when_settled(&[0, 1, 2, 3, 4, 5]), [0, 100, 1, 101, 2, 102]);
        // Partition 0's last two settle before its first: held until it does. Partition 1
        // is not held by partition 0.
        assert_eq!(delivered_when_settled(&[4, 2, 1, 0, 5, 3]), [100, 0, 1, 2, 101, 102]);
    }
}
