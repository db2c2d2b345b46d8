//! Group membership as the broker's topic ACL asks about it.
//!
//! Adding and removing members belongs to the group features; this module only reads.

use natter_entities::{group_members, groups};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use crate::error::{Error, Result};

/// Whether `user_id` is a member of `group_id` and the group is not deleted.
///
/// # Errors
/// [`Error::CheckMembership`] when the database cannot be read.
pub async fn is_member(db: &DatabaseConnection, user_id: i64, group_id: i64) -> Result<bool> {
    let n_rows = group_members::Entity::find()
        .filter(group_members::Column::GroupId.eq(group_id))
        .filter(group_members::Column::UserId.eq(user_id))
        .inner_join(groups::Entity)
        .filter(groups::Column::DeletedAt.is_null())
        .limit(1)
        .count(db)
        .await
        .map_err(|source| Error::CheckMembership {
            user_id,
            group_id,
            source,
        })?;
    Ok(n_rows > 0)
}
