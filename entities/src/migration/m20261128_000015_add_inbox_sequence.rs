//! Adds the per-recipient inbox sequence: `users.inbox_seq` (the last position assigned in
//! that user's inbox) and `deliveries.inbox_seq` (the delivery's position), unique per
//! recipient. Devices resume with "everything after inbox position N".

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite allows one change per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(big_integer(Users::InboxSeq).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .add_column(big_integer(Deliveries::InboxSeq).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_deliveries_recipient_user_id_inbox_seq")
                    .table(Deliveries::Table)
                    .col(Deliveries::RecipientUserId)
                    .col(Deliveries::InboxSeq)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("uq_deliveries_recipient_user_id_inbox_seq")
                    .table(Deliveries::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .drop_column(Deliveries::InboxSeq)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::InboxSeq)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    InboxSeq,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    RecipientUserId,
    InboxSeq,
}
