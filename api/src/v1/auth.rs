//! Who is calling: HTTP Basic with a device's MQTT credentials, checked like a CONNECT.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use natter_accounts::{AuthOutcome, Identity};

use crate::v1::ApiContext;
use crate::v1::error::ApiError;

/// The authenticated device making the request. Every refusal is `401 unauthorized` with a
/// `WWW-Authenticate: Basic` challenge and the same message, whatever was wrong, as at MQTT
/// CONNECT.
#[derive(Clone, Copy, Debug)]
pub struct Device(pub Identity);

impl FromRequestParts<ApiContext> for Device {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &ApiContext,
    ) -> Result<Self, Self::Rejection> {
        let Some((username, password)) = basic_credentials(parts) else {
            return Err(unauthorized());
        };
        match natter_accounts::authenticate(&ctx.db, &username, password.as_bytes()).await {
            Ok(AuthOutcome::Accepted(identity)) => Ok(Device(identity)),
            Ok(_) => Err(unauthorized()),
            Err(err) => Err(axum::response::IntoResponse::into_response(
                ApiError::internal(&err),
            )),
        }
    }
}

/// `Authorization: Basic base64(username:password)`, decoded.
fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (username, password) = decoded.split_once(':')?;
    Some((username.to_owned(), password.to_owned()))
}

fn unauthorized() -> axum::response::Response {
    let mut response = axum::response::IntoResponse::into_response(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing or invalid device credentials (HTTP Basic: d<device id> and its secret)",
    ));
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"natter\""),
    );
    response
}
