//! The client-facing listener: accepts TCP connections without pacing, caps their number,
//! and serves each on its own task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use natter_config::MqttSettings;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::edge::auth::Authenticator;
use crate::edge::{EdgeContext, Hub, Limits, connection, session, telemetry};
use crate::error::{Error, Result};

/// How long connections get to say goodbye at shutdown.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// A bound client-facing listener.
pub struct Edge {
    listener: TcpListener,
    ctx: Arc<EdgeContext>,
    capacity: Arc<Semaphore>,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl Edge {
    pub(crate) async fn bind(
        settings: &MqttSettings,
        hub: Hub,
        auth: Arc<dyn Authenticator>,
    ) -> Result<Edge> {
        let addr = settings.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::bind(addr, "NATTER__MQTT__LISTEN", source))?;
        telemetry::describe();
        Ok(Edge {
            listener,
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

    /// Accepts connections until `shutdown` is cancelled, then tells every client the server
    /// is shutting down (MQTT 5 DISCONNECT 0x8B) and waits briefly for them to close.
    ///
    /// # Errors
    /// None so far: accept errors (e.g. out of file descriptors) are logged and retried.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<()> {
        let connections = TaskTracker::new();
        info!(addr = ?self.listener.local_addr().ok(), "mqtt edge listening");
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let permit = self.capacity.clone().try_acquire_owned().ok();
                    connections.spawn(connection::serve(stream, self.ctx.clone(), permit));
                }
                Err(err) => {
                    warn!(error = %err, "accepting a connection failed");
                    // Out of descriptors or similar: back off a little instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        drop(self.listener);
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
