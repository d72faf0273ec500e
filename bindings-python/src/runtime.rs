//! The process's tokio runtime, and running core futures from Python without the GIL.
//!
//! `fork()` copies the parent's memory but none of its threads: a child gets a runtime of its
//! own (built on first use, keyed by PID), and client objects the parent created refuse to
//! work in the child ([`Owner::check`]) instead of waiting forever on tasks that do not exist.

use std::sync::{Mutex, OnceLock};

use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// The runtime and the process it was built in.
static RUNTIME: OnceLock<Mutex<Option<(u32, &'static Runtime)>>> = OnceLock::new();

pub(crate) fn runtime() -> &'static Runtime {
    let slot = RUNTIME.get_or_init(|| Mutex::new(None));
    let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    match *guard {
        Some((owner, rt)) if owner == pid => rt,
        _ => {
            // Leaked on purpose: it lives as long as the process (a forked child's copy of
            // the parent's runtime is never touched again; dropping it would try to join
            // threads that do not exist in the child).
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

/// The process a client object was created in, and what to call it in errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner {
    pid: u32,
    what: &'static str,
}

impl Owner {
    pub(crate) fn here(what: &'static str) -> Self {
        Owner { pid: std::process::id(), what }
    }

    /// Refuses use from a forked child (RuntimeError).
    pub(crate) fn check(&self) -> PyResult<()> {
        if self.pid == std::process::id() { Ok(()) } else { Err(crate::errors::forked(self.what)) }
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
