//! Creates `deliveries` (cascading from `messages`), keyed by (`message_id`,
//! `recipient_user_id`) and indexed by (`recipient_user_id`, `status`).

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
                    .table(Deliveries::Table)
                    .col(big_integer(Deliveries::MessageId))
                    .col(big_integer(Deliveries::RecipientUserId))
                    .col(string(Deliveries::Status).default("pending"))
                    .col(big_integer_null(Deliveries::DeliveredAt))
                    .col(big_integer_null(Deliveries::ReadAt))
                    .col(big_integer(Deliveries::CreatedAt))
                    .primary_key(
                        Index::create()
                            .name("pk_deliveries")
                            .col(Deliveries::MessageId)
                            .col(Deliveries::RecipientUserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deliveries_message_id")
                            .from(Deliveries::Table, Deliveries::MessageId)
                            .to(Messages::Table, Messages::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // "What is still pending for this user" when one of their devices reconnects.
        manager
            .create_index(
                Index::create()
                    .name("idx_deliveries_recipient_user_id_status")
                    .table(Deliveries::Table)
                    .col(Deliveries::RecipientUserId)
                    .col(Deliveries::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Deliveries::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    MessageId,
    RecipientUserId,
    Status,
    DeliveredAt,
    ReadAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
}
