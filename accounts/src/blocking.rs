//! Blocking: a user's list of blocked users. A block hides the blocker's presence, last seen
//! and photo from the blocked user and the other way round ([`crate::privacy::may_see`]),
//! and the bridge does not deliver the blocked user's messages to the blocker (it reads the
//! `blocks` table).

use natter_entities::blocks;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};

use crate::auth::Identity;
use crate::clock::now_ms;
use crate::error::{Error, Result, db_error};
use crate::profile::live_user;

/// One blocked user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocked {
    /// The blocked user.
    pub user_id: i64,
    /// When the block was made, unix milliseconds.
    pub created_at: i64,
}

/// The caller's blocked users, most recent first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockList {
    /// The blocked users.
    pub blocked: Vec<Blocked>,
}

/// Blocks `user_id` for the caller. Blocking a user already blocked changes nothing.
///
/// # Errors
/// [`Error::CannotBlockSelf`], [`Error::UnknownUser`] when no such live user exists,
/// [`Error::Database`].
pub async fn block<C: ConnectionTrait>(db: &C, caller: &Identity, user_id: i64) -> Result<()> {
    if user_id == caller.user_id {
        return Err(Error::CannotBlockSelf);
    }
    live_user(db, user_id).await?;
    blocks::Entity::insert(blocks::ActiveModel {
        blocker_id: Set(caller.user_id),
        blocked_id: Set(user_id),
        created_at: Set(now_ms()),
    })
    .on_conflict_do_nothing_on([blocks::Column::BlockerId, blocks::Column::BlockedId])
    .exec(db)
    .await
    .map_err(db_error("block a user"))?;
    Ok(())
}

/// Unblocks `user_id` for the caller. Unblocking a user not blocked changes nothing.
///
/// # Errors
/// [`Error::Database`].
pub async fn unblock<C: ConnectionTrait>(db: &C, caller: &Identity, user_id: i64) -> Result<()> {
    blocks::Entity::delete_many()
        .filter(blocks::Column::BlockerId.eq(caller.user_id))
        .filter(blocks::Column::BlockedId.eq(user_id))
        .exec(db)
        .await
        .map_err(db_error("unblock a user"))?;
    Ok(())
}

/// The caller's blocked users.
///
/// # Errors
/// [`Error::Database`].
pub async fn list<C: ConnectionTrait>(db: &C, caller: &Identity) -> Result<BlockList> {
    let rows = blocks::Entity::find()
        .filter(blocks::Column::BlockerId.eq(caller.user_id))
        .order_by_desc(blocks::Column::CreatedAt)
        .order_by_asc(blocks::Column::BlockedId)
        .all(db)
        .await
        .map_err(db_error("list blocked users"))?;
    Ok(BlockList {
        blocked: rows
            .into_iter()
            .map(|row| Blocked {
                user_id: row.blocked_id,
                created_at: row.created_at,
            })
            .collect(),
    })
}
