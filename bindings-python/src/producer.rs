//! The producer: `produce` queues a record and returns at once; its delivery report waits in
//! the core's report queue until the thread that calls `poll`/`flush` takes it and runs the
//! Python callback. A record's token in the core is its slot in [`Attachments`].
//!
//! `produce` is the per-record hot path and is called by Python directly (the package's
//! `Producer` subclasses this class): argument conversion, the callback's bookkeeping and the
//! `Message` of the delivery report are all native, so a record costs no interpreted code
//! on our side.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use ferrokafka::{ClientConfig, DeliveryReport, Producer, ProducerRecord};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::errors::{IntoPy, kafka_error};
use crate::message::Message;
use crate::runtime::{Owner, block_on, runtime};

/// librdkafka's offset of a record that was not stored.
const OFFSET_INVALID: i64 = -1001;

/// What a delivery callback's `Message` carries that only Python has: the callback and the
/// objects the application passed (handed back as they were, no copies).
struct Attached {
    callback: Py<PyAny>,
    topic: Py<PyString>,
    key: Option<Py<PyAny>>,
    value: Option<Py<PyAny>>,
    headers: Option<Py<PyAny>>,
}

/// The token of a record produced without a callback: its report is only counted (as
/// librdkafka counts it among the events `poll` served).
const NO_CALLBACK: u64 = u64::MAX;

/// The attachments of records whose report has not been served, by token: a slot is reused
/// once its report is served, so a steady flow of records allocates nothing here.
#[derive(Default)]
struct Attachments {
    slots: Vec<Option<Attached>>,
    free: Vec<usize>,
}

impl Attachments {
    fn insert(&mut self, attached: Attached) -> u64 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(attached);
                i as u64
            }
            None => {
                self.slots.push(Some(attached));
                (self.slots.len() - 1) as u64
            }
        }
    }

    fn remove(&mut self, token: u64) -> Option<Attached> {
        let attached = self.slots.get_mut(usize::try_from(token).ok()?)?.take();
        if attached.is_some() {
            self.free.push(token as usize);
        }
        attached
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The core's configuration from Kafka-named settings, and `oauth_cb` (confluent-kafka's
/// OAUTHBEARER token callback) as the core's token provider: it is called with
/// `sasl.oauthbearer.config` on every authentication, on a runtime thread that takes the GIL
/// for the call, and returns `(token, expiry_seconds)` or `(token, expiry_seconds,
/// principal, extensions_dict)`; what it raises fails that authentication, naming it.
pub(crate) fn config_from(mut conf: Vec<(String, String)>, oauth_cb: Option<Py<PyAny>>) -> PyResult<ClientConfig> {
    let oauth_config = conf.iter().position(|(k, _)| k == "sasl.oauthbearer.config").map(|i| conf.remove(i).1);
    let mut config = ClientConfig::from_pairs(conf).py_err()?;
    match oauth_cb {
        Some(cb) => {
            let arg = oauth_config.unwrap_or_default();
            config.set_oauthbearer_token_provider(move || {
                Python::attach(|py| {
                    let describe = |e: PyErr| format!("oauth_cb: {e}");
                    let got = cb.bind(py).call1((arg.as_str(),)).map_err(describe)?;
                    let token: String = got.get_item(0).and_then(|t| t.extract()).map_err(describe)?;
                    let mut extensions = Vec::new();
                    if got.len().map_err(describe)? >= 4 {
                        let ext = got.get_item(3).map_err(describe)?;
                        if !ext.is_none() {
                            extensions =
                                ext.cast::<PyDict>().map_err(|e| describe(e.into()))?.extract().map_err(describe)?;
                        }
                    }
                    Ok(ferrokafka::OAuthBearerToken { value: token, extensions })
                })
            });
        }
        None if oauth_config.is_some() => {
            return Err(crate::errors::to_py(crate::errors::invalid_arg(
                "sasl.oauthbearer.config",
                "ferrokafka builds no tokens itself (librdkafka's unsecured JWT builder): give an oauth_cb",
            )));
        }
        None => {}
    }
    Ok(config)
}

#[pyclass(module = "ferrokafka._native", subclass)]
pub(crate) struct NativeProducer {
    producer: Producer,
    attachments: Mutex<Attachments>,
    /// Reports taken from the core but not served yet: a callback raised part-way through a
    /// chunk. Served first by the next `poll`.
    unserved: Mutex<VecDeque<DeliveryReport>>,
    /// `on_delivery` from the configuration: the callback of records produced without one.
    default_callback: Option<Py<PyAny>>,
    /// The last topic name converted, keyed by the str object: applications pass the same
    /// object record after record, and under the abi3 API each conversion builds a
    /// temporary bytes object.
    last_topic: Mutex<Option<(Py<PyString>, String)>>,
    owner: Owner,
}

/// A key or value as the core takes it, and as the delivery report hands it back: bytes as
/// given, str encoded as UTF-8, bytearray and memoryview as bytes.
fn payload<'py>(what: &str, v: Option<&Bound<'py, PyAny>>) -> PyResult<(Option<Bytes>, Option<Bound<'py, PyAny>>)> {
    let Some(v) = v else { return Ok((None, None)) };
    if v.is_none() {
        return Ok((None, None));
    }
    let bytes = if let Ok(b) = v.cast::<PyBytes>() {
        return Ok((Some(Bytes::copy_from_slice(b.as_bytes())), Some(v.clone())));
    } else if let Ok(s) = v.cast::<PyString>() {
        s.call_method0(pyo3::intern!(v.py(), "encode"))?
    } else if v.is_instance_of::<PyByteArray>() || v.is_instance_of::<pyo3::types::PyMemoryView>() {
        v.py().get_type::<PyBytes>().call1((v,))?
    } else {
        return Err(PyTypeError::new_err(format!("{what}: expected bytes or str, not {}", v.get_type().name()?)));
    };
    let b = bytes.cast::<PyBytes>()?;
    Ok((Some(Bytes::copy_from_slice(b.as_bytes())), Some(bytes.clone())))
}

