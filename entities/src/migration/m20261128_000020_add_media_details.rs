//! Adds what media processing records to `media`: the `kind` (`image`, `audio`, `video`,
//! `file`), `width`/`height` and `duration_ms` when known, and `source_sha256`, the hash of
//! the bytes as uploaded, indexed with the owner for per-user deduplication.

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
        let columns = [
            string(Media::Kind).default("file").to_owned(),
            integer_null(Media::Width).to_owned(),
            integer_null(Media::Height).to_owned(),
            big_integer_null(Media::DurationMs).to_owned(),
            string_null(Media::SourceSha256).to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Media::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_media_owner_user_id_source_sha256")
                    .table(Media::Table)
                    .col(Media::OwnerUserId)
                    .col(Media::SourceSha256)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_media_owner_user_id_source_sha256")
                    .table(Media::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Media::SourceSha256,
            Media::DurationMs,
            Media::Height,
            Media::Width,
            Media::Kind,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Media::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Media {
    Table,
    OwnerUserId,
    Kind,
    Width,
    Height,
    DurationMs,
    SourceSha256,
}
