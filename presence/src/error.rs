//! The presence crate's one error type.

/// Result of presence operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a presence operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Redis presence store did not answer or refused a command.
    #[error("presence store unavailable")]
    Redis(#[from] redis::RedisError),
    /// Connecting to Redis at start-up failed.
    #[error("cannot connect to redis for presence (NATTER__REDIS__URL)")]
    Connect(#[source] redis::RedisError),
    /// The database could not be read or written.
    #[error("presence database access failed")]
    Database(#[from] sea_orm::DbErr),
    /// A privacy check failed (the database could not be read).
    #[error("presence privacy check failed")]
    Privacy(#[from] natter_accounts::Error),
    /// An event could not be handed to the broker.
    #[error("publishing a presence event failed: {0}")]
    Publish(String),
}
