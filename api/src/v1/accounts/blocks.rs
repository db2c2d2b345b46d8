//! `GET /v1/blocks`, `PUT /v1/blocks/{user_id}` and `DELETE /v1/blocks/{user_id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use natter_accounts::blocking::{self, BlockList};

use crate::v1::ApiContext;
use crate::v1::accounts::error::AccountsError;
use crate::v1::accounts::extract::Id;
use crate::v1::auth::Device;

pub(crate) async fn list(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
) -> Result<Json<BlockList>, AccountsError> {
    Ok(Json(blocking::list(&ctx.db, &identity).await?))
}

pub(crate) async fn block(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
    Id(user_id): Id,
) -> Result<StatusCode, AccountsError> {
    blocking::block(&ctx.db, &identity, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn unblock(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
    Id(user_id): Id,
) -> Result<StatusCode, AccountsError> {
    blocking::unblock(&ctx.db, &identity, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
