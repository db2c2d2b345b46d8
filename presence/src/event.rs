//! The wire form of presence: the event watchers receive on `u/{watcher}/presence` and the
//! state a query answers. See docs/PROTOCOL.md, "Presence".

use serde::{Deserialize, Serialize};

/// A user's presence as others see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceState {
    /// At least one of the user's devices is connected.
    Online,
    /// None is.
    Offline,
    /// The presence store cannot be reached: not known (never reported as offline).
    Unknown,
    /// The asker may not see this user's presence (privacy, block, not a contact).
    Hidden,
}

/// One presence event: `{"type":"presence","user":42,"state":"online","last_seen":null}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceEvent {
    /// Always `"presence"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whose presence.
    pub user: i64,
    /// Their state.
    pub state: PresenceState,
    /// When their last device went offline, unix milliseconds; `null` while online or never
    /// seen.
    pub last_seen: Option<i64>,
}

impl PresenceEvent {
    /// An event for `user`.
    pub fn new(user: i64, state: PresenceState, last_seen: Option<i64>) -> PresenceEvent {
        PresenceEvent {
            kind: "presence".to_owned(),
            user,
            state,
            last_seen,
        }
    }
}
