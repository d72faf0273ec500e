//! One client connection: reads size-prefixed request frames, hands each to the API layer in
//! arrival order and queues responses to a writer task. Requests are handled one at a time,
//! as Kafka does, so responses leave in request order even when a client pipelines; the
//! writer overlaps sending one response with handling the next request.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::api::{self, Outcome};
use crate::server::BrokerState;

/// Responses queued ahead of a slow reader before the connection stops reading requests.
const RESPONSE_QUEUE: usize = 64;

pub(crate) async fn serve(stream: TcpStream, peer: SocketAddr, state: Arc<BrokerState>) {
    let (mut reader, writer) = stream.into_split();
    let (tx, rx) = mpsc::channel::<Bytes>(RESPONSE_QUEUE);
    let writer = tokio::spawn(write_loop(writer, rx));
    let mut shutdown = state.shutdown.clone();
    let max = state.config.socket_request_max_bytes;
    loop {
        let frame = tokio::select! {
            _ = crate::server::stopped(&mut shutdown) => break,
            frame = read_frame(&mut reader, max) => frame,
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(reason) => {
                tracing::warn!(%peer, %reason, "closing connection");
                break;
            }
        };
        match api::handle(&state, frame, peer).await {
            Outcome::Respond(bytes) => {
                if tx.send(bytes).await.is_err() {
                    break;
                }
            }
            Outcome::NoResponse => {}
            Outcome::Close(reason) => {
                tracing::warn!(%peer, %reason, "closing connection");
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Reads one request frame. `Ok(None)` on a clean end of stream between frames.
async fn read_frame(reader: &mut OwnedReadHalf, max: usize) -> Result<Option<BytesMut>, String> {
    let mut len_buf = [0u8; 4];
    match reader.read_exact(&mut len_buf).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(format!("read failed: {e}")),
    }
    let len = i32::from_be_bytes(len_buf);
    if len < 0 || len as usize > max {
        return Err(format!("request frame of {len} bytes is outside 0..={max} (socket.request.max.bytes)"));
    }
    let mut frame = BytesMut::zeroed(len as usize);
    reader
        .read_exact(&mut frame)
        .await
        .map_err(|e| format!("connection ended inside a {len}-byte request frame: {e}"))?;
    Ok(Some(frame))
}

async fn write_loop(writer: OwnedWriteHalf, mut rx: mpsc::Receiver<Bytes>) {
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    while let Some(frame) = rx.recv().await {
        if writer.write_all(&frame).await.is_err() {
            return;
        }
        // Coalesce whatever else is ready into one flush.
        while let Ok(frame) = rx.try_recv() {
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}
