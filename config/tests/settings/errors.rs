//! Every loading error names the key and its environment variable (or the file).

use natter_config::Error;

use crate::{SettingsDir, load_error};

#[test]
fn unknown_env_key_is_named() {
    let message = load_error(&[("NATTER__MQTT__LISTNE", "0.0.0.0:1883")]);

    assert_eq!(
        message,
        "unknown setting mqtt.listne (NATTER__MQTT__LISTNE) in the environment"
    );
}

#[test]
fn unknown_toml_key_is_named_with_its_file() {
    let dir = SettingsDir::with_file("staging", "[mqtt]\nlistne = \"0.0.0.0:1883\"\n");

    let err = dir.load("staging", &[]).unwrap_err();

    assert!(
        matches!(&err, Error::UnknownKey { key, .. } if key == "mqtt.listne"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.starts_with("unknown setting mqtt.listne (NATTER__MQTT__LISTNE) in "));
    assert!(message.ends_with("staging.toml"), "{message}");
}

#[test]
fn unknown_top_level_key_and_section_are_named() {
    assert_eq!(
        load_error(&[("NATTER__DATADIR", "/tmp")]),
        "unknown setting datadir (NATTER__DATADIR) in the environment"
    );
    assert_eq!(
        load_error(&[("NATTER__MQT__LISTEN", "0.0.0.0:1883")]),
        "unknown setting mqt.listen (NATTER__MQT__LISTEN) in the environment"
    );
}

#[test]
fn invalid_socket_address_is_explained() {
    assert_eq!(
        load_error(&[("NATTER__MQTT__LISTEN", "banana")]),
        "invalid value for mqtt.listen (NATTER__MQTT__LISTEN): \"banana\" is not a socket \
         address like 0.0.0.0:1883"
    );
}

#[test]
fn invalid_enum_value_is_explained() {
    assert_eq!(
        load_error(&[("NATTER__STORAGE__BACKEND", "ftp")]),
        "invalid value for storage.backend (NATTER__STORAGE__BACKEND): \"ftp\" is not one of \
         local, s3"
    );
}

#[test]
fn invalid_numbers_are_explained() {
    assert_eq!(
        load_error(&[("NATTER__WORKERS__RETENTION_DAYS", "-1")]),
        "invalid value for workers.retention_days (NATTER__WORKERS__RETENTION_DAYS): \"-1\" is \
         not a whole number from 0 to 4294967295"
    );
    assert_eq!(
        load_error(&[("NATTER__MQTT__MAX_INFLIGHT", "70000")]),
        "invalid value for mqtt.max_inflight (NATTER__MQTT__MAX_INFLIGHT): \"70000\" is not a \
         whole number from 0 to 65535"
    );
    assert_eq!(
        load_error(&[("NATTER__STORAGE__ALLOW_HTTP", "maybe")]),
        "invalid value for storage.allow_http (NATTER__STORAGE__ALLOW_HTTP): \"maybe\" is not \
         true or false"
    );
}

#[test]
fn invalid_value_in_toml_is_named() {
    let dir = SettingsDir::with_file("staging", "[workers]\nbatch_size = \"lots\"\n");

    let message = dir.load("staging", &[]).unwrap_err().to_string();

    assert_eq!(
        message,
        "invalid value for workers.batch_size (NATTER__WORKERS__BATCH_SIZE): \"lots\" is not a \
         whole number of 0 or more"
    );
}

#[test]
fn malformed_env_file_names_the_file() {
    let dir = SettingsDir::with_file("staging", "[mqtt\nlisten = \n");

    let err = dir.load("staging", &[]).unwrap_err();

    let message = err.to_string();
    assert!(message.starts_with("malformed settings file "), "{message}");
    assert!(message.ends_with("staging.toml"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the TOML error is the source"
    );
}

#[test]
fn unreadable_env_file_is_an_error() {
    let dir = SettingsDir::empty();
    std::fs::create_dir(dir.path().join("staging.toml")).unwrap();

    let err = dir.load("staging", &[]).unwrap_err();

    assert!(matches!(err, Error::ReadFile { .. }), "{err:?}");
}

#[test]
fn environment_name_must_be_plain() {
    let err = SettingsDir::empty().load("../etc/passwd", &[]).unwrap_err();

    assert!(matches!(err, Error::EnvironmentName { .. }), "{err:?}");
}

#[test]
fn secret_values_are_not_echoed_in_errors() {
    let dir = SettingsDir::with_file("staging", "[database.url]\nhunter2 = 1\n");

    let message = dir.load("staging", &[]).unwrap_err().to_string();

    assert!(
        message.contains("database.url (NATTER__DATABASE__URL)"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}
