//! Creates `code_sends`: how many one-time codes each phone number was sent per UTC day (the
//! per-number daily code limit), keyed by (`phone`, `day`). Not tied to `users`: the number
//! may not be registered.

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
                    .table(CodeSends::Table)
                    .col(string(CodeSends::Phone))
                    .col(big_integer(CodeSends::Day))
                    .col(big_integer(CodeSends::NSent).default(0))
                    .primary_key(
                        Index::create()
                            .name("pk_code_sends")
                            .col(CodeSends::Phone)
                            .col(CodeSends::Day),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CodeSends::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum CodeSends {
    Table,
    Phone,
    Day,
    NSent,
}
