//! Path parameters in the `/v1` error shape: an id that is not a number is
//! `404 not_found` (no such resource), never axum's plain-text rejection.

use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::v1::error::ApiError;

/// The one numeric id in a route's path (`/v1/users/{user_id}`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Id(pub(crate) i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<i64>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Id(id)),
            Err(_) => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such resource: the id in the path must be a whole number",
            )),
        }
    }
}
