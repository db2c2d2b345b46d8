//! Creates `code_requests`: one-time codes asked for per source (client address or number
//! prefix) per hour, keyed by (`scope`, `key`, `hour`).

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
                    .table(CodeRequests::Table)
                    .col(string(CodeRequests::Scope))
                    .col(string(CodeRequests::Key))
                    .col(big_integer(CodeRequests::Hour))
                    .col(big_integer(CodeRequests::NRequests).default(0))
                    .primary_key(
                        Index::create()
                            .name("pk_code_requests")
                            .col(CodeRequests::Scope)
                            .col(CodeRequests::Key)
                            .col(CodeRequests::Hour),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CodeRequests::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum CodeRequests {
    Table,
    Scope,
    Key,
    Hour,
    NRequests,
}
