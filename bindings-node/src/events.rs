//! kafkajs's instrumentation events: `client.on(client.events.X, listener)` returns a function
//! that removes the listener; a listener gets `{ id, type, timestamp, payload }`. Listeners are
//! weak thread-safe functions (they do not keep Node.js running) and are called on the
//! JavaScript thread in the order events happen.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{Function, JsObjectValue, JsValue};
use napi::{Env, sys};
use napi_derive::napi;

use crate::callbacks::{Failure, JsCallback, JsFn};
use crate::errors::Error;

/// Event names of a consumer (`consumer.events`), as kafkajs names them.
#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct ConsumerEvents {
    #[napi(js_name = "HEARTBEAT")]
    pub heartbeat: &'static str,
    #[napi(js_name = "COMMIT_OFFSETS")]
    pub commit_offsets: &'static str,
    #[napi(js_name = "GROUP_JOIN")]
    pub group_join: &'static str,
    #[napi(js_name = "FETCH_START")]
    pub fetch_start: &'static str,
    #[napi(js_name = "FETCH")]
    pub fetch: &'static str,
    #[napi(js_name = "START_BATCH_PROCESS")]
    pub start_batch_process: &'static str,
    #[napi(js_name = "END_BATCH_PROCESS")]
    pub end_batch_process: &'static str,
    #[napi(js_name = "CONNECT")]
    pub connect: &'static str,
    #[napi(js_name = "DISCONNECT")]
    pub disconnect: &'static str,
    #[napi(js_name = "STOP")]
    pub stop: &'static str,
    #[napi(js_name = "CRASH")]
    pub crash: &'static str,
    #[napi(js_name = "REBALANCING")]
    pub rebalancing: &'static str,
    #[napi(js_name = "RECEIVED_UNSUBSCRIBED_TOPICS")]
    pub received_unsubscribed_topics: &'static str,
    #[napi(js_name = "REQUEST")]
    pub request: &'static str,
    #[napi(js_name = "REQUEST_TIMEOUT")]
    pub request_timeout: &'static str,
    #[napi(js_name = "REQUEST_QUEUE_SIZE")]
    pub request_queue_size: &'static str,
}

pub(crate) const CONSUMER_EVENTS: ConsumerEvents = ConsumerEvents {
    heartbeat: "consumer.heartbeat",
    commit_offsets: "consumer.commit_offsets",
    group_join: "consumer.group_join",
    fetch_start: "consumer.fetch_start",
    fetch: "consumer.fetch",
    start_batch_process: "consumer.start_batch_process",
    end_batch_process: "consumer.end_batch_process",
    connect: "consumer.connect",
    disconnect: "consumer.disconnect",
    stop: "consumer.stop",
    crash: "consumer.crash",
    rebalancing: "consumer.rebalancing",
    received_unsubscribed_topics: "consumer.received_unsubscribed_topics",
    request: "consumer.network.request",
    request_timeout: "consumer.network.request_timeout",
    request_queue_size: "consumer.network.request_queue_size",
};

/// Every consumer event name, to check `on`'s argument as kafkajs does.
pub(crate) const CONSUMER_EVENT_NAMES: &[&str] = &[
    "consumer.heartbeat",
    "consumer.commit_offsets",
    "consumer.group_join",
    "consumer.fetch_start",
    "consumer.fetch",
    "consumer.start_batch_process",
    "consumer.end_batch_process",
    "consumer.connect",
    "consumer.disconnect",
    "consumer.stop",
    "consumer.crash",
    "consumer.rebalancing",
    "consumer.received_unsubscribed_topics",
    "consumer.network.request",
    "consumer.network.request_timeout",
    "consumer.network.request_queue_size",
];

/// Event names of a producer or an admin client (`producer.events`, `admin.events`).
#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct ClientEvents {
    #[napi(js_name = "CONNECT")]
    pub connect: String,
    #[napi(js_name = "DISCONNECT")]
    pub disconnect: String,
    #[napi(js_name = "REQUEST")]
    pub request: String,
    #[napi(js_name = "REQUEST_TIMEOUT")]
    pub request_timeout: String,
    #[napi(js_name = "REQUEST_QUEUE_SIZE")]
    pub request_queue_size: String,
}

impl ClientEvents {
    pub(crate) fn of(prefix: &str) -> ClientEvents {
        ClientEvents {
            connect: format!("{prefix}.connect"),
            disconnect: format!("{prefix}.disconnect"),
            request: format!("{prefix}.network.request"),
            request_timeout: format!("{prefix}.network.request_timeout"),
            request_queue_size: format!("{prefix}.network.request_queue_size"),
        }
    }

    fn names(&self) -> [&str; 5] {
        [&self.connect, &self.disconnect, &self.request, &self.request_timeout, &self.request_queue_size]
    }
}

