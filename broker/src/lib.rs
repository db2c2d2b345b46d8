//! natter's MQTT broker: the rumqttd router on its own thread, its loopback listener for
//! trusted service clients (bridge workers, operator tools), and the client-facing edge.
//!
//! The router never sees end-user connections directly: rumqttd has no topic authorization,
//! so its own listener binds loopback only and accepts the `service` user alone. See
//! `broker/ARCHITECTURE.md` for the thread model.

pub mod edge;
mod error;
mod listen;
mod router;

pub use edge::Edge;
pub use edge::auth::{Authenticator, BoxFuture, Identity, Role, Verdict};
pub use edge::hook::{DisconnectReason, NoPresenceHook, PresenceHook};
pub use error::{Error, Result};
pub use router::Broker;
