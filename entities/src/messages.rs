//! The `messages` table: every message of every conversation, as an opaque body.
//!
//! Ordered per conversation by `seq` (unique with `conversation_id`) so that devices resume from
//! a cursor; made idempotent by (`sender_user_id`, `client_msg_id`), unique, so that a resend
//! after a lost ack is recognised. Per-recipient state lives in `deliveries`.

use sea_orm::entity::prelude::*;

/// One message.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    /// Surrogate id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The conversation, `conversations.id` (cascade on delete); the shard key.
    #[sea_orm(unique_key = "conversation_seq")]
    pub conversation_id: i64,
    /// Position in the conversation, from `conversations.last_seq`; unique per conversation.
    #[sea_orm(unique_key = "conversation_seq")]
    pub seq: i64,
    /// Sender, a `users.id` (not a foreign key: history outlives a purged account).
    #[sea_orm(unique_key = "sender_client_msg")]
    pub sender_user_id: i64,
    /// Sending device, a `devices.id` (not a foreign key, for the same reason).
    pub sender_device_id: i64,
    /// Id the client chose for the message; unique per sender, for idempotent resends.
    #[sea_orm(unique_key = "sender_client_msg")]
    pub client_msg_id: String,
    /// `"text"`, `"media"`, `"reaction"`, `"edit"`, `"delete"`, `"system"` (more may follow).
    pub kind: String,
    /// The payload, opaque to the server (ciphertext when end-to-end encrypted).
    #[sea_orm(column_type = "Blob")]
    pub body: Vec<u8>,
    /// The message this one replies to (or edits, reacts to, deletes), a `messages.id`.
    pub reply_to_id: Option<i64>,
    /// Attached media, a `media.id`.
    pub media_id: Option<i64>,
    /// When the server accepted the message, unix milliseconds.
    pub created_at: i64,
    /// Last edit, unix milliseconds.
    pub edited_at: Option<i64>,
    /// When the message was deleted for everyone, unix milliseconds.
    pub deleted_at: Option<i64>,
    /// When a disappearing message is due for removal, unix milliseconds; indexed.
    #[sea_orm(indexed)]
    pub expires_at: Option<i64>,
}

/// Relations of [`Model`].
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The conversation.
    #[sea_orm(
        belongs_to = "crate::conversations::Entity",
        from = "Column::ConversationId",
        to = "crate::conversations::Column::Id",
        on_delete = "Cascade"
    )]
    Conversation,
    /// Per-recipient delivery state (cascade on delete).
    #[sea_orm(has_many = "crate::deliveries::Entity")]
    Deliveries,
}

impl Related<crate::conversations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Conversation.def()
    }
}

impl Related<crate::deliveries::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Deliveries.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
