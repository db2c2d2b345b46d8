//! Settings of the accounts part (`[accounts]`, `NATTER__ACCOUNTS__*`): how one-time codes are
//! sent and checked, how many devices an account may have, and how fast contacts may be
//! discovered. Building the SMS sender is the accounts crate's job.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fields::{empty_as_none, redact_secret};
use crate::settings::at_least_one;

/// How one-time codes reach the phone.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmsSenderKind {
    /// Development: log the code and append `<phone> <code>` to `{data_dir}/sms-outbox.log`
    /// (`file`).
    #[default]
    File,
    /// Production: POST `{"to", "body"}` as JSON to `accounts.sms_webhook_url` (`webhook`).
    Webhook,
}

/// The accounts part (`[accounts]`, `NATTER__ACCOUNTS__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsSettings {
    /// `file` or `webhook` (`accounts.sms_sender`, default `file`).
    pub sms_sender: SmsSenderKind,
    /// Where the webhook sender POSTs (`accounts.sms_webhook_url`); required by `webhook`.
    #[serde(default, deserialize_with = "empty_as_none")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_webhook_url: Option<String>,
    /// Sent as `Authorization: Bearer <token>` to the webhook (`accounts.sms_webhook_token`);
    /// unset: no `Authorization` header.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        serialize_with = "redact_secret"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_webhook_token: Option<SecretString>,
    /// How long one webhook call may take, in milliseconds (`accounts.sms_webhook_timeout_ms`,
    /// default 5000); see [`AccountsSettings::sms_webhook_timeout`].
    pub sms_webhook_timeout_ms: u64,
    /// Mixed into the stored hash of every code (`accounts.code_pepper`); unset: no pepper.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        serialize_with = "redact_secret"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_pepper: Option<SecretString>,
    /// How long a code is accepted, in seconds (`accounts.code_ttl_secs`, default 300).
    pub code_ttl_secs: u64,
    /// Verification attempts per code (`accounts.code_max_attempts`, default 5).
    pub code_max_attempts: u32,
    /// Least time between two codes for one number, in seconds
    /// (`accounts.code_resend_cooldown_secs`, default 60).
    pub code_resend_cooldown_secs: u64,
    /// Codes one phone number may be sent per UTC day (`accounts.code_daily_limit`, default 10).
    pub code_daily_limit: u32,
    /// Code requests one client address (an IPv6 one as its /64) may make per hour
    /// (`accounts.code_hourly_limit_per_ip`, default 30).
    pub code_hourly_limit_per_ip: u32,
    /// Code requests for one block of numbers may be made per hour
    /// (`accounts.code_hourly_limit_per_prefix`, default 30); see `code_prefix_block_digits`.
    pub code_hourly_limit_per_prefix: u32,
    /// A block of numbers is a number without its last this many digits
    /// (`accounts.code_prefix_block_digits`, default 3: blocks of 1,000 numbers).
    pub code_prefix_block_digits: u32,
    /// Proxies in front of natter that append the client's address to `X-Forwarded-For`
    /// (`accounts.trusted_proxy_hops`, default 0: the peer address is the client's). With
    /// n > 0 the client is the n-th address from the right; never set it without a proxy,
    /// or clients choose their own address.
    pub trusted_proxy_hops: u32,
    /// Live devices per account, the phone included (`accounts.max_devices`, default 5).
    pub max_devices: u32,
    /// New numbers one account may check per UTC day (`accounts.contacts_daily_limit`,
    /// default 1000).
    pub contacts_daily_limit: u32,
}

impl Default for AccountsSettings {
    /// The values of `base.toml`.
    fn default() -> AccountsSettings {
        AccountsSettings {
            sms_sender: SmsSenderKind::File,
            sms_webhook_url: None,
            sms_webhook_token: None,
            sms_webhook_timeout_ms: 5000,
            code_pepper: None,
            code_ttl_secs: 300,
            code_max_attempts: 5,
            code_resend_cooldown_secs: 60,
            code_daily_limit: 10,
            code_hourly_limit_per_ip: 30,
            code_hourly_limit_per_prefix: 30,
            code_prefix_block_digits: 3,
            trusted_proxy_hops: 0,
            max_devices: 5,
            contacts_daily_limit: 1000,
        }
    }
}

impl AccountsSettings {
    /// How long one webhook call may take.
    pub fn sms_webhook_timeout(&self) -> Duration {
        Duration::from_millis(self.sms_webhook_timeout_ms)
    }

    /// How long a code is accepted.
    pub fn code_ttl(&self) -> Duration {
        Duration::from_secs(self.code_ttl_secs)
    }

    /// Least time between two codes for one number.
    pub fn code_resend_cooldown(&self) -> Duration {
        Duration::from_secs(self.code_resend_cooldown_secs)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match (&self.sms_sender, &self.sms_webhook_url) {
            (SmsSenderKind::Webhook, None) => {
                return Err(Error::missing(
                    "accounts.sms_webhook_url",
                    "accounts.sms_sender = \"webhook\" needs a URL to POST codes to",
                ));
            }
            (_, Some(url)) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                return Err(Error::invalid(
                    "accounts.sms_webhook_url",
                    format!("{url:?} is not an http(s) URL like https://sms.example.com/send"),
                ));
            }
            _ => {}
        }
        at_least_one(
            "accounts.sms_webhook_timeout_ms",
            self.sms_webhook_timeout_ms,
        )?;
        at_least_one("accounts.code_ttl_secs", self.code_ttl_secs)?;
        at_least_one("accounts.code_max_attempts", self.code_max_attempts)?;
        at_least_one("accounts.code_daily_limit", self.code_daily_limit)?;
        at_least_one(
            "accounts.code_hourly_limit_per_ip",
            self.code_hourly_limit_per_ip,
        )?;
        at_least_one(
            "accounts.code_hourly_limit_per_prefix",
            self.code_hourly_limit_per_prefix,
        )?;
        at_least_one("accounts.max_devices", self.max_devices)?;
        at_least_one("accounts.contacts_daily_limit", self.contacts_daily_limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_needs_an_http_url() {
        let mut settings = AccountsSettings {
            sms_sender: SmsSenderKind::Webhook,
            ..AccountsSettings::default()
        };
        assert!(matches!(settings.validate(), Err(Error::MissingKey { .. })));
        settings.sms_webhook_url = Some("ftp://sms".to_owned());
        assert!(matches!(settings.validate(), Err(Error::Invalid { .. })));
        settings.sms_webhook_url = Some("https://sms.example.com/send".to_owned());
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn zero_limits_are_rejected() {
        let settings = AccountsSettings {
            max_devices: 0,
            ..AccountsSettings::default()
        };
        assert!(matches!(settings.validate(), Err(Error::Invalid { .. })));
    }
}
