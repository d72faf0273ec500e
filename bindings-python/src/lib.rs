//! `ferrokafka._native`: the Rust core for Python. Only conversions live here — of types,
//! errors and threads; the Python-facing API (confluent-kafka's shape) is in
//! `python/ferrokafka/`.
//!
//! Threads: one tokio runtime per process; every call that waits releases the GIL. Callbacks
//! never run on runtime threads: results are queued and handed back to the Python thread that
//! calls `poll`/`flush`/`consume`, which runs them.

mod admin;
mod broker;
mod consumer;
mod errors;
mod producer;
mod runtime;

use pyo3::prelude::*;

// The embedded broker decodes untrusted requests: the same protection as the binary (large
// allocations become lazy mappings). It governs only this library's Rust allocations.
#[global_allocator]
static ALLOC: ferrokafka_broker::AllocGuard = ferrokafka_broker::AllocGuard;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NativeError", m.py().get_type::<errors::NativeError>())?;
    m.add_class::<producer::NativeProducer>()?;
    m.add_class::<consumer::NativeConsumer>()?;
    m.add_class::<admin::NativeAdmin>()?;
    m.add_class::<broker::NativeBroker>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
