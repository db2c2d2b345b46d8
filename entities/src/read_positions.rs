//! The `read_positions` table: how far a user has read each conversation, as the user's other
//! devices learn it. One row per (user, conversation), overwritten by each read that moves it,
//! and placed in the user's inbox (`inbox_seq`) so that a device that was away finds the latest
//! position with `sync` like any inbox entry.
//!
//! The (`user_id`, `inbox_seq`) index serves sync.

use sea_orm::entity::prelude::*;

/// One user's read position in one conversation.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "read_positions")]
pub struct Model {
    /// The reader, a `users.id` (cascade on delete).
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    /// The conversation, a `conversations.id` (cascade on delete).
    #[sea_orm(primary_key, auto_increment = false)]
    pub conversation_id: i64,
    /// The highest position in the conversation the user has read; only moves forward.
    pub seq: i64,
    /// The entry's position in the user's inbox, taken anew each time the position moves.
    pub inbox_seq: i64,
    /// When it last moved, unix milliseconds.
    pub updated_at: i64,
}

/// Relations of [`Model`] (none are navigated).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
