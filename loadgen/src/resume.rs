//! The `resume` scenario: devices that were online once (so they have a cursor) go offline;
//! a few sender users send each of them `--messages` messages through the server (natter-client,
//! QoS 1, each send confirmed by "sent"); then every device reconnects at once and resumes the
//! way natter-client does (connect, `sync` after its cursor, delivered receipts). Measures the
//! time from the reconnect burst until every device has every message, per-device catch-up
//! times, and counts duplicates and missing messages (both must be 0).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use natter_client::{Client, CursorStore, Event, Login, Options, ReceiptStatus, Target};
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;

use crate::cli::ResumeArgs;
use crate::fanout::user_ids;
use crate::provision::Device;
use crate::{database, provision};

/// Connects in flight while devices first come online (the reconnect burst has no limit).
const FIRST_CONNECTS_IN_FLIGHT: usize = 64;
/// Receipts are sent in batches of at most this many ids (and at each `synced`).
const RECEIPT_BATCH: usize = 100;
/// Body of the one message each device gets while online, before it goes offline.
const WARM_UP: u32 = u32::MAX;

/// How the scenario is driven.
#[derive(Clone, Debug)]
pub(crate) struct ResumeParams {
    /// The server's client-facing MQTT address.
    pub(crate) server: SocketAddr,
    /// Devices that go offline and resume.
    pub(crate) devices: usize,
    /// Messages each device gets while offline.
    pub(crate) messages: usize,
    /// Sender users.
    pub(crate) senders: usize,
    /// Sends each sender keeps in flight.
    pub(crate) window: usize,
    /// Longest the catch-up may take.
    pub(crate) timeout: Duration,
}

impl From<&ResumeArgs> for ResumeParams {
    fn from(args: &ResumeArgs) -> ResumeParams {
        ResumeParams {
            server: args.server,
            devices: args.devices,
            messages: args.messages,
            senders: args.senders,
            window: args.window,
            timeout: Duration::from_secs(args.timeout_secs),
        }
    }
}

/// What the scenario measured.
#[derive(Clone, Debug)]
pub(crate) struct ResumeResult {
    /// Devices that resumed.
    pub(crate) devices: usize,
    /// Messages each device was owed.
    pub(crate) messages: usize,
    /// Sender users.
    pub(crate) senders: usize,
    /// Time to send (and have stored) every message while the devices were offline.
    pub(crate) fill: Duration,
    /// From the reconnect burst until the last device had every message.
    pub(crate) catch_up: Duration,
    /// Per-device catch-up time (burst to its last missing message), sorted.
    pub(crate) per_device: Vec<Duration>,
    /// Messages handed to a device twice (or the pre-offline message handed again).
    pub(crate) duplicates: u64,
    /// Messages a device never got within the timeout.
    pub(crate) missing: u64,
    /// Devices whose reconnect failed.
    pub(crate) reconnect_failures: usize,
}

impl ResumeResult {
    /// Messages sent while the devices were offline.
    pub(crate) fn total(&self) -> u64 {
        (self.devices * self.messages) as u64
    }

    /// Messages per second stored while filling.
    pub(crate) fn fill_rate(&self) -> f64 {
        self.total() as f64 / self.fill.as_secs_f64().max(f64::EPSILON)
    }

    /// Messages per second handed over during the catch-up.
    pub(crate) fn catch_up_rate(&self) -> f64 {
        (self.total() - self.missing.min(self.total())) as f64
            / self.catch_up.as_secs_f64().max(f64::EPSILON)
    }

    /// Per-device catch-up time at `quantile`, milliseconds.
    pub(crate) fn device_ms(&self, quantile: f64) -> f64 {
        let Some(last) = self.per_device.len().checked_sub(1) else {
            return 0.0;
        };
        let index = ((last as f64) * quantile).round() as usize;
        self.per_device
            .get(index.min(last))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }

    /// Fails when anything was duplicated, missing or a device could not reconnect.
    ///
    /// # Errors
    /// Saying what went wrong.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        if self.duplicates > 0 || self.missing > 0 || self.reconnect_failures > 0 {
            bail!(
                "resume failed: {} duplicates, {} missing, {} devices could not reconnect",
                self.duplicates,
                self.missing,
                self.reconnect_failures
            );
        }
        Ok(())
    }
}

