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
    let db = connect(settings).await?;
    natter_entities::migrate(&db)
        .await
        .context("applying database migrations")?;
    Ok(db)
}

/// Connects to the configured database without migrating.
///
/// # Errors
/// When the database cannot be reached; the message names `NATTER__DATABASE__URL`.
pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database_url();
    let is_sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url);
    let timeout = Duration::from_millis(settings.database.connect_timeout_ms);
    options
        .connect_timeout(timeout)
        .acquire_timeout(timeout)
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
        options.max_connections(settings.database.max_connections);
    }
    Database::connect(options)
        .await
        .context("cannot connect to the database (NATTER__DATABASE__URL)")
}
