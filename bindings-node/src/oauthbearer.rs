//! kafkajs's `sasl.oauthBearerProvider` as the core's [`OAuthBearerTokenProvider`].
//!
//! The core asks for a token synchronously, on a runtime thread, each time a connection
//! authenticates. The provider is an async JavaScript function: it is called on the
//! JavaScript thread through a thread-safe function, its promise is awaited there, and what
//! it settles to is sent back to the waiting runtime thread, which gives up after the
//! client's `request.timeout.ms`. Asked on the JavaScript thread itself, waiting would block
//! the very thread that has to run the provider: that is an error at once instead.

use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

use ferrokafka::{OAuthBearerToken, OAuthBearerTokenProvider};
use napi::bindgen_prelude::{JsValue, ToNapiValue, Unknown};
use napi::{Env, ValueType};

use crate::callbacks::{Args, JsCallback, JsFn};

/// How long a token is waited for when `request.timeout.ms` cannot be read.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// The JavaScript provider, shared by every core client of one `Kafka`.
pub(crate) struct JsTokenProvider {
    /// Weak: a provider alone does not keep Node.js running.
    callback: JsCallback<true>,
    /// The JavaScript thread, where a token must not be waited for.
    js_thread: ThreadId,
}

impl std::fmt::Debug for JsTokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsTokenProvider").finish_non_exhaustive()
    }
}

/// The provider's `{ value }`, or why it is not one.
fn read_token(resolved: &Unknown<'_>) -> Result<String, String> {
    let wrong = || "oauthBearerProvider must resolve to { value: string }".to_owned();
    if resolved.get_type().ok() != Some(ValueType::Object) {
        return Err(wrong());
    }
    let value: Option<Unknown> =
        resolved.coerce_to_object().and_then(|o| o.get("value")).map_err(|e| e.reason.clone())?;
    match value {
        Some(v) if v.get_type().ok() == Some(ValueType::String) => {
            v.coerce_to_string().and_then(|s| s.into_utf8()).and_then(|s| s.into_owned()).map_err(|e| e.reason.clone())
        }
        _ => Err(wrong()),
    }
}

impl JsTokenProvider {
    /// Must be called on the JavaScript thread.
    pub(crate) fn new(f: &JsFn<'_>) -> napi::Result<Self> {
        Ok(JsTokenProvider { callback: JsCallback::new(f)?, js_thread: std::thread::current().id() })
    }

    /// Calls the provider and waits, at most `wait`, for its promise.
    fn token(&self, wait: Duration) -> Result<OAuthBearerToken, String> {
        if std::thread::current().id() == self.js_thread {
            return Err("oauthBearerProvider: a token was asked for on the JavaScript thread, which cannot wait for the provider's promise".into());
        }
        // kafkajs calls it without arguments; here its one argument is `undefined`.
        let args: Args = Box::new(|env: &Env| Ok(().into_unknown(env)?.raw()));
        match self.callback.call_blocking_for(args, read_token, wait) {
            Ok(Ok(value)) => Ok(OAuthBearerToken { value, extensions: Vec::new() }),
            Ok(Err(wrong)) => Err(wrong),
            Err(failure) => Err(format!("oauthBearerProvider: {failure}")),
        }
    }

    /// The core's provider for a client whose `request.timeout.ms` is `timeout_ms`: how long
    /// it waits for the JavaScript provider.
    pub(crate) fn for_client(
        provider: &Arc<Self>,
        timeout_ms: Option<&str>,
    ) -> impl OAuthBearerTokenProvider + 'static {
        let wait = timeout_ms.and_then(|t| t.trim().parse().ok()).map_or(DEFAULT_WAIT, Duration::from_millis);
        let provider = Arc::clone(provider);
        move || provider.token(wait)
    }
}
