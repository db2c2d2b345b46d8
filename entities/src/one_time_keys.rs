//! The `one_time_keys` table: a device's one-time prekeys, each handed out to at most one peer.
//!
//! A key is claimed by setting `claimed_at`; (`device_id`, `key_id`) is unique, and its index
//! also serves "find an unclaimed key of this device".

use sea_orm::entity::prelude::*;

/// One one-time prekey.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "one_time_keys")]
pub struct Model {
    /// Surrogate id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The device, `devices.id` (cascade on delete).
    #[sea_orm(unique_key = "device_key")]
    pub device_id: i64,
    /// The client's id for this key; unique per device.
    #[sea_orm(unique_key = "device_key")]
    pub key_id: i64,
    /// Public key, base64.
    #[sea_orm(column_type = "Text")]
    pub public_key: String,
    /// Upload time, unix milliseconds.
    pub created_at: i64,
    /// When the key was handed out, unix milliseconds; `None` while available.
    pub claimed_at: Option<i64>,
}

/// Relations of [`Model`].
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The device.
    #[sea_orm(
        belongs_to = "crate::devices::Entity",
        from = "Column::DeviceId",
        to = "crate::devices::Column::Id",
        on_delete = "Cascade"
    )]
    Device,
}

impl Related<crate::devices::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Device.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
