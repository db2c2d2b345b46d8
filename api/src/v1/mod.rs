//! The `/v1` JSON API: what devices do over HTTP (registration, profiles, contacts, media).
//!
//! Conventions every route follows (docs/API.md describes them for client authors):
//! - Authentication is HTTP Basic with the device's MQTT credentials (`d42` and its secret),
//!   checked by [`auth::Device`] exactly as the broker checks a CONNECT. Routes that need no
//!   device (`/v1/register`, `/v1/verify`) say so.
//! - Errors are JSON `{"error": {"code": "snake_case", "message": "for people"}}` with a
//!   fitting status ([`error::ApiError`]); bodies that are not the expected JSON get
//!   `400 invalid_body` through [`error::ApiJson`], never axum's plain-text rejection.
//!
//! Each area adds its routes in its own module; [`router`] merges them.

pub mod auth;
pub mod error;

mod accounts;
mod media;
mod presence;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use futures_util::future::BoxFuture;
use natter_config::Settings;
use natter_proto::topics::ControlTopic;
use object_store::ObjectStore;
use sea_orm::DatabaseConnection;

/// Tells running broker nodes about a change they must act on at once (a revoked device, a
/// removed group member). The binary implements it with a service MQTT session.
pub trait ControlPublisher: Send + Sync + fmt::Debug {
    /// Publishes `control`; an error is for logs (the database already holds the change).
    fn publish(&self, control: ControlTopic) -> BoxFuture<'_, Result<(), String>>;
}

/// What every `/v1` handler can reach.
#[derive(Clone, Debug)]
pub struct ApiContext {
    /// The accounts and messages database.
    pub db: DatabaseConnection,
    /// Media storage (local files or S3).
    pub store: Arc<dyn ObjectStore>,
    /// The settings in effect.
    pub settings: Arc<Settings>,
    /// Reaches the broker nodes.
    pub control: Arc<dyn ControlPublisher>,
    /// Presence queries; `None` where presence does not run (no edge in this process).
    pub presence: Option<natter_presence::PresenceHandle>,
}

/// The `/v1` routes, ready to merge into the listener's router.
pub fn router(ctx: ApiContext) -> Router {
    Router::new()
        .merge(accounts::routes())
        .merge(media::routes())
        .merge(presence::routes())
        .with_state(ctx)
}
