//! Errors of the broker crate: start-up of the router and the listeners.

use std::net::SocketAddr;

/// What can go wrong while starting or running the broker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listener could not bind its address.
    #[error("cannot listen on {addr} ({setting}): {reason}{hint}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The setting that chose it, in environment-variable form.
        setting: &'static str,
        /// The operating system's reason (shown in the message, so not a `source`).
        reason: std::io::Error,
        /// What to do about it, when there is something to say.
        hint: String,
    },
    /// The router refused the edge's link.
    #[error("the rumqttd router refused the edge's link: {0}")]
    Router(String),
    /// The listener did not accept connections within the start-up deadline.
    #[error("broker listener on {addr} did not become ready: {reason}")]
    NotReady {
        /// The listener's address.
        addr: SocketAddr,
        /// Why it is not ready.
        reason: String,
    },
}

impl Error {
    /// A bind failure of `addr`, chosen by `setting`, with a hint for a port in use.
    pub(crate) fn bind(addr: SocketAddr, setting: &'static str, reason: std::io::Error) -> Error {
        let hint = match reason.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "; another program holds the port (on port 1883 often Mosquitto or another MQTT broker): set {setting} to a free address"
            ),
            _ => String::new(),
        };
        Error::Bind {
            addr,
            setting,
            reason,
            hint,
        }
    }
}

/// Result alias of the broker crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
