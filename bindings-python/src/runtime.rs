//! The process's tokio runtime, and running core futures from Python without the GIL.

use std::sync::{Mutex, OnceLock};

use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// The runtime and the process it was built in: after `fork()` the child has none of the
/// parent's worker threads, so it must build its own.
static RUNTIME: OnceLock<Mutex<Option<(u32, &'static Runtime)>>> = OnceLock::new();

pub(crate) fn runtime() -> &'static Runtime {
    let slot = RUNTIME.get_or_init(|| Mutex::new(None));
    let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    match *guard {
        Some((owner, rt)) if owner == pid => rt,
        _ => {
            // Leaked on purpose: it lives as long as the process (a forked child's copy of
            // the parent's runtime is never touched again).
            let rt: &'static Runtime = Box::leak(Box::new(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("ferrokafka")
                    .enable_all()
                    .build()
                    .expect("a tokio runtime"),
            ));
            *guard = Some((pid, rt));
            rt
        }
    }
}

/// Runs `fut` to completion on the runtime with the GIL released.
pub(crate) fn block_on<F: std::future::Future + Send>(py: Python<'_>, fut: F) -> F::Output
where
    F::Output: Send,
{
    let rt = runtime();
    py.detach(|| rt.block_on(fut))
}
