//! One connection to one broker: requests are pipelined and matched to responses by
//! correlation id; a writer task owns the socket's write half and a reader task its read
//! half. On connect the connection negotiates API versions (the highest both sides speak).
//!
//! The byte stream is created by [`transport::connect`] (TCP, or TLS over it); SASL runs as
//! ordinary requests right after ApiVersions, before the connection is handed out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

type Pending = Arc<Mutex<HashMap<i32, oneshot::Sender<Result<Bytes>>>>>;

pub(crate) mod transport {
    use super::*;
    use tokio::net::TcpStream;

    /// A connected byte stream: plain TCP, or TLS over it.
    pub(crate) enum Stream {
        Plain(TcpStream),
        Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    }

    /// Opens the byte stream to a broker, with the TLS handshake when configured.
    pub(crate) async fn connect(addr: &str, settings: &ConnectionSettings) -> Result<Stream> {
        let timeout = settings.connect_timeout;
        let fail = |reason: String| Error::Connection { broker: addr.to_owned(), reason };
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| fail(format!("no TCP connection within {} ms", timeout.as_millis())))?
            .map_err(|e| fail(e.to_string()))?;
        stream.set_nodelay(settings.nodelay).map_err(|e| fail(e.to_string()))?;
        match &settings.security.tls {
            None => Ok(Stream::Plain(stream)),
            Some(tls) => {
                let tls = crate::security::tls::handshake(Arc::clone(tls), addr, stream, timeout).await?;
                Ok(Stream::Tls(Box::new(tls)))
            }
        }
    }
}

/// Settings a connection needs from the client config.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSettings {
    pub(crate) client_id: String,
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) nodelay: bool,
    pub(crate) security: crate::security::Security,
}

#[derive(Debug)]
pub(crate) struct BrokerConnection {
    addr: String,
    settings: ConnectionSettings,
    writer: mpsc::UnboundedSender<Bytes>,
    pending: Pending,
    next_correlation_id: AtomicI32,
    /// The broker's (min, max) per API key, from ApiVersions.
    versions: HashMap<i16, (i16, i16)>,
    closed: Arc<AtomicBool>,
}

