//! The producer: `produce` queues a record and returns at once; delivery results are queued
//! by runtime tasks and handed to the thread that calls `poll`/`flush`.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ferrokafka::{ClientConfig, Producer, ProducerRecord};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{IntoPy, to_tuple};
use crate::runtime::{block_on, runtime};

/// One delivery report: (token, error, topic, partition, offset, timestamp).
type Report = (u64, Option<(i32, String, String, bool)>, String, i32, i64, i64);

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
        Ok(NativeProducer { producer, reports, pending })
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
    fn poll(&self, py: Python<'_>, timeout: f64) -> Vec<Report> {
        let reports = Arc::clone(&self.reports);
        py.detach(move || {
            let mut queue = reports.queue.lock().unwrap_or_else(|p| p.into_inner());
            if queue.0.is_empty() && timeout > 0.0 {
                let wait = Duration::from_secs_f64(timeout.min(1e6));
                queue = reports.ready.wait_timeout_while(queue, wait, |q| q.0.is_empty()).map(|(q, _)| q).unwrap_or_else(|p| p.into_inner().0);
            }
            queue.0.drain(..).collect()
        })
    }

    /// Waits (up to `timeout` seconds; negative: no limit) until everything queued is
    /// acknowledged; returns how many records are still queued or in flight.
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<usize> {
        let producer = self.producer.clone();
        let limit = if timeout < 0.0 { Duration::from_secs(u32::MAX as u64) } else { Duration::from_secs_f64(timeout) };
        let _ = block_on(py, async move { tokio::time::timeout(limit, producer.flush()).await });
        // Every delivery is settled; wait for its report to be queued too.
        let reports = Arc::clone(&self.reports);
        let outstanding = py.detach(move || {
            let queue = reports.queue.lock().unwrap_or_else(|p| p.into_inner());
            let q = reports.ready.wait_timeout_while(queue, limit, |q| q.1 > 0).map(|(q, _)| q).unwrap_or_else(|p| p.into_inner().0);
            q.1
        });
        Ok(outstanding)
    }

    /// Records queued or in flight, plus reports not yet handed out.
    fn pending(&self) -> usize {
        let q = self.reports.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.1 + q.0.len()
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
