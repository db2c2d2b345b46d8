//! Who may download a media item: its uploader; a participant of a conversation holding a
//! live message (not deleted, not expired) that carries it; anyone the privacy rules let see
//! the profile photo of a user whose photo it is.

use natter_accounts::privacy::{Visible, may_see};
use natter_entities::{conversations, group_members, media, messages, users};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};

use crate::v1::error::ApiError;

/// Whether `viewer` may fetch `item` at `now_ms`.
pub(super) async fn may_download(
    db: &DatabaseConnection,
    viewer: i64,
    item: &media::Model,
    now_ms: i64,
) -> Result<bool, ApiError> {
    if item.owner_user_id == viewer {
        return Ok(true);
    }
    let db_error = |err: sea_orm::DbErr| ApiError::internal(&err);
    let conversation_ids: Vec<i64> = messages::Entity::find()
        .select_only()
        .column(messages::Column::ConversationId)
        .distinct()
        .filter(messages::Column::MediaId.eq(item.id))
        .filter(messages::Column::DeletedAt.is_null())
        .filter(
            Condition::any()
                .add(messages::Column::ExpiresAt.is_null())
                .add(messages::Column::ExpiresAt.gt(now_ms)),
        )
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    if !conversation_ids.is_empty() {
        let conversations = conversations::Entity::find()
            .filter(conversations::Column::Id.is_in(conversation_ids))
            .all(db)
            .await
            .map_err(db_error)?;
        for conversation in conversations {
            if conversation.user_low == Some(viewer) || conversation.user_high == Some(viewer) {
                return Ok(true);
            }
            if let Some(group_id) = conversation.group_id
                && group_members::Entity::find_by_id((group_id, viewer))
                    .one(db)
                    .await
                    .map_err(db_error)?
                    .is_some()
            {
                return Ok(true);
            }
        }
    }
    let avatar_of: Vec<i64> = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::AvatarMediaId.eq(item.id))
        .filter(users::Column::DeletedAt.is_null())
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    for owner in avatar_of {
        if may_see(db, owner, viewer, Visible::ProfilePhoto)
            .await
            .map_err(|err| ApiError::internal(&err))?
        {
            return Ok(true);
        }
    }
    Ok(false)
}
