//! The `contacts` table: a user's address book, one row per phone number they uploaded.
//!
//! Keyed by owner first, so it shards by user. `contact_user_id` is filled in when the number
//! belongs to a registered account; the index on it answers "who has me as a contact" (for
//! `"contacts"` privacy checks).

use sea_orm::entity::prelude::*;

/// One phone number in a user's address book.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    /// Owner of the address book, `users.id` (cascade on delete).
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner_id: i64,
    /// The contact's phone number in E.164 form.
    #[sea_orm(primary_key, auto_increment = false)]
    pub phone: String,
    /// The registered account with that number, `users.id` (set to NULL when it is deleted); indexed.
    #[sea_orm(indexed)]
    pub contact_user_id: Option<i64>,
    /// When the number was added, unix milliseconds.
    pub created_at: i64,
}

/// Relations of [`Model`]. Both point at `users`, so there is no `Related<users::Entity>`:
/// join with the relation you mean.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The owner of the address book.
    #[sea_orm(
        belongs_to = "crate::users::Entity",
        from = "Column::OwnerId",
        to = "crate::users::Column::Id",
        on_delete = "Cascade"
    )]
    Owner,
    /// The registered account behind the phone number.
    #[sea_orm(
        belongs_to = "crate::users::Entity",
        from = "Column::ContactUserId",
        to = "crate::users::Column::Id",
        on_delete = "SetNull"
    )]
    ContactUser,
}

impl ActiveModelBehavior for ActiveModel {}
