//! Account operations over MQTT: the same functions as the HTTP API (docs/API.md), so a phone
//! needs one connection. Registration stays HTTP-only: it is what gives a device credentials.

use natter_accounts::{Identity, Role};
use natter_config::AccountsSettings;
use natter_entities::devices;
use natter_proto::topics::ControlTopic;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::messaging::{Caller, Out};
use crate::rpc::{Answer, Failure};

#[derive(Debug, Deserialize)]
pub(crate) struct Nothing {}

#[derive(Debug, Deserialize)]
pub(crate) struct User {
    user: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Device {
    device: i64,
}

/// Runs account method `method`, or `None` when it is not one.
pub(crate) async fn call(
    db: &DatabaseConnection,
    settings: &AccountsSettings,
    caller: &Caller,
    method: &str,
    params: serde_json::Value,
) -> Option<Result<Answer, Failure>> {
    use crate::rpc::parse;
    use natter_accounts::{blocking, contacts, deletion, devices as account_devices, profile};
    let known = matches!(
        method,
        "profile.get"
            | "profile.update"
            | "users.get"
            | "contacts.sync"
            | "contacts.list"
            | "blocks.add"
            | "blocks.remove"
            | "blocks.list"
            | "devices.list"
            | "devices.remove"
            | "account.delete"
    );
    if !known {
        return None;
    }
    let outcome = async {
        let me = identity(db, caller).await?;
        match method {
            "profile.get" => {
                parse::<Nothing>(params)?;
                answer(profile::get(db, &me).await)
            }
            "profile.update" => answer(profile::update(db, &me, parse(params)?).await),
            "users.get" => {
                let User { user } = parse(params)?;
                answer(profile::public(db, me.user_id, user).await)
            }
            "contacts.sync" => answer(contacts::sync(db, settings, &me, parse(params)?).await),
            "contacts.list" => {
                parse::<Nothing>(params)?;
                answer(contacts::list(db, &me).await)
            }
            "blocks.add" => {
                let User { user } = parse(params)?;
                blocking::block(db, &me, user).await.map_err(failure)?;
                Ok(Answer::only(json!({"blocked": user})))
            }
            "blocks.remove" => {
                let User { user } = parse(params)?;
                blocking::unblock(db, &me, user).await.map_err(failure)?;
                Ok(Answer::only(json!({"unblocked": user})))
            }
            "blocks.list" => {
                parse::<Nothing>(params)?;
                answer(blocking::list(db, &me).await)
            }
            "devices.list" => {
                parse::<Nothing>(params)?;
                answer(account_devices::list(db, &me).await)
            }
            "devices.remove" => {
                let Device { device } = parse(params)?;
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
                parse::<Nothing>(params)?;
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

/// The caller's identity with its stored role.
async fn identity(db: &DatabaseConnection, caller: &Caller) -> Result<Identity, Failure> {
    let device = devices::Entity::find_by_id(caller.device)
        .one(db)
        .await?
        .ok_or_else(|| Failure::new("forbidden", "this device no longer exists"))?;
    let role: Role = device
        .role
        .parse()
        .map_err(|_| Failure::new("forbidden", "this device may not do that"))?;
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
            Failure::new(
                "unavailable",
                "the server could not do this now; call again",
            )
        }
        code => Failure::new(code, err.to_string()),
    }
}
