//! The client-facing listeners: MQTT over TCP (`mqtt.listen`) and, when configured, MQTT over
//! WebSocket (`mqtt.ws_listen`), both over TLS when a certificate is configured. Accepts
//! without pacing, caps the number of connections across both, and serves each on its own
//! task, where any TLS or WebSocket handshake happens (never in the accept loop).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use natter_config::MqttSettings;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::edge::auth::Authenticator;
use crate::edge::flushing::Flushing;
use crate::edge::hook::PresenceHook;
use crate::edge::{EdgeContext, Hub, Limits, connection, session, telemetry, tls, ws};
use crate::error::{Error, Result};

/// How long connections get to say goodbye at shutdown.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// The bound client-facing listeners.
pub struct Edge {
    listener: TcpListener,
    ws_listener: Option<TcpListener>,
    /// Set when a certificate is configured: every connection of either listener speaks TLS.
    tls: Option<TlsAcceptor>,
    ctx: Arc<EdgeContext>,
    capacity: Arc<Semaphore>,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("listener", &self.listener)
            .field("ws_listener", &self.ws_listener)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Edge {
    pub(crate) async fn bind(
        settings: &MqttSettings,
        hub: Hub,
        auth: Arc<dyn Authenticator>,
        presence: Arc<dyn PresenceHook>,
    ) -> Result<Edge> {
        // The certificate is read once, here; a bad one stops start-up.
        let tls = tls::acceptor(settings)?;
        let listener = bind(settings.listen, "NATTER__MQTT__LISTEN").await?;
        let ws_listener = match settings.ws_listen {
            Some(addr) => Some(bind(addr, "NATTER__MQTT__WS_LISTEN").await?),
            None => None,
        };
        telemetry::describe();
        Ok(Edge {
            listener,
            ws_listener,
            tls,
            ctx: Arc::new(EdgeContext {
                hub,
                auth,
                limits: Limits {
                    max_packet_size: settings.max_packet_size,
                    max_inflight: settings.max_inflight,
                    keep_alive_max_secs: settings.keep_alive_max_secs,
                },
                sessions: session::Store::default(),
                next_session_id: AtomicU64::new(1),
                shutdown: CancellationToken::new(),
                presence,
            }),
            capacity: Arc::new(Semaphore::new(settings.max_connections)),
        })
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// If the socket cannot report it.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address the WebSocket listener is bound to, when there is one.
    ///
    /// # Errors
    /// If the socket cannot report it.
    pub fn ws_local_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.ws_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()
    }

    /// Accepts connections until `shutdown` is cancelled, then tells every client the server
    /// is shutting down (MQTT 5 DISCONNECT 0x8B) and waits briefly for them to close.
    ///
    /// # Errors
    /// None so far: accept errors (e.g. out of file descriptors) are logged and retried.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<()> {
        let connections = TaskTracker::new();
        info!(
            addr = ?self.listener.local_addr().ok(),
            ws_addr = ?self.ws_listener.as_ref().and_then(|listener| listener.local_addr().ok()),
            tls = self.tls.is_some(),
            "mqtt edge listening"
        );
        loop {
            let (transport, accepted) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => (Transport::Mqtt, accepted),
                accepted = accept(self.ws_listener.as_ref()) => (Transport::WebSocket, accepted),
            };
            match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let permit = self.capacity.clone().try_acquire_owned().ok();
                    connections.spawn(serve(
                        transport,
                        stream,
                        self.tls.clone(),
                        self.ctx.clone(),
                        permit,
                    ));
                }
                Err(err) => {
                    warn!(error = %err, "accepting a connection failed");
                    // Out of descriptors or similar: back off a little instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        drop(self.listener);
        drop(self.ws_listener);
        self.ctx.shutdown.cancel();
        connections.close();
        if tokio::time::timeout(CLOSE_GRACE, connections.wait())
            .await
            .is_err()
        {
            warn!(
                open = connections.len(),
                "client connections still open after shutdown"
            );
        }
        Ok(())
    }
}

/// What a listener's connections carry above TCP (and TLS, when configured).
#[derive(Clone, Copy, Debug)]
enum Transport {
    /// MQTT packets directly.
    Mqtt,
    /// MQTT packets in binary WebSocket messages.
    WebSocket,
}

async fn bind(addr: SocketAddr, setting: &'static str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::bind(addr, setting, source))
}

/// Accepts from `listener`, or waits forever when there is none.
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Serves one accepted connection: the TLS handshake when configured, the WebSocket upgrade
/// for that listener, then the MQTT connection.
async fn serve(
    transport: Transport,
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    ctx: Arc<EdgeContext>,
    permit: Option<OwnedSemaphorePermit>,
) {
    // WebSocket and TLS state is large; boxing those branches keeps it out of every plain
    // TCP connection's task (a future is as large as its largest branch).
    match (tls, transport) {
        (None, Transport::Mqtt) => connection::serve(stream, ctx, permit).await,
        (None, Transport::WebSocket) => Box::pin(ws::serve(stream, ctx, permit)).await,
        (Some(acceptor), transport) => {
            Box::pin(async move {
                let Some(stream) = tls::handshake(&acceptor, stream, &ctx).await else {
                    return;
                };
                match transport {
                    Transport::Mqtt => connection::serve(Flushing::new(stream), ctx, permit).await,
                    Transport::WebSocket => ws::serve(stream, ctx, permit).await,
                }
            })
            .await
        }
    }
}
