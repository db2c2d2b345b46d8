//! `redacted_toml()` shows the effective settings without their secrets.

use crate::load_env;

#[test]
fn redacted_toml_hides_secrets_and_shows_the_rest() {
    let settings = load_env(&[
        ("NATTER__MQTT__SERVICE_PASSWORD", "mqtt-secret"),
        (
            "NATTER__DATABASE__URL",
            "postgres://natter:db-secret@db:5432/natter",
        ),
        ("NATTER__REDIS__URL", "redis://:redis-secret@cache:6379/0"),
        ("NATTER__STORAGE__BACKEND", "s3"),
        ("NATTER__STORAGE__ACCESS_KEY_ID", "natter-key"),
        ("NATTER__STORAGE__SECRET_ACCESS_KEY", "s3-secret"),
    ])
    .unwrap();

    let rendered = settings.redacted_toml();

    for secret in ["mqtt-secret", "db-secret", "redis-secret", "s3-secret"] {
        assert!(!rendered.contains(secret), "{secret} leaked:\n{rendered}");
    }
    for shown in [
        "service_password = \"[redacted]\"",
        "url = \"postgres://natter:[redacted]@db:5432/natter\"",
        "url = \"redis://:[redacted]@cache:6379/0\"",
        "secret_access_key = \"[redacted]\"",
        "access_key_id = \"natter-key\"",
        "listen = \"0.0.0.0:1883\"",
        "data_dir = \"./data\"",
        "backend = \"s3\"",
        "[workers]",
    ] {
        assert!(rendered.contains(shown), "missing {shown:?}:\n{rendered}");
    }
    let reparsed: toml::Table = toml::from_str(&rendered).unwrap();
    assert!(reparsed.contains_key("shutdown"));
}

#[test]
fn debug_output_hides_secrets() {
    let settings = load_env(&[("NATTER__MQTT__SERVICE_PASSWORD", "mqtt-secret")]).unwrap();

    assert!(!format!("{settings:?}").contains("mqtt-secret"));
}
