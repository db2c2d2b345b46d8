//! Message info (who has received and read a message I sent) and conversation timers
//! (disappearing messages).

use natter_entities::{conversations, deliveries, messages, users};
use natter_proto::envelope::Target;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde::Deserialize;
use serde_json::json;

use crate::messaging::store;
use crate::rpc::{Answer, Ctx, Failure};

/// Longest timer: 90 days, in seconds.
const MAX_TIMER_SECS: i32 = 90 * 24 * 60 * 60;

#[derive(Debug, Deserialize)]
pub(crate) struct MessageInfo {
    message: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Timer {
    to: Target,
    secs: i32,
}

/// Per recipient of a message I sent: status and times; and whether all have it.
pub(crate) async fn message_info(
    ctx: &Ctx<'_>,
    params: Result<MessageInfo, Failure>,
) -> Result<Answer, Failure> {
    let params = params?;
    let message = messages::Entity::find_by_id(params.message)
        .one(ctx.db)
        .await?
        .filter(|message| message.sender_user_id == ctx.caller.user)
        .ok_or_else(|| Failure::new("unknown_message", "no message of yours has this id"))?;
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
pub(crate) async fn set_timer(
    ctx: &Ctx<'_>,
    params: Result<Timer, Failure>,
) -> Result<Answer, Failure> {
    let params = params?;
    if !(0..=MAX_TIMER_SECS).contains(&params.secs) {
        return Err(Failure::new(
            "bad_params",
            "secs must be 0 (off) to 7776000 (90 days)",
        ));
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
                return Err(Failure::new("unknown_recipient", "no such user"));
            }
            store::conversation_between(&txn, me, other, now).await?
        }
        Target::Group(group_id) => store::conversation_of_group(&txn, group_id, now).await?,
    };
    if !store::participates(&txn, &conversation, me).await? {
        return Err(Failure::new(
            "not_a_member",
            "you are not in this conversation",
        ));
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
    let outs = crate::rpc::system_entry(&txn, &announced, ctx.caller, &event, &recipients).await?;
    txn.commit().await?;
    Ok(Answer {
        result: json!({"conversation": conversation.id, "secs": params.secs}),
        outs,
    })
}