impl BrokerConnection {
    pub(crate) async fn connect(addr: &str, settings: ConnectionSettings) -> Result<Arc<Self>> {
        let stream = transport::connect(addr, &settings).await?;
        let (writer, rx) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        match stream {
            transport::Stream::Plain(tcp) => {
                let (read, write) = tcp.into_split();
                tokio::spawn(write_loop(write, rx, Arc::clone(&closed)));
                tokio::spawn(read_loop(read, Arc::clone(&pending), Arc::clone(&closed), addr.to_owned()));
            }
            transport::Stream::Tls(tls) => {
                let (read, write) = tokio::io::split(tls);
                tokio::spawn(write_loop(write, rx, Arc::clone(&closed)));
                tokio::spawn(read_loop(read, Arc::clone(&pending), Arc::clone(&closed), addr.to_owned()));
            }
        }
        let mut conn = BrokerConnection {
            addr: addr.to_owned(),
            settings,
            writer,
            pending,
            next_correlation_id: AtomicI32::new(0),
            versions: HashMap::new(),
            closed,
        };
        conn.versions = conn.negotiate().await.map_err(|e| conn.explain_first_failure(e))?;
        if let Some(mechanism) = &conn.settings.security.sasl {
            let lifetime = crate::security::sasl::authenticate(&conn, mechanism).await?;
            if let Some(lifetime) = lifetime {
                // KIP-368: the broker closes a connection whose session has expired. Rather
                // than re-authenticating in place with requests in flight, the connection
                // retires itself well before then: it takes no new requests (answers to
                // those in flight still arrive) and the cluster opens a freshly
                // authenticated one on the next use.
                let closed = Arc::clone(&conn.closed);
                let retire_after = lifetime.mul_f64(0.85);
                let broker = conn.addr.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(retire_after).await;
                    tracing::debug!(%broker, "SASL session ends soon: connection retired for re-authentication");
                    closed.store(true, Ordering::Release);
                });
            }
        }
        Ok(Arc::new(conn))
    }

    /// Asks for our newest ApiVersions; a broker that lacks it answers in v0 with its range.
    async fn negotiate(&self) -> Result<HashMap<i16, (i16, i16)>> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("ferrokafka"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut version = ApiVersionsRequest::VERSIONS.max;
        for _ in 0..2 {
            let resp: ApiVersionsResponse = self.send_at(&req, version).await?;
            if resp.error_code == kafka_protocol::ResponseError::UnsupportedVersion.code() {
                version = resp
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                    .map(|k| k.max_version.min(version))
                    .unwrap_or(0);
                continue;
            }
            if resp.error_code != 0 {
                return Err(Error::from_code(resp.error_code, None, format!("ApiVersions from {}", self.addr)));
            }
            return Ok(resp.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect());
        }
        Err(Error::Protocol { broker: self.addr.clone(), reason: "ApiVersions negotiation did not converge".into() })
    }

    /// The highest version of `R` both this client and the broker speak.
    pub(crate) fn version_of<R: Request>(&self) -> Result<i16> {
        let ours = R::VERSIONS;
        let unsupported = || Error::UnsupportedVersion {
            broker: self.addr.clone(),
            api: format!("{:?}", ApiKey::try_from(R::KEY).map_err(|_| ()).ok()),
        };
        let &(min, max) = self.versions.get(&R::KEY).ok_or_else(unsupported)?;
        let v = ours.max.min(max);
        if v < ours.min.max(min) {
            return Err(unsupported());
        }
        Ok(v)
    }

    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Sends `req` at the negotiated version and waits for its response.
    pub(crate) async fn send<R: Request>(&self, req: &R) -> Result<R::Response> {
        let version = self.version_of::<R>()?;
        self.send_at(req, version).await
    }

    /// A broker that hangs up on the very first request usually speaks another security
    /// protocol on that port (TLS or SASL): say so instead of a bare "connection closed".
    fn explain_first_failure(&self, e: Error) -> Error {
        match e {
            Error::Connection { broker, reason } if self.settings.security.tls.is_none() => Error::Connection {
                broker,
                reason: format!(
                    "{reason} during the first request (ApiVersions): a TLS listener closes plaintext clients; check security.protocol"
                ),
            },
            Error::Connection { broker, reason } => Error::Tls {
                broker,
                reason: format!(
                    "{reason} right after the TLS handshake: the broker may have rejected the client certificate"
                ),
            },
            other => other,
        }
    }

    pub(crate) async fn send_at<R: Request>(&self, req: &R, version: i16) -> Result<R::Response> {
        let rx = self.enqueue(req, version, true)?.expect("a response was asked for");
        self.wait::<R>(rx, version).await
    }

    /// Like [`send`](Self::send) for requests the broker may hold longer than
    /// `request.timeout.ms` by design (JoinGroup waits for the whole rebalance).
    pub(crate) async fn send_with_timeout<R: Request>(&self, req: &R, timeout: Duration) -> Result<R::Response> {
        let version = self.version_of::<R>()?;
        let rx = self.enqueue(req, version, true)?.expect("a response was asked for");
        self.wait_up_to::<R>(rx, version, timeout).await
    }

    /// Queues `req` for writing now, in call order, and returns the receiver of its response
    /// (`None` when `expect_response` is false, e.g. acks=0 produce).
    pub(crate) fn enqueue<R: Request>(
        &self,
        req: &R,
        version: i16,
        expect_response: bool,
    ) -> Result<Option<oneshot::Receiver<Result<Bytes>>>> {
        if self.is_closed() {
            return Err(self.disconnected());
        }
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.settings.client_id.clone())));
        let mut buf = BytesMut::with_capacity(128);
        buf.put_i32(0);
        header
            .encode(&mut buf, R::header_version(version))
            .and_then(|_| req.encode(&mut buf, version))
            .map_err(|e| Error::Protocol { broker: self.addr.clone(), reason: format!("encoding request: {e}") })?;
        let len = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        let rx = if expect_response {
            let (tx, rx) = oneshot::channel();
            self.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(correlation_id, tx);
            Some(rx)
        } else {
            None
        };
        self.writer.send(buf.freeze()).map_err(|_| self.disconnected())?;
        Ok(rx)
    }

    /// Waits for a queued request's response and decodes it.
    pub(crate) async fn wait<R: Request>(
        &self,
        rx: oneshot::Receiver<Result<Bytes>>,
        version: i16,
    ) -> Result<R::Response> {
        self.wait_up_to::<R>(rx, version, self.settings.request_timeout).await
    }

    async fn wait_up_to<R: Request>(
        &self,
        rx: oneshot::Receiver<Result<Bytes>>,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response> {
        let mut body = match tokio::time::timeout(timeout, rx).await {
            Err(_) => {
                return Err(Error::Timeout {
                    what: format!("{:?} to {}", ApiKey::try_from(R::KEY).ok(), self.addr),
                    ms: timeout.as_millis() as u64,
                });
            }
            Ok(Err(_)) => return Err(self.disconnected()),
            Ok(Ok(r)) => r?,
        };
        let protocol = |reason: String| Error::Protocol { broker: self.addr.clone(), reason };
        ResponseHeader::decode(&mut body, <R::Response as HeaderVersion>::header_version(version))
            .map_err(|e| protocol(format!("response header: {e}")))?;
        <R::Response as Decodable>::decode(&mut body, version).map_err(|e| protocol(format!("response body: {e}")))
    }

    fn disconnected(&self) -> Error {
        Error::Connection { broker: self.addr.clone(), reason: "connection closed".into() }
    }
}

