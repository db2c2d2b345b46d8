//! Persistence of messages, receipts and inbox positions. A message, its sequence numbers and
//! its deliveries are stored together or not at all: in the request's own transaction, or in
//! the transaction of the batch it arrived in (`*_in` functions take the transaction).

use natter_entities::{
    blocks, conversations, deliveries, group_members, media, messages, read_positions,
};
use natter_proto::envelope::{MessageKind, ReceiptStatus, Target};

use crate::statements;
use sea_orm::sea_query::{Expr, Func, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::refusal::Refusal;

/// A message as stored, with what its events need.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub(crate) message: messages::Model,
    pub(crate) group_id: Option<i64>,
    /// (recipient, inbox position) of each new delivery; empty for a duplicate.
    pub(crate) deliveries: Vec<(i64, i64)>,
    /// The position of the sender's own copy in the sender's inbox (for the sender's other
    /// devices); `None` when the sender is also a recipient (system entries) or the message
    /// predates own copies.
    pub(crate) own: Option<i64>,
    /// The message was stored before under the same client id: nothing new to deliver.
    pub(crate) duplicate: bool,
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

/// Stores a message and a pending delivery per recipient inside `txn`, or returns the message
/// already stored under the same client id (then with no new deliveries). A refusal writes
/// nothing, so a batch may go on after one (`unknown_recipient`, `not_a_member`,
/// `unknown_media`, or `unknown_reply` when `reply_to` names no message of the conversation
/// the send goes to: a forged quote).
pub(crate) async fn persist_in(
    txn: &impl ConnectionTrait,
    send: Send<'_>,
) -> Result<Result<Stored, Refusal>, DbErr> {
    // One round trip for every check of the common case (statements.rs).
    let found = match send.to {
        Target::User(recipient) => {
            statements::lookup_direct(txn, send.sender, send.client_id, recipient).await?
        }
        Target::Group(group_id) => {
            statements::lookup_group(txn, send.sender, send.client_id, group_id).await?
        }
    };
    if found.existing.is_some()
        && let Some(stored) = existing(txn, send.sender, send.client_id).await?
    {
        return Ok(Ok(stored));
    }
    if let Some(media_id) = send.media
        && !may_attach(txn, send.sender, media_id).await?
    {
        return Ok(Err(Refusal::UnknownMedia));
    }
    if let Some(quoted) = send.reply_to
        && !quote_fits(txn, quoted, send.sender, send.to).await?
    {
        return Ok(Err(Refusal::UnknownReply));
    }
    let (conversation, recipients) = match send.to {
        Target::User(recipient) => {
            if !found.target_live || recipient == send.sender {
                return Ok(Err(Refusal::UnknownRecipient));
            }
            let conversation = match found.conversation {
                Some((id, timer)) => Conversation::new(id, None, timer),
                None => {
                    let created =
                        direct_conversation(txn, send.sender, recipient, send.now).await?;
                    Conversation::of(&created)
                }
            };
            // A recipient who blocked the sender gets nothing; the sender still sees "sent".
            let recipients = if found.flag {
                Vec::new()
            } else {
                vec![recipient]
            };
            (conversation, recipients)
        }
        Target::Group(group_id) => {
            if !found.flag || !found.target_live {
                return Ok(Err(Refusal::NotAMember));
            }
            let conversation = match found.conversation {
                Some((id, timer)) => Conversation::new(id, Some(group_id), timer),
                None => Conversation::of(&group_conversation(txn, group_id, send.now).await?),
            };
            let members = statements::other_members(txn, group_id, send.sender).await?;
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
    let appended = append_to(txn, conversation, entry, &recipients).await?;
    Ok(Ok(Stored {
        message: appended.message,
        group_id: conversation.group_id,
        deliveries: appended.deliveries,
        own: appended.own,
        duplicate: false,
    }))
}

/// What appending to a conversation needs of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conversation {
    id: i64,
    group_id: Option<i64>,
    disappearing_secs: Option<i32>,
}

impl Conversation {
    fn new(id: i64, group_id: Option<i64>, disappearing_secs: Option<i32>) -> Conversation {
        Conversation {
            id,
            group_id,
            disappearing_secs,
        }
    }

    fn of(model: &conversations::Model) -> Conversation {
        Conversation::new(model.id, model.group_id, model.disappearing_secs)
    }
}

/// Whether message `quoted` may be quoted by a send of `sender` to `to`: it is a message (not
/// an edit, deletion or reaction entry) of that very conversation. Reads only, so that a
/// refusal writes nothing.
async fn quote_fits(
    txn: &impl ConnectionTrait,
    quoted: i64,
    sender: i64,
    to: Target,
) -> Result<bool, DbErr> {
    let Some(message) = messages::Entity::find_by_id(quoted).one(txn).await? else {
        return Ok(false);
    };
    if !matches!(
        MessageKind::from_stored(&message.kind),
        MessageKind::Text | MessageKind::Media | MessageKind::System
    ) {
        return Ok(false);
    }
    let Some(conversation) = conversations::Entity::find_by_id(message.conversation_id)
        .one(txn)
        .await?
    else {
        return Ok(false);
    };
    Ok(match to {
        Target::Group(group_id) => conversation.group_id == Some(group_id),
        Target::User(recipient) => {
            let (low, high) = (Ord::min(sender, recipient), Ord::max(sender, recipient));
            conversation.group_id.is_none()
                && conversation.user_low == Some(low)
                && conversation.user_high == Some(high)
        }
    })
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

/// What [`append`] stored.
#[derive(Debug)]
pub(crate) struct Appended {
    pub(crate) message: messages::Model,
    /// (recipient, inbox position) per delivery.
    pub(crate) deliveries: Vec<(i64, i64)>,
    /// The position of the sender's own copy, when the sender is not a recipient.
    pub(crate) own: Option<i64>,
}

/// Appends `entry` to `conversation` with the next sequence number (and an expiry when the
/// conversation has a timer), a pending delivery in each recipient's inbox and, unless the
/// sender is one of the recipients, the sender's own copy in the sender's inbox (status
/// `own`: for the sender's other devices). The own copy takes its position in the same
/// `UPDATE … RETURNING` and its row in the same multi-row insert as the deliveries. Must run
/// in a transaction.
pub(crate) async fn append(
    txn: &impl ConnectionTrait,
    conversation: &conversations::Model,
    entry: Entry,
    recipients: &[i64],
) -> Result<Appended, DbErr> {
    let mut inboxes = recipients.to_vec();
    inboxes.push(entry.sender);
    statements::lock_users(txn, inboxes).await?;
    append_to(txn, Conversation::of(conversation), entry, recipients).await
}

/// [`append`] once the rows of the sender and the recipients are locked (a batch of sends
/// locks every user it touches first, `send::in_one_transaction`), written out as statements
/// (statements.rs).
async fn append_to(
    txn: &impl ConnectionTrait,
    conversation: Conversation,
    entry: Entry,
    recipients: &[i64],
) -> Result<Appended, DbErr> {
    let seq = statements::next_seq(txn, conversation.id).await?;
    let expires_at = conversation
        .disappearing_secs
        .filter(|secs| *secs > 0)
        .map(|secs| entry.now.saturating_add(i64::from(secs) * 1000));
    let id = statements::insert_message(
        txn,
        &statements::NewMessage {
            conversation_id: conversation.id,
            seq,
            sender: entry.sender,
            device: entry.device,
            client_id: &entry.client_id,
            kind: entry.kind.as_str(),
            body: &entry.body,
            reply_to: entry.reply_to,
            media: entry.media,
            created_at: entry.now,
            expires_at,
        },
    )
    .await?;
    let message = messages::Model {
        id,
        conversation_id: conversation.id,
        seq,
        sender_user_id: entry.sender,
        sender_device_id: entry.device,
        client_msg_id: entry.client_id,
        kind: entry.kind.as_str().into(),
        body: entry.body,
        reply_to_id: entry.reply_to,
        media_id: entry.media,
        created_at: entry.now,
        edited_at: None,
        deleted_at: None,
        expires_at,
    };
    let sender = entry.sender;
    let own_copy = !recipients.contains(&sender);
    let mut inboxes = recipients.to_vec();
    if own_copy {
        inboxes.push(sender);
    }
    inboxes.sort_unstable();
    inboxes.dedup();
    let mut new_deliveries = Vec::with_capacity(inboxes.len());
    for chunk in inboxes.chunks(ROWS_PER_STATEMENT) {
        let positions = statements::next_inbox_positions(txn, chunk).await?;
        let rows: Vec<(i64, i64, &'static str)> = positions
            .iter()
            .map(|&(recipient, inbox_seq)| {
                let status = if own_copy && recipient == sender {
                    deliveries::STATUS_OWN
                } else {
                    deliveries::STATUS_PENDING
                };
                (recipient, inbox_seq, status)
            })
            .collect();
        statements::insert_deliveries(txn, id, entry.now, &rows).await?;
        new_deliveries.extend(positions);
    }
    let own = if own_copy {
        let index = new_deliveries
            .iter()
            .position(|&(recipient, _)| recipient == sender);
        index.map(|index| new_deliveries.remove(index).1)
    } else {
        None
    };
    Ok(Appended {
        message,
        deliveries: new_deliveries,
        own,
    })
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
    let own = deliveries::Entity::find_by_id((message.id, sender))
        .one(txn)
        .await?
        .filter(|delivery| delivery.status == deliveries::STATUS_OWN)
        .map(|delivery| delivery.inbox_seq);
    Ok(Some(Stored {
        message,
        group_id,
        deliveries: Vec::new(),
        own,
        duplicate: true,
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

/// Rows (or ids) one statement carries at most: far below SQLite's and PostgreSQL's limits
/// on bound parameters, whatever the group size.
const ROWS_PER_STATEMENT: usize = 500;

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

/// What a receipt changed.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    /// Per message sender, the ids that moved.
    pub(crate) by_sender: Vec<ReceiptChange>,
    /// Per conversation, the highest position among the messages that moved.
    pub(crate) conversations: Vec<(i64, i64)>,
}

/// Records a receipt from `recipient` for `ids` inside `txn` (only moving forward: pending →
/// delivered → read; the recipient's own copies of what it sent never move) and returns, per
/// message sender, the ids whose state changed.
pub(crate) async fn record_receipt_in(
    txn: &impl ConnectionTrait,
    recipient: i64,
    status: ReceiptStatus,
    ids: &[i64],
    now: i64,
) -> Result<Recorded, DbErr> {
    let rank = |stored: &str| match stored {
        deliveries::STATUS_READ => 2,
        deliveries::STATUS_DELIVERED => 1,
        _ => 0,
    };
    let wanted = match status {
        ReceiptStatus::Delivered => 1,
        ReceiptStatus::Read => 2,
    };
    let moving: Vec<messages::Model> = deliveries::Entity::find()
        .filter(deliveries::Column::RecipientUserId.eq(recipient))
        .filter(deliveries::Column::MessageId.is_in(ids.iter().copied()))
        .filter(deliveries::Column::Status.ne(deliveries::STATUS_OWN))
        .find_also_related(messages::Entity)
        .all(txn)
        .await?
        .into_iter()
        .filter(|(delivery, _)| rank(&delivery.status) < wanted)
        .filter_map(|(_, message)| message)
        .collect();
    if moving.is_empty() {
        return Ok(Recorded::default());
    }
    // One statement for every row that moves; a read receipt also marks unreported
    // deliveries as delivered now.
    let mut update = deliveries::Entity::update_many()
        .filter(deliveries::Column::RecipientUserId.eq(recipient))
        .filter(deliveries::Column::MessageId.is_in(moving.iter().map(|message| message.id)));
    update = match status {
        ReceiptStatus::Delivered => update
            .col_expr(
                deliveries::Column::Status,
                Expr::value(deliveries::STATUS_DELIVERED),
            )
            .col_expr(deliveries::Column::DeliveredAt, Expr::value(now)),
        ReceiptStatus::Read => update
            .col_expr(
                deliveries::Column::Status,
                Expr::value(deliveries::STATUS_READ),
            )
            .col_expr(deliveries::Column::ReadAt, Expr::value(now))
            .col_expr(
                deliveries::Column::DeliveredAt,
                Expr::from(Func::coalesce([
                    Expr::col(deliveries::Column::DeliveredAt),
                    Expr::value(now),
                ])),
            ),
    };
    update.exec(txn).await?;
    let groups = group_conversations(txn, &moving).await?;
    let mut conversations: Vec<(i64, i64)> = Vec::new();
    for message in &moving {
        match conversations
            .iter_mut()
            .find(|(conversation, _)| *conversation == message.conversation_id)
        {
            Some((_, seq)) => *seq = Ord::max(*seq, message.seq),
            None => conversations.push((message.conversation_id, message.seq)),
        }
    }
    let mut by_sender: Vec<ReceiptChange> = Vec::new();
    for message in moving {
        let everyone = groups.contains(&message.conversation_id)
            && reached_by_all(txn, &message, status).await?;
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
    Ok(Recorded {
        by_sender,
        conversations,
    })
}

/// Moves `user`'s read position in each of `conversations` (conversation, highest position
/// read) forward, each move taking a new position in the user's inbox. Returns
/// (conversation, read position, inbox position) for each that moved.
pub(crate) async fn move_read_positions_in(
    txn: &impl ConnectionTrait,
    user: i64,
    conversations: &[(i64, i64)],
    now: i64,
) -> Result<Vec<(i64, i64, i64)>, DbErr> {
    let mut moved = Vec::new();
    for &(conversation_id, seq) in conversations {
        let existing = read_positions::Entity::find_by_id((user, conversation_id))
            .one(txn)
            .await?;
        if existing.as_ref().is_some_and(|row| row.seq >= seq) {
            continue;
        }
        let Some(&(_, inbox_seq)) = statements::next_inbox_positions(txn, &[user])
            .await?
            .first()
        else {
            return Err(DbErr::RecordNotFound(format!("user {user}")));
        };
        let row = read_positions::ActiveModel {
            user_id: Set(user),
            conversation_id: Set(conversation_id),
            seq: Set(seq),
            inbox_seq: Set(inbox_seq),
            updated_at: Set(now),
        };
        // An upsert: another device of the user may have created the row meanwhile.
        read_positions::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    read_positions::Column::UserId,
                    read_positions::Column::ConversationId,
                ])
                .update_columns([
                    read_positions::Column::Seq,
                    read_positions::Column::InboxSeq,
                    read_positions::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        moved.push((conversation_id, seq, inbox_seq));
    }
    Ok(moved)
}

/// `user`'s read positions whose inbox position is after `after` and at most `upto`
/// (unbounded when `None`), in inbox order.
pub(crate) async fn read_positions_after(
    db: &DatabaseConnection,
    user: i64,
    after: i64,
    upto: Option<i64>,
) -> Result<Vec<read_positions::Model>, DbErr> {
    let mut query = read_positions::Entity::find()
        .filter(read_positions::Column::UserId.eq(user))
        .filter(read_positions::Column::InboxSeq.gt(after));
    if let Some(upto) = upto {
        query = query.filter(read_positions::Column::InboxSeq.lte(upto));
    }
    query
        .order_by_asc(read_positions::Column::InboxSeq)
        .all(db)
        .await
}

/// The conversations among those of `messages` that belong to a group.
async fn group_conversations(
    txn: &impl ConnectionTrait,
    messages: &[messages::Model],
) -> Result<Vec<i64>, DbErr> {
    let mut ids: Vec<i64> = messages.iter().map(|m| m.conversation_id).collect();
    ids.sort_unstable();
    ids.dedup();
    conversations::Entity::find()
        .select_only()
        .column(conversations::Column::Id)
        .filter(conversations::Column::Id.is_in(ids))
        .filter(conversations::Column::GroupId.is_not_null())
        .into_tuple()
        .all(txn)
        .await
}

/// Whether every recipient of (group) `message` has now delivered (or read) it.
async fn reached_by_all(
    txn: &impl ConnectionTrait,
    message: &messages::Model,
    status: ReceiptStatus,
) -> Result<bool, DbErr> {
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
    // One statement: the deliveries, their messages and their conversations' groups.
    statements::inbox_after(db, recipient, after, limit, now).await
}
