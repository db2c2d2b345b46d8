//! Who watches a user's presence: the users who have the owner in their address book
//! (`contacts.contact_user_id = owner`) and whom `natter_accounts::privacy::may_see(owner,
//! watcher, LastSeen)` allows — the owner's setting (`everyone`, `contacts`: the owner has the
//! watcher in their own address book, `nobody`), never across a block in either direction.
//!
//! One change fans out to every watcher, so this answers for all candidates at once with four
//! queries, instead of asking `may_see` per watcher (three queries each); a test holds it to
//! the same answers as `may_see`.

use std::collections::BTreeSet;

use natter_accounts::privacy::Audience;
use natter_entities::{blocks, contacts, users};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::error::Result;

/// The users who may watch `owner_id`'s presence, in ascending order.
///
/// # Errors
/// [`crate::Error::Database`] when the database cannot be read.
pub async fn of<C: ConnectionTrait>(db: &C, owner_id: i64) -> Result<Vec<i64>> {
    let Some(owner) = users::Entity::find_by_id(owner_id).one(db).await? else {
        return Ok(Vec::new());
    };
    // The same reading as `may_see`: a deleted owner or an unreadable setting shows nothing.
    let audience = owner.last_seen_privacy.parse().unwrap_or(Audience::Nobody);
    if owner.deleted_at.is_some() || audience == Audience::Nobody {
        return Ok(Vec::new());
    }
    let mut candidates: BTreeSet<i64> = contacts::Entity::find()
        .select_only()
        .column(contacts::Column::OwnerId)
        .filter(contacts::Column::ContactUserId.eq(owner_id))
        .filter(contacts::Column::OwnerId.ne(owner_id))
        .into_tuple::<i64>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let blocked: Vec<(i64, i64)> = blocks::Entity::find()
        .select_only()
        .column(blocks::Column::BlockerId)
        .column(blocks::Column::BlockedId)
        .filter(
            Condition::any()
                .add(blocks::Column::BlockerId.eq(owner_id))
                .add(blocks::Column::BlockedId.eq(owner_id)),
        )
        .into_tuple()
        .all(db)
        .await?;
    for (blocker, blocked) in blocked {
        candidates.remove(if blocker == owner_id {
            &blocked
        } else {
            &blocker
        });
    }
    if audience == Audience::Contacts {
        let owners_contacts: BTreeSet<i64> = contacts::Entity::find()
            .select_only()
            .column(contacts::Column::ContactUserId)
            .filter(contacts::Column::OwnerId.eq(owner_id))
            .filter(contacts::Column::ContactUserId.is_not_null())
            .into_tuple::<Option<i64>>()
            .all(db)
            .await?
            .into_iter()
            .flatten()
            .collect();
        candidates.retain(|candidate| owners_contacts.contains(candidate));
    }
    Ok(candidates.into_iter().collect())
}
