//! The `media_uploads` table: resumable uploads in progress. A row lives from the first
//! request to completion (when the bytes become a `media` row) or expiry (when the collector
//! removes it and its chunks). The chunks themselves are objects under `uploads/{id}/`.

use sea_orm::entity::prelude::*;

/// One upload in progress.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "media_uploads")]
pub struct Model {
    /// Random id (32 hex digits), also the object prefix of the chunks.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Uploader, `users.id` (cascade on delete); indexed.
    #[sea_orm(indexed)]
    pub owner_user_id: i64,
    /// The kind the client asked for (`image`, `audio`, `video`, `file`); `None`: from the bytes.
    pub kind: Option<String>,
    /// Whether the client marked the bytes end-to-end encrypted (stored untouched).
    #[sea_orm(default_value = false)]
    pub encrypted: bool,
    /// Total size the client announced, bytes.
    pub size_bytes: i64,
    /// Bytes received so far (the offset of the next chunk).
    #[sea_orm(default_value = 0)]
    pub received_bytes: i64,
    /// Whether the client uploads straight to S3 through a presigned PUT.
    #[sea_orm(default_value = false)]
    pub direct: bool,
    /// Start time, unix milliseconds.
    pub created_at: i64,
    /// When the unfinished upload is collected, unix milliseconds; indexed.
    #[sea_orm(indexed)]
    pub expires_at: i64,
}

/// Relations of [`Model`].
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The uploader.
    #[sea_orm(
        belongs_to = "crate::users::Entity",
        from = "Column::OwnerUserId",
        to = "crate::users::Column::Id",
        on_delete = "Cascade"
    )]
    Owner,
}

impl Related<crate::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Owner.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
