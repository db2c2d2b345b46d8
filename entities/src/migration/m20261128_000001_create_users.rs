//! Creates `users`, unique by `phone`; `phone` is nullable (operators have none), and NULLs
//! do not collide in the unique index on SQLite or PostgreSQL.

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
                    .table(Users::Table)
                    .col(big_pk_auto(Users::Id))
                    .col(string_null(Users::Phone))
                    .col(text(Users::DisplayName).default(""))
                    .col(text(Users::About).default(""))
                    .col(big_integer_null(Users::AvatarMediaId))
                    .col(string(Users::LastSeenPrivacy).default("contacts"))
                    .col(string(Users::PhotoPrivacy).default("contacts"))
                    .col(big_integer_null(Users::LastSeenAt))
                    .col(big_integer(Users::CreatedAt))
                    .col(big_integer_null(Users::DeletedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_users_phone")
                    .table(Users::Table)
                    .col(Users::Phone)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Phone,
    DisplayName,
    About,
    AvatarMediaId,
    LastSeenPrivacy,
    PhotoPrivacy,
    LastSeenAt,
    CreatedAt,
    DeletedAt,
}
