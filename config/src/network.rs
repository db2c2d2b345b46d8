//! Settings for the network-facing parts: the MQTT listeners (client-facing and internal),
//! the HTTP listener, and how the bridge reaches the broker. Plain data only; building
//! `rumqttd::Config` or clients from it is the owning crate's job.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};
use crate::fields::{empty_as_none, lossy_optional_path, redact_secret};
use crate::settings::at_least_one;

/// The MQTT broker: listeners and limits (`[mqtt]`, `NATTER__MQTT__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSettings {
    /// Client-facing MQTT listener (`mqtt.listen`, default `0.0.0.0:1883`).
    pub listen: SocketAddr,
    /// rumqttd's own listener for bridge workers and operator tools; must be a loopback
    /// address (`mqtt.internal_listen`, default `127.0.0.1:1884`).
    pub internal_listen: SocketAddr,
    /// Password of the `service` user on the internal listener. `None`: the one natter
    /// generates on first start into `<data_dir>/service-password`, shared by every part and
    /// admin command using that data directory; parts on other hosts need it set, see
    /// [`MqttSettings::require_service_password`].
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        serialize_with = "redact_secret"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_password: Option<SecretString>,
    /// Largest accepted MQTT packet in bytes (`mqtt.max_packet_size`, default 1 MiB).
    pub max_packet_size: usize,
    /// Unacknowledged QoS 1/2 messages per connection (`mqtt.max_inflight`, default 100).
    pub max_inflight: u16,
    /// Concurrent client connections (`mqtt.max_connections`, default 100000).
    pub max_connections: usize,
    /// Longest keep-alive a client may ask for, in seconds (`mqtt.keep_alive_max_secs`,
    /// default 1200); see [`MqttSettings::keep_alive_max`].
    pub keep_alive_max_secs: u16,
    /// Client-facing MQTT over WebSocket listener: path `/mqtt`, subprotocol `mqtt`, both
    /// protocol versions. `None` leaves it off (`mqtt.ws_listen`, default off; `0.0.0.0:8083`
    /// is the customary address).
    #[serde(default, deserialize_with = "optional_socket_addr")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_listen: Option<SocketAddr>,
    /// PEM file with the server certificate chain, leaf first. Together with
    /// `tls_key_path` it turns on TLS on both client-facing listeners (MQTT over TLS, and
    /// `wss` for WebSocket) (`mqtt.tls_cert_path`, default unset: plain TCP).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        serialize_with = "lossy_optional_path"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert_path: Option<PathBuf>,
    /// PEM file with the private key of `tls_cert_path` (PKCS#8, PKCS#1 or SEC1)
    /// (`mqtt.tls_key_path`, default unset).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        serialize_with = "lossy_optional_path"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key_path: Option<PathBuf>,
}

/// The HTTP API listener (`[http]`, `NATTER__HTTP__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// HTTP listener (`http.listen`, default `0.0.0.0:8080`).
    pub listen: SocketAddr,
    /// Concurrent HTTP connections (`http.max_connections`, default 1024), apart from MQTT's;
    /// never more than a quarter of the open-files limit, so that MQTT keeps its descriptors.
    /// Further connections wait in the listen queue until one closes.
    pub max_connections: usize,
    /// How long a client may take to send a request's head, in milliseconds
    /// (`http.header_read_timeout_ms`, default 10000); also bounds an idle keep-alive
    /// connection. See [`HttpSettings::header_read_timeout`].
    pub header_read_timeout_ms: u64,
    /// Longest pause while a request body is read, in milliseconds
    /// (`http.body_read_timeout_ms`, default 30000): a body that stops arriving is refused
    /// with `408`. See [`HttpSettings::body_read_timeout`].
    pub body_read_timeout_ms: u64,
}

impl HttpSettings {
    /// How long a client may take to send a request's head.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// Longest pause while a request body is read.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        at_least_one("http.max_connections", self.max_connections)?;
        at_least_one("http.header_read_timeout_ms", self.header_read_timeout_ms)?;
        at_least_one("http.body_read_timeout_ms", self.body_read_timeout_ms)
    }
}

