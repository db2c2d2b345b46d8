//! The natter server a report runs against: `natter serve` started on free loopback ports with
//! a fresh data directory (SQLite) or a fresh PostgreSQL database, waited for on `/healthz`,
//! and stopped with SIGTERM.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sea_orm::{ConnectionTrait, Database};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::cli::DatabaseArgs;

/// How long natter may take to answer 200 on `/healthz`.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long natter may take to exit after SIGTERM (its grace period is 8 s).
const STOP_WITHIN: Duration = Duration::from_secs(20);

/// A running natter.
pub(crate) struct Server {
    child: Child,
    /// Its process id.
    pub(crate) pid: u32,
    /// The client-facing MQTT listener.
    pub(crate) mqtt: SocketAddr,
    /// Where the load generator finds the database.
    pub(crate) database: DatabaseArgs,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// A free loopback address (the port is released again, to be bound by natter).
fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

impl Server {
    /// Starts `natter serve` with a fresh data directory, on `database_url` when given (else
    /// SQLite in the data directory), and waits until `/healthz` answers 200.
    ///
    /// # Errors
    /// When natter cannot be started, exits, or is not ready in time (with its log's tail).
    pub(crate) async fn start(natter: &Path, database_url: Option<&str>) -> anyhow::Result<Server> {
        if !natter.is_file() {
            bail!(
                "no natter binary at {} (build it: cargo build --release -p natter, or pass --natter)",
                natter.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("natter-bench-")
            .tempdir()
            .context("creating a temporary data directory")?;
        let data_dir = dir.path().join("data");
        let log = dir.path().join("natter.log");
        let (mqtt, internal, http) = (free_addr()?, free_addr()?, free_addr()?);
        let log_file = std::fs::File::create(&log).context("creating the server log")?;
        let mut command = Command::new(natter);
        command
            .arg("serve")
            .current_dir(dir.path())
            // No config files: the built-in defaults plus these variables.
            .env("NATTER_CONFIG_DIR", dir.path())
            .env("NATTER_ENV", "bench")
            .env("NATTER__DATA_DIR", &data_dir)
            .env("NATTER__MQTT__LISTEN", mqtt.to_string())
            .env("NATTER__MQTT__INTERNAL_LISTEN", internal.to_string())
            .env("NATTER__HTTP__LISTEN", http.to_string())
            .env_remove("NATTER__DATABASE__URL")
            .env_remove("NATTER__REDIS__URL")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true);
        if let Some(url) = database_url {
            command.env("NATTER__DATABASE__URL", url);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", natter.display()))?;
        let pid = child.id().context("the natter process exited at once")?;
        let mut server = Server {
            child,
            pid,
            mqtt,
            database: DatabaseArgs {
                database_url: database_url.map(str::to_owned),
                data_dir,
            },
            log,
            _dir: dir,
        };
        server.wait_ready(http).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, http: SocketAddr) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut poll = tokio::time::interval(Duration::from_millis(100));
        loop {
            poll.tick().await;
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "natter exited ({status}) before it was ready; its log ends:\n{}",
                    self.log_tail()
                );
            }
            if health_status(http).await == Some(200) {
                return Ok(());
            }
            if started.elapsed() > READY_WITHIN {
                bail!(
                    "natter did not answer 200 on http://{http}/healthz within {} s; its log ends:\n{}",
                    READY_WITHIN.as_secs(),
                    self.log_tail()
                );
            }
        }
    }

    /// Stops natter with SIGTERM and waits for it to exit 0.
    ///
    /// # Errors
    /// When it does not exit in time (it is killed then) or exits with an error.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        let pid = Pid::from_raw(i32::try_from(self.pid)?);
        kill(pid, Signal::SIGTERM).context("sending SIGTERM to natter")?;
        match tokio::time::timeout(STOP_WITHIN, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!(
                        "natter exited with {status} after SIGTERM; its log ends:\n{}",
                        self.log_tail()
                    );
                }
                Ok(())
            }
            Err(_) => {
                self.child.kill().await.ok();
                bail!(
                    "natter did not exit within {} s of SIGTERM; killed",
                    STOP_WITHIN.as_secs()
                )
            }
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// Waits until process `pid` is idle: less than 10 % of a CPU over half a second (at most
/// 60 s), so that work left from one scenario (a backlog, 20k disconnects) does not count in
/// the next. Returns how long it waited.
pub(crate) async fn wait_idle(pid: u32) -> Duration {
    let started = Instant::now();
    let window = Duration::from_millis(500);
    let mut before = crate::server::cpu_time(pid);
    while started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(window).await;
        let now = crate::server::cpu_time(pid);
        match (before, now) {
            (Some(b), Some(n)) if n.saturating_sub(b) < window / 10 => break,
            (_, None) => break,
            _ => before = now,
        }
    }
    started.elapsed()
}

/// The status code of `GET /healthz`, `None` when nothing answers.
async fn health_status(http: SocketAddr) -> Option<u16> {
    let ask = async {
        let mut stream = TcpStream::connect(http).await.ok()?;
        stream
            .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        let text = String::from_utf8_lossy(&answer);
        text.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(2), ask)
        .await
        .ok()
        .flatten()
}

/// Drops and creates database `name` through the maintenance database at `maintenance_url`;
/// returns the new database's URL.
///
/// # Errors
/// On a bad name or URL, or when the server refuses.
pub(crate) async fn fresh_postgres(maintenance_url: &str, name: &str) -> anyhow::Result<String> {
    let url = database_url(maintenance_url, name)?;
    let admin = Database::connect(maintenance_url)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {maintenance_url}"))?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .with_context(|| format!("dropping database {name}"))?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .with_context(|| format!("creating database {name}"))?;
    admin.close().await.ok();
    Ok(url)
}

/// Drops database `name` through the maintenance database.
///
/// # Errors
/// When the server refuses.
pub(crate) async fn drop_postgres(maintenance_url: &str, name: &str) -> anyhow::Result<()> {
    database_url(maintenance_url, name)?;
    let admin = Database::connect(maintenance_url).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .with_context(|| format!("dropping database {name}"))?;
    admin.close().await.ok();
    Ok(())
}

/// `maintenance_url` with its database replaced by `name` (query parameters kept).
fn database_url(maintenance_url: &str, name: &str) -> anyhow::Result<String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        bail!("--postgres-db must be lowercase letters, digits and _, got {name:?}");
    }
    if !(maintenance_url.starts_with("postgres://") || maintenance_url.starts_with("postgresql://"))
    {
        bail!("--postgres-url must be postgres://…/<maintenance database>, got {maintenance_url}");
    }
    let (path, query) = match maintenance_url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (maintenance_url, None),
    };
    let (base, _) = path
        .rsplit_once('/')
        .filter(|(base, _)| base.contains("://"))
        .with_context(|| {
            format!("--postgres-url must end in /<maintenance database>, got {maintenance_url}")
        })?;
    Ok(match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_the_database_of_a_url() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/test", "natter_bench").ok(),
            Some("postgres://postgres@127.0.0.1:5432/natter_bench".to_owned())
        );
        assert_eq!(
            database_url("postgres://u:p@h/test?sslmode=disable", "b").ok(),
            Some("postgres://u:p@h/b?sslmode=disable".to_owned())
        );
        assert!(database_url("postgres://h/test", "Bad-Name").is_err());
        assert!(database_url("mysql://h/test", "b").is_err());
    }
}
