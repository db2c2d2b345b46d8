//! Presence queries over HTTP: `GET /v1/presence/{user_id}` and
//! `GET /v1/presence?users=1,2,3`. Answers only what the owner's last-seen privacy lets the
//! caller see (`hidden` otherwise), and `unknown` while the presence store is unreachable.
//! Events and the store live in `natter-presence`; this module only speaks HTTP.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use natter_presence::{PresenceEvent, PresenceHandle};
use serde::{Deserialize, Serialize};

use crate::v1::ApiContext;
use crate::v1::auth::Device;
use crate::v1::error::ApiError;

/// Most users one request may ask about.
const MAX_USERS: usize = 256;

pub(crate) fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/v1/presence", get(many))
        .route("/v1/presence/{user_id}", get(one))
}

#[derive(Deserialize)]
struct ManyQuery {
    users: Option<String>,
}

#[derive(Serialize)]
struct ManyAnswer {
    presence: Vec<PresenceEvent>,
}

fn handle(ctx: &ApiContext) -> Result<&PresenceHandle, ApiError> {
    ctx.presence.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "presence_unavailable",
            "presence does not run in this process",
        )
    })
}

async fn one(
    State(ctx): State<ApiContext>,
    Device(caller): Device,
    Path(user_id): Path<String>,
) -> Result<Json<PresenceEvent>, ApiError> {
    // As every path id in /v1: one that is not a number names nothing.
    let user_id = parse_id(&user_id)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such user"))?;
    let answer = handle(&ctx)?
        .query(caller.user_id, user_id)
        .await
        .map_err(|err| ApiError::internal(&err))?;
    Ok(Json(answer))
}

async fn many(
    State(ctx): State<ApiContext>,
    Device(caller): Device,
    Query(query): Query<ManyQuery>,
) -> Result<Json<ManyAnswer>, ApiError> {
    let list = query.users.unwrap_or_default();
    let ids = list
        .split(',')
        .filter(|id| !id.is_empty())
        .map(parse_id)
        .collect::<Result<Vec<i64>, ApiError>>()?;
    if ids.is_empty() || ids.len() > MAX_USERS {
        return Err(ApiError::bad_request(
            "invalid_users",
            format!("users must list 1 to {MAX_USERS} user ids, comma-separated"),
        ));
    }
    let presence = handle(&ctx)?;
    let mut answers = Vec::with_capacity(ids.len());
    for user_id in ids {
        answers.push(
            presence
                .query(caller.user_id, user_id)
                .await
                .map_err(|err| ApiError::internal(&err))?,
        );
    }
    Ok(Json(ManyAnswer { presence: answers }))
}

fn parse_id(input: &str) -> Result<i64, ApiError> {
    input
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::bad_request("invalid_users", format!("{input:?} is not a user id"))
        })
}
