//! `Message`, confluent-kafka's: a consumed record or the subject of a delivery report.
//!
//! Native because one is built per record on both hot paths (consume, delivery reports): a
//! Python class costs an interpreted `__init__` per record. The fields are the Python objects
//! handed out, built once; the getters return them without copying.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

/// `Message.timestamp()` types, as confluent-kafka numbers them.
pub(crate) const TIMESTAMP_NOT_AVAILABLE: i32 = 0;
pub(crate) const TIMESTAMP_CREATE_TIME: i32 = 1;

/// A consumed record, or the subject of a delivery report (then ``error()`` tells whether it
/// was delivered).
#[pyclass(module = "ferrokafka", name = "Message", freelist = 1024)]
pub(crate) struct Message {
    pub(crate) topic: Py<PyString>,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    /// Milliseconds since the epoch; negative: not available.
    pub(crate) timestamp: i64,
    pub(crate) key: Option<Py<PyAny>>,
    pub(crate) value: Option<Py<PyAny>>,
    /// A list of (name, value) tuples, or None.
    pub(crate) headers: Option<Py<PyAny>>,
    pub(crate) error: Option<Py<PyAny>>,
}

#[pymethods]
impl Message {
    /// The topic name.
    fn topic(&self, py: Python<'_>) -> Py<PyString> {
        self.topic.clone_ref(py)
    }

    /// The partition number.
    fn partition(&self) -> i32 {
        self.partition
    }

    /// The record's offset (OFFSET_INVALID for a failed delivery).
    fn offset(&self) -> i64 {
        self.offset
    }

    /// ``(TIMESTAMP_CREATE_TIME, ms)``, or ``(TIMESTAMP_NOT_AVAILABLE, -1)``. The core does
    /// not tell create time from log-append time yet: both come as create time.
    fn timestamp(&self) -> (i32, i64) {
        if self.timestamp < 0 { (TIMESTAMP_NOT_AVAILABLE, -1) } else { (TIMESTAMP_CREATE_TIME, self.timestamp) }
    }

    /// The key (bytes), or None.
    fn key(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.key.as_ref().map(|k| k.clone_ref(py))
    }

    /// The value (bytes), or None.
    fn value(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.value.as_ref().map(|v| v.clone_ref(py))
    }

    /// A list of (name, value) tuples, or None without headers. A new list each call, so
    /// the caller may change it.
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        match &self.headers {
            None => Ok(None),
            Some(h) => {
                let h = h.bind(py);
                if h.is_truthy()? {
                    Ok(Some(PyList::new(py, h.try_iter()?.collect::<PyResult<Vec<_>>>()?)?))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// The KafkaError of a failed delivery, else None.
    fn error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.error.as_ref().map(|e| e.clone_ref(py))
    }

    /// Produce latency in seconds; None: the core does not report it per record.
    fn latency(&self) -> Option<f64> {
        None
    }

    /// The partition leader's epoch; None: the core does not report it.
    fn leader_epoch(&self) -> Option<i32> {
        None
    }

    /// Replaces the key (as confluent-kafka allows, e.g. in deserialisers).
    fn set_key(&mut self, key: Option<Py<PyAny>>) {
        self.key = key;
    }

    /// Replaces the value.
    fn set_value(&mut self, value: Option<Py<PyAny>>) {
        self.value = value;
    }

    /// Replaces the headers (a list of (name, value) tuples).
    fn set_headers(&mut self, headers: Option<Py<PyAny>>) {
        self.headers = headers;
    }

    /// The value's length in bytes.
    fn len(&self, py: Python<'_>) -> PyResult<usize> {
        match &self.value {
            Some(v) => v.bind(py).len(),
            None => Ok(0),
        }
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.len(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("Message({}-{}@{})", self.topic.bind(py), self.partition, self.offset)
    }
}

/// Headers for a Message: a list of (name, bytes-or-None) tuples, or None when there are none.
pub(crate) fn headers_list<'py>(
    py: Python<'py>,
    headers: &[(String, Option<bytes::Bytes>)],
) -> PyResult<Option<Py<PyAny>>> {
    if headers.is_empty() {
        return Ok(None);
    }
    let items = headers
        .iter()
        .map(|(k, v)| {
            PyTuple::new(
                py,
                [
                    k.into_pyobject(py)?.into_any(),
                    crate::producer::bytes_or_none(py, v.as_deref()).into_pyobject(py)?.into_any(),
                ],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Some(PyList::new(py, items)?.into_any().unbind()))
}
