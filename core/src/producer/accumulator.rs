//! Open batches per partition, the queue of closed batches waiting to be sent, and the
//! bookkeeping that keeps one batch per partition in flight (so retries keep order).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::records::Record;
use tokio::sync::oneshot;

use super::RecordMetadata;
use crate::error::Result;

pub(super) type TopicPartition = (String, i32);

#[derive(Debug)]
pub(super) struct Batch {
    pub(super) tp: TopicPartition,
    pub(super) records: Vec<Record>,
    pub(super) waiters: Vec<oneshot::Sender<Result<RecordMetadata>>>,
    pub(super) bytes: usize,
    pub(super) created: Instant,
    /// Encoded once, on first send; retries resend these bytes (same sequence numbers).
    pub(super) encoded: Option<Bytes>,
    pub(super) attempts: u32,
}

impl Batch {
    fn new(tp: TopicPartition) -> Self {
        Batch { tp, records: Vec::new(), waiters: Vec::new(), bytes: 0, created: Instant::now(), encoded: None, attempts: 0 }
    }
}

#[derive(Debug, Default)]
pub(super) struct Accumulator {
    open: HashMap<TopicPartition, Batch>,
    /// Closed batches in send order; retries go back to the front.
    ready: VecDeque<Batch>,
    in_flight: HashSet<TopicPartition>,
    pub(super) queued_records: usize,
    pub(super) queued_bytes: usize,
    /// Callers of flush() waiting: linger is skipped while any are.
    pub(super) flushing: usize,
}

impl Accumulator {
    /// Adds a record; closes its batch when it reaches `batch_size`.
    pub(super) fn push(
        &mut self,
        tp: TopicPartition,
        record: Record,
        size: usize,
        waiter: oneshot::Sender<Result<RecordMetadata>>,
        batch_size: usize,
    ) -> bool {
        // A record that would overflow the open batch starts a new one.
        if self.open.get(&tp).is_some_and(|b| !b.records.is_empty() && b.bytes + size > batch_size) {
            let full = self.open.remove(&tp).expect("present");
            self.ready.push_back(full);
        }
        let batch = self.open.entry(tp.clone()).or_insert_with(|| Batch::new(tp.clone()));
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

    /// Closes batches whose linger has passed (all of them while flushing), then takes the
    /// first ready batch of every partition that has none in flight. Returns those and when
    /// the next open batch's linger ends.
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
        let mut taken: HashSet<TopicPartition> = HashSet::new();
        while let Some(b) = self.ready.pop_front() {
            if self.in_flight.contains(&b.tp) || taken.contains(&b.tp) {
                keep.push_back(b);
            } else {
                taken.insert(b.tp.clone());
                self.in_flight.insert(b.tp.clone());
                out.push(b);
            }
        }
        self.ready = keep;
        let next = self.open.values().map(|b| b.created + linger).min();
        (out, next)
    }

    /// A batch to send again before anything newer of its partition.
    pub(super) fn retry(&mut self, batch: Batch) {
        self.in_flight.remove(&batch.tp);
        self.ready.push_front(batch);
    }

    /// A batch finished (acknowledged or failed for good).
    pub(super) fn done(&mut self, tp: &TopicPartition, records: usize, bytes: usize) {
        self.in_flight.remove(tp);
        self.queued_records -= records;
        self.queued_bytes -= bytes;
    }
}
