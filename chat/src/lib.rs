//! natter's messaging rules, free of MQTT: send, receipts, sync, edits, deletions,
//! reactions, typing, timers and every group and account call. [`Chat::handle_batch`] takes
//! typed requests from callers ([`Caller`], [`Request`], with one typed
//! [`natter_proto::Call`] per call) and returns, per request, an [`Outcome`]: what to tell
//! whom ([`Out`], addressed by [`Address`]) and the [`Refusal`]s, one vocabulary whose
//! [`Refusal::code`] is the stable wire string.
//!
//! The database is the source of truth: a message is "sent" only once it is committed, and
//! a device that was away asks for everything after its last inbox position. Topics,
//! encodings, publishing and acknowledging are the transport's (the bridge's) business.

mod calls;
mod changes;
mod chat;
pub mod db_health;
mod events;
mod refusal;
mod request;
mod send;
mod statements;
mod store;
mod sync;
pub mod telemetry;
mod typing;

pub use crate::chat::{Chat, ChatSettings, MAX_BATCH};
pub use crate::db_health::DatabaseHealth;
pub use crate::refusal::{
    Refusal, Refused, UNAVAILABLE_CALL, UNAVAILABLE_PRESENCE, UNAVAILABLE_REQUEST,
};
pub use crate::request::{Address, Caller, Out, Outcome, Request};
pub use crate::sync::{SYNC_PAGE_BYTES, SYNC_PAGE_MESSAGES};
