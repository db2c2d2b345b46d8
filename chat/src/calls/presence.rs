//! `presence.query`: the presence of up to 256 users, as the viewer may see it (the same
//! answer as HTTP `GET /v1/presence?users=…`).

use natter_presence::PresenceStore;
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use serde_json::json;

use crate::messaging::Caller;
use crate::rpc::{Answer, Failure};

/// Most users one query may name.
const MAX_USERS: usize = 256;

#[derive(Debug, Deserialize)]
pub(crate) struct Query {
    users: Vec<i64>,
}

pub(crate) async fn query(
    db: &DatabaseConnection,
    store: Option<&dyn PresenceStore>,
    caller: &Caller,
    params: Result<Query, Failure>,
) -> Result<Answer, Failure> {
    let params = params?;
    if params.users.is_empty() || params.users.len() > MAX_USERS {
        return Err(Failure::new("bad_params", "name 1 to 256 users"));
    }
    let Some(store) = store else {
        return Err(Failure::new(
            "unavailable",
            "presence is not reachable from this bridge (run it with the broker, or set redis.url)",
        ));
    };
    let mut answers = Vec::with_capacity(params.users.len());
    for &user in &params.users {
        let answer = natter_presence::query(db, store, caller.user, user)
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "presence query failed");
                Failure::new(
                    "unavailable",
                    "the server could not do this now; call again",
                )
            })?;
        answers.push(answer);
    }
    Ok(Answer::only(json!({"users": answers})))
}
