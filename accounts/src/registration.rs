//! Registration by phone number: a one-time code sent by SMS (`request_code`), then checked
//! (`verify`) to create the account or add a device with fresh MQTT credentials.
//!
//! Codes are six digits, stored hashed (`code`), valid `accounts.code_ttl_secs`, good for one
//! successful use and `accounts.code_max_attempts` tries, and at most one per number every
//! `accounts.code_resend_cooldown_secs`; a new code replaces the pending one.
//!
//! A verification with a phone platform (`android`, `ios`), or the first device of an
//! account, makes the new device the primary; an existing primary is revoked (the caller
//! tells the broker, from [`Verified::revoked_device_ids`]). Other platforms add a companion.
//! The inbox belongs to the user, not the device, so nothing sent to the account is lost.

use std::net::IpAddr;

use natter_config::AccountsSettings;
use natter_entities::{contacts, devices, otp_codes, primary_devices, users};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    SqlErr, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::code;
use crate::devices::{is_phone, validate_name, validate_platform};
use crate::error::{Error, Result, db_error};
use crate::limits::{count_code, count_code_request, seconds_until};
use crate::phone;
use crate::provisioning::{credentials, insert_device, insert_user};
use crate::role::Role;
use crate::secret;
use crate::sms::{CodeMessage, SmsSender};

/// `POST /v1/register`: send a code to this number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// The number, international format with a leading `+`.
    pub phone: String,
}

/// A code is on its way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeSent {
    /// The number, E.164.
    pub phone: String,
    /// How long the code is accepted, seconds.
    pub expires_in_secs: u64,
    /// When a new code may be requested, seconds from now.
    pub resend_after_secs: u64,
}

/// `POST /v1/verify`: prove the number with its code and get a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRequest {
    /// The number the code was sent to.
    pub phone: String,
    /// The six digits.
    pub code: String,
    /// A name for the new device ("Pixel 8").
    pub device_name: String,
    /// `android` or `ios` (a phone, becomes primary), `web`, `desktop` or `tablet`.
    pub platform: String,
}

/// The new device and its MQTT credentials. The password is shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyResponse {
    /// The account.
    pub user_id: i64,
    /// The new device.
    pub device_id: i64,
    /// MQTT username (and HTTP Basic user): `d<device_id>`.
    pub mqtt_username: String,
    /// MQTT password (and HTTP Basic password); only its hash is stored.
    pub mqtt_password: String,
    /// Whether the device is the account's primary (its phone).
    pub primary: bool,
    /// Whether this verification created the account.
    pub new_account: bool,
}

/// What [`verify`] did.
#[derive(Debug)]
pub struct Verified {
    /// The answer for the client.
    pub response: VerifyResponse,
    /// Devices this verification revoked (the previous primary): the broker must drop them.
    pub revoked_device_ids: Vec<i64>,
}

/// Sends a new one-time code to `request.phone` through `sender`, asked for from `source`
/// (the client's address; `None` when unknown, which skips the per-address limit).
///
/// # Errors
/// [`Error::InvalidPhone`], [`Error::ResendTooSoon`], [`Error::TooManyCodeRequests`] (per
/// address and per block of numbers per hour), [`Error::TooManyCodes`] (every request that
/// passes the cooldown counts, sent or not), [`Error::SendSms`] (the code is then forgotten,
/// so asking again at once works), [`Error::GenerateSecret`], [`Error::Database`].
pub async fn request_code(
    db: &DatabaseConnection,
    settings: &AccountsSettings,
    sender: &dyn SmsSender,
    request: RegisterRequest,
    source: Option<IpAddr>,
) -> Result<CodeSent> {
    let db_error = db_error("store a one-time code");
    let phone = phone::normalize(&request.phone)?;
    let now = now_ms();
    let cooldown_ms = millis(settings.code_resend_cooldown_secs);
    let too_soon = |last_sent_at: i64| Error::ResendTooSoon {
        phone: phone.clone(),
        retry_after_secs: seconds_until(last_sent_at.saturating_add(cooldown_ms), now),
    };
    let pending = otp_codes::Entity::find_by_id(phone.clone())
        .one(db)
        .await
        .map_err(db_error)?;
    if let Some(pending) = &pending
        && now < pending.last_sent_at.saturating_add(cooldown_ms)
    {
        return Err(too_soon(pending.last_sent_at));
    }
    count_code_request(db, settings, source, &phone, now).await?;
    count_code(db, settings, &phone, now).await?;
    let code = code::generate()?;
    let code_hash = code::hash(pepper(settings), &phone, &code);
    let expires_at = now.saturating_add(millis(settings.code_ttl_secs));
    match pending {
        Some(pending) => {
            // Conditional on the row read, so that two requests racing past the cooldown send
            // one code, not two.
            let replaced = otp_codes::Entity::update_many()
                .col_expr(otp_codes::Column::CodeHash, Expr::value(code_hash.clone()))
                .col_expr(otp_codes::Column::ExpiresAt, Expr::value(expires_at))
                .col_expr(otp_codes::Column::Attempts, Expr::value(0))
                .col_expr(otp_codes::Column::LastSentAt, Expr::value(now))
                .filter(otp_codes::Column::Phone.eq(&phone))
                .filter(otp_codes::Column::LastSentAt.eq(pending.last_sent_at))
                .exec(db)
                .await
                .map_err(db_error)?;
            if replaced.rows_affected == 0 {
                return Err(too_soon(now));
            }
        }
        None => {
            let inserted = otp_codes::ActiveModel {
                phone: Set(phone.clone()),
                code_hash: Set(code_hash.clone()),
                expires_at: Set(expires_at),
                attempts: Set(0),
                last_sent_at: Set(now),
                created_at: Set(now),
            }
            .insert(db)
            .await;
            match inserted {
                Ok(_) => {}
                Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    return Err(too_soon(now));
                }
                Err(err) => return Err(db_error(err)),
            }
        }
    }
    let message = CodeMessage {
        phone: phone.clone(),
        code,
        ttl_secs: settings.code_ttl_secs,
    };
    if let Err(err) = sender.send(&message).await {
        // Forget the code nobody received, so that the cooldown does not block a retry.
        otp_codes::Entity::delete_many()
            .filter(otp_codes::Column::Phone.eq(&phone))
            .filter(otp_codes::Column::CodeHash.eq(&code_hash))
            .exec(db)
            .await
            .map_err(db_error)?;
        return Err(Error::SendSms(err));
    }
    Ok(CodeSent {
        phone,
        expires_in_secs: settings.code_ttl_secs,
        resend_after_secs: settings.code_resend_cooldown_secs,
    })
}

