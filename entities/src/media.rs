//! The `media` table: metadata of uploaded files (photos, voice notes, documents, avatars).
//!
//! The bytes live in object storage under `storage_key`; this table only records where, what
//! and whose. Deleting a row does not delete the object, so deleting an owner who still has media
//! fails (no action, not cascade): a purge removes the objects first.

use sea_orm::entity::prelude::*;

/// One stored file.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "media")]
pub struct Model {
    /// Surrogate id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Uploader, `users.id` (no action on delete: fails while media remain); indexed.
    #[sea_orm(indexed)]
    pub owner_user_id: i64,
    /// SHA-256 of the stored bytes, lowercase hex; indexed for deduplication.
    #[sea_orm(indexed)]
    pub sha256: String,
    /// MIME type (`image/jpeg`).
    pub mime: String,
    /// Size of the stored object in bytes.
    pub size_bytes: i64,
    /// Object-storage key of the file, unique.
    #[sea_orm(unique)]
    pub storage_key: String,
    /// Object-storage key of the thumbnail, if one was made.
    pub thumbnail_key: Option<String>,
    /// Whether the bytes are end-to-end encrypted (then the server cannot thumbnail them).
    #[sea_orm(default_value = false)]
    pub encrypted: bool,
    /// Upload time, unix milliseconds.
    pub created_at: i64,
    /// Deletion time, unix milliseconds; the object is removed later by a worker.
    pub deleted_at: Option<i64>,
    /// `"image"`, `"audio"`, `"video"` or `"file"` (default).
    #[sea_orm(default_value = "file")]
    pub kind: String,
    /// Width in pixels, for images and videos.
    pub width: Option<i32>,
    /// Height in pixels, for images and videos.
    pub height: Option<i32>,
    /// Duration in milliseconds, for audio and video when known.
    pub duration_ms: Option<i64>,
    /// SHA-256 of the bytes as uploaded (before processing), lowercase hex; indexed with the
    /// owner so that the same upload twice is stored once.
    pub source_sha256: Option<String>,
}

/// Relations of [`Model`].
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The uploader.
    #[sea_orm(
        belongs_to = "crate::users::Entity",
        from = "Column::OwnerUserId",
        to = "crate::users::Column::Id",
        on_delete = "NoAction"
    )]
    Owner,
}

impl Related<crate::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Owner.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
