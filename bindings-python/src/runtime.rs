//! The process's tokio runtime, and running core futures from Python without the GIL.
//!
//! `fork()` copies the parent's memory but none of its threads: a child gets a runtime of its
//! own (built on first use), and client objects the parent created refuse to work in the
//! child ([`Owner::check`]) instead of waiting forever on tasks that do not exist. Forks are
//! counted by a hook the package registers with `os.register_at_fork` ([`forked`]): a
//! getpid() per call would be a system call on the per-record path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// How many forks separate this process from the one that imported the module.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Called in the child after each `os.fork()` (registered by the package).
#[pyfunction]
pub(crate) fn forked() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// The importing process's runtime: the fast path, no lock.
static FIRST: OnceLock<Runtime> = OnceLock::new();
/// A forked child's runtime and the generation it was built in.
static CHILD: Mutex<Option<(u64, &'static Runtime)>> = Mutex::new(None);

fn build() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ferrokafka")
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

pub(crate) fn runtime() -> &'static Runtime {
    let now = generation();
    if now == 0 {
        return FIRST.get_or_init(build);
    }
    let mut child = CHILD.lock().unwrap_or_else(|p| p.into_inner());
    match *child {
        Some((built_in, rt)) if built_in == now => rt,
        _ => {
            // Leaked on purpose: it lives as long as the process (a later fork's copy is
            // never touched again; dropping it would try to join threads that do not exist
            // in that child). Likewise the parent's copy in `FIRST` is never dropped.
            let rt: &'static Runtime = Box::leak(Box::new(build()));
            *child = Some((now, rt));
            rt
        }
    }
}

/// The process a client object was created in, and what to call it in errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner {
    generation: u64,
    what: &'static str,
}

impl Owner {
    pub(crate) fn here(what: &'static str) -> Self {
        Owner { generation: generation(), what }
    }

    /// Refuses use from a forked child (RuntimeError).
    pub(crate) fn check(&self) -> PyResult<()> {
        if self.generation == generation() { Ok(()) } else { Err(crate::errors::forked(self.what)) }
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
