//! Creates `identity_keys`, keyed by `device_id` (cascading from `devices`).

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
                    .table(IdentityKeys::Table)
                    .col(big_integer(IdentityKeys::DeviceId).primary_key())
                    .col(text(IdentityKeys::IdentityKey))
                    .col(text(IdentityKeys::SignedPrekey))
                    .col(text(IdentityKeys::SignedPrekeySignature))
                    .col(big_integer(IdentityKeys::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_identity_keys_device_id")
                            .from(IdentityKeys::Table, IdentityKeys::DeviceId)
                            .to(Devices::Table, Devices::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdentityKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum IdentityKeys {
    Table,
    DeviceId,
    IdentityKey,
    SignedPrekey,
    SignedPrekeySignature,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
}
