//! Errors of the background jobs.

/// What can go wrong in a background job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The retention job could not read or delete expired deliveries.
    #[error("retention job failed")]
    Retention(#[source] sea_orm::DbErr),
    /// The disappearing-messages job could not read or delete expired messages.
    #[error("disappearing-messages job failed")]
    Disappearing(#[source] sea_orm::DbErr),
    /// The media collector could not read or delete media rows.
    #[error("media collection failed")]
    MediaGc(#[source] sea_orm::DbErr),
    /// The media collector could not list an upload's objects.
    #[error("media collection failed to list objects")]
    MediaStore(#[source] object_store::Error),
}

/// Result alias of the workers crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
