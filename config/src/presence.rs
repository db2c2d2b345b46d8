//! Settings of the presence part (`[presence]`, `NATTER__PRESENCE__*`).

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The presence part (`[presence]`, `NATTER__PRESENCE__*`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceSettings {}

impl PresenceSettings {
    pub(crate) fn validate(&self) -> Result<()> {
        Ok(())
    }
}
