//! The `identity_keys` table: each device's long-term identity key and current signed prekey,
//! published for end-to-end session setup.
//!
//! Keys are public and stored as base64 text; the server never sees private keys. One-time
//! prekeys are in `one_time_keys`.

use sea_orm::entity::prelude::*;

/// The published key bundle of one device.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_keys")]
pub struct Model {
    /// The device, `devices.id` (cascade on delete).
    #[sea_orm(primary_key, auto_increment = false)]
    pub device_id: i64,
    /// Identity public key, base64.
    #[sea_orm(column_type = "Text")]
    pub identity_key: String,
    /// Current signed prekey (public), base64.
    #[sea_orm(column_type = "Text")]
    pub signed_prekey: String,
    /// Signature of `signed_prekey` by the identity key, base64.
    #[sea_orm(column_type = "Text")]
    pub signed_prekey_signature: String,
    /// When the bundle was last replaced, unix milliseconds.
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
