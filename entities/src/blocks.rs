//! The `blocks` table: who has blocked whom.
//!
//! Keyed by the blocker first (shards by user); an index on `blocked_id` answers "who blocks
//! me". Whether a block hides presence, photos or messages is decided by the features, not here.

use sea_orm::entity::prelude::*;

/// One user blocking another.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "blocks")]
pub struct Model {
    /// The user who blocks, `users.id` (cascade on delete).
    #[sea_orm(primary_key, auto_increment = false)]
    pub blocker_id: i64,
    /// The blocked user, `users.id` (cascade on delete); indexed.
    #[sea_orm(primary_key, auto_increment = false)]
    pub blocked_id: i64,
    /// When the block was made, unix milliseconds.
    pub created_at: i64,
}

/// Relations of [`Model`]. Both point at `users`, so there is no `Related<users::Entity>`:
/// join with the relation you mean.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user who blocks.
    #[sea_orm(
        belongs_to = "crate::users::Entity",
        from = "Column::BlockerId",
        to = "crate::users::Column::Id",
        on_delete = "Cascade"
    )]
    Blocker,
    /// The blocked user.
    #[sea_orm(
        belongs_to = "crate::users::Entity",
        from = "Column::BlockedId",
        to = "crate::users::Column::Id",
        on_delete = "Cascade"
    )]
    Blocked,
}

impl ActiveModelBehavior for ActiveModel {}
