//! `POST /v1/register`, `POST /v1/verify` (no authentication) and `DELETE /v1/account`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use natter_accounts::registration::{CodeSent, RegisterRequest, VerifyRequest, VerifyResponse};
use natter_accounts::{deletion, registration, sms};
use natter_proto::topics::ControlTopic;

use crate::v1::ApiContext;
use crate::v1::accounts::error::AccountsError;
use crate::v1::auth::Device;
use crate::v1::error::ApiJson;

pub(crate) async fn register(
    State(ctx): State<ApiContext>,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<CodeSent>), AccountsError> {
    // Built per request: codes are rare (one per number per cooldown), and the context
    // carries settings, not senders.
    let sender = sms::from_settings(&ctx.settings)?;
    let sent =
        registration::request_code(&ctx.db, &ctx.settings.accounts, sender.as_ref(), request)
            .await?;
    Ok((StatusCode::ACCEPTED, Json(sent)))
}

pub(crate) async fn verify(
    State(ctx): State<ApiContext>,
    ApiJson(request): ApiJson<VerifyRequest>,
) -> Result<(StatusCode, Json<VerifyResponse>), AccountsError> {
    let verified = registration::verify(&ctx.db, &ctx.settings.accounts, request).await?;
    disconnect(&ctx, &verified.revoked_device_ids).await;
    Ok((StatusCode::CREATED, Json(verified.response)))
}

pub(crate) async fn delete_account(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
) -> Result<StatusCode, AccountsError> {
    let deleted = deletion::delete_account(&ctx.db, &identity).await?;
    disconnect(&ctx, &deleted.device_ids).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Tells the broker nodes to drop the sessions of `device_ids`. The database already refuses
/// them, so a failure only delays the disconnect until the session's next CONNECT.
pub(crate) async fn disconnect(ctx: &ApiContext, device_ids: &[i64]) {
    for &device_id in device_ids {
        if let Err(error) = ctx
            .control
            .publish(ControlTopic::DeviceRevoked { device_id })
            .await
        {
            tracing::warn!(device_id, %error, "telling the broker about a revoked device failed");
        }
    }
}
