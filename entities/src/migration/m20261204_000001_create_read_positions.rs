//! Creates `read_positions`: each user's read position per conversation, as an inbox entry
//! (own read receipts reach the user's other devices, live and in `sync`). Indexed by
//! (`user_id`, `inbox_seq`) for sync.

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
                    .table(ReadPositions::Table)
                    .col(big_integer(ReadPositions::UserId))
                    .col(big_integer(ReadPositions::ConversationId))
                    .col(big_integer(ReadPositions::Seq))
                    .col(big_integer(ReadPositions::InboxSeq))
                    .col(big_integer(ReadPositions::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ReadPositions::UserId)
                            .col(ReadPositions::ConversationId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_read_positions_user_id")
                            .from(ReadPositions::Table, ReadPositions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_read_positions_conversation_id")
                            .from(ReadPositions::Table, ReadPositions::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_read_positions_user_id_inbox_seq")
                    .table(ReadPositions::Table)
                    .col(ReadPositions::UserId)
                    .col(ReadPositions::InboxSeq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReadPositions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ReadPositions {
    Table,
    UserId,
    ConversationId,
    Seq,
    InboxSeq,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
}
