//! The `fanout` scenario: one sender, groups of N members; per message, the time until the
//! sender sees "sent" (stored) and until the last member has it. Measures natter's fan-out on
//! write (one delivery row and one publish per member) at the sizes the issue names.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use natter_accounts::now_ms;
use natter_client::{Client, Event, Login, Options, Target};
use natter_entities::{conversations, deliveries, devices, group_members, groups, messages};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
};
use tokio::sync::mpsc;

use crate::cli::FanoutArgs;
use crate::{database, provision};

/// What one group size measured.
#[derive(Clone, Debug)]
pub(crate) struct FanoutResult {
    /// Members besides the sender.
    pub(crate) members: usize,
    /// Messages sent, one at a time.
    pub(crate) messages: usize,
    /// Median time to "sent", milliseconds.
    pub(crate) sent_p50_ms: f64,
    /// Longest time to "sent", milliseconds.
    pub(crate) sent_max_ms: f64,
    /// Median time until every member had the message, milliseconds.
    pub(crate) all_p50_ms: f64,
    /// Longest time until every member had the message, milliseconds.
    pub(crate) all_max_ms: f64,
    /// Deliveries per second over the whole run.
    pub(crate) deliveries_per_sec: f64,
}

/// The header of the results table.
pub(crate) const TABLE_HEADER: &str = "| members | messages | sent p50 ms | sent max ms | all delivered p50 ms | all delivered max ms | deliveries/s |\n|---|---|---|---|---|---|---|";

/// One row of the results table.
pub(crate) fn table_row(result: &FanoutResult) -> String {
    format!(
        "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
        result.members,
        result.messages,
        result.sent_p50_ms,
        result.sent_max_ms,
        result.all_p50_ms,
        result.all_max_ms,
        result.deliveries_per_sec,
    )
}

/// Runs the scenario for each group size.
///
/// # Errors
/// When provisioning, connecting or a delivery fails or times out.
pub(crate) async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    let db = database::connect(&args.database).await?;
    println!("{TABLE_HEADER}");
    let outcome = async {
        for &members in &args.members {
            let result = measure(&db, args.server, members, args.messages).await?;
            println!("{}", table_row(&result));
        }
        anyhow::Ok(())
    }
    .await;
    let removed = provision::remove_all(&db).await?;
    eprintln!("removed {removed} load-test devices");
    outcome
}

/// One sender and a group of `members`: sends `messages` one at a time and times each to
/// "sent" and to the last member's delivery. Leaves the provisioned devices for the caller
/// to remove (`provision::remove_all`); removes the group.
///
/// # Errors
/// When provisioning, connecting or a delivery fails or times out.
pub(crate) async fn measure(
    db: &DatabaseConnection,
    server: SocketAddr,
    members: usize,
    messages: usize,
) -> anyhow::Result<FanoutResult> {
    let devices = provision::provision(db, members + 1).await?;
    let users = user_ids(db, &devices).await?;
    let group = create_group(db, &users).await?;
    let (delivered_tx, mut delivered_rx) = mpsc::unbounded_channel::<()>();
    let server = server.to_string();
    let mut clients = Vec::with_capacity(members);
    for (device, user) in devices.iter().zip(&users).skip(1) {
        let (client, mut events) = connect(&server, device, *user).await?;
        let delivered = delivered_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if matches!(event, Event::Message(_)) && delivered.send(()).is_err() {
                    return;
                }
            }
        });
        clients.push(client);
    }
    let (sender, mut sender_events) = connect(&server, &devices[0], users[0]).await?;
    let mut sent_ms = Vec::new();
    let mut all_ms = Vec::new();
    let deadline = Duration::from_secs(60);
    let started = Instant::now();
    for _ in 0..messages {
        let at = Instant::now();
        let id = sender.send(Target::Group(group), b"hello everybody!".to_vec(), None)?;
        tokio::time::timeout(deadline, async {
            while let Some(event) = sender_events.next().await {
                if matches!(&event, Event::Sent { id: sent, .. } if *sent == id) {
                    return Ok(());
                }
            }
            anyhow::bail!("the sender's connection ended")
        })
        .await
        .context("no sent")??;
        sent_ms.push(at.elapsed().as_secs_f64() * 1000.0);
        for _ in 0..members {
            tokio::time::timeout(deadline, delivered_rx.recv())
                .await
                .context("a member did not get the message")?;
        }
        all_ms.push(at.elapsed().as_secs_f64() * 1000.0);
    }
    let deliveries_per_sec = (members * messages) as f64 / started.elapsed().as_secs_f64();
    for client in clients.into_iter().chain([sender]) {
        client.close().await;
    }
    remove_group(db, group).await?;
    Ok(FanoutResult {
        members,
        messages,
        sent_p50_ms: median(&mut sent_ms),
        sent_max_ms: max(&sent_ms),
        all_p50_ms: median(&mut all_ms),
        all_max_ms: max(&all_ms),
        deliveries_per_sec,
    })
}

