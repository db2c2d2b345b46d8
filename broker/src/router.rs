//! The rumqttd router and its loopback listener for service clients.
//!
//! Owns: router configuration, the `service` credential check, readiness. Does not own the
//! client-facing edge (see `edge`), nor anything about message contents.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use natter_config::MqttSettings;
use natter_proto::SERVICE_USERNAME;
use rumqttd::local::LinkBuilder;
use rumqttd::protocol::v4::V4;
use rumqttd::{ConnectionSettings, LinkType, Router, RouterConfig, Server, ServerSettings};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpStream;
use tracing::{error, info};

use crate::edge::auth::Authenticator;
use crate::edge::hook::{NoPresenceHook, PresenceHook};
use crate::edge::{Edge, Hub};
use crate::error::{Error, Result};
use crate::listen::check_free;

/// Router connection slots. Only service clients and the edge's own links connect to the
/// router, never end users, so this stays small whatever the number of users.
const ROUTER_MAX_CONNECTIONS: usize = 4096;

/// Bytes of one segment of the router's commit logs (4 are kept per filter). The edge keeps
/// what the bridges have not taken well below what one log keeps (`edge::outbox`).
pub(crate) const SEGMENT_SIZE: usize = 1024 * 1024;

/// A running broker: the router thread, its loopback listener, and the edge's link to it.
#[derive(Clone, Debug)]
pub struct Broker {
    internal_addr: SocketAddr,
    listener_alive: Arc<AtomicBool>,
    hub: Hub,
    service_password: SecretString,
}

impl Broker {
    /// Starts the rumqttd router on its own thread and the loopback listener for service
    /// clients on `settings.internal_listen`, which accepts only
    /// [`SERVICE_USERNAME`] with `service_password`.
    ///
    /// Must be called from within a Tokio runtime: the listener runs as a task on it.
    ///
    /// # Errors
    /// [`Error::Bind`] when the internal listener's address is taken or not allowed,
    /// [`Error::Router`] when the router does not accept the edge's link.
    pub fn spawn(settings: &MqttSettings, service_password: SecretString) -> Result<Broker> {
        check_free(settings.internal_listen, "NATTER__MQTT__INTERNAL_LISTEN")?;
        let router_tx = Router::new(0, router_config()).spawn();
        // The router answers a new link at once; building it blocks only for that reply.
        let (link_tx, link_rx, _) = LinkBuilder::new("natter-edge", router_tx.clone())
            .clean_session(true)
            .dynamic_filters(true)
            .build()
            .map_err(|err| Error::Router(err.to_string()))?;
        let hub = Hub::start((link_tx, link_rx)).map_err(|err| Error::Router(err.to_string()))?;
        let server_settings = service_listener(settings, service_password.clone());
        let mut server = Server::new(server_settings, router_tx, V4);
        let listener_alive = Arc::new(AtomicBool::new(true));
        let alive = listener_alive.clone();
        let internal_addr = settings.internal_listen;
        tokio::spawn(async move {
            // `start` only returns on a bind or listener failure; the broker is then no
            // longer ready, which /healthz reports.
            if let Err(err) = server.start(LinkType::Remote).await {
                error!(error = %err, addr = %internal_addr, "internal mqtt listener stopped");
            }
            alive.store(false, Ordering::SeqCst);
        });
        info!(addr = %internal_addr, "internal mqtt listener started");
        Ok(Broker {
            internal_addr,
            listener_alive,
            hub,
            service_password,
        })
    }

    /// Binds the client-facing edge on `settings.listen`, authenticating with `auth`.
    ///
    /// # Errors
    /// [`Error::Bind`] when the address is taken or not allowed.
    pub async fn bind_edge(
        &self,
        settings: &MqttSettings,
        auth: Arc<dyn Authenticator>,
    ) -> Result<Edge> {
        self.bind_edge_with_presence(settings, auth, Arc::new(NoPresenceHook))
            .await
    }

    /// Like [`Broker::bind_edge`], telling `presence` when client sessions start and end.
    ///
    /// # Errors
    /// [`Error::Bind`] when the address is taken or not allowed.
    pub async fn bind_edge_with_presence(
        &self,
        settings: &MqttSettings,
        auth: Arc<dyn Authenticator>,
        presence: Arc<dyn PresenceHook>,
    ) -> Result<Edge> {
        Edge::bind(settings, self.hub.clone(), auth, presence).await
    }

    /// Makes this node one of several: what its router delivers on users' and control
    /// topics goes to `link`, and connecting devices are announced through it.
    pub fn join_cluster(&self, link: Arc<dyn crate::edge::cluster::ClusterLink>) {
        self.hub.join_cluster(link);
    }

