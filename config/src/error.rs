//! The crate's one error type. Every variant that concerns a setting names it twice: as the
//! dotted key (`mqtt.listen`) and as the environment variable that sets it
//! (`NATTER__MQTT__LISTEN`). It does not decide *which* error a failure maps to; `load` does.

use std::io;
use std::path::PathBuf;

use crate::keys::env_var;

/// Why settings could not be loaded or are not usable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `NATTER_ENV` (or the `env` argument) is not a plain name.
    #[error("invalid environment name {name:?} (NATTER_ENV): expected letters, digits, '-' or '_'")]
    EnvironmentName {
        /// The rejected name.
        name: String,
    },

    /// The environment's settings file exists but could not be read.
    #[error("failed to read settings file {}", path.display())]
    ReadFile {
        /// The file that could not be read.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },

    /// A settings file is not valid TOML.
    #[error("malformed settings file {}", path.display())]
    ParseFile {
        /// The malformed file (`base.toml (embedded)` for the built-in defaults).
        path: PathBuf,
        /// The TOML parser's diagnosis.
        #[source]
        source: toml::de::Error,
    },

    /// A file or environment variable sets a key that no setting has.
    #[error("unknown setting {key} ({}){}", env_var(key), origin_suffix(origin.as_deref()))]
    UnknownKey {
        /// The dotted key, e.g. `mqtt.listne`.
        key: String,
        /// Where it came from (a file path, or `the environment`), when known.
        origin: Option<String>,
    },

    /// A setting has a value of the wrong shape (not a number, not an address…).
    #[error("invalid value for {key} ({}): {reason}", env_var(key))]
    InvalidValue {
        /// The dotted key, e.g. `mqtt.listen`.
        key: String,
        /// What was found and what was expected.
        reason: String,
    },

    /// A setting that is needed has no value.
    #[error("missing setting {key} ({}): {reason}", env_var(key))]
    MissingKey {
        /// The dotted key, e.g. `storage.access_key_id`.
        key: String,
        /// Why it is needed.
        reason: String,
    },

    /// A setting parsed but fails validation (out of range, wrong scheme…).
    #[error("invalid setting {key} ({}): {reason}", env_var(key))]
    Invalid {
        /// The dotted key, e.g. `mqtt.internal_listen`.
        key: String,
        /// What is wrong and what is expected.
        reason: String,
    },

    /// The layers could not be merged or deserialized for a reason not covered above.
    #[error("failed to load settings")]
    Load(#[source] config::ConfigError),
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for a validation failure of `key`.
    pub(crate) fn invalid(key: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    /// Shorthand for a missing `key`.
    pub(crate) fn missing(key: &str, reason: impl Into<String>) -> Self {
        Self::MissingKey {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

fn origin_suffix(origin: Option<&str>) -> String {
    origin
        .map(|origin| format!(" in {origin}"))
        .unwrap_or_default()
}
