//! Presence storage back-ends. The Redis connection is set up here (a
//! [`natter_presence::RedisLink`], which replaces itself when a command times out); presence
//! itself (who is online, last seen) builds on it.

use std::time::Duration;

use natter_presence::RedisLink;

use crate::error::Result;

/// Connects to the Redis server at `url`, failing if it does not answer a PING within
/// `timeout`, which then bounds every command.
///
/// # Errors
/// [`crate::Error::Redis`] when the URL is invalid or the server does not answer.
pub async fn connect_redis(url: &str, timeout: Duration) -> Result<RedisLink> {
    Ok(RedisLink::connect(url, timeout).await?)
}

/// Checks that the Redis server behind `link` answers a PING (a timeout replaces the
/// connection, so a later probe finds a healed Redis).
///
/// # Errors
/// [`crate::Error::Redis`] when it does not.
pub async fn ping(link: &RedisLink) -> Result<()> {
    Ok(link.ping().await?)
}
