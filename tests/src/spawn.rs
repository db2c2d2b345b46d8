//! Spawning the whole app in-process, as `natter serve` runs it, on free ports and a fresh
//! data directory and database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use anyhow::Context;
use natter::app::{App, Role};
use natter_config::{Settings, StorageBackend};
use secrecy::SecretString;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::services::{Services, drop_postgres_database, fresh_postgres_database};

/// A running app and what a test needs to talk to it.
#[derive(Debug)]
pub struct TestApp {
    /// The settings it runs with (ports filled in).
    pub settings: Settings,
    /// Its HTTP address.
    pub http_addr: SocketAddr,
    /// Cancelling this stops the app.
    pub shutdown: CancellationToken,
    /// The app's `run_until_stopped`.
    pub handle: JoinHandle<anyhow::Result<()>>,
    /// An HTTP client.
    pub http: reqwest::Client,
    services: Services,
    _data_dir: tempfile::TempDir,
}

impl TestApp {
    /// The client-facing MQTT address.
    pub fn mqtt_addr(&self) -> SocketAddr {
        self.settings.mqtt.listen
    }

    /// The login of the `service` user on the internal listener.
    pub fn service_login(&self) -> crate::mqtt::Login {
        crate::mqtt::Login {
            username: natter_proto::SERVICE_USERNAME.to_owned(),
            password: self
                .settings
                .mqtt
                .service_password
                .as_ref()
                .map(|password| secrecy::ExposeSecret::expose_secret(password).to_owned())
                .unwrap_or_default(),
        }
    }

    /// A connected client of the `service` user on the internal listener, as a bridge worker.
    ///
    /// # Errors
    /// When it does not get a CONNACK.
    pub async fn service(&self) -> anyhow::Result<crate::mqtt::ClientV4> {
        let mut service =
            crate::mqtt::connect_v4(self.settings.mqtt.internal_listen, &self.service_login());
        service
            .wait(|packet| matches!(packet, rumqttc::Packet::ConnAck(_)).then_some(()))
            .await?;
        Ok(service)
    }

    /// A new connection to the app's database.
    ///
    /// # Errors
    /// When it cannot connect.
    pub async fn db(&self) -> anyhow::Result<sea_orm::DatabaseConnection> {
        natter::db::connect(&self.settings).await
    }

    /// Provisions a user (as `natter admin user create` does) and returns its credentials.
    ///
    /// # Errors
    /// When provisioning fails.
    pub async fn create_user(&self, phone: &str) -> anyhow::Result<natter_accounts::Credentials> {
        let db = self.db().await?;
        let credentials = natter_accounts::create_user(&db, phone, "Test").await?;
        db.close().await?;
        Ok(credentials)
    }

    /// Adds a device with `role` to user `user_id` and returns its credentials.
    ///
    /// # Errors
    /// When provisioning fails.
    pub async fn add_device(
        &self,
        user_id: i64,
        role: natter_accounts::Role,
    ) -> anyhow::Result<natter_accounts::Credentials> {
        let db = self.db().await?;
        let credentials =
            natter_accounts::add_device(&db, user_id, "test device", "test", role).await?;
        db.close().await?;
        Ok(credentials)
    }

    /// Creates a group of `members` (the first one creates it) directly in the database, as
    /// the messaging layer will, and returns its id.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn create_group(&self, members: &[i64]) -> anyhow::Result<i64> {
        use natter_entities::{group_members, groups};
        use sea_orm::{ActiveModelTrait, Set};
        let creator = *members.first().context("a group needs a member")?;
        let db = self.db().await?;
        let now = natter_accounts::now_ms();
        let group = groups::ActiveModel {
            name: Set("test group".into()),
            description: Set(String::new()),
            created_by: Set(creator),
            member_limit: Set(1024),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await?;
        for &user_id in members {
            group_members::ActiveModel {
                group_id: Set(group.id),
                user_id: Set(user_id),
                role: Set(if user_id == creator {
                    "admin"
                } else {
                    "member"
                }
                .into()),
                joined_at: Set(now),
            }
            .insert(&db)
            .await?;
        }
        db.close().await?;
        Ok(group.id)
    }

