//! Errors of the broker crate: start-up of the router and the listeners.

use std::net::SocketAddr;

/// What can go wrong while starting or running the broker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listener could not bind its address.
    #[error("cannot listen on {addr} ({setting}): {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The setting that chose it, in environment-variable form.
        setting: &'static str,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The listener did not accept connections within the start-up deadline.
    #[error("broker listener on {addr} did not become ready: {reason}")]
    NotReady {
        /// The listener's address.
        addr: SocketAddr,
        /// Why it is not ready.
        reason: String,
    },
}

/// Result alias of the broker crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
