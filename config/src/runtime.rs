//! Settings for how the process runs rather than what it serves: logging and tracing,
//! background workers, and shutdown. Installing the subscriber is the binary's job.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fields::empty_as_none;
use crate::settings::at_least_one;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal (`pretty`).
    #[default]
    Pretty,
    /// One JSON object per line (`json`), for log shippers.
    Json,
}

/// Logging and tracing (`[telemetry]`, `NATTER__TELEMETRY__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// `pretty` or `json` (`telemetry.format`, default `pretty`).
    pub format: LogFormat,
    /// `EnvFilter` directives, used when `RUST_LOG` is unset (`telemetry.filter`).
    pub filter: String,
    /// OTLP gRPC endpoint such as `http://127.0.0.1:4317`; `None` disables export.
    #[serde(default, deserialize_with = "empty_as_none")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of exported spans (`telemetry.service_name`, default `natter`).
    pub service_name: String,
}

/// Background jobs (`[workers]`, `NATTER__WORKERS__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersSettings {
    /// Days to keep messages (`workers.retention_days`, default 30); see
    /// [`WorkersSettings::retention`].
    pub retention_days: u32,
    /// Pause between job runs, in milliseconds (`workers.interval_ms`, default 60000); see
    /// [`WorkersSettings::interval`].
    pub interval_ms: u64,
    /// Rows handled per batch (`workers.batch_size`, default 1000).
    pub batch_size: u64,
}

/// Graceful shutdown (`[shutdown]`, `NATTER__SHUTDOWN__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    /// How long subsystems get to finish after the stop signal, in milliseconds
    /// (`shutdown.grace_ms`, default 8000); see [`ShutdownSettings::grace`].
    pub grace_ms: u64,
}

impl TelemetrySettings {
    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(endpoint) = &self.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(Error::invalid(
                "telemetry.otlp_endpoint",
                format!("{endpoint:?} is not an http(s) URL like http://127.0.0.1:4317"),
            ));
        }
        if self.service_name.is_empty() {
            return Err(Error::invalid(
                "telemetry.service_name",
                "must not be empty",
            ));
        }
        Ok(())
    }
}

impl WorkersSettings {
    /// How long messages are kept.
    pub fn retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.retention_days) * 24 * 60 * 60)
    }

    /// Pause between job runs.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        at_least_one("workers.retention_days", self.retention_days)?;
        at_least_one("workers.interval_ms", self.interval_ms)?;
        at_least_one("workers.batch_size", self.batch_size)
    }
}

impl ShutdownSettings {
    /// How long subsystems get to finish after the stop signal.
    pub fn grace(&self) -> Duration {
        Duration::from_millis(self.grace_ms)
    }
}
