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
    /// No one-time code is pending for the number: none was requested, or it was used.
    #[error("no code is pending for {phone} (none was requested, or it was used); request one")]
    CodeNotPending {
        /// The number, E.164.
        phone: String,
    },
    /// The pending code has expired.
    #[error("the code for {phone} has expired; request a new one")]
    CodeExpired {
        /// The number, E.164.
        phone: String,
    },
    /// The code does not match the pending one.
    #[error("wrong code; {attempts_left} attempt(s) left for this code")]
    WrongCode {
        /// Attempts left before the code is locked.
        attempts_left: u32,
    },
    /// The code was guessed wrong too often and no longer counts.
    #[error("too many wrong attempts for this code; request a new one")]
    TooManyAttempts,
    /// A code was sent to the number too recently.
    #[error("a code was sent to {phone} recently; ask again in {retry_after_secs} s")]
    ResendTooSoon {
        /// The number, E.164.
        phone: String,
        /// Seconds until a new code may be requested.
        retry_after_secs: u64,
    },
    /// Sending the code failed.
    #[error("failed to send the code by SMS")]
    SendSms(#[source] crate::sms::SmsError),
    /// The account already has as many live devices as allowed.
    #[error("the account already has {max} devices; sign one of them out first")]
    DeviceLimit {
        /// The limit (`accounts.max_devices`).
        max: u32,
    },
    /// A device name is empty, too long or holds control characters.
    #[error("invalid device name: {reason}")]
    InvalidDeviceName {
        /// What is wrong.
        reason: String,
    },
    /// A platform is not one of the known ones.
    #[error(
        "invalid platform {input:?}: expected android or ios (a phone), or web, desktop or \
         tablet (a companion)"
    )]
    InvalidPlatform {
        /// The platform as given.
        input: String,
    },
    /// A display name is too long or holds control characters.
    #[error("invalid display name: {reason}")]
    InvalidDisplayName {
        /// What is wrong.
        reason: String,
    },
    /// An about text is too long or holds control characters.
    #[error("invalid about text: {reason}")]
    InvalidAbout {
        /// What is wrong.
        reason: String,
    },
    /// The media id is not a live image uploaded by this user.
    #[error("media {media_id} does not exist or is not an image you uploaded")]
    MediaNotFound {
        /// The id given.
        media_id: i64,
    },
    /// A user tried to block themselves.
    #[error("you cannot block yourself")]
    CannotBlockSelf,
    /// The calling device may not do this.
    #[error("not permitted: {reason}")]
    NotPermitted {
        /// Why.
        reason: &'static str,
    },
    /// One contacts request names more numbers than allowed.
    #[error("too many numbers in one request: at most {max}")]
    TooManyContacts {
        /// The most one request may hold.
        max: usize,
    },
    /// The account looked up too many new numbers today.
    #[error(
        "contact lookup limit reached: at most {limit} new numbers per day; try again in \
         {retry_after_secs} s"
    )]
    RateLimited {
        /// The daily limit (`accounts.contacts_daily_limit`).
        limit: u32,
        /// Seconds until the next UTC day.
        retry_after_secs: u64,
    },
    /// The number was sent as many codes today as allowed.
    #[error(
        "{phone} was sent {limit} codes today, the most allowed; try again in \
         {retry_after_secs} s"
    )]
    TooManyCodes {
        /// The number, E.164.
        phone: String,
        /// The daily limit (`accounts.code_daily_limit`).
        limit: u32,
        /// Seconds until the next UTC day.
        retry_after_secs: u64,
    },
    /// Too many codes were asked for from one client address, or for one block of numbers,
    /// this hour.
    #[error(
        "too many codes were asked for from {source_kind} this hour (at most {limit}); try \
         again in {retry_after_secs} s"
    )]
    TooManyCodeRequests {
        /// `this address` or `these numbers`.
        source_kind: &'static str,
        /// The hourly limit (`accounts.code_hourly_limit_per_ip` or `…_per_prefix`).
        limit: u32,
        /// Seconds until the next hour.
        retry_after_secs: u64,
    },
    /// A database step of an accounts operation failed.
    #[error("failed to {operation}")]
    Database {
        /// What was being done, e.g. `verify a code`.
        operation: &'static str,
        /// The database error.
        #[source]
        source: DbErr,
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

impl Error {
    /// The stable, snake_case name of the failure for clients (`invalid_phone`,
    /// `code_expired`); `internal` for failures that are the server's.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidPhone { .. } => "invalid_phone",
            Error::PhoneTaken { .. } => "phone_taken",
            Error::UnknownUser { .. } | Error::UnknownDevice { .. } => "not_found",
            Error::InvalidAudience { .. } => "invalid_privacy",
            Error::CodeNotPending { .. } | Error::WrongCode { .. } => "code_invalid",
            Error::CodeExpired { .. } => "code_expired",
            Error::TooManyAttempts => "too_many_attempts",
            Error::ResendTooSoon { .. } => "resend_too_soon",
            Error::SendSms(_) => "sms_failed",
            Error::DeviceLimit { .. } => "device_limit",
            Error::InvalidDeviceName { .. } => "invalid_device_name",
            Error::InvalidPlatform { .. } => "invalid_platform",
            Error::InvalidDisplayName { .. } => "invalid_display_name",
            Error::InvalidAbout { .. } => "invalid_about",
            Error::MediaNotFound { .. } => "media_not_found",
            Error::CannotBlockSelf => "cannot_block_self",
            Error::NotPermitted { .. } => "forbidden",
            Error::TooManyContacts { .. } => "too_many_contacts",
            Error::RateLimited { .. }
            | Error::TooManyCodes { .. }
            | Error::TooManyCodeRequests { .. } => "rate_limited",
            Error::InvalidRole { .. }
            | Error::GenerateSecret(_)
            | Error::CreateUser(_)
            | Error::CreateOperator(_)
            | Error::AddDevice { .. }
            | Error::RevokeDevice { .. }
            | Error::Authenticate { .. }
            | Error::StoredRole { .. }
            | Error::CheckMembership { .. }
            | Error::Database { .. }
            | Error::CheckPrivacy { .. } => "internal",
        }
    }

    /// For refusals that end by themselves, how many seconds to wait before trying again.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::ResendTooSoon {
                retry_after_secs, ..
            }
            | Error::RateLimited {
                retry_after_secs, ..
            }
            | Error::TooManyCodes {
                retry_after_secs, ..
            }
            | Error::TooManyCodeRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

/// A closure that wraps a database error as [`Error::Database`] for `operation`.
pub(crate) fn db_error(operation: &'static str) -> impl Fn(DbErr) -> Error + Copy {
    move |source| Error::Database { operation, source }
}
