//! A user's devices as the user manages them: which platforms exist, which device is the
//! primary (the phone that registered the number), listing them and signing one out.
//!
//! Creating devices is `registration`'s (with a one-time code) and `provisioning`'s (by an
//! administrator); telling the broker to disconnect a removed device is the caller's job.

use natter_entities::{devices, primary_devices};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};

use crate::auth::Identity;
use crate::clock::now_ms;
use crate::error::{Error, Result, db_error};
use crate::role::Role;

/// Platforms of a phone: registering one makes it the account's primary device.
pub const PHONE_PLATFORMS: [&str; 2] = ["android", "ios"];
/// Platforms of companion devices, linked next to the phone.
pub const COMPANION_PLATFORMS: [&str; 3] = ["web", "desktop", "tablet"];
/// Longest device name, in characters.
pub const DEVICE_NAME_MAX_CHARS: usize = 64;

/// One device as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device id (its MQTT username is `d<device_id>`).
    pub device_id: i64,
    /// The name given at registration.
    pub name: String,
    /// `android`, `ios`, `web`, `desktop`, `tablet` (or `admin` for provisioned ones).
    pub platform: String,
    /// Whether this is the account's phone.
    pub primary: bool,
    /// Whether this is the device asking.
    pub current: bool,
    /// Registration time, unix milliseconds.
    pub created_at: i64,
    /// Last time it was connected, unix milliseconds.
    pub last_seen_at: Option<i64>,
}

/// The live devices of an account, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    /// The devices.
    pub devices: Vec<DeviceInfo>,
}

/// Lists the caller's account's live (not revoked) devices.
///
/// # Errors
/// [`Error::Database`] when the database cannot be read.
pub async fn list<C: ConnectionTrait>(db: &C, caller: &Identity) -> Result<DeviceList> {
    let db_error = db_error("list devices");
    let primary = primary_device(db, caller.user_id).await?;
    let rows = devices::Entity::find()
        .filter(devices::Column::UserId.eq(caller.user_id))
        .filter(devices::Column::RevokedAt.is_null())
        .order_by_asc(devices::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?;
    let devices = rows
        .into_iter()
        .map(|device| DeviceInfo {
            primary: primary == Some(device.id),
            current: device.id == caller.device_id,
            device_id: device.id,
            name: device.name,
            platform: device.platform,
            created_at: device.created_at,
            last_seen_at: device.last_seen_at,
        })
        .collect();
    Ok(DeviceList { devices })
}

/// Signs device `device_id` of the caller's account out (revokes it). A device may always
/// remove itself; removing another takes the primary device (or, on an account without one,
/// any device with role `user`). The caller tells the broker to disconnect it.
///
/// # Errors
/// [`Error::UnknownDevice`] when the account has no such live device,
/// [`Error::NotPermitted`], or [`Error::Database`].
pub async fn remove<C: ConnectionTrait>(db: &C, caller: &Identity, device_id: i64) -> Result<()> {
    let db_error = db_error("remove a device");
    let target = devices::Entity::find_by_id(device_id)
        .filter(devices::Column::UserId.eq(caller.user_id))
        .filter(devices::Column::RevokedAt.is_null())
        .one(db)
        .await
        .map_err(db_error)?;
    if target.is_none() {
        return Err(Error::UnknownDevice { device_id });
    }
    if device_id != caller.device_id && !may_manage_account(db, caller).await? {
        return Err(Error::NotPermitted {
            reason: "only the primary device (the phone) may sign out other devices",
        });
    }
    devices::Entity::update_many()
        .col_expr(devices::Column::RevokedAt, Expr::value(now_ms()))
        .filter(devices::Column::Id.eq(device_id))
        .filter(devices::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(db_error)?;
    primary_devices::Entity::delete_many()
        .filter(primary_devices::Column::DeviceId.eq(device_id))
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The id of `user_id`'s primary device, if it has one.
///
/// # Errors
/// [`Error::Database`] when the database cannot be read.
pub async fn primary_device<C: ConnectionTrait>(db: &C, user_id: i64) -> Result<Option<i64>> {
    let row = primary_devices::Entity::find_by_id(user_id)
        .one(db)
        .await
        .map_err(db_error("read the primary device"))?;
    Ok(row.map(|row| row.device_id))
}

/// Whether the caller may act for the whole account (sign out other devices, delete it):
/// it is the primary device, or the account has none and the caller's role is `user`.
pub(crate) async fn may_manage_account<C: ConnectionTrait>(
    db: &C,
    caller: &Identity,
) -> Result<bool> {
    Ok(match primary_device(db, caller.user_id).await? {
        Some(primary) => primary == caller.device_id,
        None => caller.role == Role::User,
    })
}

/// Whether `platform` is a phone's.
pub(crate) fn is_phone(platform: &str) -> bool {
    PHONE_PLATFORMS.contains(&platform)
}

/// Checks that `platform` is a known one.
pub(crate) fn validate_platform(platform: &str) -> Result<()> {
    if is_phone(platform) || COMPANION_PLATFORMS.contains(&platform) {
        return Ok(());
    }
    Err(Error::InvalidPlatform {
        input: platform.to_owned(),
    })
}

/// Checks a device name: 1 to [`DEVICE_NAME_MAX_CHARS`] characters, no control characters.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| {
        Err(Error::InvalidDeviceName {
            reason: reason.to_owned(),
        })
    };
    if name.trim().is_empty() {
        return invalid("must not be empty");
    }
    if name.chars().count() > DEVICE_NAME_MAX_CHARS {
        return invalid(&format!("at most {DEVICE_NAME_MAX_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return invalid("must not contain control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_phones_or_companions() {
        assert!(is_phone("android") && is_phone("ios") && !is_phone("web"));
        for platform in ["android", "ios", "web", "desktop", "tablet"] {
            assert!(validate_platform(platform).is_ok(), "{platform}");
        }
        for platform in ["", "Android", "admin", "toaster"] {
            assert!(validate_platform(platform).is_err(), "{platform}");
        }
    }

    #[test]
    fn device_names_are_checked() {
        assert!(validate_name("Pixel 8").is_ok());
        assert!(validate_name(&"x".repeat(64)).is_ok());
        assert!(validate_name(&"x".repeat(65)).is_err());
        assert!(validate_name(" ").is_err());
        assert!(validate_name("a\nb").is_err());
    }
}
