//! Authentication: checking the username and password a client presents at MQTT CONNECT.
//!
//! Wrong and unknown credentials take the same path as far as possible: the password is hashed
//! and compared in both cases, so that response time tells little about which usernames exist.

use natter_entities::{devices, users};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::error::{Error, Result};
use crate::role::Role;
use crate::secret;

/// Who a connected device is: what the broker keeps for each session and checks topics against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The owning user.
    pub user_id: i64,
    /// The device.
    pub device_id: i64,
    /// What the device may do.
    pub role: Role,
}

/// The verdict on a CONNECT's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The credentials are good: the device may connect as this identity.
    Accepted(Identity),
    /// No device has this username.
    UnknownUser,
    /// The device exists but the password is wrong.
    BadPassword,
    /// The password is right but the device is revoked or its user deleted.
    Revoked,
}

/// Checks `username` and `password` as presented at MQTT CONNECT.
///
/// The password is checked before revocation, so that only someone holding a device's secret
/// learns that it was revoked. Clients should get the same CONNACK for every refusal; the
/// outcome is for logs and metrics.
///
/// # Errors
/// [`Error::Authenticate`] when the database cannot be read; [`Error::StoredRole`] when the
/// device's stored role is not one of [`Role`]'s (the device must not connect).
pub async fn authenticate(
    db: &DatabaseConnection,
    username: &str,
    password: &[u8],
) -> Result<AuthOutcome> {
    // Hash first, whatever the username: an unknown one costs the same work as a wrong password.
    let presented_hash = secret::hash(password);
    let found = devices::Entity::find()
        .filter(devices::Column::MqttUsername.eq(username))
        .find_also_related(users::Entity)
        .one(db)
        .await
        .map_err(|source| Error::Authenticate {
            username: username.to_owned(),
            source,
        })?;
    let Some((device, user)) = found else {
        std::hint::black_box(secret::matches(&presented_hash, secret::DUMMY_HASH));
        return Ok(AuthOutcome::UnknownUser);
    };
    if !secret::matches(&presented_hash, &device.secret_hash) {
        return Ok(AuthOutcome::BadPassword);
    }
    let user_is_live = user.is_some_and(|user| user.deleted_at.is_none());
    if device.revoked_at.is_some() || !user_is_live {
        return Ok(AuthOutcome::Revoked);
    }
    let role = device.role.parse().map_err(|_| Error::StoredRole {
        device_id: device.id,
        role: device.role.clone(),
    })?;
    Ok(AuthOutcome::Accepted(Identity {
        user_id: device.user_id,
        device_id: device.id,
        role,
    }))
}