type CoreHeaders = Vec<(String, Option<Bytes>)>;

/// confluent-kafka's headers (a dict, or a list of (name, value) pairs; values bytes, str or
/// None) for the core, and as the delivery report's list of (name, bytes) tuples.
fn headers_of<'py>(h: &Bound<'py, PyAny>) -> PyResult<(CoreHeaders, Bound<'py, PyList>)> {
    let py = h.py();
    let items = if let Ok(d) = h.cast::<PyDict>() { d.items().into_any() } else { h.clone() };
    let mut core = Vec::new();
    let out = PyList::empty(py);
    for item in items.try_iter()? {
        let item = item?;
        let (name, value): (Bound<'py, PyAny>, Bound<'py, PyAny>) = item.extract()?;
        let name = name.str()?;
        let (bytes, obj) = payload("header value", Some(&value))?;
        core.push((name.to_string(), bytes));
        out.append(PyTuple::new(py, [name.into_any(), obj.unwrap_or_else(|| py.None().into_bound(py))])?)?;
    }
    Ok((core, out))
}

impl NativeProducer {
    /// The callback a record's report goes to: the one given, else `on_delivery` from the
    /// configuration, else none.
    fn callback_for(&self, py: Python<'_>, given: Option<&Bound<'_, PyAny>>) -> Option<Py<PyAny>> {
        match given.filter(|cb| !cb.is_none()) {
            Some(cb) => Some(cb.clone().unbind()),
            None => self.default_callback.as_ref().map(|cb| cb.clone_ref(py)),
        }
    }

