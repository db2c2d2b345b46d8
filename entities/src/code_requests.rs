//! The `code_requests` table: how many one-time codes were asked for per source (a client
//! address, or a block of phone numbers) per hour, for the registration limits that a
//! per-number limit cannot give (one client asking for codes to hundreds of numbers).
//!
//! Keyed by (`scope`, `key`, `hour`). Shared through the database, so every node counts the
//! same. Old hours are dead weight and may be deleted at any time.

use sea_orm::entity::prelude::*;

/// One source's code requests in one hour.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "code_requests")]
pub struct Model {
    /// What `key` is: `ip` (a client address, an IPv6 one as its /64) or `prefix` (the first
    /// digits of the E.164 number).
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    /// The address or the number prefix.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// The hour: unix milliseconds divided by 3 600 000.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour: i64,
    /// Codes asked for from that source in that hour.
    #[sea_orm(default_value = 0)]
    pub n_requests: i64,
}

/// Relations of [`Model`]: none.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
