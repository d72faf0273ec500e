//! The bundled broker, started in-process on the binding's runtime:
//! `const broker = await startBroker({ listen: '127.0.0.1:0', dataDir })` (or
//! `Broker.start({ dataDir, port: 0 })`), then `broker.bootstrap` / `broker.brokers` and
//! `await broker.stop()`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferrokafka_broker::BrokerConfig;
use napi::Env;
use napi::bindgen_prelude::AsyncBlock;
use napi_derive::napi;

use crate::errors::{Error, promise};

/// `startBroker(options)`.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    /// Directory for the logs and the broker's metadata (created if missing). Required.
    pub data_dir: String,
    /// `host:port` to listen on; port 0 picks a free port. Default `127.0.0.1:0`.
    pub listen: Option<String>,
    /// Host to listen on when `listen` is not given (default `127.0.0.1`).
    pub host: Option<String>,
    /// Port to listen on when `listen` is not given (default 0: a free port).
    pub port: Option<u32>,
    /// Broker settings by their Kafka names, e.g. `{ 'num.partitions': '3' }`.
    pub settings: Option<HashMap<String, String>>,
}

/// A broker running in this process.
#[napi]
pub struct Broker {
    inner: Arc<Mutex<Option<ferrokafka_broker::Broker>>>,
    bootstrap: String,
    schema_registry_url: Option<String>,
}

fn config_of(options: &BrokerOptions) -> crate::errors::Result<BrokerConfig> {
    let listen = match &options.listen {
        Some(l) => l.clone(),
        None => format!("{}:{}", options.host.as_deref().unwrap_or("127.0.0.1"), options.port.unwrap_or(0)),
    };
    // In-process, the Schema Registry is on unless a setting turns it off (an empty value).
    let mut config = BrokerConfig {
        listen,
        data_dir: options.data_dir.clone().into(),
        schema_registry_listeners: Some("127.0.0.1:0".into()),
        ..Default::default()
    };
    let mut settings: Vec<_> = options.settings.iter().flatten().collect();
    settings.sort();
    for (k, v) in settings {
        config.set(k, v)?;
    }
    if options.data_dir.trim().is_empty() {
        return Err(Error::invalid("dataDir: required"));
    }
    Ok(config)
}

fn start(env: &Env, options: BrokerOptions) -> napi::Result<AsyncBlock<Broker>> {
    let config = config_of(&options);
    promise(env, async move {
        let config = config?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| Error::invalid(format!("dataDir {}: {e}", config.data_dir.display())))?;
        let broker = ferrokafka_broker::Broker::start(config).await?;
        let bootstrap = broker.bootstrap();
        let schema_registry_url = broker.schema_registry_url().map(str::to_owned);
        Ok(Broker { inner: Arc::new(Mutex::new(Some(broker))), bootstrap, schema_registry_url })
    })
}

/// Starts the bundled broker in this process; resolves once clients can connect.
#[napi(catch_unwind)]
// napi registers free functions only outside `cfg(test)`: unit tests see no use of it.
#[cfg_attr(test, allow(dead_code))]
pub fn start_broker(env: Env, options: BrokerOptions) -> napi::Result<AsyncBlock<Broker>> {
    start(&env, options)
}

#[napi]
impl Broker {
    /// The same as `startBroker(options)`.
    #[napi(catch_unwind)]
    pub fn start(env: Env, options: BrokerOptions) -> napi::Result<AsyncBlock<Broker>> {
        start(&env, options)
    }

    /// `host:port` to give clients as a broker address.
    #[napi(getter)]
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// `[bootstrap]`: what `new Kafka({ brokers })` takes.
    #[napi(getter)]
    pub fn brokers(&self) -> Vec<String> {
        vec![self.bootstrap.clone()]
    }

    /// The Schema Registry's URL (`http://host:port`), for `new SchemaRegistry({ host })`;
    /// `null` when turned off with `settings: { 'schema.registry.listeners': '' }`.
    #[napi(getter)]
    pub fn schema_registry_url(&self) -> Option<String> {
        self.schema_registry_url.clone()
    }

    /// Stops accepting, closes connections and flushes every log. Stopping twice is a no-op.
    #[napi(catch_unwind)]
    pub fn stop(&self, env: Env) -> napi::Result<AsyncBlock<()>> {
        let taken = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        promise(&env, async move {
            if let Some(b) = taken {
                b.shutdown().await?;
            }
            Ok(())
        })
    }
}
