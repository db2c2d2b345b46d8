//! The `code_sends` table: how many one-time codes each phone number was sent on each UTC day,
//! for the per-number daily limit (against guessing across many codes and SMS pumping).
//!
//! Keyed by (`phone`, `day`); not tied to `users`, because the number may not be registered.
//! Old days are dead weight and may be deleted at any time.

use sea_orm::entity::prelude::*;

/// One number's codes on one day.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "code_sends")]
pub struct Model {
    /// The phone number, E.164.
    #[sea_orm(primary_key, auto_increment = false)]
    pub phone: String,
    /// The UTC day: unix milliseconds divided by 86 400 000.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: i64,
    /// Codes sent to the number that day.
    #[sea_orm(default_value = 0)]
    pub n_sent: i64,
}

/// Relations of [`Model`]: none.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
