//! Media over HTTP: uploads (one request, or resumable in chunks, or straight to S3 through a
//! presigned PUT), processing on completion, and downloads through short-lived signed URLs.
//! docs/API.md ("Media") describes the routes for client authors.
//!
//! Processing itself (sniffing, images, ffmpeg) is the `natter-media` crate; this module owns
//! the HTTP shapes, access rules, the quota, storage keys and URL signing.

mod access;
mod download;
mod finish;
mod resumable;
mod runtime;
mod signing;
mod staging;
mod upload;
mod view;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{get, post};

use crate::v1::ApiContext;

pub(crate) fn routes() -> Router<ApiContext> {
    // Uploads and chunks stream to disk and hold themselves to the per-kind and chunk limits;
    // every other route keeps axum's default body limit.
    Router::new()
        .route(
            "/v1/media",
            post(upload::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/media/uploads", post(resumable::start))
        .route(
            "/v1/media/uploads/{upload_id}",
            get(resumable::status).put(resumable::chunk.layer(DefaultBodyLimit::disable())),
        )
        .route(
            "/v1/media/uploads/{upload_id}/complete",
            post(resumable::complete),
        )
        .route("/v1/media/{media_id}", get(download::describe))
        .route("/v1/media/{media_id}/content", get(download::content))
}
