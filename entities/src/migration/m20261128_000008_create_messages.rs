//! Creates `messages` (cascading from `conversations`), unique by (`conversation_id`, `seq`)
//! and by (`sender_user_id`, `client_msg_id`), indexed by `expires_at`.

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
                    .table(Messages::Table)
                    .col(big_pk_auto(Messages::Id))
                    .col(big_integer(Messages::ConversationId))
                    .col(big_integer(Messages::Seq))
                    .col(big_integer(Messages::SenderUserId))
                    .col(big_integer(Messages::SenderDeviceId))
                    .col(string(Messages::ClientMsgId))
                    .col(string(Messages::Kind))
                    .col(blob(Messages::Body))
                    .col(big_integer_null(Messages::ReplyToId))
                    .col(big_integer_null(Messages::MediaId))
                    .col(big_integer(Messages::CreatedAt))
                    .col(big_integer_null(Messages::EditedAt))
                    .col(big_integer_null(Messages::DeletedAt))
                    .col(big_integer_null(Messages::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_conversation_id")
                            .from(Messages::Table, Messages::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Also the index for "messages of a conversation after seq N" (sync from a cursor).
        manager
            .create_index(
                Index::create()
                    .name("uq_messages_conversation_id_seq")
                    .table(Messages::Table)
                    .col(Messages::ConversationId)
                    .col(Messages::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_messages_sender_user_id_client_msg_id")
                    .table(Messages::Table)
                    .col(Messages::SenderUserId)
                    .col(Messages::ClientMsgId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_expires_at")
                    .table(Messages::Table)
                    .col(Messages::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Messages::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ConversationId,
    Seq,
    SenderUserId,
    SenderDeviceId,
    ClientMsgId,
    Kind,
    Body,
    ReplyToId,
    MediaId,
    CreatedAt,
    EditedAt,
    DeletedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
}
