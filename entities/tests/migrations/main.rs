//! Runs natter's migrations on a fresh database and checks the schema they build: every table
//! and index exists, keys and foreign keys hold, and down-then-up works.
//!
//! The same checks run on SQLite (a temp file in WAL mode) always, and on PostgreSQL when
//! `NATTER_TEST_POSTGRES_URL` is set, in a fresh `natter_t_<uuid>` database that is dropped
//! afterwards. A set variable whose server is unreachable fails the test.

mod constraints;
mod fixtures;
mod schema;

use std::time::Duration;

use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DbBackend, Statement};
use uuid::Uuid;

use crate::schema::check_schema;

#[tokio::test]
async fn migrations_build_an_enforcing_schema_on_sqlite() {
    let dir = tempfile::tempdir().expect("creating a temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("natter.db").display()
    );
    let mut options = ConnectOptions::new(url);
    // The embedded default: WAL, so that readers do not block the single writer.
    options.map_sqlx_sqlite_opts(|opts| opts.journal_mode(SqliteJournalMode::Wal));
    let db = Database::connect(options).await.expect("opening sqlite");

    check_schema(&db).await;

    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await
        .expect("reading the journal mode")
        .expect("PRAGMA journal_mode returns a row");
    let journal_mode: String = row
        .try_get("", "journal_mode")
        .expect("journal_mode column");
    assert_eq!(journal_mode, "wal");
}

#[tokio::test]
async fn migrations_build_an_enforcing_schema_on_postgres() {
    let Ok(server_url) = std::env::var("NATTER_TEST_POSTGRES_URL") else {
        eprintln!("NATTER_TEST_POSTGRES_URL is not set: the PostgreSQL run is skipped");
        return;
    };
    let mut admin_options = ConnectOptions::new(server_url.as_str());
    // Fail fast when the server is down, rather than after sqlx's 30 s default.
    admin_options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5));
    let admin = Database::connect(admin_options)
        .await
        .expect("connecting to NATTER_TEST_POSTGRES_URL");
    let name = format!("natter_t_{}", Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("creating the test database");
    let url = database_url(&server_url, &name);

    // The checks run in their own task so that a failed assertion still drops the database.
    let outcome = tokio::spawn(async move {
        let db = Database::connect(url.as_str())
            .await
            .expect("connecting to the test database");
        check_schema(&db).await;
        db.close().await.expect("closing the test database");
    })
    .await;

    admin
        .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .expect("dropping the test database");
    if let Err(err) = outcome {
        match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(err) => panic!("schema checks did not finish: {err}"),
        }
    }
}

/// `server_url` with its database name replaced by `name`, query string kept.
fn database_url(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}
