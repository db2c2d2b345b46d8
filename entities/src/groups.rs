//! The `groups` table: group chats' metadata (name, description, photo, invite link, size cap).
//!
//! Membership lives in `group_members` and the message stream in the group's row of
//! `conversations`; both are deleted with the group.

use sea_orm::entity::prelude::*;

/// One group chat. Groups are soft-deleted (`deleted_at`); a hard delete cascades to the
/// members and the conversation with its messages.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "groups")]
pub struct Model {
    /// Surrogate id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Group name (subject).
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// Free-text description; empty by default.
    #[sea_orm(column_type = "Text", default_value = "")]
    pub description: String,
    /// Id of the group photo in `media`, if any (not a foreign key).
    pub avatar_media_id: Option<i64>,
    /// Creator, `users.id` (no action: deleting the user fails while they created a group, so a
    /// purge does not silently delete groups others use); indexed.
    #[sea_orm(indexed)]
    pub created_by: i64,
    /// Secret of the current invite link, unique; `None` when no link is active.
    #[sea_orm(unique)]
    pub invite_token: Option<String>,
    /// Maximum number of members (default 1024).
    #[sea_orm(default_value = 1024)]
    pub member_limit: i32,
    /// Creation time, unix milliseconds.
    pub created_at: i64,
    /// Soft-deletion time, unix milliseconds; `None` while the group is live.
    pub deleted_at: Option<i64>,
}

/// Relations of [`Model`].
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The creator.
    #[sea_orm(
        belongs_to = "crate::users::Entity",
        from = "Column::CreatedBy",
        to = "crate::users::Column::Id",
        on_delete = "NoAction"
    )]
    Creator,
    /// The members (cascade on delete).
    #[sea_orm(has_many = "crate::group_members::Entity")]
    Members,
    /// The group's conversation (cascade on delete).
    #[sea_orm(has_one = "crate::conversations::Entity")]
    Conversation,
}

impl Related<crate::group_members::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Members.def()
    }
}

impl Related<crate::conversations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Conversation.def()
    }
}

/// A group's users, through `group_members`.
impl Related<crate::users::Entity> for Entity {
    fn to() -> RelationDef {
        crate::group_members::Relation::User.def()
    }

    fn via() -> Option<RelationDef> {
        Some(crate::group_members::Relation::Group.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
