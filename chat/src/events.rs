//! The events that show stored entries: a message (or the sender's own copy of one) and a
//! read position. Shared by send, sync, changes and the system entries of calls.

use natter_proto::envelope::{Base64, Event, MessageKind};

/// The `read` event for a stored read position.
pub(crate) fn read_event(read: &natter_entities::read_positions::Model) -> Event {
    Event::Read {
        inbox_seq: read.inbox_seq,
        conversation_id: read.conversation_id,
        seq: read.seq,
    }
}

/// The `message` event for the sender's own copy of an entry at `inbox_seq` of the sender's
/// inbox: a `message` event that also names the client id.
pub(crate) fn own_message_event(
    message: &natter_entities::messages::Model,
    inbox_seq: i64,
    group_id: Option<i64>,
) -> Event {
    let mut event = message_event(message, inbox_seq, group_id);
    if let Event::Message { id, .. } = &mut event {
        *id = Some(message.client_msg_id.clone());
    }
    event
}

/// The `message` event for a stored entry at `inbox_seq` of its recipient.
pub(crate) fn message_event(
    message: &natter_entities::messages::Model,
    inbox_seq: i64,
    group_id: Option<i64>,
) -> Event {
    let kind = MessageKind::from_stored(&message.kind);
    // Edits, deletions and reactions keep the message they are about in reply_to_id.
    let (reply_to, reference) = match kind {
        MessageKind::Edit | MessageKind::Delete | MessageKind::Reaction => {
            (None, message.reply_to_id)
        }
        _ => (message.reply_to_id, None),
    };
    Event::Message {
        server_id: message.id,
        inbox_seq,
        conversation_id: message.conversation_id,
        seq: message.seq,
        group_id,
        from: message.sender_user_id,
        from_device: message.sender_device_id,
        body: Base64(message.body.clone()),
        reply_to,
        media: message.media_id,
        kind,
        reference,
        expires_at: message.expires_at,
        deleted: message.deleted_at.is_some(),
        id: None,
        ts: message.created_at,
    }
}
