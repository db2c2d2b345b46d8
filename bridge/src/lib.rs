//! natter's bridge workers: trusted MQTT clients (rumqttc) of the broker's loopback listener
//! that hand what users publish on their outboxes to the messaging rules (`natter_chat`) and
//! publish what the rules answer. The bridge owns the transport: decode → call → publish →
//! acknowledge; the rules own what a request means.
//!
//! The bridge reaches the broker over MQTT only, never through rumqttd's in-process links, so
//! it runs in the same process as the broker (`natter serve`) or in its own (`natter bridge`).

mod connection;
mod error;
pub mod presence;
mod telemetry;
mod worker;

pub use connection::{BridgeContext, run};
pub use error::{Error, Result};
pub use natter_chat::db_health;
pub use natter_chat::db_health::DatabaseHealth;

/// Milliseconds since the Unix epoch, the unit of every `*_at` column.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
