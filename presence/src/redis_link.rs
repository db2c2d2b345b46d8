//! A Redis connection that heals: every command and connection attempt is bounded by a
//! timeout, the socket has TCP keep-alive and `TCP_USER_TIMEOUT`, and a command that times out
//! replaces the connection (redis' `ConnectionManager` reconnects only when the socket reports
//! an error; a connection that went silent, as after a partition, would otherwise be used
//! forever). Presence (`RedisStore`) and the health probe share this type; what the commands
//! mean lives with them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::{TcpSettings, socket2::TcpKeepalive};
use redis::{IntoConnectionInfo, RedisResult};
use tracing::warn;

/// Keep-alive probes start after this much silence on the socket…
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
/// …and follow at this interval; the kernel drops the connection after a few unanswered.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Data the server has not acknowledged for this long drops the connection.
const USER_TIMEOUT: Duration = Duration::from_secs(15);

/// A self-replacing Redis connection (see the module header). Cheap to clone.
#[derive(Clone)]
pub struct RedisLink {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    config: ConnectionManagerConfig,
    current: Mutex<ConnectionManager>,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink").finish_non_exhaustive()
    }
}

impl RedisLink {
    /// Connects to `url` and checks that the server answers a PING, each step within
    /// `timeout`, which then bounds every command.
    ///
    /// # Errors
    /// When the URL is invalid or the server does not answer in time.
    pub async fn connect(url: &str, timeout: Duration) -> RedisResult<RedisLink> {
        let keepalive = TcpKeepalive::new()
            .with_time(KEEPALIVE_IDLE)
            .with_interval(KEEPALIVE_INTERVAL);
        let tcp = TcpSettings::default()
            .set_nodelay(true)
            .set_keepalive(keepalive)
            .set_user_timeout(USER_TIMEOUT);
        let info = url.into_connection_info()?.set_tcp_settings(tcp);
        let client = redis::Client::open(info)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let manager = tokio::time::timeout(
            timeout.saturating_mul(3),
            ConnectionManager::new_with_config(client.clone(), config.clone()),
        )
        .await
        .map_err(|_| timed_out())??;
        let link = RedisLink {
            inner: Arc::new(Inner {
                client,
                config,
                current: Mutex::new(manager),
            }),
        };
        link.ping().await?;
        Ok(link)
    }

    /// The connection to send the next command on.
    pub fn connection(&self) -> ConnectionManager {
        self.lock().clone()
    }

    /// Passes `result` through; a timeout replaces the connection, so that the next command
    /// goes out on a new socket (opened on first use) rather than the silent one.
    ///
    /// # Errors
    /// `result`'s error.
    pub fn observe<T>(&self, result: RedisResult<T>) -> RedisResult<T> {
        if let Err(err) = &result {
            self.note_failure(err);
        }
        result
    }

    /// Replaces the connection if `err` is a timeout (see [`RedisLink::observe`]).
    pub fn note_failure(&self, err: &redis::RedisError) {
        if err.is_timeout() {
            self.replace();
        }
    }

    /// Checks that the server answers a PING within the timeout.
    ///
    /// # Errors
    /// When it does not.
    pub async fn ping(&self) -> RedisResult<()> {
        let mut connection = self.connection();
        let answer = redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await;
        self.observe(answer).map(drop)
    }

    fn replace(&self) {
        match ConnectionManager::new_lazy_with_config(
            self.inner.client.clone(),
            self.inner.config.clone(),
        ) {
            Ok(fresh) => {
                warn!("redis did not answer in time: replacing the connection");
                *self.lock() = fresh;
            }
            Err(err) => warn!(error = %err, "redis connection could not be replaced"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConnectionManager> {
        // Holds one handle, replaced whole: consistent after any panic.
        self.inner
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn timed_out() -> redis::RedisError {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "redis did not answer in time").into()
}