    /// Hands `record` to the core, failing at once when the queue is full; its report will
    /// find `attached` by the record's token.
    fn queue(&self, py: Python<'_>, record: ProducerRecord, attached: Option<Attached>) -> PyResult<()> {
        let token = match attached {
            Some(a) => lock(&self.attachments).insert(a),
            None => NO_CALLBACK,
        };
        let mut queued = std::pin::pin!(self.producer.try_send_with_report(record, token));
        // Fast path: with the topic's metadata cached, queueing needs no I/O and finishes on
        // the first poll, so the GIL is kept and no runtime hand-off happens. Otherwise (the
        // first record of a topic) the same future is driven to the end without the GIL.
        let first = {
            let _rt = runtime().enter();
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            queued.as_mut().poll(&mut cx)
        };
        let queued = match first {
            std::task::Poll::Ready(r) => r,
            std::task::Poll::Pending => block_on(py, queued),
        };
        if queued.is_err() && token != NO_CALLBACK {
            lock(&self.attachments).remove(token);
        }
        queued.py_err()
    }

    fn topic_name(&self, topic: &Bound<'_, PyString>) -> PyResult<String> {
        let mut last = self.last_topic.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((obj, name)) = last.as_ref()
            && obj.is(topic)
        {
            return Ok(name.clone());
        }
        let name = topic.to_string();
        *last = Some((topic.clone().unbind(), name.clone()));
        Ok(name)
    }

    /// Runs the callbacks of `reports`, in order; returns how many events were served. A
    /// callback that raises stops serving: its exception propagates from `poll`/`flush` (as
    /// in confluent-kafka) and the reports after it are kept for the next call.
    fn serve(&self, py: Python<'_>, mut reports: VecDeque<DeliveryReport>) -> PyResult<usize> {
        let mut served = 0;
        while let Some(r) = reports.pop_front() {
            served += 1;
            let Some(Attached { callback, topic, key, value, headers }) = lock(&self.attachments).remove(r.token)
            else {
                continue;
            };
            let (error, message) = match r.result {
                Ok(d) => {
                    let msg = Message {
                        topic,
                        partition: r.partition,
                        offset: d.offset,
                        timestamp: d.timestamp,
                        key,
                        value,
                        headers,
                        error: None,
                    };
                    (py.None(), msg)
                }
                Err(e) => {
                    let err = kafka_error(py, &e)?;
                    let msg = Message {
                        topic,
                        partition: r.partition,
                        offset: OFFSET_INVALID,
                        timestamp: -1,
                        key,
                        value,
                        headers,
                        error: Some(err.clone_ref(py)),
                    };
                    (err, msg)
                }
            };
            if let Err(raised) = callback.call1(py, (error, message)) {
                // Older than anything a callback's own poll may have left there.
                let mut unserved = lock(&self.unserved);
                reports.append(&mut unserved);
                *unserved = reports;
                return Err(raised);
            }
        }
        Ok(served)
    }
}

#[pymethods]
impl NativeProducer {
    /// `conf`: Kafka-named settings as string pairs; `on_delivery`: the default callback.
    #[new]
    #[pyo3(signature = (conf, on_delivery=None, oauth_cb=None))]
    fn new(
        py: Python<'_>,
        conf: Vec<(String, String)>,
        on_delivery: Option<Py<PyAny>>,
        oauth_cb: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let config = config_from(conf, oauth_cb)?;
        // The producer's background task lives on the runtime.
        let _guard = runtime().enter();
        let producer = py.detach(|| Producer::new(config)).py_err()?;
        Ok(NativeProducer {
            producer,
            attachments: Mutex::default(),
            unserved: Mutex::default(),
            default_callback: on_delivery.filter(|cb| !cb.is_none(py)),
            last_topic: Mutex::new(None),
            owner: Owner::here("Producer"),
        })
    }

