//! The app: start-up of the parts a subcommand runs, readiness, and graceful shutdown.
//!
//! `natter serve` runs every part in one process; `natter broker`, `natter bridge` and
//! `natter workers` run one part each, wired by configuration. Every part gets a child of
//! one shutdown token and runs in one `TaskTracker`.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use natter_api::health::Probe;
use natter_api::{HttpServer, storage};
use natter_bridge::{BridgeContext, DatabaseHealth};
use natter_broker::{Broker, Edge};
use natter_config::Settings;
use natter_presence::PresenceService;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use secrecy::SecretString;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::auth::AccountsAuthenticator;

/// How long the broker's listener may take to accept its first connection.
const BROKER_READY_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest the database health probe may take (under the health endpoint's own 2 s limit,
/// so that its failure is recorded and named).
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Longest closing the database pool may take at shutdown (connections stuck on a database
/// that does not answer are abandoned).
const DATABASE_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Which parts this process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Everything: broker, bridge, workers and HTTP.
    Serve,
    /// The broker alone (router and listeners).
    Broker,
    /// The bridge workers alone, connecting to a broker elsewhere.
    Bridge,
    /// The background jobs alone.
    Workers,
}

impl Role {
    fn runs_broker(self) -> bool {
        matches!(self, Role::Serve | Role::Broker)
    }
    fn runs_bridge(self) -> bool {
        matches!(self, Role::Serve | Role::Bridge)
    }
    fn runs_workers(self) -> bool {
        matches!(self, Role::Serve | Role::Workers)
    }
}

/// A started app whose listeners are bound and whose dependencies answered.
#[derive(Debug)]
pub struct App {
    settings: Settings,
    role: Role,
    http: HttpServer,
    http_addr: SocketAddr,
    broker: Option<Broker>,
    edge: Option<Edge>,
    database: DatabaseConnection,
    database_health: Arc<DatabaseHealth>,
    service_password: SecretString,
    bridge_ready: watch::Sender<bool>,
    presence: Option<PresenceService>,
    /// The presence store the bridge answers `presence.query` calls from, when it has one.
    presence_store: Option<Arc<dyn natter_presence::PresenceStore>>,
    /// Stops this node's cluster tasks (Redis pub/sub), when it is one of several.
    cluster: Option<CancellationToken>,
}

impl App {
    /// Starts what `role` needs: prepares the data directory, connects to the database
    /// (migrating it), Redis and object storage when configured, starts the broker and binds
    /// the HTTP listener. Every failure names the setting to change.
    ///
    /// A listen address with port 0 gets a free port, so tests can ask for any port.
    ///
    /// # Errors
    /// When any of those steps fails.
    pub async fn build(mut settings: Settings, role: Role) -> anyhow::Result<App> {
        prepare_data_dir(&settings.data_dir)?;
        let metrics = natter_api::metrics::install()?;
        settings.mqtt.internal_listen = pick_port(settings.mqtt.internal_listen)?;
        // Configured, or kept in the data directory: admin commands and parts sharing it
        // reach this node's internal listener without configuration.
        let service_password = crate::service_password::resolve(&settings)?;

        // Every part needs the database: the broker authenticates against the accounts.
        let database = crate::db::connect_and_migrate(&settings).await?;
        let mut cluster = None;
        let database_health = Arc::new(DatabaseHealth::new(settings.database.statement_timeout()));
        // Every role serves HTTP; the broker's MQTT connections are what the limit is for.
        let mqtt_connections = if role.runs_broker() {
            settings.mqtt.max_connections
        } else {
            0
        };
        let open_files = crate::limits::raise_open_files(mqtt_connections);
        let (broker, edge, presence) = if role.runs_broker() {
            let broker = Broker::spawn(&settings.mqtt, service_password.clone())?;
            broker.wait_ready(BROKER_READY_TIMEOUT).await?;
            let auth = Arc::new(AccountsAuthenticator::new(database.clone()));
            // Presence runs where the edge runs: it learns connects and disconnects there.
            let presence = PresenceService::new(
                &settings.presence,
                crate::presence::store(&settings).await?,
                database.clone(),
                Arc::new(crate::presence::BrokerSink(broker.clone())),
            );
            let hook = Arc::new(crate::presence::EdgePresence(presence.handle()));
            let edge = broker
                .bind_edge_with_presence(&settings.mqtt, auth, hook)
                .await?;
            // With Redis, this node is one of several: messages, take-overs and control
            // messages reach the nodes that need them.
            if let Some(url) = &settings.redis.url {
                let stop = CancellationToken::new();
                crate::cluster::join(
                    secrecy::ExposeSecret::expose_secret(url),
                    &settings.redis.key_prefix,
                    &broker,
                    Duration::from_millis(settings.database.connect_timeout_ms),
                    settings.storage.backend == natter_config::StorageBackend::Local
                        && !settings.storage.local_shared,
                    stop.clone(),
                )
                .await?;
                cluster = Some(stop);
            }
            settings.mqtt.listen = edge.local_addr()?;
            settings.mqtt.ws_listen = edge.ws_local_addr()?;
            (Some(broker), Some(edge), Some(presence))
        } else {
            (None, None, None)
        };
        // The bridge answers presence queries from the edge's store in this process, or from
        // Redis, which every node shares; a lone bridge without Redis has none.
        let presence_store = match (&presence, &settings.redis.url, role.runs_bridge()) {
            (_, _, false) => None,
            (Some(service), _, true) => Some(service.handle().store().clone()),
            (None, Some(_), true) => Some(crate::presence::store(&settings).await?),
            (None, None, true) => None,
        };
        let redis = match (&settings.redis.url, role.runs_bridge()) {
            (Some(url), true) => Some(
                natter_bridge::presence::connect_redis(
                    secrecy::ExposeSecret::expose_secret(url),
                    settings.redis.timeout(),
                )
                .await?,
            ),
            _ => None,
        };
        // The /v1 API runs where everything runs; a split deployment puts it with `serve`.
        let api = if role == Role::Serve {
            let store = storage::build(&settings.storage, &settings.data_dir)?;
            storage::probe(store.as_ref()).await.map_err(|source| {
                natter_api::Error::StorageProbe {
                    location: storage::describe(&settings.storage, &settings.data_dir),
                    source,
                }
            })?;
            let control = crate::control::ServiceControl {
                broker_addr: settings.mqtt.internal_listen.to_string(),
                password: service_password.clone(),
            };
            Some(natter_api::v1::router(natter_api::v1::ApiContext {
                db: database.clone(),
                store,
                settings: Arc::new(settings.clone()),
                control: Arc::new(control),
                presence: presence.as_ref().map(PresenceService::handle),
            }))
        } else {
            None
        };

        let (bridge_ready, _) = watch::channel(false);
        let probes = probes(
            broker.as_ref(),
            &database,
            &database_health,
            redis,
            role.runs_bridge().then(|| bridge_ready.subscribe()),
        );
        let limits = natter_api::ConnectionLimits {
            max_connections: crate::limits::http_connections(
                settings.http.max_connections,
                open_files,
            ),
            header_read_timeout: settings.http.header_read_timeout(),
            body_read_timeout: settings.http.body_read_timeout(),
        };
        let http = natter_api::bind(settings.http.listen, probes, metrics, api, limits).await?;
        let http_addr = http.local_addr()?;
        info!(
            http = %http_addr,
            mqtt = %settings.mqtt.listen,
            mqtt_internal = %settings.mqtt.internal_listen,
            mqtt_ws = ?settings.mqtt.ws_listen,
            mqtt_tls = settings.mqtt.tls_enabled(),
            ?role,
            "natter started"
        );
        Ok(App {
            settings,
            role,
            http,
            http_addr,
            broker,
            edge,
            database,
            database_health,
            service_password,
            bridge_ready,
            presence,
            presence_store,
            cluster,
        })
    }

    /// The address of the HTTP listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The address of the client-facing MQTT listener (when this role runs the broker).
    pub fn mqtt_addr(&self) -> SocketAddr {
        self.settings.mqtt.listen
    }

    /// The address of the broker's loopback listener for service clients.
    pub fn internal_mqtt_addr(&self) -> SocketAddr {
        self.settings.mqtt.internal_listen
    }

    /// The settings in effect, with the ports that were picked filled in.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The database connection.
    pub fn database(&self) -> &DatabaseConnection {
        &self.database
    }

    /// Runs until `shutdown` is cancelled or a part fails, then stops every part, waiting
    /// at most the configured grace period.
    ///
    /// # Errors
    /// When a part failed (the first failure is returned), or the grace period ran out.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let tracker = TaskTracker::new();
        let parts = shutdown.child_token();
        let (failed_tx, mut failed_rx) = tokio::sync::mpsc::channel::<anyhow::Error>(4);

        let http_failed = failed_tx.clone();
        let http_token = parts.child_token();
        tracker.spawn(async move {
            if let Err(err) = self.http.run_until_stopped(http_token).await {
                let _ = http_failed.send(err.into()).await;
            }
        });
        if let Some(edge) = self.edge {
            let edge_failed = failed_tx.clone();
            let edge_token = parts.child_token();
            tracker.spawn(async move {
                if let Err(err) = edge.run_until_stopped(edge_token).await {
                    let _ = edge_failed.send(err.into()).await;
                }
            });
        }
        if let Some(presence) = self.presence {
            let presence_failed = failed_tx.clone();
            let presence_token = parts.child_token();
            tracker.spawn(async move {
                if let Err(err) = presence.run(presence_token).await {
                    let _ = presence_failed.send(err.into()).await;
                }
            });
        }
        if self.role.runs_bridge() {
            let ctx = BridgeContext {
                broker_addr: self.settings.bridge.broker_addr(&self.settings.mqtt),
                client_id: self.settings.bridge.client_id.clone(),
                service_password: self.service_password.clone(),
                channel_capacity: self.settings.bridge.channel_capacity,
                ready: self.bridge_ready.clone(),
                db: self.database.clone(),
                db_health: self.database_health.clone(),
                messaging: self.settings.messaging.clone(),
                accounts: self.settings.accounts.clone(),
                sessions: self.settings.bridge.sessions,
                shared: self.settings.bridge.shared,
                presence: self.presence_store.clone(),
                max_packet_size: self.settings.mqtt.max_packet_size,
            };
            let bridge_failed = failed_tx.clone();
            let bridge_token = parts.child_token();
            tracker.spawn(async move {
                if let Err(err) = natter_bridge::run(ctx, bridge_token).await {
                    let _ = bridge_failed.send(err.into()).await;
                }
            });
        }
        if self.role.runs_workers() {
            let mut ctx =
                natter_workers::WorkersContext::new(self.database.clone(), &self.settings.workers);
            // Media collection needs the object store (the one `serve` probed at start).
            match storage::build(&self.settings.storage, &self.settings.data_dir) {
                Ok(store) => {
                    let gc = natter_workers::media_gc::MediaGc::new(store, &self.settings.media);
                    ctx.media = Some(gc);
                }
                Err(err) => warn!(error = %err, "no object storage: media are not collected"),
            }
            let workers_failed = failed_tx.clone();
            let workers_token = parts.child_token();
            tracker.spawn(async move {
                if let Err(err) = natter_workers::run(ctx, workers_token).await {
                    let _ = workers_failed.send(err.into()).await;
                }
            });
        }
        drop(failed_tx);
        tracker.close();

        let failure = tokio::select! {
            _ = shutdown.cancelled() => None,
            failure = failed_rx.recv() => failure,
        };
        if let Some(err) = &failure {
            error!(error = %err, "a part failed, stopping");
        }
        parts.cancel();
        let grace = self.settings.shutdown.grace();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            warn!(
                remaining = tracker.len(),
                ?grace,
                "parts still running after the grace period"
            );
            bail!("shutdown did not finish within {grace:?} (NATTER__SHUTDOWN__GRACE_MS)");
        }
        match tokio::time::timeout(DATABASE_CLOSE_TIMEOUT, self.database.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => warn!(error = %err, "closing the database failed"),
            Err(_) => warn!("the database did not close in time: its connections were abandoned"),
        }
        if let Some(cluster) = self.cluster {
            cluster.cancel();
        }
        drop(self.broker);
        info!("natter stopped");
        match failure {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

fn probes(
    broker: Option<&Broker>,
    database: &DatabaseConnection,
    database_health: &Arc<DatabaseHealth>,
    redis: Option<natter_presence::RedisLink>,
    bridge_ready: Option<watch::Receiver<bool>>,
) -> Vec<Probe> {
    let mut probes = Vec::new();
    if let Some(broker) = broker.cloned() {
        probes.push(Probe::new("broker", move || {
            let broker = broker.clone();
            async move {
                match broker.is_ready() {
                    true => Ok(()),
                    false => Err("the internal listener stopped".to_owned()),
                }
            }
        }));
    }
    let db = database.clone();
    let health = database_health.clone();
    probes.push(Probe::new("database", move || {
        let db = db.clone();
        let health = health.clone();
        async move { probe_database(&db, &health).await }
    }));
    if let Some(redis) = redis {
        probes.push(Probe::new("redis", move || {
            let redis = redis.clone();
            async move {
                natter_bridge::presence::ping(&redis)
                    .await
                    .map_err(|err| format!("{:#}", anyhow::Error::from(err)))
            }
        }));
    }
    if let Some(ready) = bridge_ready {
        probes.push(Probe::new("bridge", move || {
            let connected = *ready.borrow();
            async move {
                match connected {
                    true => Ok(()),
                    false => Err("not connected to the broker".to_owned()),
                }
            }
        }));
    }
    probes
}

/// The database's health: a write (a committed transaction that takes a transaction id on
/// PostgreSQL) within [`DATABASE_PROBE_TIMEOUT`]. Its outcome is recorded in `health`, which
/// the bridge shares: a database that stops answering is reported here and refused there at
/// once, and the first probe (or request) that gets through again clears both.
async fn probe_database(db: &DatabaseConnection, health: &DatabaseHealth) -> Result<(), String> {
    let budget = DATABASE_PROBE_TIMEOUT.min(health.timeout());
    let outcome = match tokio::time::timeout(budget, write_probe(db)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err((
            natter_bridge::db_health::is_outage(&err),
            format!("write failed: {err}"),
        )),
        Err(_) => Err((
            true,
            format!("writes time out: no answer within {budget:?}"),
        )),
    };
    match outcome {
        Ok(()) => {
            health.succeeded();
            Ok(())
        }
        Err((outage, reason)) => {
            if outage {
                health.failed(&reason);
            }
            let down_for = health
                .outage()
                .map(|outage| format!(" (failing for {} s)", outage.for_.as_secs()))
                .unwrap_or_default();
            Err(format!("{reason}{down_for}"))
        }
    }
}

async fn write_probe(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    let statement = match db.get_database_backend() {
        DbBackend::Postgres => "SELECT txid_current()",
        _ => "SELECT 1",
    };
    txn.execute_unprepared(statement).await?;
    txn.commit().await
}

/// Creates the data directory and checks that natter can write into it.
///
/// # Errors
/// One line naming `NATTER__DATA_DIR` when it cannot be created or written.
pub fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    let context = || {
        format!(
            "data directory {} is not writable (NATTER__DATA_DIR)",
            dir.display()
        )
    };
    std::fs::create_dir_all(dir).with_context(context)?;
    let probe = dir.join(".natter-write-probe");
    std::fs::write(&probe, b"ok").with_context(context)?;
    std::fs::remove_file(&probe).with_context(context)?;
    Ok(())
}

/// Returns `addr`, or for port 0 the same IP with a port that is free right now.
fn pick_port(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    let listener = TcpListener::bind(addr).with_context(|| format!("cannot bind {addr}"))?;
    Ok(listener.local_addr()?)
}
