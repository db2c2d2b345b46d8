//! The `group_members` table: who is in which group, and with which role.
//!
//! Keyed by group first (shards with the group's conversation); the index on `user_id` answers
//! "which groups am I in".

use sea_orm::entity::prelude::*;

/// One user's membership in one group.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "group_members")]
pub struct Model {
    /// The group, `groups.id` (cascade on delete).
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: i64,
    /// The member, `users.id` (cascade on delete); indexed.
    #[sea_orm(primary_key, auto_increment = false, indexed)]
    pub user_id: i64,
    /// `"member"` (default) or `"admin"`.
    #[sea_orm(default_value = "member")]
    pub role: String,
    /// When the user joined, unix milliseconds.
    pub joined_at: i64,
}

/// Relations of [`Model`].
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The group.
    #[sea_orm(
        belongs_to = "crate::groups::Entity",
        from = "Column::GroupId",
        to = "crate::groups::Column::Id",
        on_delete = "Cascade"
    )]
    Group,
    /// The member.
    #[sea_orm(
        belongs_to = "crate::users::Entity",
        from = "Column::UserId",
        to = "crate::users::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<crate::groups::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Group.def()
    }
}

impl Related<crate::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