    /// Queues a record (str or bytes key and value; headers as a dict or a list of pairs;
    /// partition -1 lets the partitioner choose; timestamp 0 stamps the send time). Raises
    /// BufferError when the queue is full (call poll() to make room), KafkaException for a
    /// partition the topic does not have.
    #[pyo3(signature = (topic, value=None, key=None, partition=-1, on_delivery=None, timestamp=0, headers=None, callback=None))]
    #[allow(clippy::too_many_arguments)]
    fn produce(
        &self,
        py: Python<'_>,
        topic: &Bound<'_, PyString>,
        value: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
        partition: i32,
        on_delivery: Option<&Bound<'_, PyAny>>,
        timestamp: i64,
        headers: Option<&Bound<'_, PyAny>>,
        callback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.owner.check()?;
        let (value, value_obj) = payload("value", value)?;
        let (key, key_obj) = payload("key", key)?;
        let (core_headers, headers_obj) = match headers {
            Some(h) if !h.is_none() => {
                let (core, list) = headers_of(h)?;
                (core, Some(list))
            }
            _ => (Vec::new(), None),
        };
        let mut record = ProducerRecord::new(self.topic_name(topic)?);
        record.value = value;
        record.key = key;
        record.partition = (partition >= 0).then_some(partition);
        record.timestamp = (timestamp > 0).then_some(timestamp);
        record.headers = core_headers;
        let callback = self.callback_for(py, on_delivery.or(callback));
        let attached = callback.map(|callback| Attached {
            callback,
            topic: topic.clone().unbind(),
            key: key_obj.map(Bound::unbind),
            value: value_obj.map(Bound::unbind),
            headers: headers_obj.map(|h| h.into_any().unbind()),
        });
        self.queue(py, record, attached)
    }

