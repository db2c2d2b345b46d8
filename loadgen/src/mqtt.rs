//! One load-test MQTT client, as cheap as it can be: a raw TCP socket (optionally bound to a
//! chosen source address), a v3.1.1 CONNECT written with rumqttc's `mqttbytes::v4` codec, the
//! CONNACK read back, and then nothing: the caller holds the socket open and idle.
//!
//! Not a full client: no pings (announce a keep-alive longer than the measurement), no
//! subscriptions, no reading after the CONNACK.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use bytes::BytesMut;
use rumqttc::mqttbytes::Error as CodecError;
use rumqttc::mqttbytes::v4::{Connect, ConnectReturnCode, Packet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::provision::Device;

/// Largest packet accepted while waiting for the CONNACK (which is 4 bytes).
const MAX_INBOUND_PACKET: usize = 1024;

/// Why a connection did not get to an accepted CONNACK.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Creating or binding the local socket failed (e.g. out of file descriptors or ports).
    Socket(std::io::Error),
    /// The TCP connect failed.
    Connect(std::io::Error),
    /// Writing the CONNECT or reading the CONNACK failed.
    Io(std::io::Error),
    /// The server closed the connection before its CONNACK.
    ClosedBeforeConnAck,
    /// The server refused the CONNECT with this return code.
    Refused(ConnectReturnCode),
    /// The server sent something other than a well-formed CONNACK.
    Protocol(String),
    /// No CONNACK within the deadline.
    Timeout,
}

impl Failure {
    /// A short label to count failures by.
    pub(crate) fn kind(&self) -> String {
        match self {
            Failure::Socket(err) => format!("local socket: {}", io_kind(err)),
            Failure::Connect(err) => format!("tcp connect: {}", io_kind(err)),
            Failure::Io(err) => format!("i/o: {}", io_kind(err)),
            Failure::ClosedBeforeConnAck => "closed before connack".to_owned(),
            Failure::Refused(code) => format!("connack refused: {code:?}"),
            Failure::Protocol(_) => "protocol error".to_owned(),
            Failure::Timeout => "timeout waiting for connack".to_owned(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Socket(err) => write!(f, "opening a local socket: {err}"),
            Failure::Connect(err) => write!(f, "connecting: {err}"),
            Failure::Io(err) => write!(f, "during the handshake: {err}"),
            Failure::ClosedBeforeConnAck => write!(f, "the server closed before its CONNACK"),
            Failure::Refused(code) => write!(f, "the server refused the CONNECT: {code:?}"),
            Failure::Protocol(what) => write!(f, "unexpected reply: {what}"),
            Failure::Timeout => write!(f, "no CONNACK within the connect timeout"),
        }
    }
}

/// Opens one authenticated MQTT 3.1.1 connection for `device` and returns the socket once
/// the server has accepted it. The client id is the username; the session is clean.
///
/// # Errors
/// A [`Failure`] saying which stage went wrong; the deadline is the caller's.
pub(crate) async fn connect(
    server: SocketAddr,
    source: Option<Ipv4Addr>,
    device: &Device,
    keep_alive_secs: u16,
) -> Result<TcpStream, Failure> {
    let socket = match server {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(Failure::Socket)?;
    if let Some(source) = source {
        // Binding first picks the ephemeral port per source address, so N addresses give N
        // times the ~28k ports of one.
        socket
            .bind(SocketAddr::new(source.into(), 0))
            .map_err(Failure::Socket)?;
    }
    let mut stream = socket.connect(server).await.map_err(Failure::Connect)?;
    stream.set_nodelay(true).map_err(Failure::Io)?;

    let mut connect = Connect::new(device.username.as_str());
    connect.keep_alive = keep_alive_secs;
    connect.clean_session = true;
    connect.set_login(device.username.as_str(), device.password.as_str());
    let mut output = BytesMut::with_capacity(128);
    connect
        .write(&mut output)
        .map_err(|err| Failure::Protocol(format!("encoding CONNECT: {err}")))?;
    stream.write_all(&output).await.map_err(Failure::Io)?;

    let mut input = BytesMut::with_capacity(16);
    loop {
        match Packet::read(&mut input, MAX_INBOUND_PACKET) {
            Ok(Packet::ConnAck(ack)) if ack.code == ConnectReturnCode::Success => {
                return Ok(stream);
            }
            Ok(Packet::ConnAck(ack)) => return Err(Failure::Refused(ack.code)),
            Ok(other) => return Err(Failure::Protocol(format!("{other:?} before CONNACK"))),
            Err(CodecError::InsufficientBytes(_)) => {}
            Err(err) => return Err(Failure::Protocol(err.to_string())),
        }
        match stream.read_buf(&mut input).await {
            Ok(0) => return Err(Failure::ClosedBeforeConnAck),
            Ok(_) => {}
            Err(err) => return Err(Failure::Io(err)),
        }
    }
}

/// Whether a connection the server accepted is still open: nothing to read and no EOF.
/// Reads (and discards) whatever the server sent, e.g. a DISCONNECT.
pub(crate) fn is_open(stream: &TcpStream) -> bool {
    let mut scratch = [0_u8; 64];
    match stream.try_read(&mut scratch) {
        Err(err) => err.kind() == std::io::ErrorKind::WouldBlock,
        // EOF, or an unsolicited packet: natter sends nothing to an idle client unless it is
        // about to close the connection.
        Ok(_) => false,
    }
}

/// An I/O error's message without the variable parts, for grouping.
fn io_kind(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        // "Too many open files (os error 24)", without any address in the message.
        Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
        None => err.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    /// A one-connection server that reads the CONNECT, answers CONNACK with `code`, then
    /// closes when `close` is set and otherwise stays silent.
    async fn fake_server(code: u8, close: bool) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accepting");
            let mut connect = [0_u8; 256];
            let _ = stream.read(&mut connect).await.expect("reading CONNECT");
            assert_eq!(connect[0], 0x10, "the first packet is a CONNECT");
            stream
                .write_all(&[0x20, 0x02, 0x00, code])
                .await
                .expect("writing CONNACK");
            if !close {
                std::future::pending::<()>().await;
            }
        });
        addr
    }

    fn device() -> Device {
        Device {
            username: "d1".to_owned(),
            password: "secret".to_owned(),
        }
    }

    #[tokio::test]
    async fn an_accepted_connect_yields_an_open_socket() {
        let server = fake_server(0, false).await;

        let stream = connect(server, Some(Ipv4Addr::new(127, 0, 0, 2)), &device(), 600)
            .await
            .expect("connecting");

        assert!(is_open(&stream));
    }

    #[tokio::test]
    async fn a_refused_connect_reports_the_return_code() {
        let server = fake_server(4, false).await;

        let failure = connect(server, None, &device(), 600).await.err();

        assert!(matches!(
            failure,
            Some(Failure::Refused(ConnectReturnCode::BadUserNamePassword))
        ));
    }

    #[tokio::test]
    async fn a_socket_the_server_closed_is_not_open() {
        let server = fake_server(0, true).await;
        let stream = connect(server, None, &device(), 600)
            .await
            .expect("connecting");

        stream.readable().await.expect("waiting for the close");

        assert!(!is_open(&stream));
    }
}
