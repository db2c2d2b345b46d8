//! Calls, typed: what a `call` request's `method` and `params` mean
//! ([`crate::envelope::Request::Call`] carries them as a string and a JSON value, on the wire
//! in JSON and protobuf alike). [`Call::parse`] reads them once, so the rules never match
//! method names. Parameter types keep the names the refusals' messages have always shown
//! (`#[serde(expecting)]`), so that a client sees the same `bad_params` text as before.

use serde::{Deserialize, Deserializer};

use crate::envelope::Target;

/// A call, with its parameters (docs/PROTOCOL.md lists the methods).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `group.create`.
    GroupCreate(GroupCreate),
    /// `group.info`.
    GroupInfo(GroupRef),
    /// `group.update`.
    GroupUpdate(GroupUpdate),
    /// `group.add`.
    GroupAdd(GroupUsers),
    /// `group.remove`.
    GroupRemove(GroupUsers),
    /// `group.promote`.
    GroupPromote(GroupUser),
    /// `group.demote`.
    GroupDemote(GroupUser),
    /// `group.leave`.
    GroupLeave(GroupRef),
    /// `group.invite`.
    GroupInvite(GroupRef),
    /// `group.revoke_invite`.
    GroupRevokeInvite(GroupRef),
    /// `group.join`.
    GroupJoin(GroupJoin),
    /// `message.info`.
    MessageInfo(MessageRef),
    /// `conversation.timer`.
    ConversationTimer(Timer),
    /// `presence.query`.
    PresenceQuery(PresenceQuery),
    /// `profile.get`.
    ProfileGet,
    /// `profile.update`.
    ProfileUpdate(ProfileUpdate),
    /// `users.get`.
    UsersGet(UserRef),
    /// `contacts.sync`.
    ContactsSync(ContactsSync),
    /// `contacts.list`.
    ContactsList,
    /// `blocks.add`.
    BlocksAdd(UserRef),
    /// `blocks.remove`.
    BlocksRemove(UserRef),
    /// `blocks.list`.
    BlocksList,
    /// `devices.list`.
    DevicesList,
    /// `devices.remove`.
    DevicesRemove(DeviceRef),
    /// `account.delete`.
    AccountDelete,
}

/// Why a method and its parameters are not a [`Call`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No such method.
    #[error("no method {0:?} (docs/PROTOCOL.md lists them)")]
    UnknownMethod(String),
    /// The parameters do not fit the method.
    #[error("invalid params: {0}")]
    BadParams(String),
}

