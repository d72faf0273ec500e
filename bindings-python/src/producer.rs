//! The producer: `produce` queues a record and returns at once; delivery results are queued
//! by a runtime task and handed to the thread that calls `poll`/`flush`, which runs the
//! Python callbacks.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ferrokafka::{ClientConfig, Producer, ProducerRecord};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{ErrorTuple, IntoPy, to_tuple};
use crate::runtime::{Owner, block_on, runtime};

/// One delivery report: (token, error, topic, partition, offset, timestamp).
type Report = (u64, Option<ErrorTuple>, String, i32, i64, i64);

#[derive(Default)]
struct Reports {
    /// Reports not yet handed out, and the number of records whose report is still to come.
    queue: Mutex<(VecDeque<Report>, usize)>,
    ready: Condvar,
}

pub(crate) fn config_from(conf: Vec<(String, String)>) -> PyResult<ClientConfig> {
    ClientConfig::from_pairs(conf).py_err()
}

/// A record handed to the collector: its token, its delivery, and where it was going.
type Pending = (u64, ferrokafka::DeliveryFuture, String, i32);

#[pyclass(module = "ferrokafka._native")]
pub(crate) struct NativeProducer {
    producer: Producer,
    reports: Arc<Reports>,
    /// To the one task that turns deliveries into reports (a task per record costs more than
    /// the record).
    pending: tokio::sync::mpsc::UnboundedSender<Pending>,
    /// The core's flush, running on the runtime until the queue is empty. `flush(timeout)`
    /// waits for it without cancelling it: the core's flush is not cancel-safe (a dropped
    /// flush leaves the sender ignoring `linger.ms` for good), so a timed-out wait leaves the
    /// task running and the next flush waits for the same task.
    flushing: Mutex<Option<tokio::task::JoinHandle<ferrokafka::Result<()>>>>,
    owner: Owner,
}

/// Awaits deliveries in send order and queues their reports, waking `poll` only when the
/// queue goes from empty to not empty or the last outstanding record is settled.
async fn collect(mut rx: tokio::sync::mpsc::UnboundedReceiver<Pending>, reports: Arc<Reports>) {
    while let Some((token, delivery, topic, partition)) = rx.recv().await {
        let report = match delivery.await {
            Ok(m) => (token, None, m.topic, m.partition, m.offset, m.timestamp),
            Err(e) => (token, Some(to_tuple(&e)), topic, partition, -1001, -1),
        };
        let mut q = reports.queue.lock().unwrap_or_else(|p| p.into_inner());
        let was_empty = q.0.is_empty();
        q.0.push_back(report);
        q.1 -= 1;
        if was_empty || q.1 == 0 {
            reports.ready.notify_all();
        }
    }
}

#[pymethods]
impl NativeProducer {
    #[new]
    fn new(py: Python<'_>, conf: Vec<(String, String)>) -> PyResult<Self> {
        let config = config_from(conf)?;
        // The producer's background task lives on the runtime.
        let _guard = runtime().enter();
        let producer = py.detach(|| Producer::new(config)).py_err()?;
        let reports: Arc<Reports> = Arc::default();
        let (pending, rx) = tokio::sync::mpsc::unbounded_channel();
        runtime().spawn(collect(rx, Arc::clone(&reports)));
        Ok(NativeProducer { producer, reports, pending, flushing: Mutex::new(None), owner: Owner::here("Producer") })
    }

    /// Queues a record; fails at once (BufferError) when the queue is full.
    #[pyo3(signature = (topic, value, key, partition, timestamp, headers, token))]
    #[allow(clippy::too_many_arguments)]
    fn produce(
        &self,
        py: Python<'_>,
        topic: String,
        value: Option<Vec<u8>>,
        key: Option<Vec<u8>>,
        partition: i32,
        timestamp: i64,
        headers: Option<Vec<(String, Option<Vec<u8>>)>>,
        token: u64,
    ) -> PyResult<()> {
        self.owner.check()?;
        let mut record = ProducerRecord::new(topic.clone());
        record.value = value.map(Into::into);
        record.key = key.map(Into::into);
        record.partition = (partition >= 0).then_some(partition);
        record.timestamp = (timestamp > 0).then_some(timestamp);
        record.headers = headers.unwrap_or_default().into_iter().map(|(k, v)| (k, v.map(Into::into))).collect();
        let producer = self.producer.clone();
        let mut queued = Box::pin(async move { producer.try_send(record).await });
        // Fast path: with the topic's metadata cached, queueing needs no I/O and finishes on
        // the first poll, so the GIL is kept and no runtime hand-off happens. Otherwise (the
        // first record of a topic) the same future is driven to the end without the GIL.
        let first = {
            let _rt = runtime().enter();
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            queued.as_mut().poll(&mut cx)
        };
        let delivery = match first {
            std::task::Poll::Ready(r) => r,
            std::task::Poll::Pending => block_on(py, queued),
        }
        .py_err()?;
        self.reports.queue.lock().unwrap_or_else(|p| p.into_inner()).1 += 1;
        if self.pending.send((token, delivery, topic, partition)).is_err() {
            return Err(crate::errors::to_py(ferrokafka::Error::Closed));
        }
        Ok(())
    }

