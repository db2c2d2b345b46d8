//! Creates `devices` (cascading from `users`), unique by `mqtt_username`, indexed by `user_id`.

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
                    .table(Devices::Table)
                    .col(big_pk_auto(Devices::Id))
                    .col(big_integer(Devices::UserId))
                    .col(string(Devices::Name))
                    .col(string(Devices::Platform))
                    .col(string(Devices::Role))
                    .col(string(Devices::MqttUsername))
                    .col(string(Devices::SecretHash))
                    .col(big_integer(Devices::CreatedAt))
                    .col(big_integer_null(Devices::LastSeenAt))
                    .col(big_integer_null(Devices::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_devices_user_id")
                            .from(Devices::Table, Devices::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_devices_mqtt_username")
                    .table(Devices::Table)
                    .col(Devices::MqttUsername)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_devices_user_id")
                    .table(Devices::Table)
                    .col(Devices::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Devices::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
    UserId,
    Name,
    Platform,
    Role,
    MqttUsername,
    SecretHash,
    CreatedAt,
    LastSeenAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