/// What an event listener receives.
#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct InstrumentationEvent {
    pub id: u32,
    #[napi(js_name = "type")]
    pub kind: String,
    /// Milliseconds since the epoch.
    pub timestamp: f64,
    /// As kafkajs gives it for this event type; `error` of `consumer.crash` is an `Error`.
    #[napi(ts_type = "any")]
    pub payload: serde_json::Value,
}

struct Event {
    id: u32,
    kind: String,
    timestamp: f64,
    payload: serde_json::Value,
    /// `payload.error`, made an `Error` on the JavaScript thread.
    error: Option<Failure>,
}

type Listener = (u64, String, Arc<JsCallback<true>>);

/// The listeners of one client.
#[derive(Default)]
pub(crate) struct Emitter {
    names: Vec<String>,
    listeners: Mutex<Vec<Listener>>,
    next_listener: AtomicU64,
    next_event: AtomicU64,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter").field("listeners", &self.listeners.lock().map(|l| l.len()).unwrap_or(0)).finish()
    }
}

fn now_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as f64).unwrap_or(0.0)
}

impl Emitter {
    pub(crate) fn consumer() -> Emitter {
        Emitter { names: CONSUMER_EVENT_NAMES.iter().map(|s| (*s).to_owned()).collect(), ..Default::default() }
    }

    pub(crate) fn client(prefix: &str) -> Emitter {
        Emitter {
            names: ClientEvents::of(prefix).names().iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Listener>> {
        self.listeners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a listener; returns the function that removes it.
    pub(crate) fn on<'env>(
        self: &Arc<Self>,
        env: &'env Env,
        name: String,
        listener: JsFn<'_>,
    ) -> napi::Result<Function<'env, (), ()>> {
        if !self.names.contains(&name) {
            let known = self.names.join(", ");
            return crate::errors::throw(
                env,
                Err(Error::invalid(format!("Event name should be one of {known}, got {name:?}"))),
            );
        }
        let id = self.next_listener.fetch_add(1, Ordering::Relaxed);
        let callback = Arc::new(JsCallback::<true>::new(&listener)?);
        self.lock().push((id, name, callback));
        let emitter = Arc::downgrade(self);
        env.create_function_from_closure("removeListener", move |_ctx| {
            if let Some(e) = emitter.upgrade() {
                e.lock().retain(|(i, _, _)| *i != id);
            }
            Ok(())
        })
    }

    /// Whether anyone listens to `name` (to skip building payloads nobody reads).
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.lock().iter().any(|(_, n, _)| n == name)
    }

    pub(crate) fn emit(&self, name: &str, payload: serde_json::Value) {
        self.emit_event(name, payload, None);
    }

    /// Emits an event whose `payload.error` is an `Error` made from `error`.
    pub(crate) fn emit_error(&self, name: &str, payload: serde_json::Value, error: Failure) {
        self.emit_event(name, payload, Some(error));
    }

    fn emit_event(&self, name: &str, payload: serde_json::Value, error: Option<Failure>) {
        let targets: Vec<Arc<JsCallback<true>>> =
            self.lock().iter().filter(|(_, n, _)| n == name).map(|(_, _, c)| Arc::clone(c)).collect();
        if targets.is_empty() {
            return;
        }
        let id = self.next_event.fetch_add(1, Ordering::Relaxed) as u32;
        let event = Arc::new(Event { id, kind: name.to_owned(), timestamp: now_ms(), payload, error });
        for target in targets {
            let event = Arc::clone(&event);
            target.fire(Box::new(move |env: &Env| build_event(env, &event)));
        }
    }
}

fn build_event(env: &Env, event: &Event) -> napi::Result<sys::napi_value> {
    let value = InstrumentationEvent {
        id: event.id,
        kind: event.kind.clone(),
        timestamp: event.timestamp,
        payload: event.payload.clone(),
    };
    let built = napi::bindgen_prelude::ToNapiValue::into_unknown(value, env)?;
    if let Some(failure) = &event.error {
        let obj = built.coerce_to_object()?;
        let mut payload: napi::bindgen_prelude::Object = obj.get_named_property("payload")?;
        payload.set("error", error_object(env, failure)?)?;
    }
    Ok(built.raw())
}

/// An `Error` with the name, message and stack of a failed callback.
pub(crate) fn error_object<'env>(
    env: &'env Env,
    failure: &Failure,
) -> napi::Result<napi::bindgen_prelude::Object<'env>> {
    let mut obj = env.create_error(napi::Error::from_reason(failure.message.clone()))?;
    obj.set("name", failure.name.as_str())?;
    if let Some(stack) = &failure.stack {
        obj.set("stack", stack.as_str())?;
    }
    obj.delete_named_property("code")?;
    Ok(obj)
}
