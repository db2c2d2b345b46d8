//! The public entry points that produce a validated `Settings`, and the translation of the
//! `config` crate's errors into ones that name the key and its environment variable.
//! Merging the layers is `layers`' job; checking values is `Settings::validate`'s.

use std::collections::HashMap;
use std::env;
use std::path::{Path, PathBuf};

use config::{Config, ConfigError, Value, ValueKind};

use crate::error::{Error, Result};
use crate::keys::{expected_value, is_secret};
use crate::layers::{EnvVars, merge};
use crate::settings::Settings;

/// The environment used when `NATTER_ENV` is unset.
const DEFAULT_ENV: &str = "local";

/// The settings directory used when `NATTER_CONFIG_DIR` is unset, relative to the working
/// directory.
const DEFAULT_DIR: &str = "config";

/// Loads settings the way the binary does: `NATTER_ENV` (default `local`) picks
/// `{NATTER_CONFIG_DIR}/{NATTER_ENV}.toml` (directory default `config`), over the embedded
/// defaults, under `NATTER__SECTION__KEY` variables; then validates.
///
/// # Errors
/// See [`load_from`]; also [`Error::EnvironmentName`] when `NATTER_ENV` is not a plain name.
pub fn load() -> Result<Settings> {
    let env_name = match env::var("NATTER_ENV") {
        Ok(name) if !name.is_empty() => name,
        Ok(_) | Err(env::VarError::NotPresent) => DEFAULT_ENV.to_owned(),
        Err(env::VarError::NotUnicode(name)) => {
            return Err(Error::EnvironmentName {
                name: name.to_string_lossy().into_owned(),
            });
        }
    };
    let dir = env::var_os("NATTER_CONFIG_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from);
    load_from(&env_name, &dir)
}

/// Loads settings for environment `env` from `dir`, with the process's `NATTER__*`
/// variables on top; then validates.
///
/// # Errors
/// [`Error::ReadFile`]/[`Error::ParseFile`] for an unreadable or malformed `{env}.toml`;
/// [`Error::UnknownKey`], [`Error::InvalidValue`] or [`Error::MissingKey`] for a bad key or
/// value in any layer; [`Error::Invalid`] when validation fails.
pub fn load_from(env: &str, dir: &Path) -> Result<Settings> {
    load_layers(env, dir, EnvVars::Process)
}

/// Like [`load_from`], but the environment layer is `vars` (variable name → value) instead
/// of the process environment. For tests.
///
/// # Errors
/// As [`load_from`].
pub fn load_with_env(env: &str, dir: &Path, vars: HashMap<String, String>) -> Result<Settings> {
    load_layers(env, dir, EnvVars::Given(vars.into_iter().collect()))
}

fn load_layers(env_name: &str, dir: &Path, vars: EnvVars) -> Result<Settings> {
    let plain_name = env_name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if env_name.is_empty() || !plain_name {
        return Err(Error::EnvironmentName {
            name: env_name.to_owned(),
        });
    }
    let config = merge(env_name, dir, vars)?;
    let settings: Settings = config
        .clone()
        .try_deserialize()
        .map_err(|err| explain(err, &config))?;
    settings.validate()?;
    Ok(settings)
}

/// Turns a deserialization error into one that names the key, looking values up in `config`.
fn explain(err: ConfigError, config: &Config) -> Error {
    match err {
        ConfigError::Type {
            key: Some(key),
            unexpected,
            expected,
            ..
        } => {
            let fallback = format!("found {unexpected}, expected {expected}");
            invalid_value(key, &fallback, config)
        }
        ConfigError::At {
            error,
            key: Some(key),
            ..
        } => match *error {
            ConfigError::Message(message) => explain_message(Some(&key), message, config),
            other => invalid_value(key, &other.to_string(), config),
        },
        ConfigError::Message(message) => explain_message(None, message, config),
        ConfigError::NotFound(key) => Error::MissingKey {
            key,
            reason: "no layer sets it".to_owned(),
        },
        other => Error::Load(other),
    }
}

/// Explains serde's free-text errors: unknown fields, unknown variants, parse failures.
fn explain_message(parent: Option<&str>, message: String, config: &Config) -> Error {
    if let Some(field) = unknown_field(&message) {
        let key = match parent {
            Some(parent) => format!("{parent}.{field}"),
            None => field.to_owned(),
        };
        return unknown_key(key, config);
    }
    match parent {
        Some(key) => invalid_value(key.to_owned(), &message, config),
        None => Error::Load(ConfigError::Message(message)),
    }
}

/// The field name in serde's "unknown field `name`, expected …".
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(field, _)| field)
}

/// An unknown key, narrowed to its first leaf so that an unknown section set from the
/// environment (`NATTER__MQT__LISTEN`) is reported as `mqt.listen`, not `mqt`.
fn unknown_key(mut key: String, config: &Config) -> Error {
    let mut origin = None;
    while let Some(value) = lookup(config, &key) {
        origin = value.origin().map(str::to_owned);
        let ValueKind::Table(table) = &value.kind else {
            break;
        };
        let Some(first) = table.keys().min() else {
            break;
        };
        key = format!("{key}.{first}");
    }
    Error::UnknownKey { key, origin }
}

/// The merged value at dotted `key`, with its origin (which `Config::get` drops).
fn lookup<'config>(config: &'config Config, key: &str) -> Option<&'config Value> {
    key.split('.')
        .try_fold(&config.cache, |value, segment| match &value.kind {
            ValueKind::Table(table) => table.get(segment),
            _ => None,
        })
}

/// An invalid value, described as `"<value>" is not <what is expected>` where possible.
/// Secret values are never echoed.
fn invalid_value(key: String, fallback: &str, config: &Config) -> Error {
    let raw = if is_secret(&key) {
        None
    } else {
        lookup(config, &key).and_then(|value| value.clone().into_string().ok())
    };
    let reason = match (raw, expected_value(&key)) {
        (Some(raw), Some(expected)) => format!("{raw:?} is not {expected}"),
        (Some(raw), None) => format!("{raw:?}: {fallback}"),
        (None, Some(expected)) => format!("expected {expected}"),
        (None, None) if is_secret(&key) => "expected a string".to_owned(),
        (None, None) => fallback.to_owned(),
    };
    Error::InvalidValue { key, reason }
}
