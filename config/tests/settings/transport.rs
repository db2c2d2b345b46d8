//! The client-facing transports: the optional WebSocket listener and TLS, which needs a
//! certificate and its key together.

use std::net::SocketAddr;
use std::path::Path;

use crate::{load_env, load_error};

#[test]
fn websocket_listener_is_off_unless_an_address_is_set() {
    let default = load_env(&[]).unwrap();
    let set = load_env(&[("NATTER__MQTT__WS_LISTEN", "0.0.0.0:8083")]).unwrap();
    let cleared = load_env(&[("NATTER__MQTT__WS_LISTEN", "")]).unwrap();

    assert_eq!(default.mqtt.ws_listen, None);
    assert_eq!(
        set.mqtt.ws_listen,
        Some("0.0.0.0:8083".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(cleared.mqtt.ws_listen, None);
}

#[test]
fn invalid_websocket_address_is_explained() {
    assert_eq!(
        load_error(&[("NATTER__MQTT__WS_LISTEN", "8083")]),
        "invalid value for mqtt.ws_listen (NATTER__MQTT__WS_LISTEN): \"8083\" is not a socket \
         address like 0.0.0.0:8083, or empty for none"
    );
}

#[test]
fn tls_is_off_by_default() {
    let settings = load_env(&[]).unwrap();

    assert!(!settings.mqtt.tls_enabled());
    assert_eq!(settings.mqtt.tls_cert_path, None);
    assert_eq!(settings.mqtt.tls_key_path, None);
}

#[test]
fn tls_needs_both_certificate_and_key() {
    let only_cert = load_error(&[("NATTER__MQTT__TLS_CERT_PATH", "/etc/natter/cert.pem")]);
    let only_key = load_error(&[("NATTER__MQTT__TLS_KEY_PATH", "/etc/natter/key.pem")]);
    let both = load_env(&[
        ("NATTER__MQTT__TLS_CERT_PATH", "/etc/natter/cert.pem"),
        ("NATTER__MQTT__TLS_KEY_PATH", "/etc/natter/key.pem"),
    ])
    .unwrap();

    assert!(
        only_cert.starts_with("missing setting mqtt.tls_key_path (NATTER__MQTT__TLS_KEY_PATH)"),
        "{only_cert}"
    );
    assert!(
        only_key.starts_with("missing setting mqtt.tls_cert_path (NATTER__MQTT__TLS_CERT_PATH)"),
        "{only_key}"
    );
    assert!(both.mqtt.tls_enabled());
    assert_eq!(
        both.mqtt.tls_cert_path.as_deref(),
        Some(Path::new("/etc/natter/cert.pem"))
    );
    assert_eq!(
        both.mqtt.tls_key_path.as_deref(),
        Some(Path::new("/etc/natter/key.pem"))
    );
}

#[test]
fn transport_settings_render_and_reload() {
    let settings = load_env(&[
        ("NATTER__MQTT__WS_LISTEN", "127.0.0.1:8083"),
        ("NATTER__MQTT__TLS_CERT_PATH", "/etc/natter/cert.pem"),
        ("NATTER__MQTT__TLS_KEY_PATH", "/etc/natter/key.pem"),
    ])
    .unwrap();

    let rendered = settings.redacted_toml();

    for shown in [
        "ws_listen = \"127.0.0.1:8083\"",
        "tls_cert_path = \"/etc/natter/cert.pem\"",
        "tls_key_path = \"/etc/natter/key.pem\"",
    ] {
        assert!(rendered.contains(shown), "missing {shown:?}:\n{rendered}");
    }
    let unset = load_env(&[]).unwrap().redacted_toml();
    assert!(!unset.contains("ws_listen"), "{unset}");
    assert!(!unset.contains("tls_"), "{unset}");
}
