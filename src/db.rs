//! The database connection: SQLite (WAL, one writer) by default, PostgreSQL by URL.

use std::time::Duration;

use anyhow::Context;
use natter_config::Settings;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

/// Connects to the configured database and applies pending migrations.
///
/// # Errors
/// When the database cannot be reached or a migration fails; the message names
/// `NATTER__DATABASE__URL`.
pub async fn connect_and_migrate(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    // Migrations may legitimately run longer than a request's statement timeout (an index
    // on a large table): they get a connection of their own without it.
    let migrating = open(settings, false).await?;
    natter_entities::migrate(&migrating)
        .await
        .context("applying database migrations")?;
    if settings.database_url().starts_with("sqlite:") {
        // One writer: keep the one connection rather than open a second pool on the file.
        return Ok(migrating);
    }
    migrating.close().await.ok();
    connect(settings).await
}

/// Connects to the configured database without migrating.
///
/// Every wait is bounded: connecting (`connect_timeout_ms`), taking a pooled connection
/// (`acquire_timeout_ms`, which includes the liveness ping of an idle connection, so dead
/// ones are dropped rather than handed out), and on PostgreSQL each statement
/// (`statement_timeout_ms`, enforced by the server). Connections are recycled after
/// [`MAX_LIFETIME`] and dropped after [`IDLE_TIMEOUT`] unused. PostgreSQL also gets TCP
/// keep-alive and `tcp_user_timeout` on its side of every connection and
/// `idle_in_transaction_session_timeout`, so that a natter cut off mid-transaction does not
/// hold its locks until the kernel gives up. (sqlx 0.9 cannot set keep-alive on natter's side
/// of the socket; natter bounds its own waits instead, see `natter_bridge::DatabaseHealth`.)
///
/// # Errors
/// When the database cannot be reached; the message names `NATTER__DATABASE__URL`.
pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    open(settings, true).await
}

/// The pool, with the PostgreSQL statement timeout or without it (for migrations).
async fn open(settings: &Settings, statement_timeout: bool) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database_url();
    let is_sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url);
    let database = &settings.database;
    options
        .connect_timeout(database.connect_timeout())
        .acquire_timeout(database.acquire_timeout())
        .test_before_acquire(true)
        .sqlx_logging(false);
    if is_sqlite {
        // One writer: SQLite serialises writes anyway, and a single connection avoids
        // "database is locked" under contention. WAL lets readers proceed meanwhile.
        options.max_connections(1).map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    } else {
        // 0 disables PostgreSQL's statement timeout.
        let statement_ms = if statement_timeout {
            database.statement_timeout_ms
        } else {
            0
        };
        options
            .max_connections(database.max_connections)
            .idle_timeout(IDLE_TIMEOUT)
            .max_lifetime(MAX_LIFETIME)
            .map_sqlx_postgres_opts(move |opts| opts.options(postgres_session(statement_ms)));
    }
    Database::connect(options)
        .await
        .context("cannot connect to the database (NATTER__DATABASE__URL)")
}

/// Unused pooled connections are closed after this (a stale one is not kept around).
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Pooled connections are replaced after this, whatever their state.
const MAX_LIFETIME: Duration = Duration::from_secs(1800);

/// PostgreSQL session settings sent at connect: the statement timeout, and how the server
/// notices a natter that vanished (keep-alive probes after 10 s idle, every 5 s, 3 missed;
/// unacknowledged data for 15 s; a transaction left idle for twice the statement timeout).
fn postgres_session(statement_ms: u64) -> Vec<(&'static str, String)> {
    vec![
        ("statement_timeout", statement_ms.to_string()),
        (
            "idle_in_transaction_session_timeout",
            statement_ms.saturating_mul(2).to_string(),
        ),
        ("tcp_keepalives_idle", "10".to_owned()),
        ("tcp_keepalives_interval", "5".to_owned()),
        ("tcp_keepalives_count", "3".to_owned()),
        ("tcp_user_timeout", "15000".to_owned()),
    ]
}
