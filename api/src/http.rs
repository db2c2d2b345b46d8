//! The HTTP listener: routes, binding, graceful shutdown.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::connections::ConnectionLimits;
use crate::error::{Error, Result};
use crate::health::{self, Probe};

/// A bound, not yet serving, HTTP listener.
#[derive(Debug)]
pub struct HttpServer {
    listener: TcpListener,
    state: AppState,
    api: Option<Router>,
    limits: ConnectionLimits,
}

#[derive(Clone, Debug)]
struct AppState {
    probes: std::sync::Arc<[Probe]>,
    metrics: PrometheusHandle,
}

/// Binds the HTTP listener on `addr`, with `probes` behind `/healthz`, `metrics` behind
/// `/metrics` and, when given, the `/v1` API of [`crate::v1::router`], serving connections
/// under `limits`.
///
/// # Errors
/// [`Error::Bind`] when the address is taken or not allowed.
pub async fn bind(
    addr: SocketAddr,
    probes: Vec<Probe>,
    metrics: PrometheusHandle,
    api: Option<Router>,
    limits: ConnectionLimits,
) -> Result<HttpServer> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    Ok(HttpServer {
        listener,
        state: AppState {
            probes: probes.into(),
            metrics,
        },
        api,
        limits,
    })
}

impl HttpServer {
    /// The address the listener is bound to.
    ///
    /// # Errors
    /// [`Error::Serve`] if the socket cannot report its address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(Error::Serve)
    }

    /// Serves until `shutdown` is cancelled, then finishes the requests in flight. Accept
    /// errors (such as running out of descriptors) are logged and retried, never fatal.
    ///
    /// # Errors
    /// None so far; the `Result` leaves room for failures a caller must hear about.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<()> {
        let mut app = Router::new()
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics))
            .with_state(self.state);
        if let Some(api) = self.api {
            app = app.merge(api);
        }
        crate::connections::serve(self.listener, app, self.limits, shutdown).await;
        Ok(())
    }
}

async fn healthz(State(state): State<AppState>) -> Response {
    let report = health::check(&state.probes).await;
    let status = if report.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
