//! State owned by one task, and the handle other tasks reach it through: the coordinators'
//! shape. Callers send closures over a channel and await their result; the owner runs them one
//! at a time, so the state needs no lock and no two requests race.

use tokio::sync::{mpsc, oneshot};

/// Work for the owner of a `C`.
pub(crate) type Job<C> = Box<dyn FnOnce(&mut C) + Send>;

/// The owning task has stopped (the broker is shutting down).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CoordinatorGone;

/// A cheap, cloneable handle to the task owning a `C`.
pub(crate) struct Mailbox<C> {
    jobs: mpsc::Sender<Job<C>>,
}

impl<C> Clone for Mailbox<C> {
    fn clone(&self) -> Self {
        Mailbox { jobs: self.jobs.clone() }
    }
}

impl<C> std::fmt::Debug for Mailbox<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox").finish_non_exhaustive()
    }
}

impl<C: 'static> Mailbox<C> {
    /// The handle, and the receiving end for the owning task.
    pub(crate) fn new() -> (Self, mpsc::Receiver<Job<C>>) {
        let (jobs, rx) = mpsc::channel(1024);
        (Mailbox { jobs }, rx)
    }

    /// Runs `f` on the state and returns its result.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut C) -> T + Send + 'static,
    ) -> Result<T, CoordinatorGone> {
        self.call_deferred(move |c, tx| {
            let _ = tx.send(f(c));
        })
        .await
    }

    /// Runs `f`, which completes the reply channel now or later.
    pub(crate) async fn call_deferred<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut C, oneshot::Sender<T>) + Send + 'static,
    ) -> Result<T, CoordinatorGone> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Box::new(move |c| f(c, tx))).await.map_err(|_| CoordinatorGone)?;
        rx.await.map_err(|_| CoordinatorGone)
    }
}

/// Runs one job for the owner. One request's bug must not take the whole state down: a
/// panicking job's reply channel is dropped (its caller answers COORDINATOR_NOT_AVAILABLE,
/// and clients retry) and the owner goes on serving.
pub(crate) fn run<C>(job: Job<C>, state: &mut C, owner: &str) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(state))).is_err() {
        tracing::error!(owner, "a request panicked; the coordinator carries on");
    }
}
