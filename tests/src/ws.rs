//! MQTT over WebSocket for tests: the client side of the upgrade (path `/mqtt`, subprotocol
//! `mqtt`) and a client that exchanges raw MQTT packets, encoded with rumqttc's codecs, in
//! binary messages, for either protocol version. It has no session logic of its own: tests
//! send and expect packets one by one.

use std::net::SocketAddr;

use anyhow::Context;
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::mqtt::{Login, PACKET_TIMEOUT};

/// The path natter upgrades on.
pub const PATH: &str = "/mqtt";
/// Largest packet the client reads.
const MAX_PACKET: usize = 4 * 1024 * 1024;

/// Upgrades `stream` (a connection to `addr`) to a WebSocket on `path`, offering the `mqtt`
/// subprotocol as MQTT clients do.
///
/// # Errors
/// tungstenite's, e.g. [`WsError::Http`] with the response when the server refuses.
pub async fn upgrade<S>(
    stream: S,
    addr: SocketAddr,
    path: &str,
) -> Result<(WebSocketStream<S>, Response), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = format!("ws://{addr}{path}").into_client_request()?;
    request.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("mqtt"),
    );
    tokio_tungstenite::client_async(request, stream).await
}

/// A raw MQTT client over a WebSocket.
#[derive(Debug)]
pub struct WsClient<S> {
    ws: WebSocketStream<S>,
    input: BytesMut,
    subprotocol: Option<String>,
}

impl WsClient<TcpStream> {
    /// Opens a WebSocket to `ws://{addr}/mqtt`.
    ///
    /// # Errors
    /// When the TCP connection or the upgrade fails.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<WsClient<TcpStream>> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        WsClient::over(stream, addr).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsClient<S> {
    /// Opens a WebSocket on path `/mqtt` over `stream`, a connection (plain or TLS) to `addr`.
    ///
    /// # Errors
    /// When the upgrade fails.
    pub async fn over(stream: S, addr: SocketAddr) -> anyhow::Result<WsClient<S>> {
        let (ws, response) = upgrade(stream, addr, PATH)
            .await
            .context("upgrading to a WebSocket")?;
        let subprotocol = response
            .headers()
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok(WsClient {
            ws,
            input: BytesMut::new(),
            subprotocol,
        })
    }

    /// The subprotocol the server chose, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// Sends an MQTT 3.1.1 packet in one binary message.
    ///
    /// # Errors
    /// When it cannot be encoded or sent.
    pub async fn send_v4(&mut self, packet: &v4::Packet) -> anyhow::Result<()> {
        let mut bytes = BytesMut::new();
        packet.write(&mut bytes, MAX_PACKET)?;
        self.send_bytes(bytes).await
    }

    /// Sends an MQTT 5 packet in one binary message.
    ///
    /// # Errors
    /// When it cannot be encoded or sent.
    pub async fn send_v5(&mut self, packet: &v5::Packet) -> anyhow::Result<()> {
        let mut bytes = BytesMut::new();
        packet.write(&mut bytes, None)?;
        self.send_bytes(bytes).await
    }

    /// The next MQTT 3.1.1 packet from the server.
    ///
    /// # Errors
    /// A malformed packet, the end of the connection, or none within [`PACKET_TIMEOUT`].
    pub async fn next_v4(&mut self) -> anyhow::Result<v4::Packet> {
        loop {
            match v4::Packet::read(&mut self.input, MAX_PACKET) {
                Ok(packet) => return Ok(packet),
                Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => self.receive().await?,
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// The next MQTT 5 packet from the server.
    ///
    /// # Errors
    /// A malformed packet, the end of the connection, or none within [`PACKET_TIMEOUT`].
    pub async fn next_v5(&mut self) -> anyhow::Result<v5::Packet> {
        loop {
            match v5::Packet::read(&mut self.input, None) {
                Ok(packet) => return Ok(packet),
                Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => {
                    self.receive().await?;
                }
                Err(err) => return Err(err.into()),
            }
        }
    }

    async fn send_bytes(&mut self, bytes: BytesMut) -> anyhow::Result<()> {
        self.ws
            .send(Message::Binary(bytes.freeze()))
            .await
            .context("sending a WebSocket message")
    }

    /// Appends the payload of the next binary message to the input.
    async fn receive(&mut self) -> anyhow::Result<()> {
        loop {
            let message = tokio::time::timeout(PACKET_TIMEOUT, self.ws.next())
                .await
                .with_context(|| format!("no WebSocket message within {PACKET_TIMEOUT:?}"))?;
            match message {
                Some(Ok(Message::Binary(payload))) => {
                    self.input.extend_from_slice(&payload);
                    return Ok(());
                }
                Some(Ok(Message::Close(frame))) => anyhow::bail!("the server closed: {frame:?}"),
                Some(Ok(Message::Text(text))) => anyhow::bail!("unexpected text frame {text:?}"),
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err.into()),
                None => anyhow::bail!("the WebSocket has ended"),
            }
        }
    }
}

/// An MQTT 3.1.1 CONNECT with `login`: clean session, 30 s keep-alive, a unique client id.
pub fn connect_packet_v4(login: &Login) -> v4::Packet {
    let mut connect = v4::Connect::new(client_id());
    connect.keep_alive = 30;
    connect.login = Some(v4::Login::new(&login.username, &login.password));
    v4::Packet::Connect(connect)
}

/// An MQTT 5 CONNECT with `login`: clean start, 30 s keep-alive, a unique client id.
pub fn connect_packet_v5(login: &Login) -> v5::Packet {
    let connect = v5::Connect {
        keep_alive: 30,
        client_id: client_id(),
        clean_start: true,
        properties: None,
    };
    v5::Packet::Connect(
        connect,
        None,
        Some(v5::Login::new(&login.username, &login.password)),
    )
}

fn client_id() -> String {
    format!("t-ws-{}", uuid::Uuid::new_v4().simple())
}
