//! natter's storage schema: SeaORM entities (one module per table) and the hand-written
//! migrations that create them.
//!
//! This crate owns table shapes, keys, indexes and relations only; queries and business rules
//! live with the features that use them (bridge, workers). The schema is portable across SQLite
//! and PostgreSQL: i64 ids, text, booleans, binary blobs, and timestamps as i64 unix
//! milliseconds in columns named `*_at`. Enum-like values are short strings whose allowed values
//! are documented on the column; the database does not check them.
//!
//! Schema changes go in new migrations (`src/migration/`); applied migrations are never edited.

pub mod blocks;
pub mod code_requests;
pub mod code_sends;
pub mod contact_lookups;
pub mod contacts;
pub mod conversations;
pub mod deliveries;
pub mod devices;
pub mod group_members;
pub mod groups;
pub mod identity_keys;
pub mod media;
pub mod media_uploads;
pub mod messages;
pub mod one_time_keys;
pub mod otp_codes;
pub mod prelude;
pub mod primary_devices;
pub mod push_tokens;
pub mod read_positions;
pub mod users;

mod migration;

use sea_orm::{DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

pub use migration::Migrator;

/// Applies every pending migration to `db`, oldest first.
///
/// Safe to call at every start: applied migrations are recorded in `seaql_migrations` and
/// skipped. Each migration runs in its own transaction, on SQLite as on PostgreSQL.
///
/// # Errors
/// Returns the database error of the first migration that fails; the migrations before it stay
/// applied.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
