//! The `otp_codes` table: the pending one-time login code for a phone number.
//!
//! At most one code per phone (the primary key); a resend replaces it. Rows are short-lived and
//! not tied to `users`, because the number may not be registered yet. `expires_at` is indexed
//! for the cleanup job.

use sea_orm::entity::prelude::*;

/// The current login code of one phone number.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "otp_codes")]
pub struct Model {
    /// Phone number in E.164 form.
    #[sea_orm(primary_key, auto_increment = false)]
    pub phone: String,
    /// PHC-format hash of the code; the code itself is never stored.
    pub code_hash: String,
    /// When the code stops being accepted, unix milliseconds; indexed.
    #[sea_orm(indexed)]
    pub expires_at: i64,
    /// Failed verification attempts so far (default 0).
    #[sea_orm(default_value = 0)]
    pub attempts: i32,
    /// When the code was last sent, unix milliseconds (for resend throttling).
    pub last_sent_at: i64,
    /// When the first code for this number was requested, unix milliseconds.
    pub created_at: i64,
}

/// Relations of [`Model`]: none.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
