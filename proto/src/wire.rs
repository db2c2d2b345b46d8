//! The compact binary encoding of the messaging envelope: Protocol Buffers (prost), with the
//! same requests and events as the JSON form in [`crate::envelope`], field for field. Bodies
//! are raw bytes (no base64); call params and results stay JSON inside bytes (calls are rare
//! and their shapes many).
//!
//! A payload is one `Request` or `Event` message. An encoded `Request`/`Event` starts with
//! the key of one of its fields 1 to 8, all length-delimited: a byte from 0x0A to 0x42. A
//! JSON payload starts with `{` (0x7B), possibly after spaces, tabs or carriage returns (not
//! line feeds: 0x0A is a protobuf key). [`is_json`] tells the two apart by that byte;
//! [`read_request`] also accepts JSON after leading line feeds when the binary reading fails.
//!
//! The schema, for client authors in other languages, is docs/natter.proto.

use prost::Message as _;

use crate::envelope::{Base64, Event, MessageKind, ReceiptStatus, Request, Target};

/// Whether `payload` is the JSON form: its first byte other than space, tab or carriage
/// return is `{`.
pub fn is_json(payload: &[u8]) -> bool {
    payload
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r'))
        .is_some_and(|b| *b == b'{')
}

/// Whether `payload` is JSON after any whitespace at all (the fallback of [`read_request`]).
fn looks_like_json(payload: &[u8]) -> bool {
    payload
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

/// Why a binary payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Not a valid protobuf message of the expected type.
    #[error("not a valid binary envelope: {0}")]
    Decode(#[from] prost::DecodeError),
    /// Valid protobuf, but no request or event in it, or a field out of range.
    #[error("binary envelope without a known {0}")]
    Missing(&'static str),
    /// The JSON carried inside (call params or result) is not valid.
    #[error("invalid JSON inside the binary envelope: {0}")]
    Json(#[from] serde_json::Error),
}

/// Encodes a request in binary form.
pub fn encode_request(request: &Request) -> Vec<u8> {
    pb::Request::from(request).encode_to_vec()
}

/// Decodes a request from binary form.
///
/// # Errors
/// [`WireError`] when the bytes are not a request.
pub fn decode_request(bytes: &[u8]) -> Result<Request, WireError> {
    pb::Request::decode(bytes)?.try_into()
}

/// Encodes an event in binary form.
pub fn encode_event(event: &Event) -> Vec<u8> {
    pb::Event::from(event).encode_to_vec()
}

/// Encodes an event in binary form after `prefix` (a [`crate::stamp`]), in one buffer.
pub fn encode_event_after(prefix: &[u8], event: &Event) -> Vec<u8> {
    let event = pb::Event::from(event);
    let mut out = Vec::with_capacity(prefix.len() + event.encoded_len());
    out.extend_from_slice(prefix);
    // Encoding into a Vec cannot run out of room: it grows.
    let _ = event.encode(&mut out);
    out
}

/// Decodes an event from binary form.
///
/// # Errors
/// [`WireError`] when the bytes are not an event.
pub fn decode_event(bytes: &[u8]) -> Result<Event, WireError> {
    pb::Event::decode(bytes)?.try_into()
}

/// Decodes a request in either form.
///
/// # Errors
/// A description of what is wrong with the payload.
pub fn read_request(payload: &[u8]) -> Result<Request, String> {
    if is_json(payload) {
        return serde_json::from_slice(payload).map_err(|err| err.to_string());
    }
    match decode_request(payload) {
        Ok(request) => Ok(request),
        Err(_) if looks_like_json(payload) => {
            serde_json::from_slice(payload).map_err(|err| err.to_string())
        }
        Err(err) => Err(err.to_string()),
    }
}

/// Decodes an event in either form.
///
/// # Errors
/// A description of what is wrong with the payload.
pub fn read_event(payload: &[u8]) -> Result<Event, String> {
    if is_json(payload) {
        serde_json::from_slice(payload).map_err(|err| err.to_string())
    } else {
        decode_event(payload).map_err(|err| err.to_string())
    }
}

/// The prost messages. Tags are part of the protocol: never reuse or renumber them.
#[allow(missing_docs, unreachable_pub)]
pub mod pb {
    /// A user (`user`) or a group (`group`).
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Target {
        #[prost(int64, tag = "1")]
        pub user: i64,
        #[prost(int64, tag = "2")]
        pub group: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        #[prost(oneof = "request::Kind", tags = "1, 2, 3, 4, 5, 6, 7, 8")]
        pub kind: Option<request::Kind>,
    }

    pub mod request {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Kind {
            #[prost(message, tag = "1")]
            Send(super::Send),
            #[prost(message, tag = "2")]
            Receipt(super::Receipt),
            #[prost(message, tag = "3")]
            Sync(super::Sync),
            #[prost(message, tag = "4")]
            Edit(super::Edit),
            #[prost(message, tag = "5")]
            Delete(super::Delete),
            #[prost(message, tag = "6")]
            React(super::React),
            #[prost(message, tag = "7")]
            Typing(super::Typing),
            #[prost(message, tag = "8")]
            Call(super::Call),
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Send {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(message, optional, tag = "2")]
        pub to: Option<Target>,
        #[prost(bytes = "vec", tag = "3")]
        pub body: Vec<u8>,
        #[prost(int64, optional, tag = "4")]
        pub reply_to: Option<i64>,
        #[prost(int64, optional, tag = "5")]
        pub media: Option<i64>,
    }

    /// `status`: 1 delivered, 2 read.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Receipt {
        #[prost(int32, tag = "1")]
        pub status: i32,
        #[prost(int64, repeated, tag = "2")]
        pub ids: Vec<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sync {
        #[prost(int64, tag = "1")]
        pub after: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Edit {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(int64, tag = "2")]
        pub message: i64,
        #[prost(bytes = "vec", tag = "3")]
        pub body: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Delete {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(int64, tag = "2")]
        pub message: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct React {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(int64, tag = "2")]
        pub message: i64,
        #[prost(string, tag = "3")]
        pub emoji: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Typing {
        #[prost(message, optional, tag = "1")]
        pub to: Option<Target>,
        #[prost(bool, tag = "2")]
        pub active: bool,
    }

    /// `params`: a JSON object, UTF-8.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Call {
        #[prost(string, tag = "1")]
        pub rid: String,
        #[prost(string, tag = "2")]
        pub method: String,
        #[prost(bytes = "vec", tag = "3")]
        pub params: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Event {
        #[prost(oneof = "event::Kind", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9")]
        pub kind: Option<event::Kind>,
    }

    pub mod event {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Kind {
            #[prost(message, tag = "1")]
            Message(super::Message),
            #[prost(message, tag = "2")]
            Sent(super::Sent),
            #[prost(message, tag = "3")]
            Receipt(super::ReceiptEvent),
            #[prost(message, tag = "4")]
            ReceiptAll(super::Receipt),
            #[prost(message, tag = "5")]
            Synced(super::Synced),
            #[prost(message, tag = "6")]
            Typing(super::TypingEvent),
            #[prost(message, tag = "7")]
            Result(super::CallResult),
            #[prost(message, tag = "8")]
            Error(super::Error),
            #[prost(message, tag = "9")]
            Read(super::Read),
        }
    }

    /// `kind`: 0 text, 1 media, 2 edit, 3 delete, 4 reaction, 5 system.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Message {
        #[prost(int64, tag = "1")]
        pub server_id: i64,
        #[prost(int64, tag = "2")]
        pub inbox_seq: i64,
        #[prost(int64, tag = "3")]
        pub conversation_id: i64,
        #[prost(int64, tag = "4")]
        pub seq: i64,
        #[prost(int64, optional, tag = "5")]
        pub group_id: Option<i64>,
        #[prost(int64, tag = "6")]
        pub from: i64,
        #[prost(int64, tag = "7")]
        pub from_device: i64,
        #[prost(bytes = "vec", tag = "8")]
        pub body: Vec<u8>,
        #[prost(int64, optional, tag = "9")]
        pub reply_to: Option<i64>,
        #[prost(int64, optional, tag = "10")]
        pub media: Option<i64>,
        #[prost(int32, tag = "11")]
        pub kind: i32,
        #[prost(int64, optional, tag = "12")]
        pub reference: Option<i64>,
        #[prost(int64, optional, tag = "13")]
        pub expires_at: Option<i64>,
        #[prost(int64, tag = "14")]
        pub ts: i64,
        #[prost(bool, tag = "15")]
        pub deleted: bool,
        #[prost(string, optional, tag = "16")]
        pub id: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sent {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(int64, tag = "2")]
        pub server_id: i64,
        #[prost(int64, tag = "3")]
        pub conversation_id: i64,
        #[prost(int64, tag = "4")]
        pub seq: i64,
        #[prost(int64, tag = "5")]
        pub ts: i64,
        #[prost(int64, optional, tag = "6")]
        pub inbox_seq: Option<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Read {
        #[prost(int64, tag = "1")]
        pub inbox_seq: i64,
        #[prost(int64, tag = "2")]
        pub conversation_id: i64,
        #[prost(int64, tag = "3")]
        pub seq: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ReceiptEvent {
        #[prost(int32, tag = "1")]
        pub status: i32,
        #[prost(int64, repeated, tag = "2")]
        pub ids: Vec<i64>,
        #[prost(int64, tag = "3")]
        pub by: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Synced {
        #[prost(int64, tag = "1")]
        pub upto: i64,
        #[prost(bool, tag = "2")]
        pub more: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypingEvent {
        #[prost(int64, tag = "1")]
        pub from: i64,
        #[prost(int64, optional, tag = "2")]
        pub group_id: Option<i64>,
        #[prost(bool, tag = "3")]
        pub active: bool,
    }

    /// `result`: JSON, UTF-8.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CallResult {
        #[prost(string, tag = "1")]
        pub rid: String,
        #[prost(bytes = "vec", tag = "2")]
        pub result: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Error {
        #[prost(string, optional, tag = "1")]
        pub id: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub rid: Option<String>,
        #[prost(string, tag = "3")]
        pub code: String,
        #[prost(string, tag = "4")]
        pub message: String,
        #[prost(uint64, optional, tag = "5")]
        pub retry_after_ms: Option<u64>,
    }
}

fn target_to_pb(target: Target) -> pb::Target {
    match target {
        Target::User(user) => pb::Target { user, group: 0 },
        Target::Group(group) => pb::Target { user: 0, group },
    }
}

fn target_from_pb(target: Option<pb::Target>) -> Result<Target, WireError> {
    match target {
        Some(pb::Target { user, group: 0 }) if user > 0 => Ok(Target::User(user)),
        Some(pb::Target { user: 0, group }) if group > 0 => Ok(Target::Group(group)),
        _ => Err(WireError::Missing("target (exactly one of user, group)")),
    }
}

fn status_to_pb(status: ReceiptStatus) -> i32 {
    match status {
        ReceiptStatus::Delivered => 1,
        ReceiptStatus::Read => 2,
    }
}

fn status_from_pb(status: i32) -> Result<ReceiptStatus, WireError> {
    match status {
        1 => Ok(ReceiptStatus::Delivered),
        2 => Ok(ReceiptStatus::Read),
        _ => Err(WireError::Missing("receipt status (1 delivered, 2 read)")),
    }
}

fn kind_to_pb(kind: MessageKind) -> i32 {
    match kind {
        MessageKind::Text => 0,
        MessageKind::Media => 1,
        MessageKind::Edit => 2,
        MessageKind::Delete => 3,
        MessageKind::Reaction => 4,
        MessageKind::System => 5,
    }
}

fn kind_from_pb(kind: i32) -> MessageKind {
    match kind {
        1 => MessageKind::Media,
        2 => MessageKind::Edit,
        3 => MessageKind::Delete,
        4 => MessageKind::Reaction,
        5 => MessageKind::System,
        _ => MessageKind::Text,
    }
}

impl From<&Request> for pb::Request {
    fn from(request: &Request) -> pb::Request {
        use pb::request::Kind;
        let kind = match request {
            Request::Send {
                id,
                to,
                body,
                reply_to,
                media,
            } => Kind::Send(pb::Send {
                id: id.clone(),
                to: Some(target_to_pb(*to)),
                body: body.0.clone(),
                reply_to: *reply_to,
                media: *media,
            }),
            Request::Receipt { status, ids } => Kind::Receipt(pb::Receipt {
                status: status_to_pb(*status),
                ids: ids.clone(),
            }),
            Request::Sync { after } => Kind::Sync(pb::Sync { after: *after }),
            Request::Edit { id, message, body } => Kind::Edit(pb::Edit {
                id: id.clone(),
                message: *message,
                body: body.0.clone(),
            }),
            Request::Delete { id, message } => Kind::Delete(pb::Delete {
                id: id.clone(),
                message: *message,
            }),
            Request::React { id, message, emoji } => Kind::React(pb::React {
                id: id.clone(),
                message: *message,
                emoji: emoji.clone(),
            }),
            Request::Typing { to, active } => Kind::Typing(pb::Typing {
                to: Some(target_to_pb(*to)),
                active: *active,
            }),
            Request::Call {
                rid,
                method,
                params,
            } => Kind::Call(pb::Call {
                rid: rid.clone(),
                method: method.clone(),
                params: if params.is_null() {
                    Vec::new()
                } else {
                    params.to_string().into_bytes()
                },
            }),
        };
        pb::Request { kind: Some(kind) }
    }
}

impl TryFrom<pb::Request> for Request {
    type Error = WireError;

    fn try_from(request: pb::Request) -> Result<Request, WireError> {
        use pb::request::Kind;
        Ok(match request.kind.ok_or(WireError::Missing("request"))? {
            Kind::Send(send) => Request::Send {
                id: send.id,
                to: target_from_pb(send.to)?,
                body: Base64(send.body),
                reply_to: send.reply_to,
                media: send.media,
            },
            Kind::Receipt(receipt) => Request::Receipt {
                status: status_from_pb(receipt.status)?,
                ids: receipt.ids,
            },
            Kind::Sync(sync) => Request::Sync { after: sync.after },
            Kind::Edit(edit) => Request::Edit {
                id: edit.id,
                message: edit.message,
                body: Base64(edit.body),
            },
            Kind::Delete(delete) => Request::Delete {
                id: delete.id,
                message: delete.message,
            },
            Kind::React(react) => Request::React {
                id: react.id,
                message: react.message,
                emoji: react.emoji,
            },
            Kind::Typing(typing) => Request::Typing {
                to: target_from_pb(typing.to)?,
                active: typing.active,
            },
            Kind::Call(call) => Request::Call {
                rid: call.rid,
                method: call.method,
                params: if call.params.is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::from_slice(&call.params)?
                },
            },
        })
    }
}

impl From<&Event> for pb::Event {
    fn from(event: &Event) -> pb::Event {
        use pb::event::Kind;
        let kind = match event {
            Event::Sent {
                id,
                server_id,
                conversation_id,
                seq,
                inbox_seq,
                ts,
            } => Kind::Sent(pb::Sent {
                id: id.clone(),
                server_id: *server_id,
                conversation_id: *conversation_id,
                seq: *seq,
                ts: *ts,
                inbox_seq: *inbox_seq,
            }),
            Event::Message {
                server_id,
                inbox_seq,
                conversation_id,
                seq,
                group_id,
                from,
                from_device,
                body,
                reply_to,
                media,
                kind,
                reference,
                expires_at,
                deleted,
                id,
                ts,
            } => Kind::Message(pb::Message {
                server_id: *server_id,
                inbox_seq: *inbox_seq,
                conversation_id: *conversation_id,
                seq: *seq,
                group_id: *group_id,
                from: *from,
                from_device: *from_device,
                body: body.0.clone(),
                reply_to: *reply_to,
                media: *media,
                kind: kind_to_pb(*kind),
                reference: *reference,
                expires_at: *expires_at,
                ts: *ts,
                deleted: *deleted,
                id: id.clone(),
            }),
            Event::Read {
                inbox_seq,
                conversation_id,
                seq,
            } => Kind::Read(pb::Read {
                inbox_seq: *inbox_seq,
                conversation_id: *conversation_id,
                seq: *seq,
            }),
            Event::Receipt { status, ids, by } => Kind::Receipt(pb::ReceiptEvent {
                status: status_to_pb(*status),
                ids: ids.clone(),
                by: *by,
            }),
            Event::ReceiptAll { status, ids } => Kind::ReceiptAll(pb::Receipt {
                status: status_to_pb(*status),
                ids: ids.clone(),
            }),
            Event::Typing {
                from,
                group_id,
                active,
            } => Kind::Typing(pb::TypingEvent {
                from: *from,
                group_id: *group_id,
                active: *active,
            }),
            Event::Result { rid, result } => Kind::Result(pb::CallResult {
                rid: rid.clone(),
                result: result.to_string().into_bytes(),
            }),
            Event::Synced { upto, more } => Kind::Synced(pb::Synced {
                upto: *upto,
                more: *more,
            }),
            Event::Error {
                id,
                rid,
                code,
                message,
                retry_after_ms,
            } => Kind::Error(pb::Error {
                id: id.clone(),
                rid: rid.clone(),
                code: code.clone(),
                message: message.clone(),
                retry_after_ms: *retry_after_ms,
            }),
        };
        pb::Event { kind: Some(kind) }
    }
}

impl TryFrom<pb::Event> for Event {
    type Error = WireError;

    fn try_from(event: pb::Event) -> Result<Event, WireError> {
        use pb::event::Kind;
        Ok(match event.kind.ok_or(WireError::Missing("event"))? {
            Kind::Sent(sent) => Event::Sent {
                id: sent.id,
                server_id: sent.server_id,
                conversation_id: sent.conversation_id,
                seq: sent.seq,
                inbox_seq: sent.inbox_seq,
                ts: sent.ts,
            },
            Kind::Message(message) => Event::Message {
                server_id: message.server_id,
                inbox_seq: message.inbox_seq,
                conversation_id: message.conversation_id,
                seq: message.seq,
                group_id: message.group_id,
                from: message.from,
                from_device: message.from_device,
                body: Base64(message.body),
                reply_to: message.reply_to,
                media: message.media,
                kind: kind_from_pb(message.kind),
                reference: message.reference,
                expires_at: message.expires_at,
                deleted: message.deleted,
                id: message.id,
                ts: message.ts,
            },
            Kind::Read(read) => Event::Read {
                inbox_seq: read.inbox_seq,
                conversation_id: read.conversation_id,
                seq: read.seq,
            },
            Kind::Receipt(receipt) => Event::Receipt {
                status: status_from_pb(receipt.status)?,
                ids: receipt.ids,
                by: receipt.by,
            },
            Kind::ReceiptAll(receipt) => Event::ReceiptAll {
                status: status_from_pb(receipt.status)?,
                ids: receipt.ids,
            },
            Kind::Synced(synced) => Event::Synced {
                upto: synced.upto,
                more: synced.more,
            },
            Kind::Typing(typing) => Event::Typing {
                from: typing.from,
                group_id: typing.group_id,
                active: typing.active,
            },
            Kind::Result(result) => Event::Result {
                rid: result.rid,
                result: serde_json::from_slice(&result.result)?,
            },
            Kind::Error(error) => Event::Error {
                id: error.id,
                rid: error.rid,
                code: error.code,
                message: error.message,
                retry_after_ms: error.retry_after_ms,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &[u8]) -> Event {
        Event::Message {
            server_id: 123_456,
            inbox_seq: 1_042,
            conversation_id: 7_321,
            seq: 88,
            group_id: None,
            from: 50_001,
            from_device: 70_002,
            body: Base64(body.to_vec()),
            reply_to: None,
            media: None,
            kind: MessageKind::Text,
            reference: None,
            expires_at: None,
            deleted: false,
            id: None,
            ts: 1_764_340_000_000,
        }
    }

    #[test]
    fn every_request_and_event_survives_the_binary_form() {
        let requests = [
            Request::Send {
                id: "c1".into(),
                to: Target::Group(9),
                body: Base64(b"hi".to_vec()),
                reply_to: Some(4),
                media: Some(5),
            },
            Request::Receipt {
                status: ReceiptStatus::Read,
                ids: vec![1, 2],
            },
            Request::Sync { after: 17 },
            Request::Edit {
                id: "e".into(),
                message: 3,
                body: Base64(b"x".to_vec()),
            },
            Request::Delete {
                id: "d".into(),
                message: 3,
            },
            Request::React {
                id: "r".into(),
                message: 3,
                emoji: "👍".into(),
            },
            Request::Typing {
                to: Target::User(2),
                active: true,
            },
            Request::Call {
                rid: "r1".into(),
                method: "group.info".into(),
                params: serde_json::json!({"group": 7}),
            },
        ];
        for request in requests {
            let bytes = encode_request(&request);
            assert!(!is_json(&bytes), "{request:?} starts like JSON");
            assert_eq!(decode_request(&bytes).expect("decodes"), request);
        }
        let events = [
            message(b"hello"),
            Event::Sent {
                id: "c1".into(),
                server_id: 1,
                conversation_id: 2,
                seq: 3,
                inbox_seq: Some(5),
                ts: 4,
            },
            Event::Read {
                inbox_seq: 6,
                conversation_id: 2,
                seq: 3,
            },
            Event::Message {
                server_id: 1,
                inbox_seq: 2,
                conversation_id: 3,
                seq: 4,
                group_id: Some(5),
                from: 6,
                from_device: 7,
                body: Base64(Vec::new()),
                reply_to: None,
                media: None,
                kind: MessageKind::Text,
                reference: None,
                expires_at: None,
                deleted: true,
                id: Some("c1".into()),
                ts: 8,
            },
            Event::Receipt {
                status: ReceiptStatus::Delivered,
                ids: vec![1],
                by: 2,
            },
            Event::ReceiptAll {
                status: ReceiptStatus::Read,
                ids: vec![1],
            },
            Event::Synced {
                upto: 9,
                more: true,
            },
            Event::Typing {
                from: 1,
                group_id: Some(2),
                active: false,
            },
            Event::Result {
                rid: "r".into(),
                result: serde_json::json!({"ok": true}),
            },
            Event::Error {
                id: None,
                rid: Some("r".into()),
                code: "bad".into(),
                message: "m".into(),
                retry_after_ms: None,
            },
            Event::Error {
                id: Some("c1".into()),
                rid: None,
                code: "unavailable".into(),
                message: "m".into(),
                retry_after_ms: Some(1500),
            },
        ];
        for event in events {
            let bytes = encode_event(&event);
            assert!(!is_json(&bytes), "{event:?} starts like JSON");
            assert_eq!(decode_event(&bytes).expect("decodes"), event);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&b"\xff\xff\xff"[..], b"", b"\x0a\x05ab", b"\x08\x01"] {
            assert!(decode_request(bytes).is_err(), "{bytes:?}");
            assert!(decode_event(bytes).is_err(), "{bytes:?}");
        }
        assert!(read_request(b"").is_err(), "an empty payload is no request");
        let json =
            read_request(b"\n {\"type\":\"sync\",\"after\":3}").expect("json after a newline");
        assert_eq!(json, Request::Sync { after: 3 });
        let no_target = pb::Request {
            kind: Some(pb::request::Kind::Send(pb::Send::default())),
        }
        .encode_to_vec();
        assert!(decode_request(&no_target).is_err());
    }

    #[test]
    fn a_twenty_character_message_costs_far_less_than_json() {
        let event = message(b"twenty chars of text");
        let binary = encode_event(&event).len() - 20;
        let json = serde_json::to_vec(&event).expect("serialises").len() - 28;
        // Envelope overhead beyond the body (JSON carries the body as 28 base64 chars).
        assert!(binary <= 40, "binary overhead {binary} bytes");
        assert!(json > 3 * binary, "json overhead {json} vs binary {binary}");
    }
}
