//! Asking for a user's presence (HTTP `GET /v1/presence`, and the MQTT request the messaging
//! layer exposes): the answer honours the same privacy rule as events, and says `unknown`
//! rather than `offline` when the store cannot be reached.

use natter_accounts::privacy::{Visible, may_see};
use natter_entities::users;
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::error::Result;
use crate::event::{PresenceEvent, PresenceState};
use crate::store::{PresenceStore, UserPresence};

/// What `viewer_id` may know of `user_id`'s presence, as a [`PresenceEvent`]:
/// - `hidden` (no last seen) when privacy does not allow it, or the user does not exist;
/// - `online`, or `offline` with the last seen the store or the database knows;
/// - `unknown` (with the last seen persisted in the database) when the store is unreachable.
///
/// # Errors
/// When the database cannot be read (a store outage is an answer, not an error).
pub async fn query<C: ConnectionTrait>(
    db: &C,
    store: &dyn PresenceStore,
    viewer_id: i64,
    user_id: i64,
) -> Result<PresenceEvent> {
    if !may_see(db, user_id, viewer_id, Visible::LastSeen).await? {
        return Ok(PresenceEvent::new(user_id, PresenceState::Hidden, None));
    }
    let answer = match store.user_presence(user_id).await {
        Ok(UserPresence::Online) => PresenceEvent::new(user_id, PresenceState::Online, None),
        Ok(UserPresence::Offline { last_seen }) => {
            let last_seen = match last_seen {
                Some(last_seen) => Some(last_seen),
                None => persisted_last_seen(db, user_id).await?,
            };
            PresenceEvent::new(user_id, PresenceState::Offline, last_seen)
        }
        Err(err) => {
            tracing::debug!(user_id, error = %err, "presence store unavailable, answering unknown");
            PresenceEvent::new(
                user_id,
                PresenceState::Unknown,
                persisted_last_seen(db, user_id).await?,
            )
        }
    };
    Ok(answer)
}

async fn persisted_last_seen<C: ConnectionTrait>(db: &C, user_id: i64) -> Result<Option<i64>> {
    Ok(users::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .and_then(|user| user.last_seen_at))
}