    /// Delivery reports ready now, waiting up to `timeout` seconds for the first one.
    fn poll(&self, py: Python<'_>, timeout: f64) -> PyResult<Vec<Report>> {
        self.owner.check()?;
        let reports = Arc::clone(&self.reports);
        py.detach(move || {
            let mut queue = reports.queue.lock().unwrap_or_else(|p| p.into_inner());
            if queue.0.is_empty() && timeout > 0.0 {
                let wait = Duration::from_secs_f64(timeout.min(1e6));
                queue = reports.ready.wait_timeout_while(queue, wait, |q| q.0.is_empty()).map(|(q, _)| q).unwrap_or_else(|p| p.into_inner().0);
            }
            Ok(queue.0.drain(..).collect())
        })
    }

    /// Waits (up to `timeout` seconds; negative: no limit) until everything queued is
    /// acknowledged and its report queued; returns how many records are still queued or in
    /// flight.
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<usize> {
        self.owner.check()?;
        let limit = if timeout < 0.0 { Duration::from_secs(u32::MAX as u64) } else { Duration::from_secs_f64(timeout.min(1e6)) };
        let started = Instant::now();
        let task = {
            let mut slot = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
            match slot.take() {
                Some(running) if !running.is_finished() => running,
                _ => {
                    let producer = self.producer.clone();
                    runtime().spawn(async move { producer.flush().await })
                }
            }
        };
        let (done, unfinished) = block_on(py, async move {
            let mut task = task;
            match tokio::time::timeout(limit, &mut task).await {
                Ok(done) => (Some(done), None),
                Err(_) => (None, Some(task)),
            }
        });
        if let Some(task) = unfinished {
            *self.flushing.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        }
        match done {
            Some(Ok(result)) => result.py_err()?,
            Some(Err(join)) => return Err(PyRuntimeError::new_err(format!("ferrokafka: the flush task failed: {join}"))),
            None => {}
        }
        // Every delivery settled so far: wait for its report to be queued too.
        let left = limit.saturating_sub(started.elapsed());
        let reports = Arc::clone(&self.reports);
        let outstanding = py.detach(move || {
            let queue = reports.queue.lock().unwrap_or_else(|p| p.into_inner());
            let q = reports.ready.wait_timeout_while(queue, left, |q| q.1 > 0).map(|(q, _)| q).unwrap_or_else(|p| p.into_inner().0);
            q.1
        });
        Ok(outstanding)
    }

    /// Records queued or in flight, plus reports not yet handed out.
    fn pending(&self) -> PyResult<usize> {
        self.owner.check()?;
        let q = self.reports.queue.lock().unwrap_or_else(|p| p.into_inner());
        Ok(q.1 + q.0.len())
    }

    /// Totals since the producer started, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let s = self.producer.stats();
        let d = pyo3::types::PyDict::new(py);
        d.set_item("records_sent", s.records_sent)?;
        d.set_item("bytes_sent", s.bytes_sent)?;
        d.set_item("batches_sent", s.batches_sent)?;
        d.set_item("retries", s.retries)?;
        d.set_item("failed_records", s.failed_records)?;
        d.set_item("requests", s.requests)?;
        d.set_item("avg_request_latency_us", s.avg_request_latency_us)?;
        d.set_item("max_request_latency_us", s.max_request_latency_us)?;
        d.set_item("queued_records", s.queued_records)?;
        Ok(d)
    }
}

/// Bytes for Python, or None.
pub(crate) fn bytes_or_none<'py>(py: Python<'py>, b: Option<&[u8]>) -> Option<Bound<'py, PyBytes>> {
    b.map(|b| PyBytes::new(py, b))
}
