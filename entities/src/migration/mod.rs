//! The schema's migrations, one file per step, applied in file-name order by [`Migrator`].
//!
//! Migrations use their own identifiers, not the entities' columns, so that they keep
//! describing the schema as it was when they were written. Add a change as a new file and
//! list it in `migrator.rs`; never edit one that has shipped.

mod m20261128_000001_create_users;
mod m20261128_000002_create_devices;
mod m20261128_000003_create_contacts;
mod m20261128_000004_create_blocks;
mod m20261128_000005_create_groups;
mod m20261128_000006_create_group_members;
mod m20261128_000007_create_conversations;
mod m20261128_000008_create_messages;
mod m20261128_000009_create_deliveries;
mod m20261128_000010_create_media;
mod m20261128_000011_create_identity_keys;
mod m20261128_000012_create_one_time_keys;
mod m20261128_000013_create_push_tokens;
mod m20261128_000014_create_otp_codes;
mod m20261128_000015_add_inbox_sequence;
mod m20261128_000016_create_primary_devices;
mod m20261128_000017_create_contact_lookups;
mod m20261128_000018_create_code_sends;
mod m20261128_000020_add_media_details;
mod m20261128_000021_create_media_uploads;
mod m20261128_000022_index_messages_media_id;
mod m20261204_000001_create_read_positions;
mod m20261204_000002_create_code_requests;
mod migrator;

pub use migrator::Migrator;
