//! Message info (who has received and read a message I sent) and conversation timers
//! (disappearing messages).

use natter_entities::{conversations, deliveries, messages, users};
use natter_proto::call::{MessageRef, Timer};
use natter_proto::envelope::Target;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde_json::json;

use crate::calls::{Answer, Ctx, Failure};
use crate::refusal::Refusal;
use crate::store;

/// Longest timer: 90 days, in seconds.
const MAX_TIMER_SECS: i32 = 90 * 24 * 60 * 60;

/// Per recipient of a message I sent: status and times; and whether all have it.
pub(crate) async fn message_info(ctx: &Ctx<'_>, params: MessageRef) -> Result<Answer, Failure> {
    let message = messages::Entity::find_by_id(params.message)
        .one(ctx.db)
        .await?
        .filter(|message| message.sender_user_id == ctx.caller.user)
        .ok_or(Failure(Refusal::NotYourMessage))?;
    let rows = deliveries::Entity::find()
        .filter(deliveries::Column::MessageId.eq(message.id))
        .filter(deliveries::Column::Status.ne(deliveries::STATUS_OWN))
        .order_by_asc(deliveries::Column::RecipientUserId)
        .all(ctx.db)
        .await?;
    let delivered_to_all = rows
        .iter()
        .all(|row| row.status != deliveries::STATUS_PENDING);
    let read_by_all = rows.iter().all(|row| row.status == deliveries::STATUS_READ);
    let recipients: Vec<_> = rows
        .iter()
        .map(|row| {
            json!({
                "user": row.recipient_user_id,
                "status": row.status,
                "delivered_at": row.delivered_at,
                "read_at": row.read_at,
            })
        })
        .collect();
    Ok(Answer::only(json!({
        "message": message.id,
        "recipients": recipients,
        "delivered_to_all": delivered_to_all,
        "read_by_all": read_by_all,
    })))
}

/// Sets (or with 0 clears) the disappearing-message timer of a conversation I take part in.
/// Messages stored afterwards expire that many seconds after they were sent.
pub(crate) async fn set_timer(ctx: &Ctx<'_>, params: Timer) -> Result<Answer, Failure> {
    if !(0..=MAX_TIMER_SECS).contains(&params.secs) {
        let message = "secs must be 0 (off) to 7776000 (90 days)";
        return Err(Refusal::BadParams(message.to_owned()).into());
    }
    let me = ctx.caller.user;
    let now = ctx.caller.now;
    let txn = ctx.db.begin().await?;
    let conversation = match params.to {
        Target::User(other) => {
            let live = users::Entity::find_by_id(other)
                .one(&txn)
                .await?
                .is_some_and(|user| user.deleted_at.is_none());
            if !live || other == me {
                return Err(Refusal::UnknownRecipient.into());
            }
            store::conversation_between(&txn, me, other, now).await?
        }
        Target::Group(group_id) => store::conversation_of_group(&txn, group_id, now).await?,
    };
    if !store::participates(&txn, &conversation, me).await? {
        return Err(Refusal::NotInConversation.into());
    }
    let secs = (params.secs > 0).then_some(params.secs);
    let mut update: conversations::ActiveModel = conversation.clone().into();
    update.disappearing_secs = Set(secs);
    let conversation = update.update(&txn).await?;
    // The announcement itself does not disappear: everyone should see that the timer changed.
    let mut announced = conversation.clone();
    announced.disappearing_secs = None;
    let mut recipients = store::recipients(&txn, &conversation, me).await?;
    recipients.push(me);
    let event = json!({"event": "timer", "by": me, "secs": params.secs});
    let outs =
        crate::calls::system_entry(&txn, &announced, ctx.caller, &event, &recipients).await?;
    txn.commit().await?;
    Ok(Answer {
        result: json!({"conversation": conversation.id, "secs": params.secs}),
        outs,
    })
}
