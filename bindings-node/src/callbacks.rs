//! Calling JavaScript functions from the runtime's threads: a thread-safe function whose
//! arguments are built on the JavaScript thread, and four ways to call it — and forget
//! (events), and await the promise it returns (`eachMessage`, `eachBatch`), or block the
//! calling runtime thread for a plain value (a custom partitioner) or for what the returned
//! promise resolves to (an OAUTHBEARER token provider).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use napi::bindgen_prelude::{FnArgs, Function, JsObjectValue, JsValue, Object, Unknown};
use napi::threadsafe_function::{ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status, ValueType, sys};
use tokio::sync::oneshot;

/// Builds the one argument of a call, on the JavaScript thread.
pub(crate) type Args = Box<dyn FnOnce(&Env) -> napi::Result<sys::napi_value> + Send>;

type Tsfn<const WEAK: bool> = ThreadsafeFunction<Args, Unknown<'static>, sys::napi_value, Status, false, WEAK, 0>;

/// The function a JavaScript callback was given as.
pub(crate) type JsFn<'a> = Function<'a, Unknown<'static>, Unknown<'static>>;

/// How a JavaScript callback failed: it threw, or the promise it returned was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) name: String,
    pub(crate) message: String,
    pub(crate) stack: Option<String>,
}

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Failure {
        Failure { name: "Error".into(), message: message.into(), stack: None }
    }

    pub(crate) fn of(value: &Unknown<'_>) -> Failure {
        let text = |v: &Unknown<'_>| {
            v.coerce_to_string().and_then(|s| s.into_utf8()).and_then(|s| s.into_owned()).unwrap_or_default()
        };
        if value.get_type().ok() == Some(ValueType::Object)
            && let Ok(obj) = value.coerce_to_object()
        {
            let field = |name: &str| {
                obj.get::<Unknown>(name)
                    .ok()
                    .flatten()
                    .filter(|v| v.get_type().ok() == Some(ValueType::String))
                    .map(|v| text(&v))
            };
            return Failure {
                name: field("name").unwrap_or_else(|| "Error".into()),
                message: field("message").unwrap_or_else(|| text(value)),
                stack: field("stack"),
            };
        }
        Failure { name: "Error".into(), message: text(value), stack: None }
    }

    fn thrown(e: &napi::Error) -> Failure {
        // napi has already read the exception's message and stack into `reason`.
        let mut lines = e.reason.splitn(2, '\n');
        let message = lines.next().unwrap_or_default().to_owned();
        Failure { name: "Error".into(), message, stack: lines.next().map(str::to_owned) }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

/// A JavaScript function callable from any thread. `WEAK` ones do not keep Node.js running.
pub(crate) struct JsCallback<const WEAK: bool> {
    tsfn: Tsfn<WEAK>,
}

impl<const WEAK: bool> std::fmt::Debug for JsCallback<WEAK> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsCallback").field("weak", &WEAK).finish()
    }
}

/// Where a settled call's outcome goes: to an awaiting task, or to a blocked thread.
trait Sink<T> {
    /// Gives `value` to the receiver; nothing happens if it has gone.
    fn put(self, value: T);
}

impl<T> Sink<T> for oneshot::Sender<T> {
    fn put(self, value: T) {
        let _ = self.send(value);
    }
}

impl<T> Sink<T> for mpsc::SyncSender<T> {
    fn put(self, value: T) {
        let _ = self.send(value);
    }
}

/// Sends at most once, from whichever of the promise's two callbacks runs.
type Once<S> = Rc<Cell<Option<S>>>;

fn settle<T, S: Sink<T>>(once: &Once<S>, value: T) {
    if let Some(tx) = once.take() {
        tx.put(value);
    }
}

/// A promise's `then`, called with its two callbacks.
type Then<'env> =
    Function<'env, FnArgs<(Function<'env, Unknown<'env>, ()>, Function<'env, Unknown<'env>, ()>)>, Unknown<'env>>;

