//! Presence storage back-ends. The Redis connection is set up here; presence itself (who is
//! online, last seen) builds on it.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::Result;

/// Connects to the Redis server at `url`, failing if it does not answer a PING within
/// `timeout`.
///
/// # Errors
/// [`crate::Error::Redis`] when the URL is invalid or the server does not answer.
pub async fn connect_redis(url: &str, timeout: Duration) -> Result<ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1);
    let mut manager = ConnectionManager::new_with_config(client, config).await?;
    redis::cmd("PING")
        .query_async::<String>(&mut manager)
        .await?;
    Ok(manager)
}

/// Checks that the Redis server behind `manager` answers a PING.
///
/// # Errors
/// [`crate::Error::Redis`] when it does not.
pub async fn ping(manager: &ConnectionManager) -> Result<()> {
    let mut manager = manager.clone();
    redis::cmd("PING")
        .query_async::<String>(&mut manager)
        .await?;
    Ok(())
}
