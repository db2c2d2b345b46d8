//! Which real services a test runs against: PostgreSQL, Redis and S3 from
//! `NATTER_TEST_POSTGRES_URL`, `NATTER_TEST_REDIS_URL` and `NATTER_TEST_S3_ENDPOINT` (with
//! `NATTER_TEST_S3_ACCESS_KEY_ID`, `NATTER_TEST_S3_SECRET_ACCESS_KEY`, `NATTER_TEST_S3_REGION`
//! and `NATTER_TEST_S3_BUCKET`, a bucket that exists: object_store cannot create buckets, so
//! `.ci/run` does; tests share it and keep apart by unique object keys).
//! A variable that is set but whose service does not answer fails the test.

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, Database};

/// The services a test app uses; `None` means the embedded default.
#[derive(Clone, Debug, Default)]
pub struct Services {
    /// A PostgreSQL server URL (any database); each app gets a fresh database on it.
    pub postgres: Option<String>,
    /// A Redis URL; each app gets its own key prefix.
    pub redis: Option<String>,
    /// An S3 endpoint and credentials; each app gets its own bucket.
    pub s3: Option<S3Service>,
}

/// An S3 server and the credentials to use on it.
#[derive(Clone, Debug)]
pub struct S3Service {
    /// Endpoint URL, e.g. `http://127.0.0.1:8333`.
    pub endpoint: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Region.
    pub region: String,
    /// An existing bucket.
    pub bucket: String,
}

impl Services {
    /// Everything embedded: SQLite, local files, in-process presence.
    pub fn embedded() -> Services {
        Services::default()
    }

    /// The services named by the `NATTER_TEST_*` variables.
    ///
    /// # Errors
    /// When the S3 endpoint is set without credentials.
    pub fn from_env() -> anyhow::Result<Services> {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let s3 = match var("NATTER_TEST_S3_ENDPOINT") {
            None => None,
            Some(endpoint) => Some(S3Service {
                endpoint,
                access_key_id: var("NATTER_TEST_S3_ACCESS_KEY_ID").context(
                    "NATTER_TEST_S3_ENDPOINT is set but NATTER_TEST_S3_ACCESS_KEY_ID is not",
                )?,
                secret_access_key: var("NATTER_TEST_S3_SECRET_ACCESS_KEY").context(
                    "NATTER_TEST_S3_ENDPOINT is set but NATTER_TEST_S3_SECRET_ACCESS_KEY is not",
                )?,
                region: var("NATTER_TEST_S3_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
                bucket: var("NATTER_TEST_S3_BUCKET").unwrap_or_else(|| "natter-test".to_owned()),
            }),
        };
        Ok(Services {
            postgres: var("NATTER_TEST_POSTGRES_URL"),
            redis: var("NATTER_TEST_REDIS_URL"),
            s3,
        })
    }
}

/// Creates a new, empty database on the PostgreSQL server at `server_url` and returns its URL.
///
/// # Errors
/// When the server does not answer or refuses.
pub async fn fresh_postgres_database(server_url: &str) -> anyhow::Result<String> {
    let admin = Database::connect(server_url).await.with_context(|| {
        format!("NATTER_TEST_POSTGRES_URL={server_url} is set but does not answer")
    })?;
    drop_stale_databases(&admin).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let name = format!(
        "natter_t_{now}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .context("creating a test database")?;
    admin.close().await.ok();
    let (base, _) = server_url
        .rsplit_once('/')
        .filter(|(base, _)| base.contains("://"))
        .context("NATTER_TEST_POSTGRES_URL must end in /database")?;
    Ok(format!("{base}/{name}"))
}

/// Drops test databases created over an hour ago: a test that failed before `stop()` leaves
/// its database behind, and this keeps a shared server from filling up.
async fn drop_stale_databases(admin: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    use sea_orm::{FromQueryResult, Statement};
    #[derive(FromQueryResult)]
    struct Row {
        datname: String,
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let rows = Row::find_by_statement(Statement::from_string(
        admin.get_database_backend(),
        "SELECT datname FROM pg_database WHERE datname LIKE 'natter\\_t\\_%'",
    ))
    .all(admin)
    .await?;
    for row in rows {
        let created = row
            .datname
            .split('_')
            .nth(2)
            .and_then(|secs| secs.parse::<u64>().ok());
        // Names without a timestamp belong to other test suites: not ours to judge.
        if created.is_some_and(|secs| secs + 3600 < now) {
            admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    row.datname
                ))
                .await?;
        }
    }
    Ok(())
}

/// Drops a database made by [`fresh_postgres_database`].
///
/// # Errors
/// When the server refuses.
pub async fn drop_postgres_database(server_url: &str, database_url: &str) -> anyhow::Result<()> {
    let Some((_, name)) = database_url.rsplit_once('/') else {
        bail!("not a database URL: {database_url}");
    };
    let admin = Database::connect(server_url).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin.close().await.ok();
    Ok(())
}