/// The header of the results table.
pub(crate) const TABLE_HEADER: &str = "| devices | messages each | fill msg/s | all caught up s | per device p50 / p99 / max ms | catch-up msg/s | duplicates | missing |\n|---:|---:|---:|---:|---:|---:|---:|---:|";

/// One row of the results table.
pub(crate) fn table_row(result: &ResumeResult) -> String {
    format!(
        "| {} | {} | {:.0} | {:.2} | {:.0} / {:.0} / {:.0} | {:.0} | {} | {} |",
        result.devices,
        result.messages,
        result.fill_rate(),
        result.catch_up.as_secs_f64(),
        result.device_ms(0.5),
        result.device_ms(0.99),
        result.device_ms(1.0),
        result.catch_up_rate(),
        result.duplicates,
        result.missing,
    )
}

/// Runs the scenario, prints its table, and fails if anything was duplicated or missing.
///
/// # Errors
/// When provisioning or connecting fails, or the resume was not exact.
pub(crate) async fn run(args: ResumeArgs) -> anyhow::Result<()> {
    let db = database::connect(&args.database).await?;
    let outcome = measure(&db, &ResumeParams::from(&args)).await;
    let removed = provision::remove_all(&db).await?;
    eprintln!("removed {removed} load-test devices");
    let result = outcome?;
    println!("{TABLE_HEADER}");
    println!("{}", table_row(&result));
    result.check()
}

/// A cursor the load generator can read after the client is gone.
#[derive(Clone, Debug, Default)]
struct SharedCursor(Arc<AtomicI64>);

impl CursorStore for SharedCursor {
    fn load(&mut self) -> io::Result<i64> {
        Ok(self.0.load(Ordering::SeqCst))
    }

    fn save(&mut self, cursor: i64) -> io::Result<()> {
        self.0.store(cursor, Ordering::SeqCst);
        Ok(())
    }
}

/// One resuming device.
struct Resumer {
    device: Device,
    user: i64,
    cursor: SharedCursor,
}

