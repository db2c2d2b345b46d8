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
}

/// Result alias of the workers crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