    /// A message another node's router delivered: handed to this node's sessions (and, for a
    /// control topic, acted on), never published into this node's router.
    pub fn deliver_from_cluster(&self, topic: &str, payload: &bytes::Bytes) {
        self.hub.on_cluster_message(topic, payload);
    }

    /// Another node accepted a connection of `device_id`: close this node's, if any.
    pub fn device_connected_elsewhere(&self, device_id: i64) {
        self.hub.taken_over_elsewhere(device_id);
    }

    /// Publishes `payload` on `topic` through the router, as a trusted part of this node
    /// (presence events). Not authorized: callers build the topic themselves.
    ///
    /// # Errors
    /// [`Error::Router`] when the router link has stopped.
    pub async fn publish(&self, topic: String, payload: bytes::Bytes) -> Result<()> {
        self.hub
            .publish_unstamped(topic, payload)
            .await
            .map_err(|()| Error::Router("the edge's router link has stopped".into()))
    }

    /// The address of the loopback listener for service clients.
    pub fn internal_addr(&self) -> SocketAddr {
        self.internal_addr
    }

    /// Waits until the loopback listener accepts TCP connections.
    ///
    /// # Errors
    /// [`Error::NotReady`] when it does not within `deadline` or its task has stopped.
    pub async fn wait_ready(&self, deadline: Duration) -> Result<()> {
        let not_ready = |reason: String| Error::NotReady {
            addr: self.internal_addr,
            reason,
        };
        tokio::time::timeout(deadline, async {
            loop {
                if !self.listener_alive.load(Ordering::SeqCst) {
                    return Err(not_ready("the listener task stopped".into()));
                }
                if self.handshake().await.is_ok() {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .map_err(|_| not_ready(format!("no connection accepted within {deadline:?}")))?
    }

    /// One MQTT login as the service user: CONNECT, CONNACK, then close. A bare TCP probe, or
    /// a DISCONNECT, makes rumqttd log an error; a closed socket after a login it logs at info.
    async fn handshake(&self) -> std::io::Result<()> {
        use rumqttc::mqttbytes::v4;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = TcpStream::connect(self.internal_addr).await?;
        let mut connect = v4::Connect::new(format!("natter-ready-{}", std::process::id()));
        connect.set_login(SERVICE_USERNAME, self.service_password.expose_secret());
        let mut bytes = bytes::BytesMut::new();
        let encode = |packet: v4::Packet, bytes: &mut bytes::BytesMut| {
            packet
                .write(bytes, usize::MAX)
                .map(drop)
                .map_err(std::io::Error::other)
        };
        encode(v4::Packet::Connect(connect), &mut bytes)?;
        stream.write_all(&bytes).await?;
        let mut received = bytes::BytesMut::new();
        loop {
            if stream.read_buf(&mut received).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            match v4::Packet::read(&mut received, 1024) {
                Ok(v4::Packet::ConnAck(ack)) if ack.code == v4::ConnectReturnCode::Success => break,
                Ok(_) => return Err(std::io::Error::other("the service login was refused")),
                Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(err) => return Err(std::io::Error::other(err)),
            }
        }
        Ok(())
    }

    /// Whether the loopback listener is still running.
    pub fn is_ready(&self) -> bool {
        self.listener_alive.load(Ordering::SeqCst)
    }
}

fn router_config() -> RouterConfig {
    RouterConfig {
        max_connections: ROUTER_MAX_CONNECTIONS,
        max_outgoing_packet_count: 200,
        // Durability lives in the database: the router's commit logs only smooth out
        // live delivery, so keep them small (rumqttd keeps one per subscription filter).
        max_segment_size: SEGMENT_SIZE,
        max_segment_count: 4,
        custom_segment: None,
        initialized_filters: None,
        shared_subscriptions_strategy: Default::default(),
    }
}

fn service_listener(settings: &MqttSettings, service_password: SecretString) -> ServerSettings {
    let mut connections = ConnectionSettings {
        connection_timeout_ms: 5000,
        max_payload_size: natter_proto::internal_packet_limit(settings.max_packet_size),
        max_inflight_count: usize::from(settings.max_inflight),
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let expected = Arc::new(service_password);
    connections.set_auth_handler(move |_client_id, username: String, password: String| {
        let expected = expected.clone();
        async move {
            username == SERVICE_USERNAME
                && constant_time_eq(password.as_bytes(), expected.expose_secret().as_bytes())
        }
    });
    ServerSettings {
        name: "internal".into(),
        listen: settings.internal_listen,
        tls: None,
        next_connection_delay_ms: 0,
        connections,
    }
}

/// Compares two secrets in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_whole_secrets() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
