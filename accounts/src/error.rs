//! The accounts crate's one error type.

use sea_orm::DbErr;

/// Result of the accounts operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an accounts operation failed. Variants name what was being done; database causes are
/// chained as the source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The phone number is not a valid international number.
    #[error(
        "invalid phone number {input:?}: expected international format with a leading + \
         (e.g. +15551230001)"
    )]
    InvalidPhone {
        /// The number as given.
        input: String,
    },
    /// Another account already has this phone number.
    #[error("phone number {phone} is already registered")]
    PhoneTaken {
        /// The number, normalised to E.164.
        phone: String,
    },
    /// No live user has this id (it never existed or was deleted).
    #[error("user {user_id} does not exist")]
    UnknownUser {
        /// The id asked for.
        user_id: i64,
    },
    /// No device has this id.
    #[error("device {device_id} does not exist")]
    UnknownDevice {
        /// The id asked for.
        device_id: i64,
    },
    /// A role string is not one of `user`, `device`, `operator`.
    #[error("unknown device role {input:?}: expected user, device or operator")]
    InvalidRole {
        /// The role as given or stored.
        input: String,
    },
    /// The operating system's random number generator failed.
    #[error("failed to generate a device secret")]
    GenerateSecret(#[source] rand::rand_core::OsError),
    /// Creating a user and its first device failed.
    #[error("failed to create the user")]
    CreateUser(#[source] DbErr),
    /// Creating an operator account failed.
    #[error("failed to create the operator")]
    CreateOperator(#[source] DbErr),
    /// Adding a device to a user failed.
    #[error("failed to add a device to user {user_id}")]
    AddDevice {
        /// The owner.
        user_id: i64,
        /// The database error.
        #[source]
        source: DbErr,
    },
    /// Revoking a device failed.
    #[error("failed to revoke device {device_id}")]
    RevokeDevice {
        /// The device.
        device_id: i64,
        /// The database error.
        #[source]
        source: DbErr,
    },
    /// Looking up a device's credentials failed.
    #[error("failed to authenticate {username:?}")]
    Authenticate {
        /// The MQTT username presented.
        username: String,
        /// The database error.
        #[source]
        source: DbErr,
    },
    /// A device row holds a role this crate does not know, so it cannot be let in.
    #[error("device {device_id} has an unknown stored role {role:?}")]
    StoredRole {
        /// The device.
        device_id: i64,
        /// The value of `devices.role`.
        role: String,
    },
    /// Looking up a group membership failed.
    #[error("failed to check whether user {user_id} is in group {group_id}")]
    CheckMembership {
        /// The user.
        user_id: i64,
        /// The group.
        group_id: i64,
        /// The database error.
        #[source]
        source: DbErr,
    },
    /// A privacy setting is not one of `everyone`, `contacts`, `nobody`.
    #[error("invalid privacy setting {input:?}: expected everyone, contacts or nobody")]
    InvalidAudience {
        /// The setting as given.
        input: String,
    },
    /// Reading blocks, contacts or privacy settings failed.
    #[error("failed to check what user {viewer_id} may see of user {owner_id}")]
    CheckPrivacy {
        /// Whose data.
        owner_id: i64,
        /// Who looks.
        viewer_id: i64,
        /// The database error.
        #[source]
        source: DbErr,
    },
}
