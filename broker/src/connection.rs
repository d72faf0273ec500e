//! One client connection: reads size-prefixed request frames, hands each to the API layer in
//! arrival order and queues responses to a writer task. Requests are handled one at a time,
//! as Kafka does, so responses leave in request order even when a client pipelines; the
//! writer overlaps sending one response with handling the next request.

use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::api::{self, Outcome, Session};
use crate::connection_limits::ConnectionSlot;
use crate::security::{ANONYMOUS, tls_principal};
use crate::server::{BrokerState, Listener};

/// A client that opens a TCP connection and does not finish the TLS handshake in this long
/// is dropped, so idle sockets cannot pile up on a TLS listener.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request accepted before a SASL client has authenticated (Kafka's
/// `sasl.server.max.receive.size` default), so an anonymous peer cannot make the broker
/// allocate `socket.request.max.bytes` per connection.
const SASL_MAX_RECEIVE: usize = 512 * 1024;

/// The first byte of a TLS record carrying a handshake message (the ClientHello).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Runs the listener's TLS handshake when it has one, then serves requests. `_slot` holds the
/// connection's place under `max.connections` until this returns.
pub(crate) async fn accept(
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<Listener>,
    state: Arc<BrokerState>,
    _slot: ConnectionSlot,
) {
    let Some(tls) = listener.tls.clone() else {
        let session = Session::new(peer, listener, ANONYMOUS.to_owned());
        let (reader, writer) = stream.into_split();
        return serve(reader, writer, session, state).await;
    };
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_RECORD => {}
        Ok(Ok(1)) => {
            tracing::warn!(%peer, listener = %listener.name, "plaintext client on a TLS listener: closing (the client needs security.protocol=SSL or SASL_SSL)");
            return;
        }
        Ok(_) => return,
        Err(_) => {
            tracing::warn!(%peer, listener = %listener.name, "no TLS handshake within 10 s: closing");
            return;
        }
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let principal = tls_principal(tls.get_ref().1.peer_certificates());
            let session = Session::new(peer, listener, principal);
            let (reader, writer) = tokio::io::split(tls);
            serve(reader, writer, session, state).await
        }
        Ok(Err(e)) => tracing::warn!(%peer, listener = %listener.name, error = %e, "TLS handshake failed"),
        Err(_) => tracing::warn!(%peer, listener = %listener.name, "TLS handshake did not finish within 10 s"),
    }
}

/// Responses queued ahead of a slow reader before the connection stops reading requests.
const RESPONSE_QUEUE: usize = 64;

async fn serve<R, W>(mut reader: R, writer: W, mut session: Session, state: Arc<BrokerState>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let peer = session.peer;
    let (tx, rx) = mpsc::channel::<Bytes>(RESPONSE_QUEUE);
    let idle = Duration::from_millis(state.config.connections_max_idle_ms);
    let mut writer = tokio::spawn(write_loop(writer, rx, idle));
    let mut shutdown = state.shutdown.clone();
    let max = state.config.socket_request_max_bytes;
    loop {
        let max = if session.awaits_authentication() { SASL_MAX_RECEIVE.min(max) } else { max };
        let frame = tokio::select! {
            _ = crate::server::stopped(&mut shutdown) => break,
            frame = read_frame(&mut reader, max, idle) => frame,
        };
        let frame = match frame {
            Ok(Frame::Request(frame)) => frame,
            Ok(Frame::End) => break,
            // Routine (clients reconnect transparently), so not worth more than a debug line.
            Ok(Frame::Idle) => {
                tracing::debug!(%peer, ?idle, "closing idle connection (connections.max.idle.ms)");
                break;
            }
            Err(reason) => {
                tracing::warn!(%peer, %reason, "closing connection");
                break;
            }
        };
        let outcome = if session.sasl_bare_tokens {
            api::sasl::serve_bare_token(&state, &mut session, frame)
        } else {
            api::handle(&state, frame, &mut session).await
        };
        match outcome {
            Outcome::Respond(bytes) => {
                // A client that stops reading fills the queue: shutdown must not wait on it.
                let sent = tokio::select! {
                    _ = crate::server::stopped(&mut shutdown) => break,
                    sent = tx.send(bytes) => sent,
                };
                if sent.is_err() {
                    break;
                }
            }
            Outcome::NoResponse => {}
            Outcome::Close(reason) => {
                tracing::warn!(%peer, %reason, "closing connection");
                break;
            }
            Outcome::RespondAndClose(bytes, reason) => {
                tokio::select! {
                    _ = crate::server::stopped(&mut shutdown) => {}
                    _ = tx.send(bytes) => {}
                }
                tracing::info!(%peer, %reason, "closing connection");
                break;
            }
        }
    }
    drop(tx);
    // Responses already queued go out, but a shutdown (now or while they drain) waits for a
    // client that does not read them only briefly.
    if !*shutdown.borrow() {
        tokio::select! {
            _ = &mut writer => return,
            _ = crate::server::stopped(&mut shutdown) => {}
        }
    }
    if tokio::time::timeout(SHUTDOWN_FLUSH, &mut writer).await.is_err() {
        writer.abort();
    }
}

