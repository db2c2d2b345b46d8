//! Creates `primary_devices`: which device is an account's phone (the one that registered the
//! number), keyed by `user_id`, unique by `device_id`, cascading from `users` and `devices`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PrimaryDevices::Table)
                    .col(big_integer(PrimaryDevices::UserId).primary_key())
                    .col(big_integer(PrimaryDevices::DeviceId))
                    .col(big_integer(PrimaryDevices::SinceAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_primary_devices_user_id")
                            .from(PrimaryDevices::Table, PrimaryDevices::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_primary_devices_device_id")
                            .from(PrimaryDevices::Table, PrimaryDevices::DeviceId)
                            .to(Devices::Table, Devices::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_primary_devices_device_id")
                    .table(PrimaryDevices::Table)
                    .col(PrimaryDevices::DeviceId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PrimaryDevices::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum PrimaryDevices {
    Table,
    UserId,
    DeviceId,
    SinceAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
}
