//! `ferrokafka._native`: the Rust core for Python. Only conversions live here — of types,
//! errors and threads; the Python-facing API (confluent-kafka's shape) is in
//! `python/ferrokafka/`.
//!
//! Threads: one tokio runtime per process; every call that waits releases the GIL. Callbacks
//! never run on runtime threads: results are queued and handed back to the Python thread that
//! calls `poll`/`flush`/`consume`, which runs them.
//!
//! No `unsafe` here: pyo3 0.29's macros expand to code the workspace's `unsafe_code = "deny"`
//! accepts, so no local allowance is needed.

mod admin;
mod broker;
mod consumer;
mod errors;
mod message;
mod producer;
mod runtime;
mod schema_registry;

use pyo3::prelude::*;

// mimalloc for this library's Rust allocations (the host's own malloc is untouched): records
// are allocated on the caller's thread and freed on the runtime's, and glibc's malloc spent
// about a fifth of the produce path in arena locks and consolidation (measured 2026-11-25).
// Hostile wire counts need no allocator help: kafka-protocol's decoders refuse a count larger
// than the bytes left (vendor/kafka-protocol, FERROKAFKA-PATCHES.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NativeError", m.py().get_type::<errors::NativeError>())?;
    m.add_class::<message::Message>()?;
    m.add_class::<producer::NativeProducer>()?;
    m.add_class::<consumer::NativeConsumer>()?;
    m.add_class::<consumer::RevokeContext>()?;
    m.add_class::<admin::NativeAdmin>()?;
    m.add_class::<broker::NativeBroker>()?;
    m.add_function(wrap_pyfunction!(broker::init_logging, m)?)?;
    m.add_function(wrap_pyfunction!(errors::bind_errors, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::forked, m)?)?;
    m.add_class::<schema_registry::NativeSchemaRegistry>()?;
    m.add_class::<schema_registry::NativeAvroSerializer>()?;
    m.add_class::<schema_registry::NativeAvroDeserializer>()?;
    m.add_class::<schema_registry::NativeJsonSerializer>()?;
    m.add_class::<schema_registry::NativeJsonDeserializer>()?;
    m.add_class::<schema_registry::NativeProtobufSerializer>()?;
    m.add_function(wrap_pyfunction!(schema_registry::protobuf_split, m)?)?;
    m.add_function(wrap_pyfunction!(errors::bind_serde_errors, m)?)?;
    m.add("ERROR_CODES", errors::librdkafka_codes())?;
    m.add("KAFKA_ERROR_ALIASES", errors::kafka_aliases())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
