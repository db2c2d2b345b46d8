//! Edits, deletions for everyone and reactions. Each is stored as an entry of its own in the
//! conversation (kind `edit`, `delete` or `reaction`, pointing at the message), so it reaches
//! every recipient through the same inbox as messages: in order, resumable, exactly once. An
//! edit or deletion also changes the stored message, so that a later sync shows what is true
//! now.

use natter_config::MessagingSettings;
use natter_entities::{conversations, messages};
use natter_proto::envelope::MessageKind;
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, Set, TransactionTrait};

use crate::refusal::Refusal;
use crate::request::{Caller, Outcome};
use crate::send::{check_id, refused, stored_events};
use crate::store::{self, Entry};

/// Longest reaction, in bytes (an emoji with modifiers fits).
const MAX_REACTION_BYTES: usize = 32;

/// What to do to a message.
#[derive(Debug)]
pub(crate) enum Change {
    /// Replace its body (author only, within the edit window).
    Edit(Vec<u8>),
    /// Delete it for everyone (author only).
    Delete,
    /// React with an emoji; empty removes the reaction (any participant).
    React(String),
}

/// Applies `change` to message `target` for `caller`, under the client id `id`.
pub(crate) async fn apply(
    db: &DatabaseConnection,
    settings: &MessagingSettings,
    caller: &Caller,
    id: String,
    target: i64,
    change: Change,
) -> Result<Outcome, DbErr> {
    if let Some(bad_id) = check_id(&id) {
        return Ok(bad_id);
    }
    if let Change::React(emoji) = &change
        && emoji.len() > MAX_REACTION_BYTES
    {
        return Ok(refused(id, Refusal::BadReaction));
    }
    let txn = db.begin().await?;
    if let Some(stored) = store::existing(&txn, caller.user, &id).await? {
        txn.commit().await?;
        return Ok(stored_events(caller, id, &stored));
    }
    let found = messages::Entity::find_by_id(target).one(&txn).await?;
    let conversation = match &found {
        Some(message) => {
            conversations::Entity::find_by_id(message.conversation_id)
                .one(&txn)
                .await?
        }
        None => None,
    };
    let (Some(message), Some(conversation)) = (found, conversation) else {
        return Ok(refused(id, Refusal::UnknownMessage));
    };
    let visible = store::participates(&txn, &conversation, caller.user).await?
        && message.deleted_at.is_none()
        && message.expires_at.is_none_or(|at| at > caller.now);
    let kind = MessageKind::from_stored(&message.kind);
    if !visible || !matches!(kind, MessageKind::Text | MessageKind::Media) {
        return Ok(refused(id, Refusal::UnknownMessage));
    }
    let is_author = message.sender_user_id == caller.user;
    let (entry_kind, body) = match change {
        Change::Edit(body) => {
            if !is_author {
                return Ok(refused(id, Refusal::NotAuthorOfEdit));
            }
            let window = i64::try_from(settings.edit_window().as_millis()).unwrap_or(i64::MAX);
            if caller.now.saturating_sub(message.created_at) > window {
                return Ok(refused(id, Refusal::EditWindowOver));
            }
            let mut update: messages::ActiveModel = message.clone().into();
            update.body = Set(body.clone());
            update.edited_at = Set(Some(caller.now));
            update.update(&txn).await?;
            (MessageKind::Edit, body)
        }
        Change::Delete => {
            if !is_author {
                return Ok(refused(id, Refusal::NotAuthorOfDeletion));
            }
            let mut update: messages::ActiveModel = message.clone().into();
            update.body = Set(Vec::new());
            update.media_id = Set(None);
            update.deleted_at = Set(Some(caller.now));
            update.update(&txn).await?;
            (MessageKind::Delete, Vec::new())
        }
        Change::React(emoji) => (MessageKind::Reaction, emoji.into_bytes()),
    };
    let recipients = store::recipients(&txn, &conversation, caller.user).await?;
    let entry = Entry {
        sender: caller.user,
        device: caller.device,
        client_id: id.clone(),
        kind: entry_kind,
        body,
        reply_to: Some(target),
        media: None,
        now: caller.now,
    };
    let appended = store::append(&txn, &conversation, entry, &recipients).await?;
    txn.commit().await?;
    let stored = store::Stored {
        message: appended.message,
        group_id: conversation.group_id,
        deliveries: appended.deliveries,
        own: appended.own,
        duplicate: false,
    };
    Ok(stored_events(caller, id, &stored))
}
