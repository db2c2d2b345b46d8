//! The password of the `service` user on the broker's internal listener: the configured one
//! (`NATTER__MQTT__SERVICE_PASSWORD`), else one generated on first start and kept in
//! `<data_dir>/service-password` (mode 0600), so that parts and admin commands sharing the
//! data directory agree without configuration.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use natter_config::Settings;
use secrecy::SecretString;

const FILE_NAME: &str = "service-password";

/// Returns the service password, creating the file in the data directory if needed.
///
/// # Errors
/// When the file cannot be read or created.
pub fn resolve(settings: &Settings) -> anyhow::Result<SecretString> {
    if let Some(password) = &settings.mqtt.service_password {
        return Ok(password.clone());
    }
    let path = settings.data_dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(existing) if !existing.trim().is_empty() => {
            Ok(SecretString::from(existing.trim().to_owned()))
        }
        Ok(_) => anyhow::bail!(
            "{} is empty (delete it, or set NATTER__MQTT__SERVICE_PASSWORD)",
            path.display()
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => create(&path),
        Err(err) => {
            Err(err).with_context(|| format!("reading {} (NATTER__DATA_DIR)", path.display()))
        }
    }
}

fn create(path: &Path) -> anyhow::Result<SecretString> {
    let password = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let context = || format!("creating {} (NATTER__DATA_DIR)", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(context)?;
    file.write_all(password.as_bytes()).with_context(context)?;
    Ok(SecretString::from(password))
}