/// Provisions devices and senders in `db` and runs the scenario. Leaves the devices for the
/// caller to remove (`provision::remove_all`).
///
/// # Errors
/// When provisioning, connecting or sending fails; duplicates and missing messages are
/// reported in the result, not as errors.
pub(crate) async fn measure(
    db: &DatabaseConnection,
    params: &ResumeParams,
) -> anyhow::Result<ResumeResult> {
    if params.devices == 0 || params.messages == 0 {
        bail!("resume needs at least one device and one message");
    }
    if params.messages >= WARM_UP as usize {
        bail!("--messages must be below {WARM_UP}");
    }
    let senders = params.senders.clamp(1, params.devices);
    let provisioned = provision::provision(db, params.devices + senders).await?;
    let users = user_ids(db, &provisioned).await?;
    let resumers: Vec<Resumer> = provisioned
        .iter()
        .zip(&users)
        .take(params.devices)
        .map(|(device, &user)| Resumer {
            device: device.clone(),
            user,
            cursor: SharedCursor::default(),
        })
        .collect();
    let server = params.server.to_string();
    let mut sender_clients = Vec::with_capacity(senders);
    for (device, &user) in provisioned.iter().zip(&users).skip(params.devices) {
        sender_clients.push(connect(&server, device, user, SharedCursor::default()).await?);
    }

    println!(
        "resume: {} devices online once, one message each",
        params.devices
    );
    first_online(&server, &resumers, &sender_clients).await?;

    println!(
        "resume: sending {} messages to the offline devices",
        params.devices * params.messages
    );
    let started = Instant::now();
    let targets: Vec<i64> = resumers.iter().map(|r| r.user).collect();
    let mut sending = Vec::new();
    for (index, (client, events)) in sender_clients.iter_mut().enumerate() {
        // Sender `index` serves every `senders`-th device, message by message round the
        // devices, so that each device's messages come from one sender, in order.
        let mine: Vec<i64> = targets
            .iter()
            .copied()
            .skip(index)
            .step_by(senders)
            .collect();
        let plan: Vec<(i64, u32)> = (0..params.messages)
            .flat_map(|k| mine.iter().map(move |&user| (user, k as u32)))
            .collect();
        sending.push(send_all(client, events, plan, params.window));
    }
    for outcome in futures_util::future::join_all(sending).await {
        outcome?;
    }
    let fill = started.elapsed();
    for (client, _) in sender_clients {
        client.close().await;
    }

    println!(
        "resume: {} devices reconnect at once (filled in {:.1} s)",
        params.devices,
        fill.as_secs_f64()
    );
    let burst = Instant::now();
    let mut tasks = FuturesUnordered::new();
    for resumer in &resumers {
        let server = server.clone();
        let (device, user, cursor) = (resumer.device.clone(), resumer.user, resumer.cursor.clone());
        let (messages, timeout) = (params.messages, params.timeout);
        tasks.push(tokio::spawn(async move {
            catch_up(&server, &device, user, cursor, messages, burst, timeout).await
        }));
    }
    let mut per_device = Vec::with_capacity(params.devices);
    let (mut duplicates, mut missing, mut reconnect_failures) = (0, 0, 0);
    let mut first_failure = None;
    let mut clients = Vec::with_capacity(params.devices);
    while let Some(joined) = tasks.next().await {
        match joined.context("a resuming device's task panicked")? {
            Ok(outcome) => {
                duplicates += outcome.duplicates;
                missing += outcome.missing;
                if let Some(done) = outcome.done {
                    per_device.push(done);
                }
                clients.push(outcome.client);
            }
            Err(err) => {
                reconnect_failures += 1;
                missing += params.messages as u64;
                first_failure.get_or_insert(err);
            }
        }
    }
    let elapsed = burst.elapsed();
    if let Some(err) = first_failure {
        eprintln!("resume: {reconnect_failures} devices could not reconnect, first: {err:#}");
    }
    for client in clients {
        client.close().await;
    }
    per_device.sort_unstable();
    let catch_up = match per_device.last() {
        Some(&last) if missing == 0 => last,
        _ => elapsed,
    };
    Ok(ResumeResult {
        devices: params.devices,
        messages: params.messages,
        senders,
        fill,
        catch_up,
        per_device,
        duplicates,
        missing,
        reconnect_failures,
    })
}

/// A natter client with `cursor` as its cursor store.
async fn connect(
    server: &str,
    device: &Device,
    user: i64,
    cursor: SharedCursor,
) -> anyhow::Result<(Client, natter_client::Events)> {
    let login = Login::new(user, &device.username, &device.password)?;
    let options = Options {
        keep_alive: Duration::from_secs(120),
        cursor: Some(Box::new(cursor)),
        ..Options::default()
    };
    Client::connect(server, login, options)
        .await
        .with_context(|| format!("connecting {}", device.username))
}

/// Every device connects (a few at a time), gets one message from a sender, acknowledges
/// it, and disconnects: afterwards each has a cursor past that message.
async fn first_online(
    server: &str,
    resumers: &[Resumer],
    senders: &[(Client, natter_client::Events)],
) -> anyhow::Result<()> {
    let deadline = Duration::from_secs(60);
    let mut online = Vec::with_capacity(resumers.len());
    for chunk in resumers.chunks(FIRST_CONNECTS_IN_FLIGHT) {
        let connects = chunk
            .iter()
            .map(|r| connect(server, &r.device, r.user, r.cursor.clone()));
        for connected in futures_util::future::join_all(connects).await {
            online.push(connected?);
        }
    }
    let (got_tx, mut got_rx) = mpsc::unbounded_channel::<()>();
    let mut clients = Vec::with_capacity(online.len());
    for (client, mut events) in online {
        let (got, receipts) = (got_tx.clone(), client.clone());
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if let Event::Message(message) = event {
                    let _ = receipts.receipt(ReceiptStatus::Delivered, vec![message.server_id]);
                    let _ = got.send(());
                }
            }
        });
        clients.push(client);
    }
    // Sender events are not read here; `send_all` below skips what it did not ask for.
    let senders_count = senders.len();
    for (index, resumer) in resumers.iter().enumerate() {
        let (client, _) = &senders[index % senders_count];
        client.send(
            Target::User(resumer.user),
            WARM_UP.to_be_bytes().to_vec(),
            None,
        )?;
    }
    for _ in 0..resumers.len() {
        tokio::time::timeout(deadline, got_rx.recv())
            .await
            .context("a device did not get its message before going offline")?
            .context("the devices' event tasks ended")?;
    }
    for client in clients {
        client.close().await;
    }
    if let Some(stale) = resumers
        .iter()
        .find(|r| r.cursor.0.load(Ordering::SeqCst) == 0)
    {
        bail!(
            "{} has no cursor after its first session",
            stale.device.username
        );
    }
    Ok(())
}

