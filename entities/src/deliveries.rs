//! The `deliveries` table: the state of one message for one recipient (pending, delivered,
//! read), which drives receipts and the "what have I not received yet" query.
//!
//! The (`recipient_user_id`, `status`) index serves that query; rows go with their message.

use sea_orm::entity::prelude::*;

/// `status` of a delivery the recipient has not received yet.
pub const STATUS_PENDING: &str = "pending";
/// `status` once a device of the recipient has received the message.
pub const STATUS_DELIVERED: &str = "delivered";
/// `status` once the recipient has read the message.
pub const STATUS_READ: &str = "read";
/// `status` of the sender's own copy of a message it sent (delivered to the sender's other
/// devices): never pending, never a receipt, not counted as a recipient.
pub const STATUS_OWN: &str = "own";

/// One message's state for one recipient.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    /// The message, `messages.id` (cascade on delete).
    #[sea_orm(primary_key, auto_increment = false)]
    pub message_id: i64,
    /// The recipient, a `users.id` (not a foreign key); indexed with `status`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub recipient_user_id: i64,
    /// `"pending"` (default), `"delivered"` or `"read"`; `"own"` for the sender's own copy.
    #[sea_orm(default_value = "pending")]
    pub status: String,
    /// When a device of the recipient received it, unix milliseconds.
    pub delivered_at: Option<i64>,
    /// When the recipient read it, unix milliseconds.
    pub read_at: Option<i64>,
    /// When the row was created (the message was fanned out), unix milliseconds.
    pub created_at: i64,
    /// The delivery's position in the recipient's inbox, unique per recipient: devices resume
    /// with "everything after position N".
    #[sea_orm(default_value = 0)]
    pub inbox_seq: i64,
}

/// Relations of [`Model`].
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The message.
    #[sea_orm(
        belongs_to = "crate::messages::Entity",
        from = "Column::MessageId",
        to = "crate::messages::Column::Id",
        on_delete = "Cascade"
    )]
    Message,
}

impl Related<crate::messages::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Message.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
