//! `POST /v1/contacts/sync` and `GET /v1/contacts`.

use axum::Json;
use axum::extract::State;
use natter_accounts::contacts::{self, ContactList, SyncRequest, SyncResponse};

use crate::v1::ApiContext;
use crate::v1::accounts::error::AccountsError;
use crate::v1::auth::Device;
use crate::v1::error::ApiJson;

pub(crate) async fn sync(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
    ApiJson(request): ApiJson<SyncRequest>,
) -> Result<Json<SyncResponse>, AccountsError> {
    Ok(Json(
        contacts::sync(&ctx.db, &ctx.settings.accounts, &identity, request).await?,
    ))
}

pub(crate) async fn list(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
) -> Result<Json<ContactList>, AccountsError> {
    Ok(Json(contacts::list(&ctx.db, &identity).await?))
}
