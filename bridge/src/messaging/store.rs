//! Persistence of messages, receipts and inbox positions. One transaction per request: a
//! message, its sequence numbers and its deliveries are stored together or not at all.

use natter_entities::{
    blocks, conversations, deliveries, group_members, groups, media, messages, users,
};
use natter_proto::envelope::{MessageKind, ReceiptStatus, Target};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

/// A message as stored, with what its events need.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub(crate) message: messages::Model,
    pub(crate) group_id: Option<i64>,
    /// (recipient, inbox position) of each new delivery; empty for a duplicate.
    pub(crate) deliveries: Vec<(i64, i64)>,
}

/// Why a send was refused (answered to the device, not an error of the server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    UnknownRecipient,
    NotAMember,
    UnknownMedia,
}

/// A send to persist.
#[derive(Debug)]
pub(crate) struct Send<'a> {
    pub(crate) sender: i64,
    pub(crate) device: i64,
    pub(crate) client_id: &'a str,
    pub(crate) to: Target,
    pub(crate) body: Vec<u8>,
    pub(crate) reply_to: Option<i64>,
    pub(crate) media: Option<i64>,
    pub(crate) now: i64,
}

/// Stores a message and a pending delivery per recipient, or returns the message already
/// stored under the same client id (then with no new deliveries).
pub(crate) async fn persist(
    db: &DatabaseConnection,
    send: Send<'_>,
) -> Result<Result<Stored, Refusal>, DbErr> {
    let txn = db.begin().await?;
    if let Some(stored) = existing(&txn, send.sender, send.client_id).await? {
        txn.commit().await?;
        return Ok(Ok(stored));
    }
    if let Some(media_id) = send.media
        && !may_attach(&txn, send.sender, media_id).await?
    {
        return Ok(Err(Refusal::UnknownMedia));
    }
    let (conversation, recipients) = match send.to {
        Target::User(recipient) => {
            let live = users::Entity::find_by_id(recipient)
                .one(&txn)
                .await?
                .is_some_and(|user| user.deleted_at.is_none());
            if !live || recipient == send.sender {
                return Ok(Err(Refusal::UnknownRecipient));
            }
            let conversation = direct_conversation(&txn, send.sender, recipient, send.now).await?;
            // A recipient who blocked the sender gets nothing; the sender still sees "sent".
            let recipients = recipients(&txn, &conversation, send.sender).await?;
            (conversation, recipients)
        }
        Target::Group(group_id) => {
            let member = group_members::Entity::find_by_id((group_id, send.sender))
                .one(&txn)
                .await?
                .is_some();
            let live = groups::Entity::find_by_id(group_id)
                .one(&txn)
                .await?
                .is_some_and(|group| group.deleted_at.is_none());
            if !member || !live {
                return Ok(Err(Refusal::NotAMember));
            }
            let conversation = group_conversation(&txn, group_id, send.now).await?;
            let members = recipients(&txn, &conversation, send.sender).await?;
            (conversation, members)
        }
    };
    let entry = Entry {
        sender: send.sender,
        device: send.device,
        client_id: send.client_id.to_owned(),
        kind: if send.media.is_some() {
            MessageKind::Media
        } else {
            MessageKind::Text
        },
        body: send.body,
        reply_to: send.reply_to,
        media: send.media,
        now: send.now,
    };
    let (message, deliveries) = append(&txn, &conversation, entry, &recipients).await?;
    txn.commit().await?;
    Ok(Ok(Stored {
        message,
        group_id: conversation.group_id,
        deliveries,
    }))
}

/// A new entry in a conversation: a message, an edit, a deletion, a reaction or a system
/// event. For edits, deletions and reactions `reply_to` holds the message they are about.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) sender: i64,
    pub(crate) device: i64,
    pub(crate) client_id: String,
    pub(crate) kind: MessageKind,
    pub(crate) body: Vec<u8>,
    pub(crate) reply_to: Option<i64>,
    pub(crate) media: Option<i64>,
    pub(crate) now: i64,
}

