//! MQTT over WebSocket (MQTT 3.1.1 and 5, chapter 6): the HTTP upgrade on path `/mqtt` with
//! subprotocol `mqtt`, and an adapter that turns binary WebSocket messages into the byte
//! stream `connection::serve` reads and writes. It never looks inside MQTT packets; whether
//! the socket beneath is TLS is the listener's business.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use metrics::counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::debug;

use crate::edge::flushing::Flushing;
use crate::edge::telemetry::PROTOCOL_ERRORS;
use crate::edge::{EdgeContext, connection};

/// The one path that upgrades; every other path gets 404.
pub(crate) const PATH: &str = "/mqtt";
/// The WebSocket subprotocol MQTT clients offer (both 3.1.1 and 5).
const SUBPROTOCOL: &str = "mqtt";
/// How long a client may take to complete the HTTP upgrade.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);
/// Read buffer per connection: small, because connections are many and messages small.
const READ_BUFFER: usize = 8 * 1024;
/// Room for small packets a client puts in one WebSocket message with a largest one.
const MESSAGE_SLACK: usize = 64 * 1024;

/// Upgrades `stream` to a WebSocket and serves the MQTT connection inside it.
pub(crate) async fn serve<S>(stream: S, ctx: Arc<EdgeContext>, permit: Option<OwnedSemaphorePermit>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    // Bounds what tungstenite buffers per message, which would otherwise be 64 MiB.
    let max_message = ctx.limits.max_packet_size.saturating_add(MESSAGE_SLACK);
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(stream, negotiate, Some(config));
    let upgraded = tokio::select! {
        _ = ctx.shutdown.cancelled() => return,
        upgraded = tokio::time::timeout(UPGRADE_TIMEOUT, upgrade) => upgraded,
    };
    let ws = match upgraded {
        Ok(Ok(ws)) => ws,
        Ok(Err(err)) => {
            debug!(error = %err, "websocket upgrade refused");
            counter!(PROTOCOL_ERRORS, "reason" => "websocket_upgrade").increment(1);
            return;
        }
        Err(_) => {
            counter!(PROTOCOL_ERRORS, "reason" => "websocket_upgrade_timeout").increment(1);
            return;
        }
    };
    connection::serve(Flushing::new(WsBytes::new(ws)), ctx, permit).await;
}

/// Answers the upgrade request: 404 for any path but [`PATH`], and the `mqtt` subprotocol
/// echoed when the client offers it.
#[expect(
    clippy::result_large_err,
    reason = "the signature is tungstenite's handshake callback"
)]
fn negotiate(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    if request.uri().path() != PATH {
        let mut not_found = ErrorResponse::new(None);
        *not_found.status_mut() = StatusCode::NOT_FOUND;
        not_found
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        return Err(not_found);
    }
    if offers_mqtt(request.headers()) {
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(SUBPROTOCOL),
        );
    }
    Ok(response)
}

/// Whether `Sec-WebSocket-Protocol` (one or more headers, comma-separated) lists `mqtt`.
fn offers_mqtt(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|list| list.split(','))
        .any(|offered| offered.trim() == SUBPROTOCOL)
}

/// The payload of binary WebSocket messages as a byte stream. Message boundaries carry no
/// meaning (MQTT §6): a packet may span messages, and a message may hold several packets.
struct WsBytes<S> {
    ws: WebSocketStream<S>,
    /// The unread rest of the last message received.
    received: Bytes,
}

impl<S> WsBytes<S> {
    fn new(ws: WebSocketStream<S>) -> WsBytes<S> {
        WsBytes {
            ws,
            received: Bytes::new(),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsBytes<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.received.is_empty() {
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(payload))) => this.received = payload,
                // MQTT §6: text frames are a protocol error, so the connection ends.
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "MQTT over WebSocket takes binary frames only",
                    )));
                }
                // tungstenite answers pings (and the close) by itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | None => return Poll::Ready(Ok(())),
                Some(Err(err)) => return Poll::Ready(Err(io_error(err))),
            }
        }
        let n = this.received.len().min(buf.remaining());
        buf.put_slice(&this.received[..n]);
        this.received.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsBytes<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut ws = Pin::new(&mut self.get_mut().ws);
        ready!(ws.as_mut().poll_ready(cx)).map_err(io_error)?;
        ws.start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(io_error)
    }

    /// Sends a Close frame; the socket itself closes when the connection drops it.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_close(cx)
            .map_err(io_error)
    }
}

fn io_error(err: WsError) -> io::Error {
    match err {
        WsError::Io(err) => err,
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            io::Error::new(io::ErrorKind::NotConnected, err)
        }
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderValue, header};

    use crate::edge::ws::offers_mqtt;

    fn offered(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(value),
            );
        }
        headers
    }

    #[test]
    fn mqtt_is_found_among_offered_subprotocols() {
        assert!(offers_mqtt(&offered(&["mqtt"])));
        assert!(offers_mqtt(&offered(&["wamp, mqtt"])));
        assert!(offers_mqtt(&offered(&["wamp", "mqtt"])));
        assert!(!offers_mqtt(&offered(&[])));
        assert!(!offers_mqtt(&offered(&["mqttv3.1"])));
    }
}
