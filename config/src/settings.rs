//! The root of the typed settings tree and the checks that span sections (the listeners
//! must not collide). Each section validates its own fields in its own module; loading and
//! error mapping live in `load`.

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::accounts::AccountsSettings;
use crate::error::{Error, Result};
use crate::fields::lossy_path;
use crate::media::MediaSettings;
use crate::messaging::MessagingSettings;
use crate::network::{BridgeSettings, HttpSettings, MqttSettings};
use crate::presence::PresenceSettings;
use crate::runtime::{ShutdownSettings, TelemetrySettings, WorkersSettings};
use crate::stores::{DatabaseSettings, RedisSettings, StorageSettings};

/// Every setting natter has. Load it with [`crate::load`]; see `config/base.toml` for the
/// defaults and the environment variable of each key.
///
/// `Serialize` renders secrets as `[redacted]`, so a serialized `Settings` is safe to log
/// or show; [`Settings::redacted_toml`] is the usual way to do that.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Directory for the default SQLite database and local media (`data_dir`, default `./data`).
    #[serde(serialize_with = "lossy_path")]
    pub data_dir: PathBuf,
    /// The MQTT broker.
    pub mqtt: MqttSettings,
    /// The HTTP API.
    pub http: HttpSettings,
    /// The relational database.
    pub database: DatabaseSettings,
    /// The optional Redis presence store.
    pub redis: RedisSettings,
    /// Media object storage.
    pub storage: StorageSettings,
    /// Logging and tracing.
    pub telemetry: TelemetrySettings,
    /// How the bridge reaches the broker.
    pub bridge: BridgeSettings,
    /// Background jobs.
    pub workers: WorkersSettings,
    /// Graceful shutdown.
    pub shutdown: ShutdownSettings,
    /// Registration, devices, profiles, contacts.
    pub accounts: AccountsSettings,
    /// Media upload, processing and download.
    pub media: MediaSettings,
    /// Messaging and groups.
    pub messaging: MessagingSettings,
    /// Online/offline and last seen.
    pub presence: PresenceSettings,
}

impl Settings {
    /// Checks what types alone cannot: URL schemes, loopback-only addresses, non-zero sizes,
    /// S3 credentials, listener collisions. [`crate::load`] calls it; call it again after
    /// changing a `Settings` by hand.
    ///
    /// # Errors
    /// [`Error::Invalid`] or [`Error::MissingKey`] naming the first offending key.
    pub fn validate(&self) -> Result<()> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(Error::invalid("data_dir", "must not be empty"));
        }
        self.mqtt.validate()?;
        self.http.validate()?;
        self.database.validate()?;
        self.redis.validate()?;
        self.storage.validate()?;
        self.telemetry.validate()?;
        self.bridge.validate()?;
        self.workers.validate()?;
        self.accounts.validate()?;
        self.media.validate()?;
        self.messaging.validate()?;
        self.presence.validate()?;
        self.validate_listeners()
    }

    /// The database URL to connect to, **exposing any password in it**: `database.url`, or
    /// else `sqlite://{data_dir}/natter.db?mode=rwc` (the directory must exist).
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose_secret().to_owned(),
            None => {
                let path = self.data_dir.join("natter.db");
                format!("sqlite://{}?mode=rwc", path.to_string_lossy())
            }
        }
    }

    /// [`Settings::database_url`] with its password redacted, to name it in messages.
    pub fn database_url_redacted(&self) -> String {
        crate::fields::redact_url(&self.database_url())
    }

    /// The effective settings as TOML, with every secret (and the password inside database
    /// and Redis URLs) replaced by `[redacted]`. Unset optional keys are omitted.
    pub fn redacted_toml(&self) -> String {
        toml::to_string(self)
            .unwrap_or_else(|err| format!("# settings could not be rendered: {err}\n"))
    }

    /// Two listeners on the same port fail at bind time with a message that names neither
    /// setting, so catch it here. Port 0 (pick any free port) never collides.
    fn validate_listeners(&self) -> Result<()> {
        let listeners = [
            ("mqtt.listen", self.mqtt.listen),
            ("mqtt.internal_listen", self.mqtt.internal_listen),
            ("http.listen", self.http.listen),
        ];
        for (index, (key, addr)) in listeners.iter().enumerate() {
            for (other_key, other_addr) in &listeners[..index] {
                if collides(*addr, *other_addr) {
                    return Err(Error::invalid(
                        key,
                        format!("{addr} collides with {other_key} ({other_addr})"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether binding both addresses would fail with "address in use".
fn collides(addr: SocketAddr, other: SocketAddr) -> bool {
    addr.port() != 0
        && addr.port() == other.port()
        && (addr.ip() == other.ip()
            || (addr.is_ipv4() == other.is_ipv4()
                && (addr.ip().is_unspecified() || other.ip().is_unspecified())))
}

/// Rejects zero for counts, sizes and intervals where zero would stall or panic at runtime.
pub(crate) fn at_least_one<T: Default + PartialEq>(key: &str, value: T) -> Result<()> {
    if value == T::default() {
        return Err(Error::invalid(key, "must be at least 1"));
    }
    Ok(())
}
