//! Bulk provisioning of load-test devices, straight into natter's database, and their removal.
//!
//! `natter admin user create` generates and stores one device per call, which is far too slow
//! for tens of thousands of devices. This module writes the same rows in batches of
//! [`BATCH_SIZE`], one transaction per batch: a user (no phone number, display name `loadgen
//! <batch tag>`) and one device with role `user`, platform `loadgen`, username `d<device id>`
//! and a fresh random password stored as `sha256:<hex>`, the scheme of
//! `natter_accounts`' secret module. Like `natter_accounts`, it inserts each device under a
//! placeholder username and renames it to `d<id>` in the same transaction, once the id is known.

use std::time::Instant;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use natter_accounts::{Role, now_ms};
use natter_entities::{devices, users};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, QueryTrait, TransactionTrait,
};
use sha2::{Digest, Sha256};

use crate::cli::DatabaseArgs;
use crate::database;

/// Rows per insert statement and per transaction; well under SQLite's limit of bound
/// parameters (7 columns x 1000 rows).
const BATCH_SIZE: usize = 1000;
/// Platform of every provisioned device: how `cleanup` recognises them.
const PLATFORM: &str = "loadgen";
/// Name of every provisioned device.
const DEVICE_NAME: &str = "loadgen";

/// The MQTT credentials of one provisioned device.
#[derive(Clone, Debug)]
pub(crate) struct Device {
    /// `d<device id>`, also used as the client id.
    pub(crate) username: String,
    /// The password, base64url like the ones natter hands out.
    pub(crate) password: String,
}