/// Sends `plan` (recipient, message number) keeping at most `window` sends waiting for
/// "sent".
async fn send_all(
    client: &Client,
    events: &mut natter_client::Events,
    plan: Vec<(i64, u32)>,
    window: usize,
) -> anyhow::Result<()> {
    let deadline = Duration::from_secs(60);
    let window = window.max(1);
    let mut in_flight = std::collections::HashSet::new();
    let mut plan = plan.into_iter();
    loop {
        while in_flight.len() < window {
            let Some((user, number)) = plan.next() else {
                break;
            };
            let id = client.send(Target::User(user), number.to_be_bytes().to_vec(), None)?;
            in_flight.insert(id);
        }
        if in_flight.is_empty() {
            return Ok(());
        }
        let event = tokio::time::timeout(deadline, events.next())
            .await
            .context("no \"sent\" within 60 s")?
            .context("a sender's client stopped")?;
        match event {
            Event::Sent { id, .. } => {
                in_flight.remove(&id);
            }
            Event::Error { id, code, message } if id.is_some() => {
                bail!("the server refused a send: {code}: {message}")
            }
            _ => {}
        }
    }
}

/// What one device saw after the burst.
struct Outcome {
    client: Client,
    /// Burst to its last missing message; `None` when it never got them all.
    done: Option<Duration>,
    duplicates: u64,
    missing: u64,
}

/// Reconnects one device from its cursor and reads until it has all `messages` (or the
/// deadline passes), sending delivered receipts as an app does.
async fn catch_up(
    server: &str,
    device: &Device,
    user: i64,
    cursor: SharedCursor,
    messages: usize,
    burst: Instant,
    timeout: Duration,
) -> anyhow::Result<Outcome> {
    let (client, mut events) = connect(server, device, user, cursor).await?;
    let mut seen = vec![false; messages];
    let (mut have, mut duplicates) = (0, 0_u64);
    let mut receipts = Vec::new();
    let mut done = None;
    // After the last missing message, read on to the end of the sync answer (`synced`), so
    // that a duplicate inside it is counted.
    let mut synced = false;
    let deadline = tokio::time::Instant::from_std(burst + timeout);
    while have < messages || !synced {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.next()).await else {
            break;
        };
        match event {
            Event::Message(message) => {
                let number = message
                    .body
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes);
                synced = false;
                match number.and_then(|n| seen.get_mut(n as usize)) {
                    Some(slot) if !*slot => {
                        *slot = true;
                        have += 1;
                        if have == messages {
                            done = Some(burst.elapsed());
                        }
                    }
                    // Seen already, or the message from before going offline.
                    _ => duplicates += 1,
                }
                receipts.push(message.server_id);
                if receipts.len() >= RECEIPT_BATCH {
                    client.receipt(ReceiptStatus::Delivered, std::mem::take(&mut receipts))?;
                }
            }
            Event::Synced { .. } => {
                synced = true;
                if !receipts.is_empty() {
                    client.receipt(ReceiptStatus::Delivered, std::mem::take(&mut receipts))?;
                }
            }
            _ => {}
        }
    }
    if !receipts.is_empty() {
        client.receipt(ReceiptStatus::Delivered, receipts)?;
    }
    Ok(Outcome {
        client,
        done,
        duplicates,
        missing: (messages - have) as u64,
    })
}
