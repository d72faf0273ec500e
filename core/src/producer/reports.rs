//! The producer's delivery-report queue: what the language bindings drain instead of awaiting
//! a future per record. A record sent with [`Producer::send_with_report`] carries a token of
//! the caller's; when its batch is settled its report is appended here, one partition's
//! reports in the order its records were sent (so, with idempotence, in offset order, as
//! librdkafka promises). The queue is drained in chunks: by a thread outside the runtime,
//! waiting with a timeout ([`DeliveryReports::poll`]), or by a task ([`DeliveryReports::recv`]).
//!
//! [`Producer::send_with_report`]: super::Producer::send_with_report

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::Result;

/// The outcome of one record sent with a report token.
#[derive(Debug, Clone)]
pub struct DeliveryReport {
    /// The token the record was sent with.
    pub token: u64,
    /// Shared by the reports of one batch.
    pub topic: Arc<str>,
    /// The partition the record was assigned (the partitioner's choice if none was given).
    pub partition: i32,
    /// Where the record was stored, or why it was not.
    pub result: Result<Delivered>,
}

/// Where a record was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// -1 when the broker did not say: acks=0, or a duplicate of a batch it had written
    /// before and no longer remembers where.
    pub offset: i64,
    /// The record's timestamp (the broker's under LogAppendTime).
    pub timestamp: i64,
}

/// The delivery reports of one producer and its clones ([`super::Producer::delivery_reports`]).
#[derive(Debug, Default)]
pub struct DeliveryReports {
    queue: Mutex<VecDeque<DeliveryReport>>,
    /// Threads blocked in `poll` wait on this, tasks in `recv` on `arrived`: a queue going
    /// from empty to not empty wakes both.
    ready: Condvar,
    arrived: Notify,
    /// Records sent with a token whose report has not been taken yet.
    pending: AtomicUsize,
}

impl DeliveryReports {
    /// Takes up to `max` reports, waiting up to `timeout` for the first when none is queued
    /// (`Duration::ZERO`: no wait). Blocks the calling thread: not for a runtime's threads
    /// (use [`recv`](Self::recv) there).
    pub fn poll(&self, max: usize, timeout: Duration) -> Vec<DeliveryReport> {
        let mut queue = self.lock();
        if queue.is_empty() && !timeout.is_zero() {
            queue = match self.ready.wait_timeout_while(queue, timeout, |q| q.is_empty()) {
                Ok((q, _)) => q,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        self.take(queue, max)
    }

    /// Takes up to `max` reports, waiting for the first. Cancel-safe: dropped before it
    /// completes, it has taken nothing.
    pub async fn recv(&self, max: usize) -> Vec<DeliveryReport> {
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            {
                let queue = self.lock();
                if !queue.is_empty() {
                    return self.take(queue, max);
                }
            }
            arrived.await;
        }
    }

    /// Records sent with a report token whose report has not been taken yet: queued, in
    /// flight, or waiting here (librdkafka's `outq_len`).
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Reports waiting to be taken.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<DeliveryReport>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self, mut queue: MutexGuard<'_, VecDeque<DeliveryReport>>, max: usize) -> Vec<DeliveryReport> {
        // Taking everything hands over the queue's buffer instead of copying it out.
        let taken: Vec<DeliveryReport> =
            if queue.len() <= max { std::mem::take(&mut *queue).into() } else { queue.drain(..max).collect() };
        drop(queue);
        self.pending.fetch_sub(taken.len(), Ordering::AcqRel);
        taken
    }

    /// A record was queued with a token: its report is to come.
    pub(super) fn expect_one(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// Appends reports through `fill` under one lock, and wakes the waiting if there were none.
    pub(super) fn append(&self, fill: impl FnOnce(&mut VecDeque<DeliveryReport>)) {
        let mut queue = self.lock();
        let was_empty = queue.is_empty();
        fill(&mut queue);
        let woke = was_empty && !queue.is_empty();
        drop(queue);
        if woke {
            self.ready.notify_all();
            self.arrived.notify_waiters();
        }
    }
}