impl Call {
    /// The call `method` names, with `params` (absent or `null`: no parameters).
    ///
    /// # Errors
    /// [`CallError::UnknownMethod`] for a method natter does not have,
    /// [`CallError::BadParams`] when `params` do not fit it.
    pub fn parse(method: &str, params: serde_json::Value) -> Result<Call, CallError> {
        let params = if params.is_null() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            params
        };
        Ok(match method {
            "group.create" => Call::GroupCreate(read(params)?),
            "group.info" => Call::GroupInfo(read(params)?),
            "group.update" => Call::GroupUpdate(read(params)?),
            "group.add" => Call::GroupAdd(read(params)?),
            "group.remove" => Call::GroupRemove(read(params)?),
            "group.promote" => Call::GroupPromote(read(params)?),
            "group.demote" => Call::GroupDemote(read(params)?),
            "group.leave" => Call::GroupLeave(read(params)?),
            "group.invite" => Call::GroupInvite(read(params)?),
            "group.revoke_invite" => Call::GroupRevokeInvite(read(params)?),
            "group.join" => Call::GroupJoin(read(params)?),
            "message.info" => Call::MessageInfo(read(params)?),
            "conversation.timer" => Call::ConversationTimer(read(params)?),
            "presence.query" => Call::PresenceQuery(read(params)?),
            "profile.get" => nothing(params, Call::ProfileGet)?,
            "profile.update" => Call::ProfileUpdate(read(params)?),
            "users.get" => Call::UsersGet(read(params)?),
            "contacts.sync" => Call::ContactsSync(read(params)?),
            "contacts.list" => nothing(params, Call::ContactsList)?,
            "blocks.add" => Call::BlocksAdd(read(params)?),
            "blocks.remove" => Call::BlocksRemove(read(params)?),
            "blocks.list" => nothing(params, Call::BlocksList)?,
            "devices.list" => nothing(params, Call::DevicesList)?,
            "devices.remove" => Call::DevicesRemove(read(params)?),
            "account.delete" => nothing(params, Call::AccountDelete)?,
            _ => return Err(CallError::UnknownMethod(method.to_owned())),
        })
    }

    /// The method's name on the wire.
    pub fn method(&self) -> &'static str {
        match self {
            Call::GroupCreate(_) => "group.create",
            Call::GroupInfo(_) => "group.info",
            Call::GroupUpdate(_) => "group.update",
            Call::GroupAdd(_) => "group.add",
            Call::GroupRemove(_) => "group.remove",
            Call::GroupPromote(_) => "group.promote",
            Call::GroupDemote(_) => "group.demote",
            Call::GroupLeave(_) => "group.leave",
            Call::GroupInvite(_) => "group.invite",
            Call::GroupRevokeInvite(_) => "group.revoke_invite",
            Call::GroupJoin(_) => "group.join",
            Call::MessageInfo(_) => "message.info",
            Call::ConversationTimer(_) => "conversation.timer",
            Call::PresenceQuery(_) => "presence.query",
            Call::ProfileGet => "profile.get",
            Call::ProfileUpdate(_) => "profile.update",
            Call::UsersGet(_) => "users.get",
            Call::ContactsSync(_) => "contacts.sync",
            Call::ContactsList => "contacts.list",
            Call::BlocksAdd(_) => "blocks.add",
            Call::BlocksRemove(_) => "blocks.remove",
            Call::BlocksList => "blocks.list",
            Call::DevicesList => "devices.list",
            Call::DevicesRemove(_) => "devices.remove",
            Call::AccountDelete => "account.delete",
        }
    }
}

fn read<P: serde::de::DeserializeOwned>(params: serde_json::Value) -> Result<P, CallError> {
    serde_json::from_value(params).map_err(|err| CallError::BadParams(err.to_string()))
}

/// `call` when `params` are an object (or nothing); methods without parameters ignore the
/// fields of one.
fn nothing(params: serde_json::Value, call: Call) -> Result<Call, CallError> {
    read::<Nothing>(params)?;
    Ok(call)
}

#[derive(Debug, Deserialize)]
struct Nothing {}

/// `group.create`: a new group with me as its admin.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(expecting = "struct Create")]
pub struct GroupCreate {
    /// The group's name, 1 to 100 characters.
    pub name: String,
    /// Its description, at most 2048 characters.
    #[serde(default)]
    pub description: String,
    /// An uploaded image as its avatar.
    #[serde(default)]
    pub avatar: Option<i64>,
    /// Users to add besides me.
    #[serde(default)]
    pub members: Vec<i64>,
}

/// A call about one group.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(expecting = "struct GroupOnly")]
pub struct GroupRef {
    /// The group.
    pub group: i64,
}

/// `group.update`: what to change (at least one field).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(expecting = "struct Update")]
pub struct GroupUpdate {
    /// The group.
    pub group: i64,
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// A new avatar.
    #[serde(default)]
    pub avatar: Option<i64>,
}

/// `group.add` and `group.remove`: users of a group.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(expecting = "struct Users")]
pub struct GroupUsers {
    /// The group.
    pub group: i64,
    /// 1 to 256 users.
    pub users: Vec<i64>,
}

/// `group.promote` and `group.demote`: one member of a group.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(expecting = "struct OneUser")]
pub struct GroupUser {
    /// The group.
    pub group: i64,
    /// The member.
    pub user: i64,
}

