//! How a `natter_accounts` refusal looks over HTTP: the `/v1` error shape with the crate's
//! stable code, a fitting status, and `Retry-After` for refusals that end by themselves.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use natter_accounts::Error;

use crate::v1::error::ApiError;

/// A `natter_accounts` error on its way to the client.
#[derive(Debug)]
pub(crate) struct AccountsError(pub(crate) Error);

impl From<Error> for AccountsError {
    fn from(err: Error) -> AccountsError {
        AccountsError(err)
    }
}

impl IntoResponse for AccountsError {
    fn into_response(self) -> Response {
        let err = self.0;
        let code = err.code();
        let status = match code {
            "internal" => return ApiError::internal(&err).into_response(),
            "not_found" | "media_not_found" => StatusCode::NOT_FOUND,
            "code_invalid" | "code_expired" | "forbidden" => StatusCode::FORBIDDEN,
            "too_many_attempts" | "resend_too_soon" | "rate_limited" => {
                StatusCode::TOO_MANY_REQUESTS
            }
            "device_limit" | "phone_taken" => StatusCode::CONFLICT,
            "too_many_contacts" => StatusCode::PAYLOAD_TOO_LARGE,
            "sms_failed" => {
                tracing::warn!(error = %chain(&err), "sending a one-time code failed");
                StatusCode::BAD_GATEWAY
            }
            _ => StatusCode::BAD_REQUEST,
        };
        let message = match code {
            // The cause (the gateway's status, a timeout) is for the logs, not the client.
            "sms_failed" => "the code could not be sent by SMS; try again later".to_owned(),
            _ => err.to_string(),
        };
        let mut response = ApiError::new(status, code, message).into_response();
        if let Some(secs) = err.retry_after_secs() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// `err` and its causes, joined by `: `.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}