/// A natter client of `device` (user `user`), connected and subscribed.
pub(crate) async fn connect(
    server: &str,
    device: &provision::Device,
    user: i64,
) -> anyhow::Result<(Client, natter_client::Events)> {
    let login = Login::new(user, &device.username, &device.password)?;
    let options = Options {
        keep_alive: Duration::from_secs(120),
        ..Options::default()
    };
    Ok(Client::connect(server, login, options).await?)
}

/// The user ids of `devices`, in order.
pub(crate) async fn user_ids(
    db: &DatabaseConnection,
    devices: &[provision::Device],
) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(devices.len());
    for chunk in devices.chunks(500) {
        let names: Vec<&str> = chunk.iter().map(|d| d.username.as_str()).collect();
        let rows: Vec<(String, i64)> = devices::Entity::find()
            .select_only()
            .column(devices::Column::MqttUsername)
            .column(devices::Column::UserId)
            .filter(devices::Column::MqttUsername.is_in(names))
            .into_tuple()
            .all(db)
            .await?;
        let by_name: std::collections::HashMap<String, i64> = rows.into_iter().collect();
        for device in chunk {
            ids.push(*by_name.get(&device.username).context("device vanished")?);
        }
    }
    Ok(ids)
}

async fn create_group(db: &DatabaseConnection, users: &[i64]) -> anyhow::Result<i64> {
    let now = now_ms();
    let group = groups::Entity::insert(groups::ActiveModel {
        name: Set("loadgen".into()),
        description: Set(String::new()),
        created_by: Set(users[0]),
        member_limit: Set(i32::try_from(users.len())?),
        created_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await?
    .last_insert_id;
    for chunk in users.chunks(500) {
        group_members::Entity::insert_many(chunk.iter().map(|&user| group_members::ActiveModel {
            group_id: Set(group),
            user_id: Set(user),
            role: Set("member".into()),
            joined_at: Set(now),
        }))
        .exec_without_returning(db)
        .await?;
    }
    Ok(group)
}

/// Deletes the group with its conversation, messages and deliveries.
async fn remove_group(db: &DatabaseConnection, group: i64) -> anyhow::Result<()> {
    let conversation: Option<i64> = conversations::Entity::find()
        .select_only()
        .column(conversations::Column::Id)
        .filter(conversations::Column::GroupId.eq(group))
        .into_tuple()
        .one(db)
        .await?;
    if let Some(conversation) = conversation {
        let ids: Vec<i64> = messages::Entity::find()
            .select_only()
            .column(messages::Column::Id)
            .filter(messages::Column::ConversationId.eq(conversation))
            .into_tuple()
            .all(db)
            .await?;
        deliveries::Entity::delete_many()
            .filter(deliveries::Column::MessageId.is_in(ids))
            .exec(db)
            .await?;
        messages::Entity::delete_many()
            .filter(messages::Column::ConversationId.eq(conversation))
            .exec(db)
            .await?;
        conversations::Entity::delete_by_id(conversation)
            .exec(db)
            .await?;
    }
    group_members::Entity::delete_many()
        .filter(group_members::Column::GroupId.eq(group))
        .exec(db)
        .await?;
    groups::Entity::delete_by_id(group).exec(db).await?;
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}
