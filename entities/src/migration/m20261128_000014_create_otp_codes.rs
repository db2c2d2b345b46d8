//! Creates `otp_codes`, keyed by `phone` and indexed by `expires_at`.

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
                    .table(OtpCodes::Table)
                    .col(string(OtpCodes::Phone).primary_key())
                    .col(string(OtpCodes::CodeHash))
                    .col(big_integer(OtpCodes::ExpiresAt))
                    .col(integer(OtpCodes::Attempts).default(0))
                    .col(big_integer(OtpCodes::LastSentAt))
                    .col(big_integer(OtpCodes::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // The cleanup job deletes expired codes.
        manager
            .create_index(
                Index::create()
                    .name("idx_otp_codes_expires_at")
                    .table(OtpCodes::Table)
                    .col(OtpCodes::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OtpCodes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum OtpCodes {
    Table,
    Phone,
    CodeHash,
    ExpiresAt,
    Attempts,
    LastSentAt,
    CreatedAt,
}