async fn write_loop<W: tokio::io::AsyncWrite + Unpin>(
    write: W,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    closed: Arc<AtomicBool>,
) {
    let mut w = BufWriter::with_capacity(64 * 1024, write);
    while let Some(frame) = rx.recv().await {
        let mut ok = w.write_all(&frame).await.is_ok();
        while ok {
            match rx.try_recv() {
                Ok(frame) => ok = w.write_all(&frame).await.is_ok(),
                Err(_) => break,
            }
        }
        if !ok || w.flush().await.is_err() {
            break;
        }
    }
    closed.store(true, Ordering::Release);
}

async fn read_loop<R: tokio::io::AsyncRead + Unpin>(
    mut read: R,
    pending: Pending,
    closed: Arc<AtomicBool>,
    addr: String,
) {
    loop {
        let len = match read.read_i32().await {
            Ok(l) if l >= 4 => l as usize,
            _ => break,
        };
        // Filled straight into spare capacity: zeroing a multi-megabyte fetch response first
        // cost a tenth of a consumer's time.
        let mut frame = BytesMut::with_capacity(len);
        let mut complete = true;
        while frame.len() < len {
            match (&mut read).take((len - frame.len()) as u64).read_buf(&mut frame).await {
                Ok(n) if n > 0 => {}
                _ => {
                    complete = false;
                    break;
                }
            }
        }
        if !complete {
            break;
        }
        let correlation_id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let waiter = pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&correlation_id);
        match waiter {
            Some(tx) => {
                let _ = tx.send(Ok(frame.freeze()));
            }
            None => tracing::warn!(broker = %addr, correlation_id, "response to no outstanding request"),
        }
    }
    closed.store(true, Ordering::Release);
    let waiters: Vec<_> = pending.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
    for (_, tx) in waiters {
        let _ = tx.send(Err(Error::Connection { broker: addr.clone(), reason: "connection closed".into() }));
    }
}
