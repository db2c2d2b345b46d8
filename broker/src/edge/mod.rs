//! The client-facing edge: natter terminates client MQTT connections itself, because rumqttd
//! 0.20 has no topic authorization. It negotiates MQTT 3.1.1 or 5 from each CONNECT on one
//! port, authenticates against the accounts store, authorizes every subscription and
//! publish, and exchanges messages with the router through one shared link (the hub).

mod acl;
pub mod auth;
mod calls;
pub mod cluster;
mod codec;
mod connection;
mod flushing;
mod format;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod handlers;
pub mod hook;
mod hub;
mod listener;
mod outbox;
mod session;
mod telemetry;
mod tls;
mod ws;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio_util::sync::CancellationToken;

pub(crate) use hub::Hub;
pub use listener::Edge;

/// Limits the edge enforces on every connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_packet_size: usize,
    pub(crate) max_inflight: u16,
    pub(crate) keep_alive_max_secs: u16,
}

/// What every connection of the edge shares.
pub(crate) struct EdgeContext {
    pub(crate) hub: Hub,
    pub(crate) auth: Arc<dyn auth::Authenticator>,
    pub(crate) limits: Limits,
    pub(crate) sessions: session::Store,
    pub(crate) next_session_id: AtomicU64,
    pub(crate) shutdown: CancellationToken,
    /// Told when sessions start and end (presence).
    pub(crate) presence: Arc<dyn hook::PresenceHook>,
}
