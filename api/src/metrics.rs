//! The process-wide Prometheus recorder behind `GET /metrics`.

use std::sync::Mutex;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::error::Result;

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs the Prometheus recorder once per process and returns its handle; later calls
/// return the same handle (tests start several apps in one process).
///
/// # Errors
/// [`crate::Error::Metrics`] when another recorder was installed first.
pub fn install() -> Result<PrometheusHandle> {
    // A poisoned lock only means another thread panicked while installing; the Option is
    // still either empty or a valid handle.
    let mut handle = HANDLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = handle.as_ref() {
        return Ok(handle.clone());
    }
    let installed = PrometheusBuilder::new().install_recorder()?;
    *handle = Some(installed.clone());
    Ok(installed)
}

/// Gauge: HTTP connections being served (at most `http.max_connections`).
pub(crate) const HTTP_CONNECTIONS: &str = "natter_http_connections";

/// Gauge: decoded pixels reserved by images being processed (at most
/// `media.max_pixels_in_flight`).
pub(crate) const MEDIA_PIXELS_IN_FLIGHT: &str = "natter_media_pixels_in_flight";
