//! Creates `media_uploads`: resumable uploads in progress (chunks received so far, or a
//! presigned direct PUT), removed when completed or when they expire. Indexed by owner and by
//! expiry (for the collector).

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
                    .table(MediaUploads::Table)
                    .col(string(MediaUploads::Id).primary_key())
                    .col(big_integer(MediaUploads::OwnerUserId))
                    .col(string_null(MediaUploads::Kind))
                    .col(boolean(MediaUploads::Encrypted).default(false))
                    .col(big_integer(MediaUploads::SizeBytes))
                    .col(big_integer(MediaUploads::ReceivedBytes).default(0))
                    .col(boolean(MediaUploads::Direct).default(false))
                    .col(big_integer(MediaUploads::CreatedAt))
                    .col(big_integer(MediaUploads::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_media_uploads_owner_user_id")
                            .from(MediaUploads::Table, MediaUploads::OwnerUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_media_uploads_owner_user_id")
                    .table(MediaUploads::Table)
                    .col(MediaUploads::OwnerUserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_media_uploads_expires_at")
                    .table(MediaUploads::Table)
                    .col(MediaUploads::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MediaUploads::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum MediaUploads {
    Table,
    Id,
    OwnerUserId,
    Kind,
    Encrypted,
    SizeBytes,
    ReceivedBytes,
    Direct,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