    /// Removes `user_id` from group `group_id` in the database.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn remove_member(&self, group_id: i64, user_id: i64) -> anyhow::Result<()> {
        use natter_entities::group_members;
        use sea_orm::{EntityTrait, ModelTrait};
        let db = self.db().await?;
        if let Some(member) = group_members::Entity::find_by_id((group_id, user_id))
            .one(&db)
            .await?
        {
            member.delete(&db).await?;
        }
        db.close().await?;
        Ok(())
    }

    /// `http://{http_addr}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    /// Waits until `/healthz` answers 200 and returns its JSON.
    ///
    /// # Errors
    /// When it does not within 10 s.
    pub async fn wait_healthy(&self) -> anyhow::Result<serde_json::Value> {
        crate::eventually(Duration::from_secs(10), || async {
            let response = self.http.get(self.url("/healthz")).send().await?;
            if response.status() != reqwest::StatusCode::OK {
                return Ok(None);
            }
            Ok(Some(response.json().await?))
        })
        .await
        .context("waiting for /healthz to turn 200")
    }

    /// Cancels the app and waits for it to stop, returning what `run_until_stopped` returned.
    /// Drops the app's PostgreSQL database, if it had one.
    ///
    /// # Errors
    /// When the app did not stop cleanly.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let outcome = self.handle.await.context("app task panicked")?;
        if let Some(server) = &self.services.postgres {
            let url = secrecy::ExposeSecret::expose_secret(
                self.settings
                    .database
                    .url
                    .as_ref()
                    .context("no database url")?,
            )
            .to_owned();
            drop_postgres_database(server, &url).await?;
        }
        outcome
    }
}

/// Settings for a test app: the `test` layer, a data directory under `data_dir`, every
/// listener on a free loopback port.
///
/// # Errors
/// When the settings do not load.
pub fn test_settings(data_dir: PathBuf) -> anyhow::Result<Settings> {
    let config_dir = PathBuf::from(natter_config::FILES_DIR);
    let mut settings = natter_config::load_with_env("test", &config_dir, Default::default())
        .context("loading test settings")?;
    settings.data_dir = data_dir;
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.mqtt.listen = any_port;
    settings.mqtt.internal_listen = any_port;
    settings.http.listen = any_port;
    Ok(settings)
}

/// Starts an app on `services` with the test settings.
///
/// # Errors
/// When it does not start.
pub async fn spawn_app(services: &Services) -> anyhow::Result<TestApp> {
    spawn_app_with(services, |_| {}).await
}

/// Starts an app on `services`, letting `customize` change the settings first.
///
/// # Errors
/// When it does not start.
pub async fn spawn_app_with(
    services: &Services,
    customize: impl FnOnce(&mut Settings),
) -> anyhow::Result<TestApp> {
    init_test_tracing();
    let data_dir = tempfile::tempdir().context("creating a data directory")?;
    let mut settings = test_settings(data_dir.path().join("data"))?;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    settings.mqtt.service_password = Some(SecretString::from(format!("svc-{unique}")));
    if let Some(server) = &services.postgres {
        settings.database.url = Some(SecretString::from(fresh_postgres_database(server).await?));
    }
    if let Some(url) = &services.redis {
        settings.redis.url = Some(SecretString::from(url.clone()));
        settings.redis.key_prefix = format!("t-{unique}");
    }
    if let Some(s3) = &services.s3 {
        settings.storage.backend = StorageBackend::S3;
        settings.storage.endpoint = Some(s3.endpoint.clone());
        settings.storage.bucket = s3.bucket.clone();
        settings.storage.region = s3.region.clone();
        settings.storage.access_key_id = Some(s3.access_key_id.clone());
        settings.storage.secret_access_key = Some(SecretString::from(s3.secret_access_key.clone()));
        settings.storage.allow_http = s3.endpoint.starts_with("http://");
    }
    customize(&mut settings);
    let app = App::build(settings, Role::Serve)
        .await
        .context("starting the app")?;
    let settings = app.settings().clone();
    let http_addr = app.http_addr();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    Ok(TestApp {
        settings,
        http_addr,
        shutdown,
        handle,
        http: reqwest::Client::new(),
        services: services.clone(),
        _data_dir: data_dir,
    })
}

/// Routes the app's logs to the test output when `TEST_LOG` is set, else nowhere.
fn init_test_tracing() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            // TEST_LOG=1 gives natter's debug logs; any other value is an EnvFilter.
            let filter = if filter == "1" {
                "natter=debug,info".to_owned()
            } else {
                filter
            };
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}
