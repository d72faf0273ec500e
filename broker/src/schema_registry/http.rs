//! The HTTP/1.1 server (hyper): authentication, body limits and timeouts, then each request
//! routed to the registry on a blocking thread (a write waits for its fsync; a panic there
//! becomes a 500 for that request alone).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::error::RegistryError;
use super::registry::Registry;
use super::routes;
use crate::security::Users;

/// Largest request body; larger ones are answered 413.
pub(crate) const MAX_BODY_BYTES: usize = 16 << 20;
/// Confluent's content type, used for every answer.
pub(crate) const CONTENT_TYPE_V1: &str = "application/vnd.schemaregistry.v1+json";
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_CONNECTIONS: usize = 1024;

/// What every connection shares.
pub(crate) struct Server {
    pub(crate) registry: Arc<Registry>,
    /// Users whose HTTP Basic credentials are required; `None` when the broker needs no SASL.
    pub(crate) users: Option<Users>,
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("auth", &self.users.is_some()).field("tls", &self.tls.is_some()).finish()
    }
}

pub(crate) async fn serve(listener: TcpListener, server: Arc<Server>, mut shutdown: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = crate::server::stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Past the limit the connection is closed at once.
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else { continue };
                    let _ = stream.set_nodelay(true);
                    let (server, shutdown) = (Arc::clone(&server), shutdown.clone());
                    connections.spawn(async move {
                        match &server.tls {
                            None => connection(stream, Arc::clone(&server), shutdown).await,
                            Some(acceptor) => match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => connection(tls, Arc::clone(&server), shutdown).await,
                                Ok(Err(e)) => tracing::info!(%peer, error = %e, "schema registry: TLS handshake failed"),
                                Err(_) => tracing::info!(%peer, "schema registry: TLS handshake timed out"),
                            },
                        }
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "schema registry: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn connection<S>(io: S, server: Arc<Server>, mut shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let server = Arc::clone(&server);
        async move { Ok::<_, Infallible>(handle(req, server).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = crate::server::stopped(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
        }
    }
}

async fn handle(req: Request<Incoming>, server: Arc<Server>) -> Response<Full<Bytes>> {
    match answer(req, server).await {
        Ok((status, body)) => respond(status, body),
        Err(e) => {
            let mut response = respond(
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                e.body().to_string(),
            );
            if e.code == 40101 {
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"schema-registry\""));
            }
            response
        }
    }
}

fn respond(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_V1));
    response
}

async fn answer(req: Request<Incoming>, server: Arc<Server>) -> Result<(StatusCode, String), RegistryError> {
    if let Some(users) = &server.users {
        let credentials =
            basic_credentials(req.headers().get(AUTHORIZATION)).ok_or_else(RegistryError::unauthorized)?;
        let users = users.clone();
        let (user, password) = credentials;
        let checked =
            tokio::task::spawn_blocking(move || users.check_password(&user, &password).map_err(|why| (user, why)))
                .await
                .map_err(|_| RegistryError::internal("authentication failed"))?;
        if let Err((user, why)) = checked {
            tracing::info!(%user, reason = why, "schema registry: authentication failed");
            return Err(RegistryError::unauthorized());
        }
    }
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(RegistryError::body_too_large(MAX_BODY_BYTES));
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let body = match tokio::time::timeout(BODY_TIMEOUT, Limited::new(req.into_body(), MAX_BODY_BYTES).collect()).await {
        Err(_) => return Err(RegistryError::new(408, "Timed out reading the request body")),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return Err(RegistryError::body_too_large(MAX_BODY_BYTES));
        }
        Ok(Err(e)) => return Err(RegistryError::bad_request(format!("Unreadable request body: {e}"))),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let registry = Arc::clone(&server.registry);
    let reply = tokio::task::spawn_blocking(move || routes::route(&registry, &method, &path, &query, &body))
        .await
        .map_err(|e| {
        tracing::error!(error = %e, "schema registry: a request handler failed");
        RegistryError::internal("Internal Server Error")
    })??;
    Ok((StatusCode::OK, reply))
}

/// The user and password of an `Authorization: Basic ...` header.
fn basic_credentials(header: Option<&HeaderValue>) -> Option<(String, String)> {
    let value = header?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