/// Provisions `count` users with one device each, and returns their credentials.
///
/// # Errors
/// When a batch cannot be written (its transaction is rolled back; earlier batches stay).
pub(crate) async fn provision(
    db: &DatabaseConnection,
    count: usize,
) -> anyhow::Result<Vec<Device>> {
    let started = Instant::now();
    let mut rng = StdRng::from_os_rng();
    let run_tag = format!("{:016x}", rng.next_u64());
    let mut provisioned = Vec::with_capacity(count);
    for (batch_index, first) in (0..count).step_by(BATCH_SIZE).enumerate() {
        let size = BATCH_SIZE.min(count - first);
        let batch_tag = format!("{run_tag}-{batch_index}");
        let batch = provision_batch(db, &batch_tag, size, &mut rng)
            .await
            .with_context(|| format!("provisioning batch {batch_index} ({size} devices)"))?;
        provisioned.extend(batch);
    }
    println!(
        "provisioned {} devices in {:.2} s",
        provisioned.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(provisioned)
}

/// Deletes every provisioned device (of any run) and its user; returns how many devices.
///
/// # Errors
/// When the database refuses the deletes.
pub(crate) async fn remove_all(db: &DatabaseConnection) -> anyhow::Result<u64> {
    let loadgen_devices = || devices::Entity::find().filter(devices::Column::Platform.eq(PLATFORM));
    // Counted before the transaction: on SQLite a transaction that reads first and then writes
    // fails at once (SQLITE_BUSY, no busy wait) if the server wrote in between.
    let count = loadgen_devices()
        .count(db)
        .await
        .context("counting load-test devices")?;
    let tx = db
        .begin()
        .await
        .context("starting the cleanup transaction")?;
    let owners = loadgen_devices()
        .select_only()
        .column(devices::Column::UserId)
        .into_query();
    // Users first: with foreign keys on, their devices go with them; the second delete
    // catches the rest when they are off.
    users::Entity::delete_many()
        .filter(users::Column::Id.in_subquery(owners))
        .filter(users::Column::Phone.is_null())
        .exec(&tx)
        .await
        .context("deleting load-test users")?;
    devices::Entity::delete_many()
        .filter(devices::Column::Platform.eq(PLATFORM))
        .exec(&tx)
        .await
        .context("deleting load-test devices")?;
    tx.commit().await.context("committing the cleanup")?;
    Ok(count)
}

/// The `cleanup` subcommand.
///
/// # Errors
/// When the database cannot be opened or the deletes fail.
pub(crate) async fn cleanup_command(args: DatabaseArgs) -> anyhow::Result<()> {
    let db = database::connect(&args).await?;
    let deleted = remove_all(&db).await?;
    println!("deleted {deleted} load-test devices and their users");
    Ok(())
}

/// Writes one batch in one transaction and returns its credentials.
async fn provision_batch(
    db: &DatabaseConnection,
    batch_tag: &str,
    size: usize,
    rng: &mut StdRng,
) -> anyhow::Result<Vec<Device>> {
    let now = now_ms();
    let display_name = format!("loadgen {batch_tag}");
    let tx = db.begin().await?;
    users::Entity::insert_many((0..size).map(|_| users::ActiveModel {
        display_name: Set(display_name.clone()),
        created_at: Set(now),
        ..Default::default()
    }))
    .exec_without_returning(&tx)
    .await
    .context("inserting users")?;
    let user_ids: Vec<i64> = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::DisplayName.eq(&display_name))
        .into_tuple()
        .all(&tx)
        .await
        .context("reading back user ids")?;

    // The placeholder names the batch and the user, so that the rename below touches this
    // batch only; ':' never appears in a real `d<id>` username.
    let placeholder_prefix = format!("loadgen:{batch_tag}:");
    let mut passwords = Vec::with_capacity(user_ids.len());
    let mut rows = Vec::with_capacity(user_ids.len());
    for &user_id in &user_ids {
        let password = new_password(rng);
        rows.push(devices::ActiveModel {
            user_id: Set(user_id),
            name: Set(DEVICE_NAME.to_owned()),
            platform: Set(PLATFORM.to_owned()),
            role: Set(Role::User.as_str().to_owned()),
            mqtt_username: Set(format!("{placeholder_prefix}{user_id}")),
            secret_hash: Set(hash_password(&password)),
            created_at: Set(now),
            ..Default::default()
        });
        passwords.push((user_id, password));
    }
    devices::Entity::insert_many(rows)
        .exec_without_returning(&tx)
        .await
        .context("inserting devices")?;
    let placeholders = devices::Column::MqttUsername.starts_with(&placeholder_prefix);
    devices::Entity::update_many()
        .col_expr(
            devices::Column::MqttUsername,
            // Portable SQL: SQLite and PostgreSQL both concatenate with `||`.
            Expr::cust(r#"'d' || CAST("id" AS TEXT)"#),
        )
        .filter(placeholders)
        .exec(&tx)
        .await
        .context("naming devices d<id>")?;
    let device_ids: Vec<(i64, i64)> = devices::Entity::find()
        .select_only()
        .columns([devices::Column::UserId, devices::Column::Id])
        .filter(devices::Column::UserId.is_in(user_ids.iter().copied()))
        .into_tuple()
        .all(&tx)
        .await
        .context("reading back device ids")?;
    tx.commit().await.context("committing the batch")?;

    let device_of_user: std::collections::HashMap<i64, i64> = device_ids.into_iter().collect();
    passwords
        .into_iter()
        .map(|(user_id, password)| {
            let device_id = device_of_user
                .get(&user_id)
                .with_context(|| format!("user {user_id} has no device after the insert"))?;
            Ok(Device {
                username: format!("d{device_id}"),
                password,
            })
        })
        .collect()
}

/// A password like natter's: 32 random bytes, base64url without padding.
fn new_password(rng: &mut StdRng) -> String {
    let mut bytes = [0_u8; 32];
    rng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a password: `sha256:` and the lowercase hex digest, as
/// `natter_accounts` computes it at CONNECT.
fn hash_password(password: &str) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(password.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use natter_accounts::{AuthOutcome, authenticate};
    use sea_orm::{ConnectOptions, Database};

    use super::*;

    #[tokio::test]
    async fn provisioned_devices_authenticate_as_users() {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1).sqlx_logging(false);
        let db = Database::connect(options).await.expect("opening sqlite");
        natter_entities::migrate(&db).await.expect("migrating");

        let provisioned = provision(&db, BATCH_SIZE + 3).await.expect("provisioning");

        assert_eq!(provisioned.len(), BATCH_SIZE + 3);
        for device in [&provisioned[0], &provisioned[BATCH_SIZE + 2]] {
            let outcome = authenticate(&db, &device.username, device.password.as_bytes())
                .await
                .expect("authenticating");
            let AuthOutcome::Accepted(identity) = outcome else {
                panic!("{} was refused: {outcome:?}", device.username);
            };
            assert_eq!(identity.role, Role::User);
            assert_eq!(device.username, format!("d{}", identity.device_id));
        }
        assert_eq!(
            remove_all(&db).await.expect("cleaning up"),
            (BATCH_SIZE + 3) as u64
        );
    }

    #[test]
    fn hashes_match_the_accounts_scheme() {
        // The SHA-256 test vector for "abc", as in natter_accounts' own test.
        assert_eq!(
            hash_password("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
