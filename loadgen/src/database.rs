//! The connection to natter's database, for provisioning and cleanup: the URL from the command
//! line, or the SQLite file in natter's data directory, opened the way natter opens it.

use std::time::Duration;

use anyhow::Context;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::cli::DatabaseArgs;

/// Connects to the database named by `args`. The schema must exist: start natter (or run
/// `natter migrate`) against it first.
///
/// # Errors
/// When the database cannot be opened.
pub(crate) async fn connect(args: &DatabaseArgs) -> anyhow::Result<DatabaseConnection> {
    let url = match &args.database_url {
        Some(url) => url.clone(),
        // `mode=rw`, not `rwc`: a missing file means a wrong data directory, not a new database.
        None => format!(
            "sqlite://{}?mode=rw",
            args.data_dir.join("natter.db").to_string_lossy()
        ),
    };
    let is_sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url);
    options
        .connect_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if is_sqlite {
        // The server holds its own writer connection; wait for it rather than fail with
        // "database is locked".
        options.max_connections(1).map_sqlx_sqlite_opts(|opts| {
            opts.busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    }
    Database::connect(options)
        .await
        .context("cannot open the natter database (--database-url or --data-dir)")
}
