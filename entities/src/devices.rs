//! The `devices` table: each phone, browser, bot or service that logs in to the broker.
//!
//! Owns the MQTT credentials of a device (username and password hash) and its lifecycle. The
//! end-to-end keys of a device live in `identity_keys` and `one_time_keys`, its push tokens in
//! `push_tokens`; all of them are deleted with the device.

use sea_orm::entity::prelude::*;

/// One logged-in device of a user.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    /// Surrogate id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owner, `users.id` (cascade on delete); indexed.
    #[sea_orm(indexed)]
    pub user_id: i64,
    /// Human-readable name ("Pixel 8", "Firefox on Linux").
    pub name: String,
    /// Client platform: `"android"`, `"ios"`, `"web"`, `"device"`, `"bot"` (more may follow).
    pub platform: String,
    /// What the device may do: `"user"`, `"device"`, `"operator"` or `"service"`.
    pub role: String,
    /// Username the device presents at MQTT CONNECT, unique.
    #[sea_orm(unique)]
    pub mqtt_username: String,
    /// PHC-format password hash (`$argon2id$v=19$...`) of the device secret.
    pub secret_hash: String,
    /// Registration time, unix milliseconds.
    pub created_at: i64,
    /// Last time the device was connected, unix milliseconds.
    pub last_seen_at: Option<i64>,
    /// When the device was logged out or revoked, unix milliseconds; revoked devices may not connect.
    pub revoked_at: Option<i64>,
}

/// Relations of [`Model`].
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The owning user.
    #[sea_orm(
        belongs_to = "crate::users::Entity",
        from = "Column::UserId",
        to = "crate::users::Column::Id",
        on_delete = "Cascade"
    )]
    User,
    /// The device's identity key bundle.
    #[sea_orm(has_one = "crate::identity_keys::Entity")]
    IdentityKey,
    /// The device's one-time prekeys.
    #[sea_orm(has_many = "crate::one_time_keys::Entity")]
    OneTimeKeys,
    /// The device's push tokens.
    #[sea_orm(has_many = "crate::push_tokens::Entity")]
    PushTokens,
}

impl Related<crate::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<crate::identity_keys::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::IdentityKey.def()
    }
}

impl Related<crate::one_time_keys::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OneTimeKeys.def()
    }
}

impl Related<crate::push_tokens::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PushTokens.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
