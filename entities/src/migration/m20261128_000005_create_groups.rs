//! Creates `groups` (the creator cannot be deleted while the group exists), unique by `invite_token`.

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
                    .table(Groups::Table)
                    .col(big_pk_auto(Groups::Id))
                    .col(text(Groups::Name))
                    .col(text(Groups::Description).default(""))
                    .col(big_integer_null(Groups::AvatarMediaId))
                    .col(big_integer(Groups::CreatedBy))
                    .col(string_null(Groups::InviteToken))
                    .col(integer(Groups::MemberLimit).default(1024))
                    .col(big_integer(Groups::CreatedAt))
                    .col(big_integer_null(Groups::DeletedAt))
                    // NO ACTION, not RESTRICT: see the media migration.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_groups_created_by")
                            .from(Groups::Table, Groups::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::NoAction),
                    )
                    .to_owned(),
            )
            .await?;
        // Several NULLs are allowed by a unique index on both backends: groups without a link.
        manager
            .create_index(
                Index::create()
                    .name("uq_groups_invite_token")
                    .table(Groups::Table)
                    .col(Groups::InviteToken)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_groups_created_by")
                    .table(Groups::Table)
                    .col(Groups::CreatedBy)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Groups::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
    Name,
    Description,
    AvatarMediaId,
    CreatedBy,
    InviteToken,
    MemberLimit,
    CreatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
