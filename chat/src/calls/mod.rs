//! Calls: request/response operations over MQTT. A device publishes
//! `{"type":"call","rid":"r1","method":"group.create","params":{...}}` on its outbox and gets
//! `{"type":"result","rid":"r1","result":{...}}` or `{"type":"error","rid":"r1",...}` on
//! `u/{me}/reply/{device}`. Operations that change a conversation also append system events
//! to it, delivered like messages.

mod accounts;
mod groups;
mod info;
mod presence;

use natter_config::MessagingSettings;
use natter_proto::envelope::Event;
use sea_orm::{DatabaseConnection, DbErr};
use serde::de::DeserializeOwned;
use tracing::warn;

use crate::messaging::{Caller, Out};

/// Longest request id.
const MAX_RID_CHARS: usize = 64;

/// Why a call was refused: a stable code and a human message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<DbErr> for Failure {
    fn from(err: DbErr) -> Failure {
        metrics::counter!(crate::telemetry::PERSIST_ERRORS).increment(1);
        warn!(error = %err, "call failed in the database");
        Failure::new(
            "unavailable",
            "the server could not do this now; call again",
        )
    }
}

/// What a call answers and what else it publishes.
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
    pub(crate) settings: &'a MessagingSettings,
    pub(crate) caller: &'a Caller,
}

/// The settings calls need.
#[derive(Clone, Debug)]
pub(crate) struct CallSettings {
    pub(crate) messaging: MessagingSettings,
    pub(crate) accounts: natter_config::AccountsSettings,
    pub(crate) presence: Option<std::sync::Arc<dyn natter_presence::PresenceStore>>,
}

/// Runs `method` for `caller` and returns what to publish: the answer on the device's reply
/// topic after anything the call changed.
pub(crate) async fn call(
    db: &DatabaseConnection,
    settings: &CallSettings,
    caller: &Caller,
    rid: String,
    method: &str,
    params: serde_json::Value,
) -> Vec<Out> {
    if rid.is_empty() || rid.chars().count() > MAX_RID_CHARS {
        let failure = Failure::new("bad_rid", "the rid must have 1 to 64 characters");
        return vec![answer_error(caller, rid, failure)];
    }
    let ctx = Ctx {
        db,
        settings: &settings.messaging,
        caller,
    };
    let outcome = match method {
        "group.create" => groups::create(&ctx, parse(params)).await,
        "group.info" => groups::info(&ctx, parse(params)).await,
        "group.update" => groups::update(&ctx, parse(params)).await,
        "group.add" => groups::add(&ctx, parse(params)).await,
        "group.remove" => groups::remove(&ctx, parse(params)).await,
        "group.promote" => groups::set_role(&ctx, parse(params), groups::ADMIN).await,
        "group.demote" => groups::set_role(&ctx, parse(params), groups::MEMBER).await,
        "group.leave" => groups::leave(&ctx, parse(params)).await,
        "group.invite" => groups::invite(&ctx, parse(params)).await,
        "group.revoke_invite" => groups::revoke_invite(&ctx, parse(params)).await,
        "group.join" => groups::join(&ctx, parse(params)).await,
        "message.info" => info::message_info(&ctx, parse(params)).await,
        "conversation.timer" => info::set_timer(&ctx, parse(params)).await,
        "presence.query" => {
            presence::query(db, settings.presence.as_deref(), caller, parse(params)).await
        }
        _ => match accounts::call(db, &settings.accounts, caller, method, params).await {
            Some(outcome) => outcome,
            None => Err(Failure::new(
                "unknown_method",
                format!("no method {method:?} (docs/PROTOCOL.md lists them)"),
            )),
        },
    };
    match outcome {
        Ok(Answer { result, mut outs }) => {
            outs.push(Out::Event(
                caller.reply.clone(),
                Event::Result { rid, result },
            ));
            outs
        }
        Err(failure) => vec![answer_error(caller, rid, failure)],
    }
}

/// Decodes a method's parameters.
pub(crate) fn parse<P: DeserializeOwned>(params: serde_json::Value) -> Result<P, Failure> {
    let params = if params.is_null() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        params
    };
    serde_json::from_value(params)
        .map_err(|err| Failure::new("bad_params", format!("invalid params: {err}")))
}

fn answer_error(caller: &Caller, rid: String, failure: Failure) -> Out {
    Out::Event(
        caller.reply.clone(),
        Event::Error {
            id: None,
            rid: Some(rid),
            code: failure.code.to_owned(),
            message: failure.message,
            // Added for `unavailable` by the messaging worker, which knows the database's state.
            retry_after_ms: None,
        },
    )
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
    use crate::messaging::store::{self, Entry};
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
                natter_proto::topics::user_inbox(recipient),
                crate::messaging::message_event(&message, inbox_seq, conversation.group_id),
            )
        })
        .collect();
    // The actor is no longer a recipient (it left): its own copy goes to all of its devices,
    // the calling one too (nothing else tells it the copy's inbox position).
    if let Some(own) = appended.own {
        outs.push(Out::Event(
            natter_proto::topics::user_inbox(caller.user),
            crate::messaging::own_message_event(&message, own, conversation.group_id),
        ));
    }
    Ok(outs)
}
