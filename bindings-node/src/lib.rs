//! `ferrokafka` for Node.js: the Rust core behind kafkajs's API, and the bundled broker.
//!
//! Only conversions live here — of types, errors and threads; Kafka behaviour is the core's.
//!
//! Threads: every network and Kafka call runs on one tokio runtime ([`init`]) and returns a
//! promise. JavaScript callbacks (`eachMessage`, `eachBatch`, a custom partitioner, an
//! OAUTHBEARER token provider, event listeners) are called through thread-safe functions, on
//! the JavaScript thread; the consumer awaits the promise `eachMessage` returns before it
//! reads the next record.

// napi's macros expand to `unsafe` FFI glue (module registration, class wrapping, value
// conversions); the workspace denies unsafe code, so it is allowed here for the generated code
// only: nothing in this crate writes an `unsafe` block by hand.
#![allow(unsafe_code)]
// Items marked #[napi] are reached from JavaScript, not from Rust: `pub` is their visibility.
#![allow(unreachable_pub)]

mod admin;
mod broker;
mod callbacks;
mod config;
mod consumer;
mod errors;
mod events;
mod kafka;
mod logging;
mod oauthbearer;
mod producer;
mod schema_registry;

// mimalloc for this library's Rust allocations (the host's own malloc is untouched): records
// are allocated on the caller's thread and freed on the runtime's, and glibc's malloc spent
// about a fifth of the produce path in arena locks and consolidation (measured 2026-11-25).
// Hostile wire counts need no allocator help: kafka-protocol's decoders refuse a count larger
// than the bytes left (vendor/kafka-protocol, FERROKAFKA-PATCHES.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One multi-threaded tokio runtime for the process, named so its threads are recognisable.
#[napi_derive::module_init]
fn init() {
    if let Ok(rt) = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("ferrokafka").build() {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}