/// Calls `value.then(resolve, reject)` if it is a promise, settling with what `read` makes of
/// the resolved value; settles at once otherwise.
fn await_value_in_js<T: 'static, S: Sink<Result<T, Failure>> + 'static>(
    env: &Env,
    value: Unknown<'_>,
    once: Once<S>,
    read: fn(&Unknown<'_>) -> T,
) -> napi::Result<()> {
    if !value.is_promise()? {
        settle(&once, Ok(read(&value)));
        return Ok(());
    }
    let promise: Object = value.coerce_to_object()?;
    let then: Then<'_> = promise.get_named_property("then")?;
    let ok = Rc::clone(&once);
    let resolved = env.create_function_from_closure("resolved", move |ctx| {
        let value: Unknown = ctx.get(0)?;
        settle(&ok, Ok(read(&value)));
        Ok(())
    })?;
    let rejected = env.create_function_from_closure("rejected", move |ctx| {
        let reason: Unknown = ctx.get(0)?;
        settle(&once, Err(Failure::of(&reason)));
        Ok(())
    })?;
    then.apply(promise, FnArgs::from((resolved, rejected)))?;
    Ok(())
}

impl<const WEAK: bool> JsCallback<WEAK> {
    /// Must be called on the JavaScript thread, as the function is only valid there.
    pub(crate) fn new(f: &JsFn<'_>) -> napi::Result<Self> {
        let tsfn = f
            .build_threadsafe_function::<Args>()
            .callee_handled::<false>()
            .weak::<WEAK>()
            .build_callback(|ctx: ThreadsafeCallContext<Args>| (ctx.value)(&ctx.env))?;
        Ok(JsCallback { tsfn })
    }

    /// Queues a call and returns at once; what it returns or throws is ignored.
    pub(crate) fn fire(&self, args: Args) {
        let _ = self.tsfn.call_with_return_value(args, ThreadsafeFunctionCallMode::NonBlocking, |ret, _env| {
            if let Err(e) = ret {
                tracing::warn!(error = %e.reason, "an event listener threw");
            }
            Ok(())
        });
    }

    /// Calls and waits until the call has returned and, if it returned a promise, until that
    /// promise settled. A throw or a rejection is the `Err`.
    pub(crate) async fn call(&self, args: Args) -> Result<(), Failure> {
        self.call_for(args, |_| ()).await
    }

    /// As [`call`](Self::call), resolving to what `read` makes of the promise's value (or
    /// of the returned value, when it is not a promise).
    pub(crate) async fn call_for<T: Send + 'static>(
        &self,
        args: Args,
        read: fn(&Unknown<'_>) -> T,
    ) -> Result<T, Failure> {
        let (tx, rx) = oneshot::channel::<Result<T, Failure>>();
        self.call_into(args, read, tx)?;
        rx.await.unwrap_or_else(|_| Err(Failure::new("the callback was dropped before it settled")))
    }

    /// As [`call_for`](Self::call_for), blocking this thread until the promise settles, for
    /// at most `timeout`. For sync call sites on runtime threads only, as
    /// [`call_blocking`](Self::call_blocking): on the JavaScript thread it would wait for
    /// itself (the caller must check).
    pub(crate) fn call_blocking_for<T: Send + 'static>(
        &self,
        args: Args,
        read: fn(&Unknown<'_>) -> T,
        timeout: Duration,
    ) -> Result<T, Failure> {
        let (tx, rx) = mpsc::sync_channel::<Result<T, Failure>>(1);
        self.call_into(args, read, tx)?;
        match block_runtime_thread(|| rx.recv_timeout(timeout)) {
            Ok(settled) => settled,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(Failure::new(format!("the promise did not settle within {} ms", timeout.as_millis())))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(Failure::new("the callback was dropped before it settled"))
            }
        }
    }

    /// Queues the call; `tx` gets what `read` makes of its value (or of the promise's, once it
    /// settled), or the throw or rejection.
    fn call_into<T: 'static, S: Sink<Result<T, Failure>> + Send + 'static>(
        &self,
        args: Args,
        read: fn(&Unknown<'_>) -> T,
        tx: S,
    ) -> Result<(), Failure> {
        let status =
            self.tsfn.call_with_return_value(args, ThreadsafeFunctionCallMode::NonBlocking, move |ret, env| {
                let once: Once<_> = Rc::new(Cell::new(Some(tx)));
                match ret {
                    Ok(value) => {
                        if let Err(e) = await_value_in_js(&env, value, Rc::clone(&once), read) {
                            settle(&once, Err(Failure::thrown(&e)));
                        }
                    }
                    Err(e) => settle(&once, Err(Failure::thrown(&e))),
                }
                Ok(())
            });
        if status != Status::Ok {
            return Err(Failure::new(format!("the callback could not be called ({status})")));
        }
        Ok(())
    }

    /// Calls and blocks this thread until the call returns, reading its value with `read`
    /// (on the JavaScript thread). For sync call sites on runtime threads only: the runtime
    /// is told the thread blocks, so its other tasks move on.
    pub(crate) fn call_blocking<R: Send + 'static>(
        &self,
        args: Args,
        read: impl FnOnce(Unknown<'_>) -> Result<R, Failure> + 'static,
    ) -> Result<R, Failure> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<R, Failure>>(1);
        let status =
            self.tsfn.call_with_return_value(args, ThreadsafeFunctionCallMode::NonBlocking, move |ret, _env| {
                let _ = tx.send(match ret {
                    Ok(value) => read(value),
                    Err(e) => Err(Failure::thrown(&e)),
                });
                Ok(())
            });
        if status != Status::Ok {
            return Err(Failure {
                name: "Error".into(),
                message: format!("the callback could not be called ({status})"),
                stack: None,
            });
        }
        block_runtime_thread(|| rx.recv()).unwrap_or_else(|_| {
            Err(Failure {
                name: "Error".into(),
                message: "the callback was dropped before it returned".into(),
                stack: None,
            })
        })
    }
}

/// Runs `wait`, which blocks this thread; on a worker of a multi-threaded runtime the runtime
/// is told first, so its other tasks move to another thread meanwhile.
fn block_runtime_thread<R>(wait: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(wait),
        _ => wait(),
    }
}
