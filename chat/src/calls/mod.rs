//! Calls: request/response operations. A device calls a method (`group.create`, …) with a
//! request id and gets a `result` or an `error` for that `rid` on its own device. Operations
//! that change a conversation also append system events to it, delivered like messages.

mod accounts;
mod groups;
mod info;
mod presence;

use natter_proto::Call;
use natter_proto::envelope::Event;
use sea_orm::{DatabaseConnection, DbErr};
use tracing::warn;

use crate::chat::ChatSettings;
use crate::events::{message_event, own_message_event};
use crate::refusal::{Refusal, Refused, UNAVAILABLE_CALL};
use crate::request::{Address, Caller, Out, Outcome};

/// Why a call was refused. A database error becomes `unavailable` (logged and counted here,
/// where it is handled), so that handlers can use `?` on database calls.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) Refusal);

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Failure {
        Failure(refusal)
    }
}

impl From<DbErr> for Failure {
    fn from(err: DbErr) -> Failure {
        metrics::counter!(crate::telemetry::PERSIST_ERRORS).increment(1);
        warn!(error = %err, "call failed in the database");
        Failure(unavailable())
    }
}

/// `unavailable` for a call (its retry hint is added in `Chat::handle_batch`).
pub(crate) fn unavailable() -> Refusal {
    Refusal::Unavailable {
        retry_after_ms: None,
        message: UNAVAILABLE_CALL,
    }
}

/// What a call answers and what else it asks to tell.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) result: serde_json::Value,
    pub(crate) outs: Vec<Out>,
}

impl Answer {
    pub(crate) fn only(result: serde_json::Value) -> Answer {
        Answer {
            result,
            outs: Vec::new(),
        }
    }
}

/// Everything a call handler needs.
pub(crate) struct Ctx<'a> {
    pub(crate) db: &'a DatabaseConnection,
    pub(crate) settings: &'a natter_config::MessagingSettings,
    pub(crate) caller: &'a Caller,
}

/// Runs `call` for `caller`: anything the call changed, then the answer for `rid` on the
/// caller's device.
pub(crate) async fn call(
    db: &DatabaseConnection,
    settings: &ChatSettings,
    caller: &Caller,
    rid: String,
    call: Call,
) -> Outcome {
    let ctx = Ctx {
        db,
        settings: &settings.messaging,
        caller,
    };
    let outcome = match call {
        Call::GroupCreate(params) => groups::create(&ctx, params).await,
        Call::GroupInfo(params) => groups::info(&ctx, params).await,
        Call::GroupUpdate(params) => groups::update(&ctx, params).await,
        Call::GroupAdd(params) => groups::add(&ctx, params).await,
        Call::GroupRemove(params) => groups::remove(&ctx, params).await,
        Call::GroupPromote(params) => groups::set_role(&ctx, params, groups::ADMIN).await,
        Call::GroupDemote(params) => groups::set_role(&ctx, params, groups::MEMBER).await,
        Call::GroupLeave(params) => groups::leave(&ctx, params).await,
        Call::GroupInvite(params) => groups::invite(&ctx, params).await,
        Call::GroupRevokeInvite(params) => groups::revoke_invite(&ctx, params).await,
        Call::GroupJoin(params) => groups::join(&ctx, params).await,
        Call::MessageInfo(params) => info::message_info(&ctx, params).await,
        Call::ConversationTimer(params) => info::set_timer(&ctx, params).await,
        Call::PresenceQuery(params) => {
            presence::query(db, settings.presence.as_deref(), caller, params).await
        }
        other => {
            let method = other.method();
            match accounts::call(db, &settings.accounts, caller, other).await {
                Some(outcome) => outcome,
                // Every other call is an account call: this would be a method added to
                // `Call` and dispatched nowhere.
                None => Err(Failure(Refusal::UnknownMethod(method.to_owned()))),
            }
        }
    };
    match outcome {
        Ok(Answer { result, mut outs }) => {
            outs.push(Out::Event(
                Address::CallerDevice,
                Event::Result { rid, result },
            ));
            outs
        }
        Err(Failure(refusal)) => vec![Out::Refused(Refused {
            id: None,
            rid: Some(rid),
            refusal,
        })],
    }
}

/// Appends a `system` entry with `event` (a JSON object) to `conversation`, delivered to
/// `recipients`, and returns the `message` events to publish once the transaction commits.
pub(crate) async fn system_entry(
    txn: &impl sea_orm::ConnectionTrait,
    conversation: &natter_entities::conversations::Model,
    caller: &Caller,
    event: &serde_json::Value,
    recipients: &[i64],
) -> Result<Vec<Out>, Failure> {
    use crate::store::{self, Entry};
    let entry = Entry {
        sender: caller.user,
        device: caller.device,
        client_id: format!("system:{}", uuid::Uuid::new_v4().simple()),
        kind: natter_proto::envelope::MessageKind::System,
        body: event.to_string().into_bytes(),
        reply_to: None,
        media: None,
        now: caller.now,
    };
    let appended = store::append(txn, conversation, entry, recipients).await?;
    let message = appended.message;
    let mut outs: Vec<Out> = appended
        .deliveries
        .into_iter()
        .map(|(recipient, inbox_seq)| {
            Out::Event(
                Address::User(recipient),
                message_event(&message, inbox_seq, conversation.group_id),
            )
        })
        .collect();
    // The actor is no longer a recipient (it left): its own copy goes to all of its devices,
    // the calling one too (nothing else tells it the copy's inbox position).
    if let Some(own) = appended.own {
        outs.push(Out::Event(
            Address::User(caller.user),
            own_message_event(&message, own, conversation.group_id),
        ));
    }
    Ok(outs)
}