    /// Queues many records for one topic in one call (a ferrokafka extension; confluent-kafka
    /// has no equivalent): `values` an iterable of values, `keys` None or an iterable of as
    /// many keys. Each record gets its delivery report as with `produce`. Returns how many
    /// were queued; when the queue fills part-way it raises BufferError, whose ``args[1]`` is
    /// how many records were queued before it (the rest were not).
    #[pyo3(signature = (topic, values, keys=None, partition=-1, on_delivery=None, timestamp=0))]
    #[allow(clippy::too_many_arguments)]
    fn produce_batch(
        &self,
        py: Python<'_>,
        topic: &Bound<'_, PyString>,
        values: &Bound<'_, PyAny>,
        keys: Option<&Bound<'_, PyAny>>,
        partition: i32,
        on_delivery: Option<&Bound<'_, PyAny>>,
        timestamp: i64,
    ) -> PyResult<usize> {
        self.owner.check()?;
        let name = self.topic_name(topic)?;
        let callback = self.callback_for(py, on_delivery);
        let mut keys = match keys {
            Some(k) if !k.is_none() => Some(k.try_iter()?),
            _ => None,
        };
        let mut queued = 0;
        for value in values.try_iter()? {
            let value = value?;
            let key = match keys.as_mut() {
                Some(it) => {
                    Some(it.next().ok_or_else(|| PyTypeError::new_err("produce_batch: fewer keys than values"))??)
                }
                None => None,
            };
            let (value, value_obj) = payload("value", Some(&value))?;
            let (key, key_obj) = payload("key", key.as_ref())?;
            let mut record = ProducerRecord::new(name.clone());
            record.value = value;
            record.key = key;
            record.partition = (partition >= 0).then_some(partition);
            record.timestamp = (timestamp > 0).then_some(timestamp);
            let attached = callback.as_ref().map(|cb| Attached {
                callback: cb.clone_ref(py),
                topic: topic.clone().unbind(),
                key: key_obj.map(Bound::unbind),
                value: value_obj.map(Bound::unbind),
                headers: None,
            });
            match self.queue(py, record, attached) {
                Ok(()) => queued += 1,
                Err(e) if e.is_instance_of::<pyo3::exceptions::PyBufferError>(py) => {
                    return Err(pyo3::exceptions::PyBufferError::new_err((e.value(py).to_string(), queued)));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(queued)
    }

    /// Waits up to `timeout` seconds for a delivery report when none is queued, then runs
    /// the callbacks of those queued; returns how many events were served.
    fn _serve(&self, py: Python<'_>, timeout: f64) -> PyResult<usize> {
        self.owner.check()?;
        let mut reports = std::mem::take(&mut *lock(&self.unserved));
        let wait = if reports.is_empty() && timeout > 0.0 {
            Duration::from_secs_f64(timeout.min(1e6))
        } else {
            Duration::ZERO
        };
        let queued = self.producer.delivery_reports();
        let taken =
            if wait.is_zero() { queued.poll(usize::MAX, wait) } else { py.detach(|| queued.poll(usize::MAX, wait)) };
        reports.extend(taken);
        self.serve(py, reports)
    }

    /// Waits (up to `timeout` seconds; negative: no limit) until everything queued is
    /// acknowledged and its report queued; returns how many records are still queued or in
    /// flight.
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<usize> {
        self.owner.check()?;
        let limit = wait_for(timeout);
        // The core's flush is cancel-safe: a timed-out wait simply stops waiting. Once it
        // returns, every report is in the core's queue.
        let producer = &self.producer;
        if let Ok(result) = block_on(py, async move { tokio::time::timeout(limit, producer.flush()).await }) {
            result.py_err()?;
        }
        Ok(self.producer.in_flight())
    }

    /// Records queued or in flight, plus reports not yet served.
    fn __len__(&self) -> PyResult<usize> {
        self.owner.check()?;
        Ok(self.producer.delivery_reports().pending() + lock(&self.unserved).len())
    }

    /// Drops every record not yet sent (their delivery reports carry _PURGE_QUEUE); returns
    /// how many.
    fn _purge_queued(&self) -> PyResult<usize> {
        self.owner.check()?;
        Ok(self.producer.purge())
    }

    /// Transactions (confluent-kafka's, with timeouts in seconds; negative: no limit): each
    /// is the core's call, with the GIL released while it waits.
    fn init_transactions(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        self.owner.check()?;
        let producer = &self.producer;
        block_on(py, producer.init_transactions(wait_for(timeout))).py_err()
    }

    fn begin_transaction(&self) -> PyResult<()> {
        self.owner.check()?;
        self.producer.begin_transaction().py_err()
    }

    /// `offsets`: (topic, partition, next offset to read, metadata); `group`: (group id,
    /// generation, member id, group instance id) from `Consumer.consumer_group_metadata()`.
    fn send_offsets_to_transaction(
        &self,
        py: Python<'_>,
        offsets: Vec<crate::consumer::CommitOffset>,
        group: (String, i32, String, Option<String>),
        timeout: f64,
    ) -> PyResult<()> {
        self.owner.check()?;
        let (group_id, generation_id, member_id, group_instance_id) = group;
        let group = ferrokafka::ConsumerGroupMetadata { group_id, generation_id, member_id, group_instance_id };
        let (producer, offsets) = (&self.producer, crate::consumer::core_offsets(offsets));
        block_on(py, producer.send_offsets_to_transaction(&offsets, &group, wait_for(timeout))).py_err()
    }

    fn commit_transaction(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        self.owner.check()?;
        let producer = &self.producer;
        block_on(py, producer.commit_transaction(wait_for(timeout))).py_err()
    }

    fn abort_transaction(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        self.owner.check()?;
        let producer = &self.producer;
        block_on(py, producer.abort_transaction(wait_for(timeout))).py_err()
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
        d.set_item("epoch_bumps", s.epoch_bumps)?;
        d.set_item("producer_id", s.producer_id)?;
        d.set_item("producer_epoch", s.producer_epoch)?;
        Ok(d)
    }
}

/// A timeout in seconds as confluent-kafka takes them: negative means no limit.
fn wait_for(timeout: f64) -> Duration {
    if timeout < 0.0 { Duration::from_secs(u32::MAX as u64) } else { Duration::from_secs_f64(timeout.min(1e6)) }
}

/// Bytes for Python, or None.
pub(crate) fn bytes_or_none<'py>(py: Python<'py>, b: Option<&[u8]>) -> Option<Bound<'py, PyBytes>> {
    b.map(|b| PyBytes::new(py, b))
}
