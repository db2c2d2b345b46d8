//! Sending one-time codes: the [`SmsSender`] trait and its two implementations, a development
//! sender that writes codes to a file in the data directory, and a webhook sender that POSTs
//! them to an SMS gateway. Generating and checking codes is `registration`'s job.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use natter_config::{Settings, SmsSenderKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// Name of the development sender's file in the data directory.
pub const OUTBOX_FILE: &str = "sms-outbox.log";

/// A one-time code on its way to a phone.
#[derive(Clone, Debug)]
pub struct CodeMessage {
    /// The recipient, E.164.
    pub phone: String,
    /// The six digits.
    pub code: String,
    /// How long the code is accepted, seconds (for the text).
    pub ttl_secs: u64,
}

impl CodeMessage {
    /// The text of the SMS.
    pub fn body(&self) -> String {
        let minutes = self.ttl_secs.div_ceil(60);
        format!(
            "Your natter code: {}. It expires in {minutes} min. Do not share it.",
            self.code
        )
    }
}

/// Why a code could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The development outbox could not be written.
    #[error("failed to append to {}", path.display())]
    Write {
        /// The outbox file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The webhook client could not be built.
    #[error("failed to build the SMS webhook client")]
    Client(#[source] reqwest::Error),
    /// The webhook did not answer (connection refused, timeout).
    #[error("the SMS webhook did not answer")]
    Request(#[source] reqwest::Error),
    /// The webhook answered with a status other than 2xx.
    #[error("the SMS webhook answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
}

/// Something that delivers one-time codes to phones.
pub trait SmsSender: Send + Sync {
    /// Sends `message`.
    ///
    /// # Errors
    /// [`SmsError`] when the code could not be handed over.
    fn send<'a>(
        &'a self,
        message: &'a CodeMessage,
    ) -> Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;
}

/// Builds the sender that `settings.accounts.sms_sender` names.
///
/// # Errors
/// [`Error::SendSms`] when the webhook client cannot be built (the settings were validated,
/// so only a broken TLS setup gets here).
pub fn from_settings(settings: &Settings) -> Result<Box<dyn SmsSender>> {
    let accounts = &settings.accounts;
    match (&accounts.sms_sender, &accounts.sms_webhook_url) {
        (SmsSenderKind::Webhook, Some(url)) => Ok(Box::new(
            WebhookSender::new(
                url.clone(),
                accounts.sms_webhook_token.clone(),
                accounts.sms_webhook_timeout(),
            )
            .map_err(Error::SendSms)?,
        )),
        _ => Ok(Box::new(FileSender::new(
            settings.data_dir.join(OUTBOX_FILE),
        ))),
    }
}

/// Development sender: logs the code and appends `<phone> <code>` lines to a file.
#[derive(Clone, Debug)]
pub struct FileSender {
    path: PathBuf,
}

impl FileSender {
    /// A sender appending to `path`.
    pub fn new(path: PathBuf) -> FileSender {
        FileSender { path }
    }
}

impl SmsSender for FileSender {
    fn send<'a>(
        &'a self,
        message: &'a CodeMessage,
    ) -> Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>> {
        Box::pin(async move {
            tracing::info!(
                phone = %message.phone,
                code = %message.code,
                outbox = %self.path.display(),
                "one-time code written to the development outbox"
            );
            let write_error = |source| SmsError::Write {
                path: self.path.clone(),
                source,
            };
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await
                .map_err(write_error)?;
            // One write per line, so that concurrent appends never interleave inside a line.
            let line = format!("{} {}\n", message.phone, message.code);
            file.write_all(line.as_bytes()).await.map_err(write_error)?;
            file.flush().await.map_err(write_error)
        })
    }
}

/// Production sender: `POST {url}` with JSON `{"to": phone, "body": text}`, optionally with
/// `Authorization: Bearer <token>`; any 2xx answer counts as sent.
#[derive(Clone, Debug)]
pub struct WebhookSender {
    url: String,
    token: Option<SecretString>,
    client: reqwest::Client,
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    to: &'a str,
    body: String,
}

impl WebhookSender {
    /// A sender posting to `url`, each call limited to `timeout`.
    ///
    /// # Errors
    /// [`SmsError::Client`] when the HTTP client cannot be built.
    pub fn new(
        url: String,
        token: Option<SecretString>,
        timeout: Duration,
    ) -> Result<WebhookSender, SmsError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(SmsError::Client)?;
        Ok(WebhookSender { url, token, client })
    }
}

impl SmsSender for WebhookSender {
    fn send<'a>(
        &'a self,
        message: &'a CodeMessage,
    ) -> Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>> {
        Box::pin(async move {
            let mut request = self.client.post(&self.url).json(&WebhookBody {
                to: &message.phone,
                body: message.body(),
            });
            if let Some(token) = &self.token {
                request = request.bearer_auth(token.expose_secret());
            }
            let response = request.send().await.map_err(SmsError::Request)?;
            let status = response.status();
            if !status.is_success() {
                return Err(SmsError::Status {
                    status: status.as_u16(),
                });
            }
            Ok(())
        })
    }
}
