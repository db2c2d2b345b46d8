//! Creates `one_time_keys` (cascading from `devices`), unique by (`device_id`, `key_id`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // SQLite has transactional DDL too; without this a failed step leaves half a schema.
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OneTimeKeys::Table)
                    .col(big_pk_auto(OneTimeKeys::Id))
                    .col(big_integer(OneTimeKeys::DeviceId))
                    .col(big_integer(OneTimeKeys::KeyId))
                    .col(text(OneTimeKeys::PublicKey))
                    .col(big_integer(OneTimeKeys::CreatedAt))
                    .col(big_integer_null(OneTimeKeys::ClaimedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_one_time_keys_device_id")
                            .from(OneTimeKeys::Table, OneTimeKeys::DeviceId)
                            .to(Devices::Table, Devices::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Leads with `device_id`, so it also serves the cascade and "claim a key of device D".
        manager
            .create_index(
                Index::create()
                    .name("uq_one_time_keys_device_id_key_id")
                    .table(OneTimeKeys::Table)
                    .col(OneTimeKeys::DeviceId)
                    .col(OneTimeKeys::KeyId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OneTimeKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum OneTimeKeys {
    Table,
    Id,
    DeviceId,
    KeyId,
    PublicKey,
    CreatedAt,
    ClaimedAt,
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
}
