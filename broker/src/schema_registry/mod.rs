//! A Confluent-compatible Schema Registry served by the broker (`schema.registry.listeners`):
//! Confluent's REST API over HTTP/1.1, AVRO, JSON and PROTOBUF schemas with references and
//! compatibility checks, kept in the compacted topic `_schemas` of the broker's own log.
//!
//! - [`http`]: the server (TLS, HTTP Basic auth against the broker's SASL users, body limits);
//! - [`routes`]: the REST API's paths;
//! - [`registry`]: subjects, versions, ids, settings;
//! - [`store`]: the `_schemas` topic;
//! - schemas themselves (parsing, compatibility per type) are the `ferrokafka-schema` crate's;
//! - [`compatibility`]: the levels; [`error`]: Confluent's error codes.

mod compatibility;
mod error;
mod http;
mod registry;
mod routes;
mod store;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::BrokerConfig;
use crate::error::{Error, Result};
use crate::topics::TopicRegistry;

use crate::server::BrokerState;
pub(crate) use store::Recovered;

/// Reads `_schemas`, if it exists, for [`bind`]. Blocking.
pub(crate) fn recover(topics: &TopicRegistry) -> Result<Recovered> {
    store::recover(topics)
}

/// The address `schema.registry.listeners` asks for, and whether it is TLS.
fn parse_listener(config: &BrokerConfig, listener: &str) -> Result<(String, bool)> {
    let listener = listener.trim();
    if listener.contains(',') {
        return Err(Error::Config(format!("schema.registry.listeners: {listener:?}: one listener only")));
    }
    let (tls, addr) = match listener.split_once("://") {
        Some((scheme, addr)) if scheme.eq_ignore_ascii_case("http") => (false, addr),
        Some((scheme, addr)) if scheme.eq_ignore_ascii_case("https") => (true, addr),
        Some((scheme, _)) => {
            return Err(Error::Config(format!("schema.registry.listeners: {scheme}:// is not http:// or https://")));
        }
        // Without a scheme: TLS when the broker has a certificate.
        None => (config.tls.certificate.is_some(), listener),
    };
    Ok((addr.trim_end_matches('/').to_owned(), tls))
}

/// A bound registry listener, ready to serve.
pub(crate) struct Bound {
    listener: TcpListener,
    server: Arc<http::Server>,
    /// `http://host:port` or `https://host:port`.
    pub(crate) url: String,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound").field("url", &self.url).finish()
    }
}

/// Binds `schema.registry.listeners`. HTTP Basic auth is required when any broker listener
/// requires SASL; https serves the broker's certificate.
pub(crate) async fn bind(broker: &Arc<BrokerState>, spec: &str, recovered: Recovered) -> Result<Bound> {
    let config = &broker.config;
    let (addr, tls) = parse_listener(config, spec)?;
    let listener = TcpListener::bind(&addr).await.map_err(|source| Error::Bind { addr: addr.clone(), source })?;
    let local = listener.local_addr().map_err(|source| Error::Bind { addr: addr.clone(), source })?;
    let tls = match tls {
        true => Some(tokio_rustls::TlsAcceptor::from(config.tls.server_config(None)?)),
        false => None,
    };
    let sasl = config.listener_specs()?.iter().any(|l| l.protocol.sasl());
    let users = sasl.then(|| config.users.clone());
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{local}");
    let store = store::SchemaStore::new(Arc::clone(broker));
    let registry = tokio::task::spawn_blocking(move || registry::Registry::open(store, recovered))
        .await
        .map_err(|e| Error::Config(format!("schema registry: rebuilding its state failed: {e}")))?;
    let server = Arc::new(http::Server { registry: Arc::new(registry), users, tls });
    Ok(Bound { listener, server, url })
}

impl Bound {
    /// Serves until `shutdown`.
    pub(crate) async fn serve(self, shutdown: watch::Receiver<bool>) {
        tracing::info!(url = %self.url, "schema registry listening");
        http::serve(self.listener, self.server, shutdown).await
    }
}
