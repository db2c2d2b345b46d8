//! Loading `natter-config` settings through its public API: layering, error messages that
//! name the key, validation and redaction. Tests pass environment variables as a map to
//! `load_with_env` and never touch the process environment.

#![allow(clippy::unwrap_used)]

mod errors;
mod layers;
mod redaction;
mod transport;
mod validation;

use std::collections::HashMap;
use std::path::Path;

use natter_config::{Error, Settings, load_with_env};
use tempfile::TempDir;

/// A settings directory holding `{env}.toml` files for one test.
struct SettingsDir {
    dir: TempDir,
}

impl SettingsDir {
    fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("create temporary settings directory"),
        }
    }

    fn with_file(env_name: &str, toml: &str) -> Self {
        let settings_dir = Self::empty();
        let path = settings_dir.dir.path().join(format!("{env_name}.toml"));
        std::fs::write(path, toml).expect("write settings file");
        settings_dir
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn load(&self, env_name: &str, vars: &[(&str, &str)]) -> Result<Settings, Error> {
        load_with_env(env_name, self.path(), env_map(vars))
    }
}

fn env_map(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// Loads with only the embedded defaults and the given variables.
fn load_env(vars: &[(&str, &str)]) -> Result<Settings, Error> {
    SettingsDir::empty().load("local", vars)
}

/// The error of a load that must fail, rendered as its one-line message.
fn load_error(vars: &[(&str, &str)]) -> String {
    load_env(vars).expect_err("load should fail").to_string()
}
