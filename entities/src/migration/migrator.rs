//! [`Migrator`]: the ordered list of natter's migrations.
//!
//! Owns the order only; each step is in its own `mYYYYMMDD_NNNNNN_verb_noun.rs` file.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

use crate::migration::{
    m20261128_000001_create_users, m20261128_000002_create_devices,
    m20261128_000003_create_contacts, m20261128_000004_create_blocks,
    m20261128_000005_create_groups, m20261128_000006_create_group_members,
    m20261128_000007_create_conversations, m20261128_000008_create_messages,
    m20261128_000009_create_deliveries, m20261128_000010_create_media,
    m20261128_000011_create_identity_keys, m20261128_000012_create_one_time_keys,
    m20261128_000013_create_push_tokens, m20261128_000014_create_otp_codes,
    m20261128_000015_add_inbox_sequence,
};

/// Runs natter's migrations (`Migrator::up(&db, None)`, `Migrator::down(&db, None)`, …).
///
/// Applied migrations are recorded in the `seaql_migrations` table.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_users::Migration),
            Box::new(m20261128_000002_create_devices::Migration),
            Box::new(m20261128_000003_create_contacts::Migration),
            Box::new(m20261128_000004_create_blocks::Migration),
            Box::new(m20261128_000005_create_groups::Migration),
            Box::new(m20261128_000006_create_group_members::Migration),
            Box::new(m20261128_000007_create_conversations::Migration),
            Box::new(m20261128_000008_create_messages::Migration),
            Box::new(m20261128_000009_create_deliveries::Migration),
            Box::new(m20261128_000010_create_media::Migration),
            Box::new(m20261128_000011_create_identity_keys::Migration),
            Box::new(m20261128_000012_create_one_time_keys::Migration),
            Box::new(m20261128_000013_create_push_tokens::Migration),
            Box::new(m20261128_000014_create_otp_codes::Migration),
            Box::new(m20261128_000015_add_inbox_sequence::Migration),
            Box::new(crate::migration::m20261128_000016_create_primary_devices::Migration),
            Box::new(crate::migration::m20261128_000017_create_contact_lookups::Migration),
            Box::new(crate::migration::m20261128_000018_create_code_sends::Migration),
            Box::new(crate::migration::m20261128_000020_add_media_details::Migration),
            Box::new(crate::migration::m20261128_000021_create_media_uploads::Migration),
            Box::new(crate::migration::m20261128_000022_index_messages_media_id::Migration),
            Box::new(crate::migration::m20261204_000001_create_read_positions::Migration),
            Box::new(crate::migration::m20261204_000002_create_code_requests::Migration),
        ]
    }
}
