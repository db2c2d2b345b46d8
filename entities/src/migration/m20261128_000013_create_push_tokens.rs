//! Creates `push_tokens` (cascading from `devices`), unique by (`provider`, `token`), indexed
//! by `device_id`.

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
                    .table(PushTokens::Table)
                    .col(big_pk_auto(PushTokens::Id))
                    .col(big_integer(PushTokens::DeviceId))
                    .col(string(PushTokens::Provider))
                    .col(text(PushTokens::Token))
                    .col(big_integer(PushTokens::CreatedAt))
                    .col(big_integer(PushTokens::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_push_tokens_device_id")
                            .from(PushTokens::Table, PushTokens::DeviceId)
                            .to(Devices::Table, Devices::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_push_tokens_provider_token")
                    .table(PushTokens::Table)
                    .col(PushTokens::Provider)
                    .col(PushTokens::Token)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_push_tokens_device_id")
                    .table(PushTokens::Table)
                    .col(PushTokens::DeviceId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PushTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum PushTokens {
    Table,
    Id,
    DeviceId,
    Provider,
    Token,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
}
