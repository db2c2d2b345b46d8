//! Settings of the accounts part (`[accounts]`, `NATTER__ACCOUNTS__*`).

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The accounts part (`[accounts]`, `NATTER__ACCOUNTS__*`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsSettings {}

impl AccountsSettings {
    pub(crate) fn validate(&self) -> Result<()> {
        Ok(())
    }
}
