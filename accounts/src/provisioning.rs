//! Provisioning: creating users, operators and devices with fresh credentials, and revoking
//! devices.
//!
//! Each device's MQTT username is `d<device id>` (`d42`): unique and stable because ids are,
//! and independent of anything a user can change. The id is only known after the insert, so a
//! device row is inserted under a placeholder username and renamed in the same transaction;
//! nobody outside the transaction ever sees the placeholder.

use natter_entities::{devices, users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, SqlErr, TransactionTrait,
};
use secrecy::SecretString;

use crate::auth::Identity;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::phone;
use crate::role::Role;
use crate::secret::{self, NewSecret};

/// What a new device needs to log in to the broker. The password is shown once: only its
/// hash is stored.
#[derive(Debug)]
pub struct Credentials {
    /// The owning user.
    pub user_id: i64,
    /// The new device.
    pub device_id: i64,
    /// What the device may do.
    pub role: Role,
    /// Username for MQTT CONNECT: `d<device_id>`.
    pub mqtt_username: String,
    /// Password for MQTT CONNECT: 32 random bytes as base64url without padding (43 chars).
    pub mqtt_password: SecretString,
}

/// Name given to the first device of a user created by [`create_user`].
const FIRST_DEVICE_NAME: &str = "primary";
/// Platform recorded for devices provisioned by an administrator rather than a client.
const ADMIN_PLATFORM: &str = "admin";

/// Registers a user by phone number, with a first device (role user, named `primary`,
/// platform `admin`), in one transaction.
///
/// `phone` must be an international number with a leading `+`; it is stored in E.164 form
/// (`"+1 555 123 0001"` becomes `"+15551230001"`). `display_name` may be empty.
///
/// # Errors
/// [`Error::InvalidPhone`], [`Error::PhoneTaken`] (also when a deleted account still holds the
/// number), [`Error::GenerateSecret`] or [`Error::CreateUser`].
pub async fn create_user(
    db: &DatabaseConnection,
    phone: &str,
    display_name: &str,
) -> Result<Credentials> {
    let phone = phone::normalize(phone)?;
    let secret = secret::generate()?;
    let tx = db.begin().await.map_err(Error::CreateUser)?;
    let user = insert_user(&tx, Some(phone.clone()), display_name)
        .await
        .map_err(|err| match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Error::PhoneTaken {
                phone: phone.clone(),
            },
            _ => Error::CreateUser(err),
        })?;
    let device = insert_device(
        &tx,
        user.id,
        FIRST_DEVICE_NAME,
        ADMIN_PLATFORM,
        Role::User,
        &secret,
    )
    .await
    .map_err(Error::CreateUser)?;
    tx.commit().await.map_err(Error::CreateUser)?;
    Ok(credentials(device, Role::User, secret))
}

/// Creates an operator: a user without a phone number (`display_name` = `name`) and one device
/// with role operator, in one transaction.
///
/// # Errors
/// [`Error::GenerateSecret`] or [`Error::CreateOperator`].
pub async fn create_operator(db: &DatabaseConnection, name: &str) -> Result<Credentials> {
    let secret = secret::generate()?;
    let tx = db.begin().await.map_err(Error::CreateOperator)?;
    let user = insert_user(&tx, None, name)
        .await
        .map_err(Error::CreateOperator)?;
    let device = insert_device(&tx, user.id, name, ADMIN_PLATFORM, Role::Operator, &secret)
        .await
        .map_err(Error::CreateOperator)?;
    tx.commit().await.map_err(Error::CreateOperator)?;
    Ok(credentials(device, Role::Operator, secret))
}

/// Adds a device with fresh credentials to a live user.
///
/// # Errors
/// [`Error::UnknownUser`] when the user does not exist or is deleted; [`Error::GenerateSecret`]
/// or [`Error::AddDevice`].
pub async fn add_device(
    db: &DatabaseConnection,
    user_id: i64,
    name: &str,
    platform: &str,
    role: Role,
) -> Result<Credentials> {
    let db_error = |source| Error::AddDevice { user_id, source };
    let secret = secret::generate()?;
    let tx = db.begin().await.map_err(db_error)?;
    let user = users::Entity::find_by_id(user_id)
        .one(&tx)
        .await
        .map_err(db_error)?;
    if user.is_none_or(|user| user.deleted_at.is_some()) {
        return Err(Error::UnknownUser { user_id });
    }
    let device = insert_device(&tx, user_id, name, platform, role, &secret)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(credentials(device, role, secret))
}

/// Revokes a device: it can no longer connect. Revoking a revoked device changes nothing and
/// succeeds; the first revocation time is kept.
///
/// Disconnecting a session that is already open is the broker's job.
///
/// # Errors
/// [`Error::UnknownDevice`], [`Error::RevokeDevice`], or [`Error::StoredRole`] when the row's
/// role is not one of [`Role`]'s (the device is revoked even then).
pub async fn revoke_device(db: &DatabaseConnection, device_id: i64) -> Result<Identity> {
    let db_error = |source| Error::RevokeDevice { device_id, source };
    let Some(device) = devices::Entity::find_by_id(device_id)
        .one(db)
        .await
        .map_err(db_error)?
    else {
        return Err(Error::UnknownDevice { device_id });
    };
    // Conditional, so that a second revocation keeps the first time.
    devices::Entity::update_many()
        .col_expr(devices::Column::RevokedAt, Expr::value(now_ms()))
        .filter(devices::Column::Id.eq(device_id))
        .filter(devices::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(db_error)?;
    let role = device.role.parse().map_err(|_| Error::StoredRole {
        device_id,
        role: device.role.clone(),
    })?;
    Ok(Identity {
        user_id: device.user_id,
        device_id,
        role,
    })
}

/// Inserts a user row; `phone` is `None` for operators.
pub(crate) async fn insert_user<C: ConnectionTrait>(
    conn: &C,
    phone: Option<String>,
    display_name: &str,
) -> Result<users::Model, DbErr> {
    users::ActiveModel {
        phone: Set(phone),
        display_name: Set(display_name.to_owned()),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(conn)
    .await
}

/// Inserts a device row and names it `d<id>`. Must run inside a transaction, so that the
/// placeholder username is never visible.
pub(crate) async fn insert_device<C: ConnectionTrait>(
    conn: &C,
    user_id: i64,
    name: &str,
    platform: &str,
    role: Role,
    secret: &NewSecret,
) -> Result<devices::Model, DbErr> {
    // The hash of a fresh 256-bit secret is unique, so concurrent inserts never collide on
    // the placeholder; ":" never appears in a real `d<id>` username.
    let placeholder = format!("pending:{}", secret.hash);
    let inserted = devices::ActiveModel {
        user_id: Set(user_id),
        name: Set(name.to_owned()),
        platform: Set(platform.to_owned()),
        role: Set(role.as_str().to_owned()),
        mqtt_username: Set(placeholder),
        secret_hash: Set(secret.hash.clone()),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    let device_id = inserted.id;
    let mut named: devices::ActiveModel = inserted.into();
    named.mqtt_username = Set(mqtt_username(device_id));
    named.update(conn).await
}

/// The MQTT username of device `device_id`.
fn mqtt_username(device_id: i64) -> String {
    format!("d{device_id}")
}

/// The credentials to hand out for a freshly inserted `device`.
pub(crate) fn credentials(device: devices::Model, role: Role, secret: NewSecret) -> Credentials {
    Credentials {
        user_id: device.user_id,
        device_id: device.id,
        role,
        mqtt_username: device.mqtt_username,
        mqtt_password: secret.password,
    }
}
