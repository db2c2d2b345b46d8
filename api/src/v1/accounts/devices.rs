//! `GET /v1/devices` and `DELETE /v1/devices/{device_id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use natter_accounts::devices::{self, DeviceList};

use crate::v1::ApiContext;
use crate::v1::accounts::error::AccountsError;
use crate::v1::accounts::extract::Id;
use crate::v1::accounts::registration::disconnect;
use crate::v1::auth::Device;

pub(crate) async fn list(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
) -> Result<Json<DeviceList>, AccountsError> {
    Ok(Json(devices::list(&ctx.db, &identity).await?))
}

pub(crate) async fn remove(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
    Id(device_id): Id,
) -> Result<StatusCode, AccountsError> {
    devices::remove(&ctx.db, &identity, device_id).await?;
    disconnect(&ctx, &[device_id]).await;
    Ok(StatusCode::NO_CONTENT)
}
