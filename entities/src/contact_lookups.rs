//! The `contact_lookups` table: how many numbers new to their address book each account
//! looked up on each UTC day, for the contact-discovery rate limit.
//!
//! Keyed by (`owner_id`, `day`); old days are dead weight and may be deleted at any time.

use sea_orm::entity::prelude::*;

/// One account's lookups on one day.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_lookups")]
pub struct Model {
    /// The account, `users.id` (cascade on delete).
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner_id: i64,
    /// The UTC day: unix milliseconds divided by 86 400 000.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: i64,
    /// Numbers new to the address book looked up that day.
    #[sea_orm(default_value = 0)]
    pub n_numbers: i64,
}

/// Relations of [`Model`].
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The account.
    #[sea_orm(
        belongs_to = "crate::users::Entity",
        from = "Column::OwnerId",
        to = "crate::users::Column::Id",
        on_delete = "Cascade"
    )]
    Owner,
}

impl ActiveModelBehavior for ActiveModel {}
