//! MQTT test clients (rumqttc, v3.1.1 and v5) and a helper that waits for the next packet.

use std::net::SocketAddr;
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::Packet as PacketV5;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
use secrecy::ExposeSecret;
use tokio::sync::mpsc;

/// How long a test waits for one packet.
pub const PACKET_TIMEOUT: Duration = Duration::from_secs(5);

/// Credentials of a device.
#[derive(Clone, Debug)]
pub struct Login {
    /// MQTT username.
    pub username: String,
    /// MQTT password.
    pub password: String,
}

impl From<&natter_accounts::Credentials> for Login {
    fn from(credentials: &natter_accounts::Credentials) -> Login {
        Login {
            username: credentials.mqtt_username.clone(),
            password: credentials.mqtt_password.expose_secret().to_owned(),
        }
    }
}

fn client_id() -> String {
    format!("t-{}", uuid::Uuid::new_v4().simple())
}

/// Options of a v3.1.1 client for `addr` logging in with `login`, clean session, 30 s
/// keep-alive.
pub fn options_v4(addr: SocketAddr, login: &Login) -> MqttOptions {
    let mut options = MqttOptions::new(client_id(), addr.ip().to_string(), addr.port());
    options.set_credentials(login.username.clone(), login.password.clone());
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(4 * 1024 * 1024, 4 * 1024 * 1024);
    options
}

/// A v5 client for `addr` logging in with `login`, clean start, 30 s keep-alive.
pub fn client_v5(
    addr: SocketAddr,
    login: &Login,
) -> (rumqttc::v5::AsyncClient, rumqttc::v5::EventLoop) {
    let mut options =
        rumqttc::v5::MqttOptions::new(client_id(), addr.ip().to_string(), addr.port());
    options.set_credentials(login.username.clone(), login.password.clone());
    options.set_keep_alive(Duration::from_secs(30));
    // Without an upper limit rumqttc v5 reserves (and touches) a slot for 65,536 publishes in
    // flight: about 14 MB per client. natter's limit is 100 (`mqtt.max_inflight`).
    options.set_outgoing_inflight_upper_limit(100);
    // As the v3.1.1 clients: room for natter's largest packets (rumqttc's default is 10 KiB).
    options.set_max_packet_size(Some(4 * 1024 * 1024));
    rumqttc::v5::AsyncClient::new(options, 100)
}

/// A client whose event loop runs in a background task, so that what it sends leaves even
/// while the test waits on another client. Incoming packets and the final error arrive on
/// a channel; the loop stops at the first error (no automatic reconnect).
#[derive(Debug)]
pub struct Driven<C, P> {
    /// The client handle, to subscribe and publish.
    pub client: C,
    incoming: mpsc::UnboundedReceiver<anyhow::Result<P>>,
    task: tokio::task::JoinHandle<()>,
}

impl<C, P> Drop for Driven<C, P> {
    /// Dropping the client drops its connection at once, without DISCONNECT: as a phone
    /// that loses its network.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A v3.1.1 client, driven in the background.
pub type ClientV4 = Driven<AsyncClient, Packet>;
/// A v5 client, driven in the background.
pub type ClientV5 = Driven<rumqttc::v5::AsyncClient, PacketV5>;

/// Connects a v3.1.1 client to `addr` with `login`, driven in the background.
pub fn connect_v4(addr: SocketAddr, login: &Login) -> ClientV4 {
    connect_v4_with(addr, login, |_| {})
}

/// Like [`connect_v4`], letting `customize` change the options first.
pub fn connect_v4_with(
    addr: SocketAddr,
    login: &Login,
    customize: impl FnOnce(&mut MqttOptions),
) -> ClientV4 {
    let mut options = options_v4(addr, login);
    customize(&mut options);
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let (tx, incoming) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(packet)) => {
                    if tx.send(Ok(packet)).is_err() {
                        return;
                    }
                }
                Ok(Event::Outgoing(_)) => {}
                Err(err) => {
                    let _ = tx.send(Err(err.into()));
                    return;
                }
            }
        }
    });
    Driven {
        client,
        incoming,
        task,
    }
}

/// Connects a v5 client to `addr` with `login`, driven in the background.
pub fn connect_v5(addr: SocketAddr, login: &Login) -> ClientV5 {
    let (client, mut eventloop) = client_v5(addr, login);
    let (tx, incoming) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::v5::Event::Incoming(packet)) => {
                    if tx.send(Ok(packet)).is_err() {
                        return;
                    }
                }
                Ok(rumqttc::v5::Event::Outgoing(_)) => {}
                Err(err) => {
                    let _ = tx.send(Err(err.into()));
                    return;
                }
            }
        }
    });
    Driven {
        client,
        incoming,
        task,
    }
}

impl<C, P> Driven<C, P> {
    /// The next incoming packet, or the error that ended the connection.
    ///
    /// # Errors
    /// The connection error, or a timeout after [`PACKET_TIMEOUT`].
    pub async fn next(&mut self) -> anyhow::Result<P> {
        match tokio::time::timeout(PACKET_TIMEOUT, self.incoming.recv()).await {
            Ok(Some(packet)) => packet,
            Ok(None) => anyhow::bail!("the connection has ended"),
            Err(_) => anyhow::bail!("no packet within {PACKET_TIMEOUT:?}"),
        }
    }

    /// Skips packets until `pick` extracts a value from one.
    ///
    /// # Errors
    /// As [`Driven::next`].
    pub async fn wait<T>(&mut self, mut pick: impl FnMut(&P) -> Option<T>) -> anyhow::Result<T> {
        loop {
            let packet = self.next().await?;
            if let Some(value) = pick(&packet) {
                return Ok(value);
            }
        }
    }
}

impl ClientV4 {
    /// The return codes of the next SUBACK.
    ///
    /// # Errors
    /// As [`Driven::next`].
    pub async fn suback(&mut self) -> anyhow::Result<Vec<rumqttc::SubscribeReasonCode>> {
        self.wait(|packet| match packet {
            Packet::SubAck(ack) => Some(ack.return_codes.clone()),
            _ => None,
        })
        .await
    }

    /// The next PUBLISH.
    ///
    /// # Errors
    /// As [`Driven::next`].
    pub async fn next_publish(&mut self) -> anyhow::Result<rumqttc::Publish> {
        self.wait(|packet| match packet {
            Packet::Publish(publish) => Some(publish.clone()),
            _ => None,
        })
        .await
    }
}

impl ClientV5 {
    /// The reason codes of the next SUBACK.
    ///
    /// # Errors
    /// As [`Driven::next`].
    pub async fn suback(
        &mut self,
    ) -> anyhow::Result<Vec<rumqttc::v5::mqttbytes::v5::SubscribeReasonCode>> {
        self.wait(|packet| match packet {
            PacketV5::SubAck(ack) => Some(ack.return_codes.clone()),
            _ => None,
        })
        .await
    }
}

/// A client's payload as a service client on the internal listener receives it from a user's
/// outbox: after the edge's timing stamp (`natter_proto::stamp`), which must be there.
///
/// # Errors
/// When the payload does not start with an edge's stamp.
pub fn unstamped(payload: &bytes::Bytes) -> anyhow::Result<bytes::Bytes> {
    use natter_proto::stamp;
    match stamp::read(payload) {
        Some(found) if found.origin == stamp::Origin::Edge => Ok(payload.slice(stamp::LEN..)),
        _ => anyhow::bail!("no edge stamp in front of {payload:?}"),
    }
}
