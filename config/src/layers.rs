//! Builds the merged, still untyped configuration from the three layers: the embedded
//! `base.toml`, the optional `{dir}/{env}.toml`, and `NATTER__*` environment variables.
//! Turning it into `Settings` (and explaining failures) is `load`'s job.

use std::io;
use std::path::{Path, PathBuf};

use config::{Config, Environment, Map, Source, Value, ValueKind};

use crate::error::{Error, Result};
use crate::keys::{ENV_PREFIX, ENV_SEPARATOR};

/// The defaults, compiled in so the binary runs with no files present.
pub(crate) const BASE_TOML: &str = include_str!("../base.toml");

/// How the embedded defaults are named in errors and value origins.
pub(crate) const BASE_ORIGIN: &str = "base.toml (embedded)";

/// Where the environment variables come from.
pub(crate) enum EnvVars {
    /// The process environment.
    Process,
    /// A given map of variable name to value (tests).
    Given(Map<String, String>),
}

/// Merges the layers, lowest first.
///
/// A missing `{env}.toml` is fine; one that exists but cannot be read or parsed is an error
/// naming the file, rather than silently running without it.
pub(crate) fn merge(env_name: &str, dir: &Path, vars: EnvVars) -> Result<Config> {
    let base = TomlLayer::parse(BASE_TOML, Path::new(BASE_ORIGIN))?;
    let mut builder = Config::builder().add_source(base);
    let env_file = dir.join(format!("{env_name}.toml"));
    if let Some(text) = read_optional(&env_file)? {
        builder = builder.add_source(TomlLayer::parse(&text, &env_file)?);
    }
    // `try_parsing` stays off: typed fields parse strings themselves, and turning them into
    // numbers or booleans first would rewrite secrets such as "0123" (→ "123") or "TRUE".
    let environment = Environment::with_prefix(ENV_PREFIX)
        .prefix_separator(ENV_SEPARATOR)
        .separator(ENV_SEPARATOR)
        .try_parsing(false);
    let environment = match vars {
        EnvVars::Process => environment,
        EnvVars::Given(vars) => environment.source(Some(vars)),
    };
    builder.add_source(environment).build().map_err(Error::Load)
}

/// Reads `path`, or `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::ReadFile {
            path: path.to_owned(),
            source,
        }),
    }
}

/// One parsed TOML file. Parsing here, rather than in `config::File`, lets a syntax error
/// name the file and keeps a typed `toml` error as its source.
#[derive(Clone, Debug)]
struct TomlLayer {
    values: Map<String, Value>,
}

impl TomlLayer {
    fn parse(text: &str, path: &Path) -> Result<Self> {
        let table: toml::Table = toml::from_str(text).map_err(|source| Error::ParseFile {
            path: PathBuf::from(path),
            source,
        })?;
        let origin = path.to_string_lossy().into_owned();
        let values = table
            .into_iter()
            .map(|(key, value)| (key, convert(value, &origin)))
            .collect();
        Ok(Self { values })
    }
}

impl Source for TomlLayer {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        Ok(self.values.clone())
    }
}

/// Converts a TOML value into a `config` value that remembers which file set it.
fn convert(value: toml::Value, origin: &String) -> Value {
    let kind = match value {
        toml::Value::String(text) => ValueKind::String(text),
        toml::Value::Integer(number) => ValueKind::I64(number),
        toml::Value::Float(number) => ValueKind::Float(number),
        toml::Value::Boolean(flag) => ValueKind::Boolean(flag),
        toml::Value::Datetime(datetime) => ValueKind::String(datetime.to_string()),
        toml::Value::Array(items) => ValueKind::Array(
            items
                .into_iter()
                .map(|item| convert(item, origin))
                .collect(),
        ),
        toml::Value::Table(table) => ValueKind::Table(
            table
                .into_iter()
                .map(|(key, item)| (key, convert(item, origin)))
                .collect(),
        ),
    };
    Value::new(Some(origin), kind)
}
