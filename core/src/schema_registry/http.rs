//! One HTTP/1.1 exchange with a registry (hyper's client over TCP or rustls), retried on the
//! answers and failures that a later attempt can cure.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use super::RegistryError;

/// Confluent's content type.
const CONTENT_TYPE_V1: &str = "application/vnd.schemaregistry.v1+json";
/// Largest answer read; a registry's answers are schemas and lists of them.
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// One registry base URL, split.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    pub(super) tls: bool,
    /// `host:port`.
    pub(super) authority: String,
    pub(super) host: String,
    /// The path prefix (no trailing `/`), for a registry served under a path.
    pub(super) prefix: String,
    /// `user:password` given in the URL itself.
    pub(super) user_info: Option<String>,
}

impl Endpoint {
    pub(super) fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        let (tls, rest) = match url.split_once("://") {
            Some((s, rest)) if s.eq_ignore_ascii_case("http") => (false, rest),
            Some((s, rest)) if s.eq_ignore_ascii_case("https") => (true, rest),
            Some((s, _)) => return Err(format!("{url}: the scheme {s}:// is not http:// or https://")),
            None => return Err(format!("{url}: needs http:// or https://")),
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (user_info, hostport) = match authority.rsplit_once('@') {
            Some((ui, hp)) => (Some(ui.to_owned()), hp),
            None => (None, authority),
        };
        if hostport.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => match p.parse::<u16>() {
                Ok(port) => (h.to_owned(), port),
                Err(_) if hostport.starts_with('[') && hostport.ends_with(']') => {
                    (hostport.to_owned(), if tls { 443 } else { 80 })
                }
                Err(_) => return Err(format!("{url}: port {p:?} is not a number")),
            },
            _ => (hostport.to_owned(), if tls { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        Ok(Endpoint { tls, authority, host, prefix: prefix.to_owned(), user_info })
    }
}

/// What every request shares.
#[derive(Clone)]
pub(super) struct Transport {
    pub(super) endpoints: Vec<Endpoint>,
    /// `Basic ...` for the Authorization header.
    pub(super) authorization: Option<String>,
    pub(super) tls: Option<TlsConnector>,
    pub(super) timeout: Duration,
    pub(super) max_retries: u32,
    pub(super) retry_wait: Duration,
    pub(super) retry_max_wait: Duration,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("endpoints", &self.endpoints.iter().map(|e| &e.authority).collect::<Vec<_>>())
            .field("auth", &self.authorization.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub(super) fn basic(user_info: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_info))
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

impl Transport {
    /// Sends `method path` with an optional JSON body; the answer's JSON on 2xx, the
    /// registry's error otherwise. Each URL is tried in turn; failures worth retrying (no
    /// connection, 408, 429, 5xx) are retried `max.retries` times with growing waits.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, RegistryError> {
        let body = body.map(|b| Bytes::from(b.to_string()));
        let mut wait = self.retry_wait;
        let mut attempt = 0;
        loop {
            let mut last = None;
            for endpoint in &self.endpoints {
                match self.once(endpoint, &method, path, body.clone()).await {
                    Ok(v) => return Ok(v),
                    Err(e) if e.retriable() => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
            let err = last.expect("at least one endpoint");
            if attempt >= self.max_retries {
                return Err(err);
            }
            attempt += 1;
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.retry_max_wait);
        }
    }

    async fn once(
        &self,
        endpoint: &Endpoint,
        method: &Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<serde_json::Value, RegistryError> {
        let url = format!(
            "{}://{}{}{path}",
            if endpoint.tls { "https" } else { "http" },
            endpoint.authority,
            endpoint.prefix
        );
        let exchange = async {
            let tcp = TcpStream::connect(&endpoint.authority)
                .await
                .map_err(|e| RegistryError::Transport { url: url.clone(), reason: e.to_string() })?;
            let _ = tcp.set_nodelay(true);
            let io: Box<dyn Io> = match (endpoint.tls, &self.tls) {
                (false, _) => Box::new(tcp),
                (true, None) => unreachable!("a TLS connector is made for https:// endpoints"),
                (true, Some(tls)) => {
                    let name = ServerName::try_from(endpoint.host.clone())
                        .map_err(|e| RegistryError::Transport { url: url.clone(), reason: e.to_string() })?;
                    Box::new(
                        tls.connect(name, tcp)
                            .await
                            .map_err(|e| RegistryError::Transport { url: url.clone(), reason: format!("TLS: {e}") })?,
                    )
                }
            };
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                .await
                .map_err(|e| RegistryError::Transport { url: url.clone(), reason: e.to_string() })?;
            let driver = tokio::spawn(connection);
            let mut request = Request::builder()
                .method(method.clone())
                .uri(format!("{}{path}", endpoint.prefix))
                .header(HOST, &endpoint.authority)
                .header(ACCEPT, CONTENT_TYPE_V1);
            let authorization = endpoint.user_info.as_deref().map(basic).or_else(|| self.authorization.clone());
            if let Some(auth) = authorization {
                request = request.header(AUTHORIZATION, auth);
            }
            if body.is_some() {
                request = request.header(CONTENT_TYPE, CONTENT_TYPE_V1);
            }
            let request = request
                .body(Full::new(body.unwrap_or_default()))
                .map_err(|e| RegistryError::Transport { url: url.clone(), reason: e.to_string() })?;
            let answer = sender
                .send_request(request)
                .await
                .map_err(|e| RegistryError::Transport { url: url.clone(), reason: e.to_string() })?;
            let status = answer.status();
            let bytes = Limited::new(answer.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| RegistryError::Transport { url: url.clone(), reason: e.to_string() })?
                .to_bytes();
            driver.abort();
            Ok::<_, RegistryError>((status, bytes))
        };
        let (status, bytes) =
            tokio::time::timeout(self.timeout, exchange).await.map_err(|_| RegistryError::Transport {
                url: url.clone(),
                reason: format!("no answer within {} ms", self.timeout.as_millis()),
            })??;
        let json: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return json.ok_or_else(|| RegistryError::Protocol {
                url,
                reason: format!("the answer is not JSON: {}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)])),
            });
        }
        let (code, message) = match &json {
            Some(v) => (
                v.get("error_code").and_then(serde_json::Value::as_i64).unwrap_or(i64::from(status.as_u16())),
                v.get("message").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned(),
            ),
            None => (i64::from(status.as_u16()), String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()),
        };
        Err(RegistryError::Http {
            status: status.as_u16(),
            code: i32::try_from(code).unwrap_or(-1),
            message: if message.is_empty() { status.canonical_reason().unwrap_or("").to_owned() } else { message },
        })
    }
}

pub(super) fn retriable_status(status: u16) -> bool {
    status == StatusCode::REQUEST_TIMEOUT.as_u16()
        || status == StatusCode::TOO_MANY_REQUESTS.as_u16()
        || (500..600).contains(&status)
}

pub(super) fn connector(config: rustls::ClientConfig) -> TlsConnector {
    TlsConnector::from(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        let e = Endpoint::parse("https://u:p@reg.example:8443/sr/").unwrap();
        assert!(e.tls);
        assert_eq!(e.authority, "reg.example:8443");
        assert_eq!(e.prefix, "/sr");
        assert_eq!(e.user_info.as_deref(), Some("u:p"));
        let e = Endpoint::parse("http://127.0.0.1:8081").unwrap();
        assert_eq!((e.authority.as_str(), e.prefix.as_str()), ("127.0.0.1:8081", ""));
        assert_eq!(Endpoint::parse("http://[::1]:81").unwrap().authority, "[::1]:81");
        assert_eq!(Endpoint::parse("http://reg").unwrap().authority, "reg:80");
        for bad in ["reg:8081", "ftp://x", "http://", "http://h:port"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
