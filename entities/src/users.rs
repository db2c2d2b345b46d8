//! The `users` table: one row per account, keyed by a surrogate id and unique by phone number
//! (when it has one).
//!
//! Owns the profile and the privacy settings. Devices, contacts, blocks, memberships and media
//! hang off a user in their own tables; this module does not know how they are queried.

use sea_orm::entity::prelude::*;

/// One registered account. Accounts are soft-deleted (`deleted_at`); a hard delete is a purge.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Surrogate id; the shard key for everything a user owns.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Phone number in E.164 form (`+491701234567`), unique; `None` for accounts that sign in
    /// without one (operators).
    #[sea_orm(unique)]
    pub phone: Option<String>,
    /// Name shown to others; empty until the user sets one.
    #[sea_orm(column_type = "Text", default_value = "")]
    pub display_name: String,
    /// Free-text status line ("about"); empty by default.
    #[sea_orm(column_type = "Text", default_value = "")]
    pub about: String,
    /// Id of the profile photo in `media`, if any (not a foreign key: media are stored and
    /// purged on their own schedule).
    pub avatar_media_id: Option<i64>,
    /// Who sees `last_seen_at`: `"everyone"`, `"contacts"` (default) or `"nobody"`.
    #[sea_orm(default_value = "contacts")]
    pub last_seen_privacy: String,
    /// Who sees the profile photo: `"everyone"`, `"contacts"` (default) or `"nobody"`.
    #[sea_orm(default_value = "contacts")]
    pub photo_privacy: String,
    /// When any of the user's devices was last online, unix milliseconds.
    pub last_seen_at: Option<i64>,
    /// Registration time, unix milliseconds.
    pub created_at: i64,
    /// The last position assigned in this user's inbox (see `deliveries.inbox_seq`).
    #[sea_orm(default_value = 0)]
    pub inbox_seq: i64,
    /// Soft-deletion time, unix milliseconds; `None` while the account is live.
    pub deleted_at: Option<i64>,
}

/// Relations of [`Model`].
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user's devices (cascade on delete).
    #[sea_orm(has_many = "crate::devices::Entity")]
    Devices,
    /// The user's group memberships (cascade on delete).
    #[sea_orm(has_many = "crate::group_members::Entity")]
    GroupMembers,
    /// Media the user uploaded (a purge must remove them first).
    #[sea_orm(has_many = "crate::media::Entity")]
    Media,
}

impl Related<crate::devices::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Devices.def()
    }
}

impl Related<crate::group_members::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::GroupMembers.def()
    }
}

impl Related<crate::media::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Media.def()
    }
}

/// A user's groups, through `group_members`.
impl Related<crate::groups::Entity> for Entity {
    fn to() -> RelationDef {
        crate::group_members::Relation::Group.def()
    }

    fn via() -> Option<RelationDef> {
        Some(crate::group_members::Relation::User.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
