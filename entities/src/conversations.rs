//! The `conversations` table: one message stream, either a direct chat between two users or a
//! group's chat, with the counter that orders its messages.
//!
//! A conversation is the shard key for `messages`. A direct chat is found by its ordered user
//! pair (`user_low`, `user_high`), a group chat by `group_id`; both are unique.

use sea_orm::entity::prelude::*;

/// One conversation.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    /// Surrogate id; the shard key for messages.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `"direct"` or `"group"`.
    pub kind: String,
    /// For a group chat, `groups.id` (cascade on delete), unique; `None` for a direct chat.
    #[sea_orm(unique)]
    pub group_id: Option<i64>,
    /// For a direct chat, the lower of the two user ids; `None` for a group chat.
    #[sea_orm(unique_key = "direct_pair")]
    pub user_low: Option<i64>,
    /// For a direct chat, the higher of the two user ids; unique together with `user_low`.
    #[sea_orm(unique_key = "direct_pair")]
    pub user_high: Option<i64>,
    /// The last sequence number assigned to a message here (0 when empty). Bump it in the same
    /// transaction that inserts the message.
    #[sea_orm(default_value = 0)]
    pub last_seq: i64,
    /// Disappearing-messages timer in seconds; `None` when off.
    pub disappearing_secs: Option<i32>,
    /// Creation time, unix milliseconds.
    pub created_at: i64,
}

/// Relations of [`Model`].
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The group, for a group chat.
    #[sea_orm(
        belongs_to = "crate::groups::Entity",
        from = "Column::GroupId",
        to = "crate::groups::Column::Id",
        on_delete = "Cascade"
    )]
    Group,
    /// The messages (cascade on delete).
    #[sea_orm(has_many = "crate::messages::Entity")]
    Messages,
}

impl Related<crate::groups::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Group.def()
    }
}

impl Related<crate::messages::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Messages.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
