//! The HTTP accept loop: a bound on concurrent connections, a deadline for every request
//! head and a bound on every pause in a request body, so that clients that stall cannot hold
//! descriptors (which MQTT needs too) for ever. Routing is [`crate::http`]'s job.
//!
//! `axum::serve` has none of these (no timer, so hyper's header timeout never runs, and no
//! connection bound); this loop serves each connection with hyper's HTTP/1 builder instead.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics::gauge;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;
use tracing::{debug, warn};

use crate::metrics::HTTP_CONNECTIONS;

/// Limits of the HTTP listener.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Connections served at once; further ones wait in the listen queue.
    pub max_connections: usize,
    /// How long a client may take to send a request head (an idle keep-alive connection too).
    pub header_read_timeout: Duration,
    /// Longest pause while a request body is read.
    pub body_read_timeout: Duration,
}

/// How long to wait before accepting again after `accept` failed (out of descriptors): the
/// error repeats at once otherwise, and a busy loop would starve the MQTT listener.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts connections on `listener` and serves `app` on them until `shutdown`, then lets
/// requests in flight finish.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    loop {
        // Take a slot before accepting: while every slot is used, new connections wait in the
        // kernel's listen queue and cost this process no descriptor.
        let permit = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, remote_addr) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    warn!(error = %err, "accepting an HTTP connection failed");
                    drop(permit);
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let in_use = limits
            .max_connections
            .saturating_sub(permits.available_permits());
        gauge!(HTTP_CONNECTIONS).set(in_use as f64);
        let app = app.clone();
        let shutdown = shutdown.clone();
        let permits_left = permits.clone();
        connections.spawn(async move {
            serve_connection(stream, remote_addr, app, limits, shutdown).await;
            drop(permit);
            let in_use = limits
                .max_connections
                .saturating_sub(permits_left.available_permits());
            gauge!(HTTP_CONNECTIONS).set(in_use as f64);
        });
    }
    connections.close();
    connections.wait().await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    remote_addr: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let body_read_timeout = limits.body_read_timeout;
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote_addr));
        let request = request.map(|body| TimeoutBody::new(body_read_timeout, body));
        let app = app.clone();
        async move {
            Ok::<_, Infallible>(
                app.oneshot(request)
                    .await
                    .unwrap_or_else(|err| match err {}),
            )
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            // Idle connections close at once; a request in flight gets as long as a client
            // gets for a request head, so that a half-sent head cannot hold up shutdown.
            match tokio::time::timeout(limits.header_read_timeout, connection).await {
                Ok(result) => result,
                Err(_) => return,
            }
        }
    };
    if let Err(err) = result {
        // Timeouts and clients that vanish mid-request end up here; nothing to answer.
        debug!(%remote_addr, error = %err, "http connection ended with an error");
    }
}
