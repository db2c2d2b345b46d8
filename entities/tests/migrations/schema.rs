//! The schema-level checks: tables, indexes and migration state after up, down and up again.

use natter_entities::{Migrator, users};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use sea_orm_migration::{MigratorTrait, SchemaManager};

use crate::constraints::check_rows_and_constraints;

const TABLES: [&str; 14] = [
    "users",
    "devices",
    "contacts",
    "blocks",
    "groups",
    "group_members",
    "conversations",
    "messages",
    "deliveries",
    "media",
    "identity_keys",
    "one_time_keys",
    "push_tokens",
    "otp_codes",
];

const INDEXES: [(&str, &str); 17] = [
    ("users", "uq_users_phone"),
    ("devices", "uq_devices_mqtt_username"),
    ("devices", "idx_devices_user_id"),
    ("contacts", "idx_contacts_contact_user_id"),
    ("blocks", "idx_blocks_blocked_id"),
    ("groups", "uq_groups_invite_token"),
    ("groups", "idx_groups_created_by"),
    ("group_members", "idx_group_members_user_id"),
    ("conversations", "uq_conversations_group_id"),
    ("conversations", "uq_conversations_user_low_user_high"),
    ("messages", "uq_messages_conversation_id_seq"),
    ("messages", "uq_messages_sender_user_id_client_msg_id"),
    ("messages", "idx_messages_expires_at"),
    ("deliveries", "idx_deliveries_recipient_user_id_status"),
    ("media", "uq_media_storage_key"),
    ("media", "idx_media_sha256"),
    ("push_tokens", "uq_push_tokens_provider_token"),
];

/// Migrates `db` up, checks the schema and its constraints, migrates down and up again.
pub(crate) async fn check_schema(db: &DatabaseConnection) {
    natter_entities::migrate(db).await.expect("migrating up");
    natter_entities::migrate(db)
        .await
        .expect("migrating up again is a no-op");
    assert_schema_present(db).await;

    check_rows_and_constraints(db).await;

    Migrator::down(db, None).await.expect("migrating down");
    let manager = SchemaManager::new(db);
    for table in TABLES {
        let exists = manager.has_table(table).await.expect("checking a table");
        assert!(!exists, "{table} survived the down migrations");
    }
    natter_entities::migrate(db)
        .await
        .expect("migrating up after down");
    assert_schema_present(db).await;
    let n_users = users::Entity::find()
        .count(db)
        .await
        .expect("counting users");
    assert_eq!(n_users, 0);
}

async fn assert_schema_present(db: &DatabaseConnection) {
    let manager = SchemaManager::new(db);
    for table in TABLES {
        let exists = manager.has_table(table).await.expect("checking a table");
        assert!(exists, "table {table} is missing");
    }
    for (table, index) in INDEXES {
        let exists = manager
            .has_index(table, index)
            .await
            .expect("checking an index");
        assert!(exists, "index {index} on {table} is missing");
    }
    let pending = Migrator::get_pending_migrations(db)
        .await
        .expect("listing pending migrations");
    assert!(pending.is_empty(), "migrations left pending");
}
