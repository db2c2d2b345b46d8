//! One vocabulary of refusals: every way natter turns a request down, each with a stable
//! wire code ([`Refusal::code`]) and the human message clients have always been shown.
//! Refusals are answers, not server errors: they go to the caller's device as an `error`
//! event naming the request (its client `id` or call `rid`).

use natter_proto::call::CallError;
use natter_proto::envelope::Event;

/// Why a request was turned down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `bad_request`: the payload is no request (the detail says why).
    BadRequest(String),
    /// `bad_topic`: the request went to a topic that carries none (the message says where
    /// requests go).
    BadTopic(String),
    /// `bad_id`: a client id must have 1 to 128 characters.
    BadId,
    /// `too_many_ids`: a receipt names at most 1000 messages.
    TooManyIds,
    /// `unknown_recipient`: no such user (or the caller itself).
    UnknownRecipient,
    /// `not_a_member`: the caller is not a member of the group.
    NotAMember,
    /// `not_a_member`: the caller takes no part in the conversation.
    NotInConversation,
    /// `not_a_member`: this user is not in the group.
    NotInGroup(i64),
    /// `unknown_media`: no such media item, or the sender neither uploaded nor received it.
    UnknownMedia,
    /// `unknown_reply`: `reply_to` names no message of the conversation.
    UnknownReply,
    /// `unknown_message`: no such message (or not one the caller may see).
    UnknownMessage,
    /// `unknown_message`: no message of the caller's has this id.
    NotYourMessage,
    /// `not_author`: only its author may edit a message.
    NotAuthorOfEdit,
    /// `not_author`: only its author may delete a message for everyone.
    NotAuthorOfDeletion,
    /// `edit_window_over`: the message is too old to edit.
    EditWindowOver,
    /// `bad_reaction`: a reaction is at most 32 bytes.
    BadReaction,
    /// `bad_rid`: a call id must have 1 to 64 characters.
    BadRid,
    /// `unknown_method`: no such method (its name).
    UnknownMethod(String),
    /// `bad_params`: the call's parameters do not fit (the message says how).
    BadParams(String),
    /// `unknown_group`: no such group (or deleted).
    UnknownGroup(i64),
    /// `not_an_admin`: only group admins may do this.
    NotAnAdmin,
    /// `last_admin`: a group keeps at least one admin.
    LastAdmin,
    /// `group_full`: the group has reached its member limit.
    GroupFull(u32),
    /// `invalid_invite`: the invite token is revoked or mistyped.
    InvalidInvite,
    /// `forbidden`: the caller's device may not do this (the message says why).
    Forbidden(&'static str),
    /// An account rule's refusal, with the same code as over HTTP (`natter_accounts`).
    Account {
        /// `natter_accounts::Error::code`.
        code: &'static str,
        /// Its message.
        message: String,
    },
    /// `unavailable`: the server could not do this now; the client sends it again after
    /// `retry_after_ms` (every `unavailable` answer carries one).
    Unavailable {
        /// How long to wait, filled in from the database's state.
        retry_after_ms: Option<u64>,
        /// What the message says (see the `UNAVAILABLE_*` constants).
        message: &'static str,
    },
    /// `too_large`: the answer does not fit in the server's packet limit.
    TooLarge {
        /// The answer's size, in bytes.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

/// The message of a request refused for lack of the database.
pub const UNAVAILABLE_REQUEST: &str =
    "the server could not do this now; send it again after retry_after_ms";
/// The message of a call that failed in the database.
pub const UNAVAILABLE_CALL: &str = "the server could not do this now; call again";
/// The message of a presence query where presence cannot be reached.
pub const UNAVAILABLE_PRESENCE: &str =
    "presence is not reachable from this bridge (run it with the broker, or set redis.url)";

impl Refusal {
    /// The stable machine-readable code on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::BadRequest(_) => "bad_request",
            Refusal::BadTopic(_) => "bad_topic",
            Refusal::BadId => "bad_id",
            Refusal::TooManyIds => "too_many_ids",
            Refusal::UnknownRecipient => "unknown_recipient",
            Refusal::NotAMember | Refusal::NotInConversation | Refusal::NotInGroup(_) => {
                "not_a_member"
            }
            Refusal::UnknownMedia => "unknown_media",
            Refusal::UnknownReply => "unknown_reply",
            Refusal::UnknownMessage | Refusal::NotYourMessage => "unknown_message",
            Refusal::NotAuthorOfEdit | Refusal::NotAuthorOfDeletion => "not_author",
            Refusal::EditWindowOver => "edit_window_over",
            Refusal::BadReaction => "bad_reaction",
            Refusal::BadRid => "bad_rid",
            Refusal::UnknownMethod(_) => "unknown_method",
            Refusal::BadParams(_) => "bad_params",
            Refusal::UnknownGroup(_) => "unknown_group",
            Refusal::NotAnAdmin => "not_an_admin",
            Refusal::LastAdmin => "last_admin",
            Refusal::GroupFull(_) => "group_full",
            Refusal::InvalidInvite => "invalid_invite",
            Refusal::Forbidden(_) => "forbidden",
            Refusal::Account { code, .. } => code,
            Refusal::Unavailable { .. } => "unavailable",
            Refusal::TooLarge { .. } => "too_large",
        }
    }

    /// The human explanation.
    pub fn message(&self) -> String {
        match self {
            Refusal::BadRequest(detail) => format!("not a valid request: {detail}"),
            Refusal::BadTopic(message) | Refusal::BadParams(message) => message.clone(),
            Refusal::BadId => "the id must have 1 to 128 characters".to_owned(),
            Refusal::TooManyIds => "at most 1000 ids per receipt".to_owned(),
            Refusal::UnknownRecipient => "no such user".to_owned(),
            Refusal::NotAMember => "you are not a member of this group".to_owned(),
            Refusal::NotInConversation => "you are not in this conversation".to_owned(),
            Refusal::NotInGroup(user) => format!("user {user} is not in this group"),
            Refusal::UnknownMedia => {
                "no such media item, or you neither uploaded nor received it".to_owned()
            }
            Refusal::UnknownReply => "reply_to names no message of this conversation".to_owned(),
            Refusal::UnknownMessage => "no such message".to_owned(),
            Refusal::NotYourMessage => "no message of yours has this id".to_owned(),
            Refusal::NotAuthorOfEdit => "only its author may edit a message".to_owned(),
            Refusal::NotAuthorOfDeletion => {
                "only its author may delete a message for everyone".to_owned()
            }
            Refusal::EditWindowOver => "the edit window of this message is over".to_owned(),
            Refusal::BadReaction => "a reaction is at most 32 bytes".to_owned(),
            Refusal::BadRid => "the rid must have 1 to 64 characters".to_owned(),
            Refusal::UnknownMethod(method) => CallError::UnknownMethod(method.clone()).to_string(),
            Refusal::UnknownGroup(group) => format!("no group {group}"),
            Refusal::NotAnAdmin => "only group admins may do this".to_owned(),
            Refusal::LastAdmin => {
                "a group keeps at least one admin; promote another first".to_owned()
            }
            Refusal::GroupFull(limit) => format!("a group has at most {limit} members"),
            Refusal::InvalidInvite => {
                "this invite link is not valid (revoked or mistyped)".to_owned()
            }
            Refusal::Forbidden(message) | Refusal::Unavailable { message, .. } => {
                (*message).to_owned()
            }
            Refusal::Account { message, .. } => message.clone(),
            Refusal::TooLarge { bytes, limit } => format!(
                "the answer is {bytes} bytes, over the server's limit of {limit} \
                 (mqtt.max_packet_size plus headroom): ask for less at a time"
            ),
        }
    }
}

impl From<CallError> for Refusal {
    fn from(err: CallError) -> Refusal {
        match err {
            CallError::UnknownMethod(method) => Refusal::UnknownMethod(method),
            bad @ CallError::BadParams(_) => Refusal::BadParams(bad.to_string()),
        }
    }
}

/// A refusal of one request, naming it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The client id of the refused send, edit, deletion or reaction.
    pub id: Option<String>,
    /// The request id of the refused call.
    pub rid: Option<String>,
    /// Why.
    pub refusal: Refusal,
}

impl Refused {
    /// The `error` event that tells the caller's device.
    pub fn event(&self) -> Event {
        let retry_after_ms = match self.refusal {
            Refusal::Unavailable { retry_after_ms, .. } => retry_after_ms,
            _ => None,
        };
        Event::Error {
            id: self.id.clone(),
            rid: self.rid.clone(),
            code: self.refusal.code().to_owned(),
            message: self.refusal.message(),
            retry_after_ms,
        }
    }
}
