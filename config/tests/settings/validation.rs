//! `validate()` rejects settings that parse but cannot work, naming the key.

use natter_config::Error;

use crate::{load_env, load_error};

#[test]
fn internal_listen_must_be_loopback() {
    let message = load_error(&[("NATTER__MQTT__INTERNAL_LISTEN", "0.0.0.0:1884")]);

    assert!(
        message.starts_with(
            "invalid setting mqtt.internal_listen (NATTER__MQTT__INTERNAL_LISTEN): 0.0.0.0:1884 \
             is not a loopback address"
        ),
        "{message}"
    );
}

#[test]
fn s3_backend_needs_credentials() {
    let message = load_error(&[("NATTER__STORAGE__BACKEND", "s3")]);
    assert!(
        message
            .starts_with("missing setting storage.access_key_id (NATTER__STORAGE__ACCESS_KEY_ID)")
    );

    let message = load_error(&[
        ("NATTER__STORAGE__BACKEND", "s3"),
        ("NATTER__STORAGE__ACCESS_KEY_ID", "natter"),
    ]);
    assert!(message.starts_with(
        "missing setting storage.secret_access_key (NATTER__STORAGE__SECRET_ACCESS_KEY)"
    ));

    let settings = load_env(&[
        ("NATTER__STORAGE__BACKEND", "s3"),
        ("NATTER__STORAGE__ACCESS_KEY_ID", "natter"),
        ("NATTER__STORAGE__SECRET_ACCESS_KEY", "hunter2"),
        ("NATTER__STORAGE__ENDPOINT", "https://s3.example.com"),
    ]);
    settings.unwrap();
}

#[test]
fn s3_endpoint_must_be_http_url() {
    let message = load_error(&[("NATTER__STORAGE__ENDPOINT", "s3.example.com")]);

    assert!(message.starts_with("invalid setting storage.endpoint (NATTER__STORAGE__ENDPOINT)"));
}

#[test]
fn database_url_scheme_is_checked_without_echoing_the_url() {
    let message = load_error(&[("NATTER__DATABASE__URL", "mysql://natter:hunter2@db/natter")]);

    assert!(message.starts_with("invalid setting database.url (NATTER__DATABASE__URL)"));
    assert!(message.contains("\"mysql\""), "{message}");
    assert!(!message.contains("hunter2"), "{message}");

    for url in [
        "sqlite::memory:",
        "postgres://db/natter",
        "postgresql://db/natter",
    ] {
        load_env(&[("NATTER__DATABASE__URL", url)]).unwrap();
    }
}

#[test]
fn redis_url_scheme_is_checked() {
    let message = load_error(&[("NATTER__REDIS__URL", "http://cache:6379")]);

    assert!(message.starts_with("invalid setting redis.url (NATTER__REDIS__URL)"));
    load_env(&[("NATTER__REDIS__URL", "rediss://cache:6379")]).unwrap();
}

#[test]
fn zero_sizes_are_rejected() {
    let message = load_error(&[("NATTER__BRIDGE__CHANNEL_CAPACITY", "0")]);

    assert_eq!(
        message,
        "invalid setting bridge.channel_capacity (NATTER__BRIDGE__CHANNEL_CAPACITY): must be at least 1"
    );
}

#[test]
fn colliding_listeners_are_rejected() {
    let message = load_error(&[("NATTER__HTTP__LISTEN", "127.0.0.1:1883")]);

    assert!(
        message.starts_with("invalid setting http.listen (NATTER__HTTP__LISTEN)"),
        "{message}"
    );
}

#[test]
fn service_password_can_be_required() {
    let settings = load_env(&[]).unwrap();

    let err = settings.mqtt.require_service_password().unwrap_err();

    assert!(matches!(err, Error::MissingKey { .. }));
    assert!(
        err.to_string().contains("NATTER__MQTT__SERVICE_PASSWORD"),
        "{err}"
    );
}