/// Appends `entry` to `conversation` with the next sequence number (and an expiry when the
/// conversation has a timer), and a pending delivery in each recipient's inbox. Returns the
/// message and (recipient, inbox position) per delivery. Must run in a transaction.
pub(crate) async fn append(
    txn: &impl ConnectionTrait,
    conversation: &conversations::Model,
    entry: Entry,
    recipients: &[i64],
) -> Result<(messages::Model, Vec<(i64, i64)>), DbErr> {
    let seq = next_value(txn, conversation.id, Sequence::Conversation).await?;
    let expires_at = conversation
        .disappearing_secs
        .filter(|secs| *secs > 0)
        .map(|secs| entry.now.saturating_add(i64::from(secs) * 1000));
    let message = messages::ActiveModel {
        conversation_id: Set(conversation.id),
        seq: Set(seq),
        sender_user_id: Set(entry.sender),
        sender_device_id: Set(entry.device),
        client_msg_id: Set(entry.client_id),
        kind: Set(entry.kind.as_str().into()),
        body: Set(entry.body),
        reply_to_id: Set(entry.reply_to),
        media_id: Set(entry.media),
        created_at: Set(entry.now),
        expires_at: Set(expires_at),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    // Inbox counters are locked in ascending user order, so that concurrent transactions
    // (several bridge sessions) cannot deadlock on each other's recipients.
    let mut ordered = recipients.to_vec();
    ordered.sort_unstable();
    ordered.dedup();
    let mut new_deliveries = Vec::with_capacity(ordered.len());
    for recipient in ordered {
        let inbox_seq = next_value(txn, recipient, Sequence::Inbox).await?;
        deliveries::ActiveModel {
            message_id: Set(message.id),
            recipient_user_id: Set(recipient),
            status: Set(deliveries::STATUS_PENDING.into()),
            created_at: Set(entry.now),
            inbox_seq: Set(inbox_seq),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        new_deliveries.push((recipient, inbox_seq));
    }
    Ok((message, new_deliveries))
}

/// The message `sender` already stored under `client_id`, with its conversation's group.
pub(crate) async fn existing(
    txn: &impl ConnectionTrait,
    sender: i64,
    client_id: &str,
) -> Result<Option<Stored>, DbErr> {
    let Some(message) = messages::Entity::find()
        .filter(messages::Column::SenderUserId.eq(sender))
        .filter(messages::Column::ClientMsgId.eq(client_id))
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    let group_id = conversations::Entity::find_by_id(message.conversation_id)
        .one(txn)
        .await?
        .and_then(|conversation| conversation.group_id);
    Ok(Some(Stored {
        message,
        group_id,
        deliveries: Vec::new(),
    }))
}

/// Who gets what `sender` adds to `conversation`: the other participant of a direct chat
/// (unless they block the sender), or every other current member of a group.
pub(crate) async fn recipients(
    txn: &impl ConnectionTrait,
    conversation: &conversations::Model,
    sender: i64,
) -> Result<Vec<i64>, DbErr> {
    if let Some(group_id) = conversation.group_id {
        return group_members::Entity::find()
            .select_only()
            .column(group_members::Column::UserId)
            .filter(group_members::Column::GroupId.eq(group_id))
            .filter(group_members::Column::UserId.ne(sender))
            .into_tuple()
            .all(txn)
            .await;
    }
    let other = match (conversation.user_low, conversation.user_high) {
        (Some(low), Some(high)) if low == sender => high,
        (Some(low), Some(high)) if high == sender => low,
        _ => return Ok(Vec::new()),
    };
    let blocked = blocks::Entity::find_by_id((other, sender))
        .one(txn)
        .await?
        .is_some();
    Ok(if blocked { Vec::new() } else { vec![other] })
}

/// Whether `user` takes part in `conversation` now (a side of a direct chat, or a member).
pub(crate) async fn participates(
    txn: &impl ConnectionTrait,
    conversation: &conversations::Model,
    user: i64,
) -> Result<bool, DbErr> {
    match conversation.group_id {
        Some(group_id) => Ok(group_members::Entity::find_by_id((group_id, user))
            .one(txn)
            .await?
            .is_some()),
        None => Ok(conversation.user_low == Some(user) || conversation.user_high == Some(user)),
    }
}

/// The conversation of a group, created on first use.
pub(crate) async fn conversation_of_group(
    txn: &impl ConnectionTrait,
    group_id: i64,
    now: i64,
) -> Result<conversations::Model, DbErr> {
    group_conversation(txn, group_id, now).await
}

/// The direct conversation of two users, created on first use.
pub(crate) async fn conversation_between(
    txn: &impl ConnectionTrait,
    a: i64,
    b: i64,
    now: i64,
) -> Result<conversations::Model, DbErr> {
    direct_conversation(txn, a, b, now).await
}

/// Whether `sender` may put media item `media_id` in a message: it exists, is not deleted,
/// and the sender uploaded it or received it in a message (forwarding).
async fn may_attach(txn: &impl ConnectionTrait, sender: i64, media_id: i64) -> Result<bool, DbErr> {
    let Some(item) = media::Entity::find_by_id(media_id).one(txn).await? else {
        return Ok(false);
    };
    if item.deleted_at.is_some() {
        return Ok(false);
    }
    if item.owner_user_id == sender {
        return Ok(true);
    }
    let received = deliveries::Entity::find()
        .inner_join(messages::Entity)
        .filter(deliveries::Column::RecipientUserId.eq(sender))
        .filter(messages::Column::MediaId.eq(media_id))
        .filter(messages::Column::DeletedAt.is_null())
        .one(txn)
        .await?;
    Ok(received.is_some())
}

enum Sequence {
    Conversation,
    Inbox,
}

/// Increments and returns a counter inside the transaction. The UPDATE takes the row lock,
/// so concurrent writers (several bridge workers on PostgreSQL) get distinct values.
async fn next_value(txn: &impl ConnectionTrait, id: i64, sequence: Sequence) -> Result<i64, DbErr> {
    let missing = || DbErr::RecordNotFound(format!("counter row {id}"));
    match sequence {
        Sequence::Conversation => {
            conversations::Entity::update_many()
                .col_expr(
                    conversations::Column::LastSeq,
                    Expr::col(conversations::Column::LastSeq).add(1),
                )
                .filter(conversations::Column::Id.eq(id))
                .exec(txn)
                .await?;
            let row = conversations::Entity::find_by_id(id)
                .one(txn)
                .await?
                .ok_or_else(missing)?;
            Ok(row.last_seq)
        }
        Sequence::Inbox => {
            users::Entity::update_many()
                .col_expr(
                    users::Column::InboxSeq,
                    Expr::col(users::Column::InboxSeq).add(1),
                )
                .filter(users::Column::Id.eq(id))
                .exec(txn)
                .await?;
            let row = users::Entity::find_by_id(id)
                .one(txn)
                .await?
                .ok_or_else(missing)?;
            Ok(row.inbox_seq)
        }
    }
}

async fn direct_conversation(
    txn: &impl ConnectionTrait,
    a: i64,
    b: i64,
    now: i64,
) -> Result<conversations::Model, DbErr> {
    let (low, high) = (Ord::min(a, b), Ord::max(a, b));
    let key = Condition::all()
        .add(conversations::Column::Kind.eq("direct"))
        .add(conversations::Column::UserLow.eq(low))
        .add(conversations::Column::UserHigh.eq(high));
    let new = conversations::ActiveModel {
        kind: Set("direct".into()),
        user_low: Set(Some(low)),
        user_high: Set(Some(high)),
        ..Default::default()
    };
    find_or_create(txn, key, new, now).await
}

async fn group_conversation(
    txn: &impl ConnectionTrait,
    group_id: i64,
    now: i64,
) -> Result<conversations::Model, DbErr> {
    let key = Condition::all().add(conversations::Column::GroupId.eq(group_id));
    let new = conversations::ActiveModel {
        kind: Set("group".into()),
        group_id: Set(Some(group_id)),
        ..Default::default()
    };
    find_or_create(txn, key, new, now).await
}

/// The conversation matching `key`, or `new` inserted with sequence 0. Two bridge sessions
/// may create the same conversation at once: the insert yields to the other one's row (ON
/// CONFLICT DO NOTHING) instead of failing, which on PostgreSQL would abort the transaction.
async fn find_or_create(
    txn: &impl ConnectionTrait,
    key: Condition,
    mut new: conversations::ActiveModel,
    now: i64,
) -> Result<conversations::Model, DbErr> {
    if let Some(conversation) = conversations::Entity::find()
        .filter(key.clone())
        .one(txn)
        .await?
    {
        return Ok(conversation);
    }
    new.last_seq = Set(0);
    new.created_at = Set(now);
    conversations::Entity::insert(new)
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(txn)
        .await?;
    conversations::Entity::find()
        .filter(key)
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("conversation after insert".into()))
}

/// What a receipt changed for one message sender.
#[derive(Debug, Default)]
pub(crate) struct ReceiptChange {
    pub(crate) sender: i64,
    /// Ids whose state moved forward for this recipient.
    pub(crate) ids: Vec<i64>,
    /// Group messages that every recipient has now reached the status for.
    pub(crate) all: Vec<i64>,
}

/// Records a receipt from `recipient` for `ids` (only moving forward: pending → delivered →
/// read) and returns, per message sender, the ids whose state changed.
pub(crate) async fn record_receipt(
    db: &DatabaseConnection,
    recipient: i64,
    status: ReceiptStatus,
    ids: &[i64],
    now: i64,
) -> Result<Vec<ReceiptChange>, DbErr> {
    let txn = db.begin().await?;
    let mut by_sender: Vec<ReceiptChange> = Vec::new();
    let rows = deliveries::Entity::find()
        .filter(deliveries::Column::RecipientUserId.eq(recipient))
        .filter(deliveries::Column::MessageId.is_in(ids.iter().copied()))
        .find_also_related(messages::Entity)
        .all(&txn)
        .await?;
    for (delivery, message) in rows {
        let current = match delivery.status.as_str() {
            deliveries::STATUS_READ => 2,
            deliveries::STATUS_DELIVERED => 1,
            _ => 0,
        };
        let wanted = match status {
            ReceiptStatus::Delivered => 1,
            ReceiptStatus::Read => 2,
        };
        let Some(message) = message else { continue };
        if wanted <= current {
            continue;
        }
        let mut update: deliveries::ActiveModel = delivery.into();
        match status {
            ReceiptStatus::Delivered => {
                update.status = Set(deliveries::STATUS_DELIVERED.into());
                update.delivered_at = Set(Some(now));
            }
            ReceiptStatus::Read => {
                update.status = Set(deliveries::STATUS_READ.into());
                update.read_at = Set(Some(now));
                if current == 0 {
                    update.delivered_at = Set(Some(now));
                }
            }
        }
        update.update(&txn).await?;
        let everyone = reached_by_all(&txn, &message, status).await?;
        let index = match by_sender
            .iter()
            .position(|change| change.sender == message.sender_user_id)
        {
            Some(index) => index,
            None => {
                by_sender.push(ReceiptChange {
                    sender: message.sender_user_id,
                    ..ReceiptChange::default()
                });
                by_sender.len() - 1
            }
        };
        let change = &mut by_sender[index];
        change.ids.push(message.id);
        if everyone {
            change.all.push(message.id);
        }
    }
    txn.commit().await?;
    Ok(by_sender)
}

/// Whether `message` is a group message that every recipient has now delivered (or read).
async fn reached_by_all(
    txn: &impl ConnectionTrait,
    message: &messages::Model,
    status: ReceiptStatus,
) -> Result<bool, DbErr> {
    let in_group = conversations::Entity::find_by_id(message.conversation_id)
        .one(txn)
        .await?
        .is_some_and(|conversation| conversation.group_id.is_some());
    if !in_group {
        return Ok(false);
    }
    let behind = match status {
        ReceiptStatus::Delivered => vec![deliveries::STATUS_PENDING],
        ReceiptStatus::Read => vec![deliveries::STATUS_PENDING, deliveries::STATUS_DELIVERED],
    };
    let lagging = deliveries::Entity::find()
        .filter(deliveries::Column::MessageId.eq(message.id))
        .filter(deliveries::Column::Status.is_in(behind))
        .one(txn)
        .await?;
    Ok(lagging.is_none())
}

/// One page of `recipient`'s inbox after position `after`, in order, without messages that
/// disappeared (their timer ran out).
pub(crate) async fn inbox_after(
    db: &DatabaseConnection,
    recipient: i64,
    after: i64,
    limit: u64,
    now: i64,
) -> Result<Vec<(deliveries::Model, messages::Model, Option<i64>)>, DbErr> {
    let rows = deliveries::Entity::find()
        .filter(deliveries::Column::RecipientUserId.eq(recipient))
        .filter(deliveries::Column::InboxSeq.gt(after))
        .filter(
            Condition::any()
                .add(messages::Column::ExpiresAt.is_null())
                .add(messages::Column::ExpiresAt.gt(now)),
        )
        .order_by_asc(deliveries::Column::InboxSeq)
        .limit(limit)
        .find_also_related(messages::Entity)
        .all(db)
        .await?;
    let mut page = Vec::with_capacity(rows.len());
    for (delivery, message) in rows {
        let Some(message) = message else { continue };
        let group_id = conversations::Entity::find_by_id(message.conversation_id)
            .one(db)
            .await?
            .and_then(|conversation| conversation.group_id);
        page.push((delivery, message, group_id));
    }
    Ok(page)
}
