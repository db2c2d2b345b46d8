//! What can go wrong in the client library.

/// A client failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The MQTT username is not `d<device id>`.
    #[error("the MQTT username must be d<device id>, got {username:?}")]
    Username {
        /// The username given.
        username: String,
    },
    /// The server address is not `host:port`.
    #[error("the server address must be host:port, got {addr:?}")]
    Address {
        /// The address given.
        addr: String,
    },
    /// Credentials JSON (as `natter admin` prints it) could not be read.
    #[error("credentials are not the JSON that `natter admin` prints")]
    Credentials(#[source] serde_json::Error),
    /// The first connection failed (wrong password, server down, subscriptions refused).
    #[error("connecting to natter failed: {reason}")]
    Connect {
        /// What the connection attempt ended with.
        reason: String,
    },
    /// Reading or writing the cursor failed.
    #[error("the inbox cursor could not be read or written")]
    Cursor(#[from] std::io::Error),
    /// The client has been closed (or its background task ended).
    #[error("the client is closed")]
    Closed,
    /// A request could not be encoded.
    #[error("a request could not be encoded")]
    Encode(#[source] serde_json::Error),
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
