//! natter's presence: whether a user is online (any of their devices connected) and when they
//! were last seen, derived from the edge's connection lifecycle, told to the users allowed to
//! see it, and answered to queries.
//!
//! - [`store`]: the [`PresenceStore`] trait — which node holds which device, node heartbeats,
//!   last seen — with [`InProcessStore`] (default, one node) and [`RedisStore`] (shared between
//!   nodes, TTL heartbeats so that the users of a crashed node go offline in bounded time).
//! - [`coalesce`]: at most one change per user per window reaches watchers; the final state
//!   always does.
//! - [`watchers`]: who may watch a user (contacts who have them in their address book, per the
//!   owner's last-seen privacy, never across a block).
//! - [`service`]: the task that ties these together. The edge reports connects and
//!   disconnects through a non-blocking [`PresenceHandle`]; events go out through an
//!   [`EventSink`] (the binary publishes them through the broker).
//! - [`query`]: what one user may know of another's presence, for HTTP and MQTT requests.
//!
//! Not owned here: the MQTT edge (the binary adapts its hook to [`PresenceHandle`]), the
//! privacy rules themselves (`natter_accounts::privacy`).

pub mod coalesce;
mod error;
mod event;
mod memory;
pub mod query;
mod redis_link;
mod redis_store;
pub mod service;
pub mod store;
mod telemetry;
pub mod watchers;

pub use error::{Error, Result};
pub use event::{PresenceEvent, PresenceState};
pub use memory::InProcessStore;
pub use query::query;
pub use redis_link::RedisLink;
pub use redis_store::RedisStore;
pub use service::{EventSink, Leaving, PresenceHandle, PresenceService};
pub use store::{DeviceRef, PresenceStore, Reaped, UserPresence};

/// Milliseconds since the Unix epoch, the unit of every `*_at` column and of last seen.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// A node id for this process when none is configured: `{hostname}-{pid}-{random}`.
pub fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| {
            name.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}
