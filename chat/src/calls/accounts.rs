//! Account calls: the same functions as the HTTP API (docs/API.md), so a phone needs one
//! connection (MQTT). Registration stays HTTP-only: it is what gives a device credentials.

use natter_accounts::{Identity, Role};
use natter_config::AccountsSettings;
use natter_entities::devices;
use natter_proto::Call;
use natter_proto::call::{ContactsSync, ProfileUpdate};
use natter_proto::topics::ControlTopic;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde::Serialize;
use serde_json::json;

use crate::calls::{Answer, Failure, unavailable};
use crate::refusal::Refusal;
use crate::request::{Caller, Out};

/// Runs account call `call`, or `None` when it is not one.
pub(crate) async fn call(
    db: &DatabaseConnection,
    settings: &AccountsSettings,
    caller: &Caller,
    call: Call,
) -> Option<Result<Answer, Failure>> {
    use natter_accounts::{blocking, contacts, deletion, devices as account_devices, profile};
    let known = matches!(
        call,
        Call::ProfileGet
            | Call::ProfileUpdate(_)
            | Call::UsersGet(_)
            | Call::ContactsSync(_)
            | Call::ContactsList
            | Call::BlocksAdd(_)
            | Call::BlocksRemove(_)
            | Call::BlocksList
            | Call::DevicesList
            | Call::DevicesRemove(_)
            | Call::AccountDelete
    );
    if !known {
        return None;
    }
    let outcome = async {
        let me = identity(db, caller).await?;
        match call {
            Call::ProfileGet => answer(profile::get(db, &me).await),
            Call::ProfileUpdate(update) => {
                answer(profile::update(db, &me, profile_update(update)).await)
            }
            Call::UsersGet(user) => answer(profile::public(db, me.user_id, user.user).await),
            Call::ContactsSync(sync) => {
                answer(contacts::sync(db, settings, &me, contacts_sync(sync)).await)
            }
            Call::ContactsList => answer(contacts::list(db, &me).await),
            Call::BlocksAdd(user) => {
                blocking::block(db, &me, user.user).await.map_err(failure)?;
                Ok(Answer::only(json!({"blocked": user.user})))
            }
            Call::BlocksRemove(user) => {
                blocking::unblock(db, &me, user.user)
                    .await
                    .map_err(failure)?;
                Ok(Answer::only(json!({"unblocked": user.user})))
            }
            Call::BlocksList => answer(blocking::list(db, &me).await),
            Call::DevicesList => answer(account_devices::list(db, &me).await),
            Call::DevicesRemove(device) => {
                let device = device.device;
                account_devices::remove(db, &me, device)
                    .await
                    .map_err(failure)?;
                Ok(Answer {
                    result: json!({"removed": device}),
                    outs: vec![Out::Control(ControlTopic::DeviceRevoked {
                        device_id: device,
                    })],
                })
            }
            _ => {
                let deleted = deletion::delete_account(db, &me).await.map_err(failure)?;
                let outs = deleted
                    .device_ids
                    .iter()
                    .map(|&device_id| Out::Control(ControlTopic::DeviceRevoked { device_id }))
                    .collect();
                Ok(Answer {
                    result: json!(deleted),
                    outs,
                })
            }
        }
    };
    Some(outcome.await)
}

/// The accounts crate's form of a profile change.
fn profile_update(update: ProfileUpdate) -> natter_accounts::profile::ProfileUpdate {
    natter_accounts::profile::ProfileUpdate {
        display_name: update.display_name,
        about: update.about,
        avatar_media_id: update.avatar_media_id,
        last_seen_privacy: update.last_seen_privacy,
        photo_privacy: update.photo_privacy,
    }
}

/// The accounts crate's form of a contacts sync.
fn contacts_sync(sync: ContactsSync) -> natter_accounts::contacts::SyncRequest {
    natter_accounts::contacts::SyncRequest {
        add: sync.add,
        remove: sync.remove,
    }
}

/// The caller's identity with its stored role.
async fn identity(db: &DatabaseConnection, caller: &Caller) -> Result<Identity, Failure> {
    let device = devices::Entity::find_by_id(caller.device)
        .one(db)
        .await?
        .ok_or(Failure(Refusal::Forbidden("this device no longer exists")))?;
    let role: Role = device
        .role
        .parse()
        .map_err(|_| Failure(Refusal::Forbidden("this device may not do that")))?;
    Ok(Identity {
        user_id: caller.user,
        device_id: caller.device,
        role,
    })
}

fn answer<T: Serialize>(outcome: natter_accounts::Result<T>) -> Result<Answer, Failure> {
    let value = outcome.map_err(failure)?;
    Ok(Answer::only(json!(value)))
}

/// The accounts error as a call failure, with the same code as over HTTP.
fn failure(err: natter_accounts::Error) -> Failure {
    match err.code() {
        "internal" => {
            tracing::warn!(error = %err, "account call failed");
            Failure(unavailable())
        }
        code => Failure(Refusal::Account {
            code,
            message: err.to_string(),
        }),
    }
}
