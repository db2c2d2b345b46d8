//! Persistence of messages, receipts and inbox positions. One transaction per request: a
//! message, its sequence numbers and its deliveries are stored together or not at all.

use natter_entities::{
    blocks, conversations, deliveries, group_members, groups, media, messages, users,
};
use natter_proto::envelope::{ReceiptStatus, Target};
use sea_orm::sea_query::{Expr, ExprTrait};
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
    if let Some(existing) = messages::Entity::find()
        .filter(messages::Column::SenderUserId.eq(send.sender))
        .filter(messages::Column::ClientMsgId.eq(send.client_id))
        .one(&txn)
        .await?
    {
        let conversation = conversations::Entity::find_by_id(existing.conversation_id)
            .one(&txn)
            .await?;
        txn.commit().await?;
        let group_id = conversation.and_then(|conversation| conversation.group_id);
        return Ok(Ok(Stored {
            message: existing,
            group_id,
            deliveries: Vec::new(),
        }));
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
            let blocked = blocks::Entity::find_by_id((recipient, send.sender))
                .one(&txn)
                .await?
                .is_some();
            (
                conversation,
                if blocked { Vec::new() } else { vec![recipient] },
            )
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
            let members: Vec<i64> = group_members::Entity::find()
                .select_only()
                .column(group_members::Column::UserId)
                .filter(group_members::Column::GroupId.eq(group_id))
                .filter(group_members::Column::UserId.ne(send.sender))
                .into_tuple()
                .all(&txn)
                .await?;
            (conversation, members)
        }
    };
    let seq = next_value(&txn, conversation.id, Sequence::Conversation).await?;
    let message = messages::ActiveModel {
        conversation_id: Set(conversation.id),
        seq: Set(seq),
        sender_user_id: Set(send.sender),
        sender_device_id: Set(send.device),
        client_msg_id: Set(send.client_id.to_owned()),
        kind: Set(if send.media.is_some() {
            "media"
        } else {
            "text"
        }
        .into()),
        body: Set(send.body),
        reply_to_id: Set(send.reply_to),
        media_id: Set(send.media),
        created_at: Set(send.now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let mut new_deliveries = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let inbox_seq = next_value(&txn, recipient, Sequence::Inbox).await?;
        deliveries::ActiveModel {
            message_id: Set(message.id),
            recipient_user_id: Set(recipient),
            status: Set(deliveries::STATUS_PENDING.into()),
            created_at: Set(send.now),
            inbox_seq: Set(inbox_seq),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        new_deliveries.push((recipient, inbox_seq));
    }
    txn.commit().await?;
    Ok(Ok(Stored {
        message,
        group_id: conversation.group_id,
        deliveries: new_deliveries,
    }))
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

/// The conversation matching `key`, or `new` inserted with sequence 0.
async fn find_or_create(
    txn: &impl ConnectionTrait,
    key: Condition,
    mut new: conversations::ActiveModel,
    now: i64,
) -> Result<conversations::Model, DbErr> {
    if let Some(conversation) = conversations::Entity::find().filter(key).one(txn).await? {
        return Ok(conversation);
    }
    new.last_seq = Set(0);
    new.created_at = Set(now);
    new.insert(txn).await
}

/// Records a receipt from `recipient` for `ids` (only moving forward: pending → delivered →
/// read) and returns, per message sender, the ids whose state changed.
pub(crate) async fn record_receipt(
    db: &DatabaseConnection,
    recipient: i64,
    status: ReceiptStatus,
    ids: &[i64],
    now: i64,
) -> Result<Vec<(i64, Vec<i64>)>, DbErr> {
    let txn = db.begin().await?;
    let mut by_sender: Vec<(i64, Vec<i64>)> = Vec::new();
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
        match by_sender
            .iter_mut()
            .find(|(sender, _)| *sender == message.sender_user_id)
        {
            Some((_, changed)) => changed.push(message.id),
            None => by_sender.push((message.sender_user_id, vec![message.id])),
        }
    }
    txn.commit().await?;
    Ok(by_sender)
}

/// One page of `recipient`'s inbox after position `after`, in order.
pub(crate) async fn inbox_after(
    db: &DatabaseConnection,
    recipient: i64,
    after: i64,
    limit: u64,
) -> Result<Vec<(deliveries::Model, messages::Model, Option<i64>)>, DbErr> {
    let rows = deliveries::Entity::find()
        .filter(deliveries::Column::RecipientUserId.eq(recipient))
        .filter(deliveries::Column::InboxSeq.gt(after))
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
