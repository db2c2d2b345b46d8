//! `presence.query`: the presence of up to 256 users, as the viewer may see it (the same
//! answer as HTTP `GET /v1/presence?users=…`).

use natter_presence::PresenceStore;
use natter_proto::call::PresenceQuery;
use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::calls::{Answer, Failure, unavailable};
use crate::refusal::{Refusal, UNAVAILABLE_PRESENCE};
use crate::request::Caller;

/// Most users one query may name.
const MAX_USERS: usize = 256;

pub(crate) async fn query(
    db: &DatabaseConnection,
    store: Option<&dyn PresenceStore>,
    caller: &Caller,
    params: PresenceQuery,
) -> Result<Answer, Failure> {
    if params.users.is_empty() || params.users.len() > MAX_USERS {
        return Err(Refusal::BadParams("name 1 to 256 users".to_owned()).into());
    }
    let Some(store) = store else {
        return Err(Failure(Refusal::Unavailable {
            retry_after_ms: None,
            message: UNAVAILABLE_PRESENCE,
        }));
    };
    let mut answers = Vec::with_capacity(params.users.len());
    for &user in &params.users {
        let answer = natter_presence::query(db, store, caller.user, user)
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "presence query failed");
                Failure(unavailable())
            })?;
        answers.push(answer);
    }
    Ok(Answer::only(json!({"users": answers})))
}