/// `group.join`: an invite link's token.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(expecting = "struct Join")]
pub struct GroupJoin {
    /// The token.
    pub token: String,
}

/// `message.info`: a message I sent.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(expecting = "struct MessageInfo")]
pub struct MessageRef {
    /// Its server id.
    pub message: i64,
}

/// `conversation.timer`: the disappearing-message timer of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Timer {
    /// The conversation.
    pub to: Target,
    /// Seconds, 0 (off) to 90 days.
    pub secs: i32,
}

/// `presence.query`: whose presence.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(expecting = "struct Query")]
pub struct PresenceQuery {
    /// 1 to 256 users.
    pub users: Vec<i64>,
}

/// `users.get`, `blocks.add`, `blocks.remove`: one user.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(expecting = "struct User")]
pub struct UserRef {
    /// The user.
    pub user: i64,
}

/// `devices.remove`: one of my devices.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(expecting = "struct Device")]
pub struct DeviceRef {
    /// The device.
    pub device: i64,
}

/// `profile.update` (as `PATCH /v1/profile`): absent fields stay as they are;
/// `avatar_media_id: null` removes the photo.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// New display name (may be empty).
    #[serde(default)]
    pub display_name: Option<String>,
    /// New about text (may be empty).
    #[serde(default)]
    pub about: Option<String>,
    /// New photo (`Some(None)`: remove it).
    #[serde(default, deserialize_with = "present")]
    pub avatar_media_id: Option<Option<i64>>,
    /// `everyone`, `contacts` or `nobody`.
    #[serde(default)]
    pub last_seen_privacy: Option<String>,
    /// `everyone`, `contacts` or `nobody`.
    #[serde(default)]
    pub photo_privacy: Option<String>,
}

/// `contacts.sync` (as `POST /v1/contacts/sync`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(expecting = "struct SyncRequest", deny_unknown_fields)]
pub struct ContactsSync {
    /// Numbers to add to the address book, as typed (international format).
    #[serde(default)]
    pub add: Vec<String>,
    /// Numbers to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Deserializes a field that is present (possibly `null`) as `Some(value)`; with
/// `#[serde(default)]` an absent field stays `None`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_method_and_its_params_become_a_call() {
        let call = Call::parse("group.add", json!({"group": 7, "users": [1, 2]}));
        assert_eq!(
            call,
            Ok(Call::GroupAdd(GroupUsers {
                group: 7,
                users: vec![1, 2]
            }))
        );
        assert_eq!(
            Call::parse("devices.list", serde_json::Value::Null),
            Ok(Call::DevicesList)
        );
    }

    #[test]
    fn unknown_methods_and_bad_params_keep_their_messages() {
        let unknown = Call::parse("group.explode", json!({}));
        assert_eq!(
            unknown.map_err(|err| err.to_string()),
            Err(r#"no method "group.explode" (docs/PROTOCOL.md lists them)"#.to_owned())
        );
        let Err(CallError::BadParams(detail)) = Call::parse("group.create", json!({"x": 1})) else {
            panic!("a create without a name is bad params");
        };
        assert_eq!(detail, "missing field `name`");
        let Err(CallError::BadParams(detail)) = Call::parse("group.info", json!("seven")) else {
            panic!("a string is bad params");
        };
        assert!(detail.contains("struct GroupOnly"), "{detail}");
    }

    #[test]
    fn a_null_photo_differs_from_an_absent_one() {
        let removed = Call::parse("profile.update", json!({"avatar_media_id": null}));
        let absent = Call::parse("profile.update", json!({}));
        let Ok(Call::ProfileUpdate(removed)) = removed else {
            panic!("a valid update");
        };
        let Ok(Call::ProfileUpdate(absent)) = absent else {
            panic!("a valid update");
        };
        assert_eq!(
            (removed.avatar_media_id, absent.avatar_media_id),
            (Some(None), None)
        );
    }
}
