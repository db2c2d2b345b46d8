//! Media upload and download over HTTP.

use axum::Router;

use crate::v1::ApiContext;

pub(crate) fn routes() -> Router<ApiContext> {
    Router::new()
}
