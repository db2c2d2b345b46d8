//! Settings of the media part (`[media]`, `NATTER__MEDIA__*`).

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The media part (`[media]`, `NATTER__MEDIA__*`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSettings {}

impl MediaSettings {
    pub(crate) fn validate(&self) -> Result<()> {
        Ok(())
    }
}
