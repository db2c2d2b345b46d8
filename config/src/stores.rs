//! Settings for where state lives: the database, the optional Redis presence store and media
//! object storage (local directory or S3). Plain data only; the bridge and workers build the
//! clients (`natter_bridge::db::connect(&settings.database)`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fields::{empty_as_none, lossy_optional_path, redact_secret, redact_url_secret};
use crate::settings::at_least_one;

/// The relational database (`[database]`, `NATTER__DATABASE__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite:…`, `postgres://…` or `postgresql://…`; `None` means the SQLite file
    /// `{data_dir}/natter.db`. Use [`crate::Settings::database_url`] to resolve it.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        serialize_with = "redact_url_secret"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<SecretString>,
    /// Connection pool size (`database.max_connections`, default 10).
    pub max_connections: u32,
    /// How long to wait for a connection, in milliseconds (`database.connect_timeout_ms`,
    /// default 5000); see [`DatabaseSettings::connect_timeout`].
    pub connect_timeout_ms: u64,
    /// Longest one statement, and one request's database work, may take before it is
    /// abandoned and answered `unavailable` (`database.statement_timeout_ms`, default 5000);
    /// see [`DatabaseSettings::statement_timeout`].
    pub statement_timeout_ms: u64,
    /// How long a request may wait for a pooled connection (`database.acquire_timeout_ms`,
    /// default 3000); see [`DatabaseSettings::acquire_timeout`].
    pub acquire_timeout_ms: u64,
}

/// The Redis presence store (`[redis]`, `NATTER__REDIS__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://…` or `rediss://…`; `None` keeps presence in process.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        serialize_with = "redact_url_secret"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<SecretString>,
    /// Prefix of every key natter writes (`redis.key_prefix`, default `natter`).
    pub key_prefix: String,
    /// How long one Redis command or connection attempt may take (`redis.timeout_ms`, default
    /// 1000); a command that times out makes natter drop the connection and open a new one.
    pub timeout_ms: u64,
}

/// Which object store holds media.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// A directory on the local file system (`local`).
    #[default]
    Local,
    /// An S3-compatible service such as AWS S3 or MinIO (`s3`).
    S3,
}

/// Media object storage (`[storage]`, `NATTER__STORAGE__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `local` or `s3` (`storage.backend`, default `local`).
    pub backend: StorageBackend,
    /// Directory for the local backend; `None` means `{data_dir}/media`. Resolve it with
    /// [`StorageSettings::local_path`].
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        serialize_with = "lossy_optional_path"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_path: Option<PathBuf>,
    /// S3 endpoint URL, e.g. `http://127.0.0.1:9000` for MinIO; `None` means AWS.
    #[serde(default, deserialize_with = "empty_as_none")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// S3 bucket (`storage.bucket`, default `natter-media`).
    pub bucket: String,
    /// S3 region (`storage.region`, default `us-east-1`).
    pub region: String,
    /// S3 access key id; required by the `s3` backend.
    #[serde(default, deserialize_with = "empty_as_none")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// S3 secret access key; required by the `s3` backend.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        serialize_with = "redact_secret"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<SecretString>,
    /// Allow a plain `http://` endpoint (`storage.allow_http`, default false).
    pub allow_http: bool,
    /// The local backend's directory is shared by every node (one machine, or a network
    /// file system): lets a node with local media join others (`storage.local_shared`,
    /// default false).
    #[serde(default)]
    pub local_shared: bool,
}

impl DatabaseSettings {
    /// How long to wait for a connection.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// Longest one statement, and one request's database work, may take.
    pub fn statement_timeout(&self) -> Duration {
        Duration::from_millis(self.statement_timeout_ms)
    }

    /// How long to wait for a pooled connection.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(url) = &self.url {
            let url = url.expose_secret();
            let known = ["sqlite:", "postgres://", "postgresql://"];
            if !known.iter().any(|prefix| url.starts_with(prefix)) {
                return Err(Error::invalid(
                    "database.url",
                    format!(
                        "{}; expected a URL starting with sqlite:, postgres:// or postgresql://",
                        describe_scheme(url)
                    ),
                ));
            }
        }
        at_least_one("database.statement_timeout_ms", self.statement_timeout_ms)?;
        at_least_one("database.acquire_timeout_ms", self.acquire_timeout_ms)?;
        at_least_one("database.max_connections", self.max_connections)
    }
}

impl RedisSettings {
    /// How long one Redis command or connection attempt may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(url) = &self.url {
            let url = url.expose_secret();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(Error::invalid(
                    "redis.url",
                    format!(
                        "{}; expected a URL starting with redis:// or rediss://",
                        describe_scheme(url)
                    ),
                ));
            }
        }
        at_least_one("redis.timeout_ms", self.timeout_ms)
    }
}

impl StorageSettings {
    /// The local backend's directory: `local_path`, or else `{data_dir}/media`.
    pub fn local_path(&self, data_dir: &Path) -> PathBuf {
        match &self.local_path {
            Some(local_path) => local_path.clone(),
            None => data_dir.join("media"),
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(Error::invalid(
                "storage.endpoint",
                format!("{endpoint:?} is not an http(s) URL like http://127.0.0.1:9000"),
            ));
        }
        if self.backend != StorageBackend::S3 {
            return Ok(());
        }
        if self.bucket.is_empty() {
            return Err(Error::missing(
                "storage.bucket",
                "the s3 backend needs a bucket",
            ));
        }
        if self.access_key_id.is_none() {
            return Err(Error::missing(
                "storage.access_key_id",
                "the s3 backend needs credentials",
            ));
        }
        if self.secret_access_key.is_none() {
            return Err(Error::missing(
                "storage.secret_access_key",
                "the s3 backend needs credentials",
            ));
        }
        let plain_http = self
            .endpoint
            .as_deref()
            .is_some_and(|url| url.starts_with("http://"));
        if plain_http && !self.allow_http {
            return Err(Error::invalid(
                "storage.allow_http",
                "storage.endpoint uses http://; set allow_http = true to permit it",
            ));
        }
        Ok(())
    }
}

/// Names a URL's scheme without echoing the rest, which may hold credentials.
fn describe_scheme(url: &str) -> String {
    match url.split_once(':') {
        Some((scheme, _))
            if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            format!("scheme {scheme:?} is not supported")
        }
        _ => "the value is not a URL".to_owned(),
    }
}
