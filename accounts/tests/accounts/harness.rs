//! Fresh, migrated databases for the scenarios.

use std::future::Future;
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use uuid::Uuid;

/// Runs `scenario` on a migrated in-memory SQLite database.
pub(crate) async fn on_sqlite<F, Fut>(scenario: F)
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut options = ConnectOptions::new("sqlite::memory:");
    // Every connection to `:memory:` is its own database: keep exactly one.
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .expect("opening in-memory sqlite");
    natter_entities::migrate(&db).await.expect("migrating");
    scenario(db).await;
}

/// Runs `scenario` on a fresh, migrated PostgreSQL database on the server named by
/// `NATTER_TEST_POSTGRES_URL`, and drops it afterwards, also when the scenario fails.
/// Returns at once when the variable is not set.
pub(crate) async fn on_postgres<F, Fut>(scenario: F)
where
    F: FnOnce(DatabaseConnection) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(server_url) = std::env::var("NATTER_TEST_POSTGRES_URL") else {
        eprintln!("NATTER_TEST_POSTGRES_URL is not set: the PostgreSQL run is skipped");
        return;
    };
    let mut admin_options = ConnectOptions::new(server_url.as_str());
    // Fail fast when the server is down, rather than after sqlx's 30 s default.
    admin_options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    let admin = Database::connect(admin_options)
        .await
        .expect("connecting to NATTER_TEST_POSTGRES_URL");
    let name = format!("natter_t_{}", Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("creating the test database");
    let url = database_url(&server_url, &name);

    // The scenario runs in its own task so that a failed assertion still drops the database.
    let outcome = tokio::spawn(async move {
        let mut options = ConnectOptions::new(url);
        options.sqlx_logging(false);
        let db = Database::connect(options)
            .await
            .expect("connecting to the test database");
        natter_entities::migrate(&db).await.expect("migrating");
        scenario(db.clone()).await;
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
            Err(err) => panic!("the scenario did not finish: {err}"),
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
