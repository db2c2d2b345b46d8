//! Settings of messaging and groups (`[messaging]`, `NATTER__MESSAGING__*`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::settings::at_least_one;

/// Messaging and groups (`[messaging]`, `NATTER__MESSAGING__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingSettings {
    /// Most members a new group may have (`messaging.group_member_limit`, default 1024).
    pub group_member_limit: u32,
    /// How long after sending a message its author may edit it, in seconds
    /// (`messaging.edit_window_secs`, default 900).
    pub edit_window_secs: u64,
    /// Shortest interval between two forwarded typing indicators of one device in one
    /// conversation, in milliseconds (`messaging.typing_interval_ms`, default 2000).
    pub typing_interval_ms: u64,
}

impl MessagingSettings {
    /// The edit window.
    pub fn edit_window(&self) -> Duration {
        Duration::from_secs(self.edit_window_secs)
    }

    /// The typing indicator interval.
    pub fn typing_interval(&self) -> Duration {
        Duration::from_millis(self.typing_interval_ms)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        at_least_one("messaging.group_member_limit", self.group_member_limit)
    }
}
