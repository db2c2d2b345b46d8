//! `GET /v1/profile`, `PATCH /v1/profile` and `GET /v1/users/{user_id}`.

use axum::Json;
use axum::extract::State;
use natter_accounts::profile::{self, OwnProfile, ProfileUpdate, PublicProfile};

use crate::v1::ApiContext;
use crate::v1::accounts::error::AccountsError;
use crate::v1::accounts::extract::Id;
use crate::v1::auth::Device;
use crate::v1::error::ApiJson;

pub(crate) async fn get(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
) -> Result<Json<OwnProfile>, AccountsError> {
    Ok(Json(profile::get(&ctx.db, &identity).await?))
}

pub(crate) async fn update(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
    ApiJson(update): ApiJson<ProfileUpdate>,
) -> Result<Json<OwnProfile>, AccountsError> {
    Ok(Json(profile::update(&ctx.db, &identity, update).await?))
}

pub(crate) async fn public(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
    Id(user_id): Id,
) -> Result<Json<PublicProfile>, AccountsError> {
    Ok(Json(
        profile::public(&ctx.db, identity.user_id, user_id).await?,
    ))
}
