//! Defaults, and which layer wins.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use natter_config::{FILES_DIR, LogFormat, StorageBackend, load_with_env};
use secrecy::ExposeSecret;

use crate::{SettingsDir, load_env};

#[test]
fn defaults_load_with_no_files_present() {
    let settings = load_env(&[]).unwrap();

    assert_eq!(settings.data_dir, PathBuf::from("./data"));
    assert_eq!(
        settings.mqtt.listen,
        "0.0.0.0:1883".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        settings.mqtt.internal_listen,
        "127.0.0.1:1884".parse::<SocketAddr>().unwrap()
    );
    assert!(settings.mqtt.service_password.is_none());
    assert_eq!(settings.mqtt.max_packet_size, 1_048_576);
    assert_eq!(settings.mqtt.max_inflight, 100);
    assert_eq!(settings.mqtt.max_connections, 100_000);
    assert_eq!(settings.mqtt.keep_alive_max(), Duration::from_secs(1200));
    assert_eq!(
        settings.http.listen,
        "0.0.0.0:8080".parse::<SocketAddr>().unwrap()
    );
    assert!(settings.database.url.is_none());
    assert_eq!(settings.database.max_connections, 10);
    assert_eq!(settings.database.connect_timeout(), Duration::from_secs(5));
    assert_eq!(
        settings.database_url(),
        "sqlite://./data/natter.db?mode=rwc"
    );
    assert!(settings.redis.url.is_none());
    assert_eq!(settings.redis.key_prefix, "natter");
    assert_eq!(settings.storage.backend, StorageBackend::Local);
    assert_eq!(
        settings.storage.local_path(&settings.data_dir),
        Path::new("./data/media")
    );
    assert_eq!(settings.storage.bucket, "natter-media");
    assert_eq!(settings.storage.region, "us-east-1");
    assert!(!settings.storage.allow_http);
    assert_eq!(settings.telemetry.format, LogFormat::Pretty);
    assert_eq!(
        settings.telemetry.filter,
        "natter=info,rumqttd=warn,sqlx=warn,h2=warn,tonic=warn"
    );
    assert!(settings.telemetry.otlp_endpoint.is_none());
    assert_eq!(settings.telemetry.service_name, "natter");
    assert_eq!(
        settings.bridge.broker_addr(&settings.mqtt),
        "127.0.0.1:1884"
    );
    assert_eq!(settings.bridge.client_id, "natter-bridge");
    assert_eq!(settings.bridge.channel_capacity, 1024);
    assert_eq!(
        settings.workers.retention(),
        Duration::from_secs(30 * 24 * 60 * 60)
    );
    assert_eq!(settings.workers.interval(), Duration::from_secs(60));
    assert_eq!(settings.workers.batch_size, 1000);
    assert_eq!(settings.shutdown.grace(), Duration::from_secs(8));
}

#[test]
fn env_file_overrides_base() {
    let dir = SettingsDir::with_file("staging", "[mqtt]\nmax_inflight = 7\n");

    let settings = dir.load("staging", &[]).unwrap();

    assert_eq!(settings.mqtt.max_inflight, 7);
    assert_eq!(
        settings.mqtt.max_packet_size, 1_048_576,
        "keys the file omits keep their default"
    );
}

#[test]
fn env_vars_override_env_file() {
    let dir = SettingsDir::with_file("staging", "[mqtt]\nmax_inflight = 7\n");

    let settings = dir
        .load("staging", &[("NATTER__MQTT__MAX_INFLIGHT", "9")])
        .unwrap();

    assert_eq!(settings.mqtt.max_inflight, 9);
}

#[test]
fn snake_case_keys_work_from_env() {
    let settings = load_env(&[
        ("NATTER__DATA_DIR", "/var/lib/natter"),
        ("NATTER__MQTT__MAX_PACKET_SIZE", "2048"),
        ("NATTER__STORAGE__ALLOW_HTTP", "true"),
    ])
    .unwrap();

    assert_eq!(settings.data_dir, PathBuf::from("/var/lib/natter"));
    assert_eq!(settings.mqtt.max_packet_size, 2048);
    assert!(settings.storage.allow_http);
    assert_eq!(
        settings.database_url(),
        "sqlite:///var/lib/natter/natter.db?mode=rwc"
    );
}

#[test]
fn single_underscore_vars_are_not_keys() {
    let settings = load_env(&[
        ("NATTER_ENV", "production"),
        ("NATTER_CONFIG_DIR", "/nowhere"),
        ("NATTER_LISTEN", "banana"),
    ])
    .unwrap();

    assert_eq!(settings.telemetry.format, LogFormat::Pretty);
}

#[test]
fn secrets_from_env_are_kept_verbatim() {
    let settings = load_env(&[("NATTER__MQTT__SERVICE_PASSWORD", "0123")]).unwrap();

    let password = settings.mqtt.require_service_password().unwrap();
    assert_eq!(password.expose_secret(), "0123");
}

#[test]
fn empty_env_var_unsets_an_optional_key() {
    let dir = SettingsDir::with_file(
        "staging",
        "[telemetry]\notlp_endpoint = \"http://otel:4317\"\n",
    );

    let settings = dir
        .load("staging", &[("NATTER__TELEMETRY__OTLP_ENDPOINT", "")])
        .unwrap();

    assert!(settings.telemetry.otlp_endpoint.is_none());
}

#[test]
fn bundled_files_load() {
    let load = |env_name| load_with_env(env_name, Path::new(FILES_DIR), HashMap::new());

    load("local").unwrap();
    let test = load("test").unwrap();
    let production = load("production").unwrap();

    assert_eq!(test.mqtt.listen.port(), 0);
    assert_eq!(production.telemetry.format, LogFormat::Json);
}
