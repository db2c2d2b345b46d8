//! natter's bridge workers: trusted MQTT clients (rumqttc) of the broker's loopback listener
//! that persist what users send, fan it out, and track presence.
//!
//! The bridge reaches the broker over MQTT only, never through rumqttd's in-process links, so
//! it runs in the same process as the broker (`natter serve`) or in its own (`natter bridge`).

mod connection;
pub mod db_health;
mod error;
mod messaging;
pub mod presence;
mod rpc;
mod telemetry;

pub use connection::{BridgeContext, run};
pub use db_health::DatabaseHealth;
pub use error::{Error, Result};

/// Milliseconds since the Unix epoch, the unit of every `*_at` column.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
