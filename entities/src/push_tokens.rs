//! The `push_tokens` table: where to send a push notification to wake a device.
//!
//! A token belongs to one device at a time: (`provider`, `token`) is unique, so a token that
//! moves to another device is re-pointed rather than duplicated.

use sea_orm::entity::prelude::*;

/// One push token of a device.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_tokens")]
pub struct Model {
    /// Surrogate id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The device, `devices.id` (cascade on delete); indexed.
    #[sea_orm(indexed)]
    pub device_id: i64,
    /// Push service: `"fcm"` or `"apns"`.
    #[sea_orm(unique_key = "provider_token")]
    pub provider: String,
    /// The provider's registration token.
    #[sea_orm(column_type = "Text", unique_key = "provider_token")]
    pub token: String,
    /// Registration time, unix milliseconds.
    pub created_at: i64,
    /// Last refresh, unix milliseconds.
    pub updated_at: i64,
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
