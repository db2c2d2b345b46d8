//! Errors of the bridge crate.

/// What can go wrong in the bridge workers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured broker address is not of the form `host:port`.
    #[error("invalid broker address {addr:?} (NATTER__BRIDGE__BROKER_ADDR): expected host:port")]
    BrokerAddr {
        /// The address as configured.
        addr: String,
    },
    /// The connection to the Redis server could not be set up.
    #[error("cannot connect to Redis (NATTER__REDIS__URL)")]
    Redis(#[from] redis::RedisError),
}

/// Result alias of the bridge crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
