//! Setting keys as people type them: the dotted key (`mqtt.listen`), its environment variable
//! (`NATTER__MQTT__LISTEN`), what a valid value looks like, and which keys hold secrets.
//! It does not define the settings themselves; the section structs do.

/// The prefix of every setting's environment variable, without the separator.
pub(crate) const ENV_PREFIX: &str = "NATTER";

/// Separates the prefix, sections and keys of an environment variable.
pub(crate) const ENV_SEPARATOR: &str = "__";

/// Keys whose values must never appear in messages or rendered settings.
const SECRET_KEYS: &[&str] = &[
    "mqtt.service_password",
    "database.url",
    "redis.url",
    "storage.secret_access_key",
    "media.signing_key",
    "accounts.sms_webhook_token",
    "accounts.code_pepper",
];

/// The environment variable that sets `key`: `mqtt.max_inflight` → `NATTER__MQTT__MAX_INFLIGHT`.
pub(crate) fn env_var(key: &str) -> String {
    let path = key.to_uppercase().replace('.', ENV_SEPARATOR);
    format!("{ENV_PREFIX}{ENV_SEPARATOR}{path}")
}

/// Whether `key` holds a secret (or a URL that may embed one).
pub(crate) fn is_secret(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
}

/// What a valid value of `key` looks like, phrased to follow "is not", when the key's type
/// makes for a better message than the deserializer's own.
pub(crate) fn expected_value(key: &str) -> Option<&'static str> {
    let expected = match key {
        "mqtt.listen" => "a socket address like 0.0.0.0:1883",
        "mqtt.internal_listen" => "a socket address like 127.0.0.1:1884",
        "mqtt.ws_listen" => "a socket address like 0.0.0.0:8083, or empty for none",
        "http.listen" => "a socket address like 0.0.0.0:8080",
        "storage.backend" => "one of local, s3",
        "telemetry.format" => "one of pretty, json",
        "storage.allow_http" | "storage.local_shared" | "bridge.shared" => "true or false",
        "accounts.sms_sender" => "one of file, webhook",
        "mqtt.max_inflight" | "mqtt.keep_alive_max_secs" | "bridge.sessions" => {
            "a whole number from 0 to 65535"
        }
        "database.max_connections" | "workers.retention_days" => {
            "a whole number from 0 to 4294967295"
        }
        "mqtt.max_packet_size"
        | "mqtt.max_connections"
        | "bridge.channel_capacity"
        | "database.connect_timeout_ms"
        | "database.statement_timeout_ms"
        | "database.acquire_timeout_ms"
        | "redis.timeout_ms"
        | "workers.interval_ms"
        | "workers.batch_size"
        | "shutdown.grace_ms"
        | "messaging.edit_window_secs"
        | "messaging.typing_interval_ms" => "a whole number of 0 or more",
        "messaging.group_member_limit" => "a whole number from 1 to 4294967295",
        "mqtt" | "http" | "database" | "redis" | "storage" | "telemetry" | "bridge" | "workers"
        | "shutdown" | "accounts" | "media" | "presence" | "messaging" => "a table of settings",
        _ => return None,
    };
    Some(expected)
}

#[cfg(test)]
mod tests {
    use crate::keys::env_var;

    #[test]
    fn env_var_joins_sections_with_double_underscores() {
        assert_eq!(
            env_var("mqtt.max_packet_size"),
            "NATTER__MQTT__MAX_PACKET_SIZE"
        );
        assert_eq!(env_var("data_dir"), "NATTER__DATA_DIR");
    }
}