/// How long a shutting-down broker lets a connection's queued responses drain.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

/// What [`read_frame`] found.
enum Frame {
    Request(BytesMut),
    /// The client closed the connection between frames.
    End,
    /// No frame began within `connections.max.idle.ms`.
    Idle,
}

/// Reads one request frame, waiting at most `idle` for it to begin and at most `idle` again
/// from its first byte for the rest.
///
/// The second deadline is what stops a client that sends part of a frame and stalls (or trickles
/// a byte at a time) from holding the connection forever. Kafka only closes such a connection
/// once it has received nothing for `connections.max.idle.ms`, so a trickle keeps it alive; here
/// the deadline runs from the first byte and is not pushed back by later ones. It is the idle
/// limit rather than a smaller fixed bound because a frame may legitimately be as large as
/// `socket.request.max.bytes` (100 MiB) on a slow link: 10 minutes asks for about 170 KiB/s,
/// and a stalled frame then ties up a connection no longer than an idle one may.
async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R, max: usize, idle: Duration) -> Result<Frame, String> {
    let mut len_buf = [0u8; 4];
    let first = match tokio::time::timeout(idle, reader.read(&mut len_buf)).await {
        Err(_) => return Ok(Frame::Idle),
        Ok(Ok(0)) => return Ok(Frame::End),
        Ok(Ok(n)) => n,
        Ok(Err(e)) => return Err(format!("read failed: {e}")),
    };
    let rest = async {
        reader
            .read_exact(&mut len_buf[first..])
            .await
            .map_err(|e| format!("connection ended inside a request size prefix: {e}"))?;
        let len = i32::from_be_bytes(len_buf);
        if len < 0 || len as usize > max {
            return Err(format!("request frame of {len} bytes is outside 0..={max} (socket.request.max.bytes)"));
        }
        let mut frame = BytesMut::zeroed(len as usize);
        reader
            .read_exact(&mut frame)
            .await
            .map_err(|e| format!("connection ended inside a {len}-byte request frame: {e}"))?;
        Ok(Frame::Request(frame))
    };
    tokio::time::timeout(idle, rest).await.unwrap_or_else(|_| {
        Err(format!(
            "a request frame did not arrive whole within {} ms of its first byte (connections.max.idle.ms)",
            idle.as_millis()
        ))
    })
}

/// Sends queued responses. A client that takes no bytes for `idle` (it stopped reading, and
/// the socket's buffers are full) is dropped, as an idle one is: its responses would otherwise
/// pile up and hold the connection forever.
async fn write_loop<W: AsyncWrite + Unpin>(writer: W, mut rx: mpsc::Receiver<Bytes>, idle: Duration) {
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    let timed = |r: Result<std::io::Result<()>, tokio::time::error::Elapsed>| matches!(r, Ok(Ok(())));
    while let Some(frame) = rx.recv().await {
        if !timed(tokio::time::timeout(idle, writer.write_all(&frame)).await) {
            return;
        }
        // Coalesce whatever else is ready into one flush.
        while let Ok(frame) = rx.try_recv() {
            if !timed(tokio::time::timeout(idle, writer.write_all(&frame)).await) {
                return;
            }
        }
        if !timed(tokio::time::timeout(idle, writer.flush()).await) {
            return;
        }
    }
    let _ = tokio::time::timeout(idle, writer.shutdown()).await;
}
