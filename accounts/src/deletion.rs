//! Account deletion: what a user can undo of their presence here.
//!
//! Removed: the profile (name, about, photo reference, last seen), every device with its
//! credentials, keys and push tokens, the address book and the lookup counts, blocks made by
//! or against the user, group memberships, the pending one-time code, and messages waiting
//! for the user (pending deliveries). The phone number is freed at once, so it can register a
//! new, unrelated account. Kept: a tombstone `users` row (id, `deleted_at`), so that message
//! history keeps its sender ids; messages the user sent, which belong to their recipients;
//! uploaded media, which the media part's collection removes.
//!
//! Telling the broker to disconnect the devices is the caller's job
//! ([`DeletedAccount::device_ids`]).

use natter_entities::{
    blocks, contact_lookups, contacts, deliveries, devices, group_members, otp_codes, users,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::auth::Identity;
use crate::clock::now_ms;
use crate::devices::may_manage_account;
use crate::error::{Error, Result, db_error};
use crate::profile::live_user;

/// What was deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedAccount {
    /// The account.
    pub user_id: i64,
    /// Its devices, now gone: the broker must drop their sessions.
    pub device_ids: Vec<i64>,
}

/// Deletes the caller's account. Only the primary device may (or, on an account without
/// one, a device with role `user`).
///
/// # Errors
/// [`Error::NotPermitted`], [`Error::UnknownUser`], [`Error::Database`].
pub async fn delete_account(db: &DatabaseConnection, caller: &Identity) -> Result<DeletedAccount> {
    let db_error = db_error("delete an account");
    let user_id = caller.user_id;
    let tx = db.begin().await.map_err(db_error)?;
    let user = live_user(&tx, user_id).await?;
    if !may_manage_account(&tx, caller).await? {
        return Err(Error::NotPermitted {
            reason: "only the primary device (the phone) may delete the account",
        });
    }
    let device_ids: Vec<i64> = devices::Entity::find()
        .filter(devices::Column::UserId.eq(user_id))
        .all(&tx)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|device| device.id)
        .collect();
    deliveries::Entity::delete_many()
        .filter(deliveries::Column::RecipientUserId.eq(user_id))
        .filter(deliveries::Column::Status.eq(deliveries::STATUS_PENDING))
        .exec(&tx)
        .await
        .map_err(db_error)?;
    group_members::Entity::delete_many()
        .filter(group_members::Column::UserId.eq(user_id))
        .exec(&tx)
        .await
        .map_err(db_error)?;
    contacts::Entity::delete_many()
        .filter(contacts::Column::OwnerId.eq(user_id))
        .exec(&tx)
        .await
        .map_err(db_error)?;
    contacts::Entity::update_many()
        .col_expr(
            contacts::Column::ContactUserId,
            Expr::value(Option::<i64>::None),
        )
        .filter(contacts::Column::ContactUserId.eq(user_id))
        .exec(&tx)
        .await
        .map_err(db_error)?;
    contact_lookups::Entity::delete_many()
        .filter(contact_lookups::Column::OwnerId.eq(user_id))
        .exec(&tx)
        .await
        .map_err(db_error)?;
    blocks::Entity::delete_many()
        .filter(
            Condition::any()
                .add(blocks::Column::BlockerId.eq(user_id))
                .add(blocks::Column::BlockedId.eq(user_id)),
        )
        .exec(&tx)
        .await
        .map_err(db_error)?;
    // Keys, push tokens and the primary-device row go with the devices (cascade).
    devices::Entity::delete_many()
        .filter(devices::Column::UserId.eq(user_id))
        .exec(&tx)
        .await
        .map_err(db_error)?;
    if let Some(phone) = &user.phone {
        otp_codes::Entity::delete_many()
            .filter(otp_codes::Column::Phone.eq(phone))
            .exec(&tx)
            .await
            .map_err(db_error)?;
    }
    users::Entity::update_many()
        .col_expr(users::Column::Phone, Expr::value(Option::<String>::None))
        .col_expr(users::Column::DisplayName, Expr::value(""))
        .col_expr(users::Column::About, Expr::value(""))
        .col_expr(
            users::Column::AvatarMediaId,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(users::Column::LastSeenAt, Expr::value(Option::<i64>::None))
        .col_expr(users::Column::DeletedAt, Expr::value(now_ms()))
        .filter(users::Column::Id.eq(user_id))
        .exec(&tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    tracing::info!(user_id, n_devices = device_ids.len(), "account deleted");
    Ok(DeletedAccount {
        user_id,
        device_ids,
    })
}
