//! The `primary_devices` table: which device is an account's phone, the one that registered
//! the number with a one-time code. Companion devices (web, desktop) have no row.
//!
//! One row per user at most (the primary key); registering the number on a new phone moves
//! the row to the new device. Accounts provisioned by an administrator have none until a phone
//! registers. Both foreign keys cascade.

use sea_orm::entity::prelude::*;

/// The primary device of one user.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "primary_devices")]
pub struct Model {
    /// The user, `users.id` (cascade on delete).
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    /// The device, `devices.id` (cascade on delete), unique.
    #[sea_orm(unique)]
    pub device_id: i64,
    /// When the device became primary, unix milliseconds.
    pub since_at: i64,
}

/// Relations of [`Model`].
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user.
    #[sea_orm(
        belongs_to = "crate::users::Entity",
        from = "Column::UserId",
        to = "crate::users::Column::Id",
        on_delete = "Cascade"
    )]
    User,
    /// The device.
    #[sea_orm(
        belongs_to = "crate::devices::Entity",
        from = "Column::DeviceId",
        to = "crate::devices::Column::Id",
        on_delete = "Cascade"
    )]
    Device,
}

impl ActiveModelBehavior for ActiveModel {}
