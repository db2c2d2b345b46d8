//! Creates `media` (the owner cannot be deleted while they have media), unique by
//! `storage_key`, indexed by `owner_user_id` and `sha256`.

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
                    .table(Media::Table)
                    .col(big_pk_auto(Media::Id))
                    .col(big_integer(Media::OwnerUserId))
                    .col(string(Media::Sha256))
                    .col(string(Media::Mime))
                    .col(big_integer(Media::SizeBytes))
                    .col(string(Media::StorageKey))
                    .col(string_null(Media::ThumbnailKey))
                    .col(boolean(Media::Encrypted).default(false))
                    .col(big_integer(Media::CreatedAt))
                    .col(big_integer_null(Media::DeletedAt))
                    // Not cascade: deleting the rows would orphan the stored objects. NO ACTION
                    // rather than RESTRICT because SQLite reports RESTRICT as a trigger error
                    // (1811) that `DbErr::sql_err()` does not classify; NO ACTION gives 787/23503.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_media_owner_user_id")
                            .from(Media::Table, Media::OwnerUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::NoAction),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_media_storage_key")
                    .table(Media::Table)
                    .col(Media::StorageKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_media_sha256")
                    .table(Media::Table)
                    .col(Media::Sha256)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_media_owner_user_id")
                    .table(Media::Table)
                    .col(Media::OwnerUserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Media::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Media {
    Table,
    Id,
    OwnerUserId,
    Sha256,
    Mime,
    SizeBytes,
    StorageKey,
    ThumbnailKey,
    Encrypted,
    CreatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
