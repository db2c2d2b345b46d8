//! Registration, devices, profiles, contacts, blocking and account deletion over HTTP: thin
//! adapters over `natter_accounts`, which holds every rule. docs/API.md describes the routes.

mod blocks;
mod contacts;
mod devices;
mod error;
mod extract;
mod profile;
mod registration;

use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::v1::ApiContext;

pub(crate) fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/v1/register", post(registration::register))
        .route("/v1/verify", post(registration::verify))
        .route("/v1/account", delete(registration::delete_account))
        .route("/v1/devices", get(devices::list))
        .route("/v1/devices/{device_id}", delete(devices::remove))
        .route("/v1/profile", get(profile::get).patch(profile::update))
        .route("/v1/users/{user_id}", get(profile::public))
        .route("/v1/contacts", get(contacts::list))
        .route("/v1/contacts/sync", post(contacts::sync))
        .route("/v1/blocks", get(blocks::list))
        .route(
            "/v1/blocks/{user_id}",
            put(blocks::block).delete(blocks::unblock),
        )
}
