//! Settings of the presence part (`[presence]`, `NATTER__PRESENCE__*`): how changes are
//! coalesced, how often a node proves it is alive, and how long the store believes it.
//! Plain data; `natter-presence` builds the stores and the service.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fields::empty_as_none;

/// The presence part (`[presence]`, `NATTER__PRESENCE__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceSettings {
    /// At most one change per user reaches watchers per this many milliseconds; the final
    /// state is always delivered (`presence.coalesce_ms`, default 3000, 0 = no coalescing).
    pub coalesce_ms: u64,
    /// How often a node refreshes its heartbeat in the store, in milliseconds
    /// (`presence.heartbeat_ms`, default 5000).
    pub heartbeat_ms: u64,
    /// How long a heartbeat keeps a node's devices online without a refresh, in milliseconds
    /// (`presence.ttl_ms`, default 15000): the bound on how long the users of a crashed node
    /// still look online. Must exceed `heartbeat_ms`.
    pub ttl_ms: u64,
    /// This node's id in the device registry; `None` means `{hostname}-{pid}-{random}`.
    #[serde(default, deserialize_with = "empty_as_none")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        PresenceSettings {
            coalesce_ms: 3000,
            heartbeat_ms: 5000,
            ttl_ms: 15000,
            node_id: None,
        }
    }
}

impl PresenceSettings {
    /// The coalescing window.
    pub fn coalesce(&self) -> Duration {
        Duration::from_millis(self.coalesce_ms)
    }

    /// The heartbeat interval.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    /// How long a heartbeat lasts.
    pub fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.heartbeat_ms == 0 {
            return Err(Error::invalid(
                "presence.heartbeat_ms",
                "must be at least 1",
            ));
        }
        if self.ttl_ms <= self.heartbeat_ms {
            return Err(Error::invalid(
                "presence.ttl_ms",
                format!(
                    "must be greater than presence.heartbeat_ms ({}), or every node would \
                     look dead between two heartbeats",
                    self.heartbeat_ms
                ),
            ));
        }
        if let Some(node_id) = &self.node_id {
            let valid = node_id.len() <= 128
                && node_id
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte));
            if !valid {
                return Err(Error::invalid(
                    "presence.node_id",
                    "must be at most 128 characters of letters, digits, '-', '_' or '.'",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::PresenceSettings;

    #[test]
    fn ttl_must_exceed_the_heartbeat() {
        let settings = PresenceSettings {
            ttl_ms: 5000,
            ..PresenceSettings::default()
        };
        assert!(settings.validate().is_err());
        assert!(PresenceSettings::default().validate().is_ok());
    }

    #[test]
    fn node_ids_are_plain_words() {
        let settings = PresenceSettings {
            node_id: Some("node a:1".into()),
            ..PresenceSettings::default()
        };
        assert!(settings.validate().is_err());
    }
}