/// Checks `request.code` for `request.phone` and, when it matches, creates the account (first
/// time) or adds a device to it, returning the device's credentials.
///
/// Every check counts as an attempt, the successful one included; the attempt is recorded
/// before the comparison so that parallel guesses cannot exceed the limit.
///
/// # Errors
/// [`Error::InvalidPhone`], [`Error::InvalidDeviceName`], [`Error::InvalidPlatform`],
/// [`Error::CodeNotPending`] (none requested, or already used), [`Error::CodeExpired`],
/// [`Error::TooManyAttempts`], [`Error::WrongCode`], [`Error::DeviceLimit`] (the code stays
/// usable), [`Error::GenerateSecret`], [`Error::Database`].
pub async fn verify(
    db: &DatabaseConnection,
    settings: &AccountsSettings,
    request: VerifyRequest,
) -> Result<Verified> {
    let db_error = db_error("verify a one-time code");
    let phone = phone::normalize(&request.phone)?;
    validate_name(&request.device_name)?;
    validate_platform(&request.platform)?;
    let now = now_ms();
    let Some(pending) = otp_codes::Entity::find_by_id(phone.clone())
        .one(db)
        .await
        .map_err(db_error)?
    else {
        return Err(Error::CodeNotPending { phone });
    };
    if pending.code_hash.is_empty() {
        // Used: the row stays, so that the resend cooldown holds after a verification.
        return Err(Error::CodeNotPending { phone });
    }
    if pending.expires_at <= now {
        return Err(Error::CodeExpired { phone });
    }
    let max_attempts = i32::try_from(settings.code_max_attempts).unwrap_or(i32::MAX);
    if pending.attempts >= max_attempts {
        return Err(Error::TooManyAttempts);
    }
    let counted = otp_codes::Entity::update_many()
        .col_expr(
            otp_codes::Column::Attempts,
            Expr::col(otp_codes::Column::Attempts).add(1),
        )
        .filter(otp_codes::Column::Phone.eq(&phone))
        .filter(otp_codes::Column::CodeHash.eq(&pending.code_hash))
        .filter(otp_codes::Column::Attempts.lt(max_attempts))
        .exec(db)
        .await
        .map_err(db_error)?;
    if counted.rows_affected == 0 {
        // Nothing counted: either the attempts ran out meanwhile, or a parallel verify used
        // the code (or a new one replaced it). Tell the two apart for the client.
        let still_pending = otp_codes::Entity::find_by_id(phone.clone())
            .one(db)
            .await
            .map_err(db_error)?
            .is_some_and(|row| row.code_hash == pending.code_hash);
        if !still_pending {
            return Err(Error::CodeNotPending { phone });
        }
        return Err(Error::TooManyAttempts);
    }
    let presented = code::clean(&request.code).unwrap_or_default();
    if !code::matches(pepper(settings), &phone, &presented, &pending.code_hash) {
        let used = pending.attempts.saturating_add(1);
        return Err(Error::WrongCode {
            attempts_left: u32::try_from(max_attempts.saturating_sub(used)).unwrap_or(0),
        });
    }
    let secret = secret::generate()?;
    let tx = db.begin().await.map_err(db_error)?;
    // Consuming the code is conditional, so that of two verifications racing with the same
    // code only one gets a device. The row stays with an empty hash (which no code matches):
    // its `last_sent_at` keeps the resend cooldown running after a verification.
    let consumed = otp_codes::Entity::update_many()
        .col_expr(otp_codes::Column::CodeHash, Expr::value(String::new()))
        .filter(otp_codes::Column::Phone.eq(&phone))
        .filter(otp_codes::Column::CodeHash.eq(&pending.code_hash))
        .exec(&tx)
        .await
        .map_err(db_error)?;
    if consumed.rows_affected == 0 {
        return Err(Error::CodeNotPending { phone });
    }
    let existing = users::Entity::find()
        .filter(users::Column::Phone.eq(&phone))
        .filter(users::Column::DeletedAt.is_null())
        .one(&tx)
        .await
        .map_err(db_error)?;
    let new_account = existing.is_none();
    let (user_id, becomes_primary, replaced) = match existing {
        None => {
            let user = insert_user(&tx, Some(phone.clone()), "")
                .await
                .map_err(|err| match err.sql_err() {
                    Some(SqlErr::UniqueConstraintViolation(_)) => Error::PhoneTaken {
                        phone: phone.clone(),
                    },
                    _ => db_error(err),
                })?;
            // Whoever already has this number in their address book now finds the account.
            contacts::Entity::update_many()
                .col_expr(contacts::Column::ContactUserId, Expr::value(user.id))
                .filter(contacts::Column::Phone.eq(&phone))
                .exec(&tx)
                .await
                .map_err(db_error)?;
            (user.id, true, None)
        }
        Some(user) => {
            let live: Vec<i64> = devices::Entity::find()
                .filter(devices::Column::UserId.eq(user.id))
                .filter(devices::Column::RevokedAt.is_null())
                .all(&tx)
                .await
                .map_err(db_error)?
                .into_iter()
                .map(|device| device.id)
                .collect();
            let becomes_primary = is_phone(&request.platform) || live.is_empty();
            let replaced = match becomes_primary {
                true => primary_devices::Entity::find_by_id(user.id)
                    .one(&tx)
                    .await
                    .map_err(db_error)?
                    .map(|primary| primary.device_id)
                    .filter(|device_id| live.contains(device_id)),
                false => None,
            };
            let remaining = live.len() - usize::from(replaced.is_some());
            let max = usize::try_from(settings.max_devices).unwrap_or(usize::MAX);
            if remaining >= max {
                // Dropping the transaction rolls back: the code stays usable.
                return Err(Error::DeviceLimit {
                    max: settings.max_devices,
                });
            }
            (user.id, becomes_primary, replaced)
        }
    };
    let device = insert_device(
        &tx,
        user_id,
        &request.device_name,
        &request.platform,
        Role::User,
        &secret,
    )
    .await
    .map_err(db_error)?;
    if let Some(old_device_id) = replaced {
        devices::Entity::update_many()
            .col_expr(devices::Column::RevokedAt, Expr::value(now))
            .filter(devices::Column::Id.eq(old_device_id))
            .filter(devices::Column::RevokedAt.is_null())
            .exec(&tx)
            .await
            .map_err(db_error)?;
    }
    if becomes_primary {
        primary_devices::Entity::delete_many()
            .filter(primary_devices::Column::UserId.eq(user_id))
            .exec(&tx)
            .await
            .map_err(db_error)?;
        primary_devices::ActiveModel {
            user_id: Set(user_id),
            device_id: Set(device.id),
            since_at: Set(now),
        }
        .insert(&tx)
        .await
        .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    tracing::info!(
        user_id,
        device_id = device.id,
        primary = becomes_primary,
        new_account,
        revoked_device_id = replaced,
        "device registered with a one-time code"
    );
    let credentials = credentials(device, Role::User, secret);
    Ok(Verified {
        response: VerifyResponse {
            user_id: credentials.user_id,
            device_id: credentials.device_id,
            mqtt_username: credentials.mqtt_username,
            mqtt_password: expose(&credentials.mqtt_password),
            primary: becomes_primary,
            new_account,
        },
        revoked_device_ids: replaced.into_iter().collect(),
    })
}

/// The configured pepper, or none.
fn pepper(settings: &AccountsSettings) -> &[u8] {
    settings
        .code_pepper
        .as_ref()
        .map_or(&[], |pepper| pepper.expose_secret().as_bytes())
}

fn expose(secret: &SecretString) -> String {
    secret.expose_secret().to_owned()
}

/// `secs` in milliseconds, saturating.
fn millis(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}