/// How the bridge connects to the broker (`[bridge]`, `NATTER__BRIDGE__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeSettings {
    /// `host:port` of the broker's internal listener; `None` means `mqtt.internal_listen`.
    /// Resolve it with [`BridgeSettings::broker_addr`].
    #[serde(default, deserialize_with = "empty_as_none")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
    /// MQTT client id of the bridge (`bridge.client_id`, default `natter-bridge`).
    pub client_id: String,
    /// Capacity of the channel between the MQTT event loop and persistence
    /// (`bridge.channel_capacity`, default 1024).
    pub channel_capacity: usize,
    /// MQTT sessions this process runs (`bridge.sessions`, default 1); more than one share
    /// the work through a shared subscription.
    pub sessions: u16,
    /// Join the shared subscription even with one session (`bridge.shared`, default false):
    /// set it on every bridge when bridges run in several processes.
    pub shared: bool,
}

impl MqttSettings {
    /// The longest keep-alive a client may ask for.
    pub fn keep_alive_max(&self) -> Duration {
        Duration::from_secs(self.keep_alive_max_secs.into())
    }

    /// The service password, for commands that connect to a broker they did not start.
    ///
    /// # Errors
    /// [`Error::MissingKey`] naming `NATTER__MQTT__SERVICE_PASSWORD` when it is not set.
    pub fn require_service_password(&self) -> Result<&SecretString> {
        self.service_password.as_ref().ok_or_else(|| {
            Error::missing(
                "mqtt.service_password",
                "required to log in to the internal listener of a broker running in another \
                 process; set it to the password that broker was given",
            )
        })
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !self.internal_listen.ip().is_loopback() {
            return Err(Error::invalid(
                "mqtt.internal_listen",
                format!(
                    "{} is not a loopback address; the internal listener must not be reachable \
                     from other hosts (use e.g. 127.0.0.1:1884)",
                    self.internal_listen
                ),
            ));
        }
        at_least_one("mqtt.max_packet_size", self.max_packet_size)?;
        at_least_one("mqtt.max_inflight", self.max_inflight)?;
        at_least_one("mqtt.max_connections", self.max_connections)?;
        match (&self.tls_cert_path, &self.tls_key_path) {
            (Some(_), None) => Err(Error::missing(
                "mqtt.tls_key_path",
                "mqtt.tls_cert_path is set, and TLS needs the certificate's private key too",
            )),
            (None, Some(_)) => Err(Error::missing(
                "mqtt.tls_cert_path",
                "mqtt.tls_key_path is set, and TLS needs the certificate too",
            )),
            _ => Ok(()),
        }
    }

    /// Whether the client-facing listeners use TLS (a certificate and key are configured).
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert_path.is_some() && self.tls_key_path.is_some()
    }
}

/// Deserializes an optional socket address, treating an empty string as `None` (so an empty
/// environment variable turns an optional listener off).
fn optional_socket_addr<'de, D>(deserializer: D) -> Result<Option<SocketAddr>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Option::<String>::deserialize(deserializer)?;
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

impl BridgeSettings {
    /// The broker address to connect to: `broker_addr`, or else `mqtt.internal_listen`.
    pub fn broker_addr(&self, mqtt: &MqttSettings) -> String {
        match &self.broker_addr {
            Some(broker_addr) => broker_addr.clone(),
            None => mqtt.internal_listen.to_string(),
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(broker_addr) = &self.broker_addr {
            let has_port = broker_addr
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !has_port {
                return Err(Error::invalid(
                    "bridge.broker_addr",
                    format!("{broker_addr:?} is not a host:port like 127.0.0.1:1884"),
                ));
            }
        }
        if self.client_id.is_empty() {
            return Err(Error::invalid("bridge.client_id", "must not be empty"));
        }
        at_least_one("bridge.sessions", self.sessions)?;
        at_least_one("bridge.channel_capacity", self.channel_capacity)
    }
}
