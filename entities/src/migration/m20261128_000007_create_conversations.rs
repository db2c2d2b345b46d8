//! Creates `conversations` (cascading from `groups`), unique by `group_id` and by the direct
//! pair (`user_low`, `user_high`).

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
                    .table(Conversations::Table)
                    .col(big_pk_auto(Conversations::Id))
                    .col(string(Conversations::Kind))
                    .col(big_integer_null(Conversations::GroupId))
                    .col(big_integer_null(Conversations::UserLow))
                    .col(big_integer_null(Conversations::UserHigh))
                    .col(big_integer(Conversations::LastSeq).default(0))
                    .col(integer_null(Conversations::DisappearingSecs))
                    .col(big_integer(Conversations::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversations_group_id")
                            .from(Conversations::Table, Conversations::GroupId)
                            .to(Groups::Table, Groups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // NULLs are distinct in unique indexes on both backends, so group chats (NULL pair)
        // and direct chats (NULL group) do not collide.
        manager
            .create_index(
                Index::create()
                    .name("uq_conversations_group_id")
                    .table(Conversations::Table)
                    .col(Conversations::GroupId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_conversations_user_low_user_high")
                    .table(Conversations::Table)
                    .col(Conversations::UserLow)
                    .col(Conversations::UserHigh)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Conversations::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    Kind,
    GroupId,
    UserLow,
    UserHigh,
    LastSeq,
    DisappearingSecs,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
}
