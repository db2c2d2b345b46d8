//! Durability: under continuous sending, `kill -9` the server and start it again on the same
//! ports and data: every message the sender saw as "sent" reaches the receiver after the
//! resume, exactly once and in conversation order. On SQLite (embedded) and on PostgreSQL
//! when `NATTER_TEST_POSTGRES_URL` is set (then a server that does not answer fails the test).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use natter_client::{Client, Event, Login, Message, Options, ReceiptStatus, Target};
use sea_orm::{ConnectionTrait, Database};
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, watch};

use super::{free_addr, natter, output};

/// Sends acknowledged before the kill, and again after the restart.
const ACKED_PER_PHASE: usize = 200;
/// Sends the sender keeps unacknowledged at most (the "in flight" window).
const WINDOW: usize = 20;
/// How long any one phase may take.
const PHASE_DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_and_duplicates_nothing_on_sqlite() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let report = run(dir.path(), None).await?;
    println!("durability [sqlite]: {report}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_and_duplicates_nothing_on_postgres() -> anyhow::Result<()> {
    // Unset: the embedded database, as every scenario of the harness does.
    let server = std::env::var("NATTER_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty());
    let dir = tempfile::tempdir()?;
    let Some(server) = server else {
        let report = run(dir.path(), None).await?;
        println!("durability [NATTER_TEST_POSTGRES_URL unset, sqlite]: {report}");
        return Ok(());
    };
    let database = fresh_postgres_database(&server).await?;
    let outcome = run(dir.path(), Some(&database)).await;
    drop_postgres_database(&server, &database).await?;
    println!("durability [postgres]: {}", outcome?);
    Ok(())
}

/// What happened, for the report.
#[derive(Debug)]
struct Report {
    acked_before_kill: usize,
    in_flight_at_kill: usize,
    /// In flight at the kill, but already committed (only their "sent" was lost).
    in_flight_committed: usize,
    acked_after_restart: usize,
    sent: usize,
    delivered: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} acked before kill -9, {} in flight at the kill ({} of them already committed), \
             {} acked after the restart, {} sent in all (all acked), {} delivered exactly once",
            self.acked_before_kill,
            self.in_flight_at_kill,
            self.in_flight_committed,
            self.acked_after_restart,
            self.sent,
            self.delivered
        )
    }
}

/// The server under test: fixed ports and data, so that a restart is the same server.
pub(super) struct Server {
    dir: PathBuf,
    pub(super) mqtt: String,
    internal: String,
    http: String,
    database: Option<String>,
    /// More settings, as environment variables.
    pub(super) env: Vec<(&'static str, String)>,
    pub(super) child: Option<Child>,
}

impl Server {
    pub(super) fn new(dir: &Path, database: Option<&str>) -> Server {
        Server {
            dir: dir.to_owned(),
            mqtt: free_addr(),
            internal: free_addr(),
            http: free_addr(),
            database: database.map(str::to_owned),
            env: Vec::new(),
            child: None,
        }
    }

    pub(super) fn command(&self, args: &[&str]) -> Command {
        let mut command = natter(&self.dir, args);
        command
            .env("NATTER__MQTT__LISTEN", &self.mqtt)
            .env("NATTER__MQTT__INTERNAL_LISTEN", &self.internal)
            .env("NATTER__HTTP__LISTEN", &self.http);
        if let Some(url) = &self.database {
            command.env("NATTER__DATABASE__URL", url);
        }
        command.envs(self.env.iter().map(|(key, value)| (key, value)));
        command
    }

    /// New free ports, for a start that lost its ports to a concurrent test between the
    /// check and natter's bind.
    pub(super) fn repick_ports(&mut self) {
        self.mqtt = free_addr();
        self.internal = free_addr();
        self.http = free_addr();
    }

    /// `natter migrate`: a new database for admin commands run before the first start.
    pub(super) async fn migrate(&self) -> anyhow::Result<()> {
        let (code, _, stderr) = output(self.command(&["migrate"])).await?;
        ensure!(code == Some(0), "natter migrate failed: {stderr}");
        Ok(())
    }

    /// `natter admin user create`, parsed into a login.
    pub(super) async fn create_user(&self, phone: &str) -> anyhow::Result<Login> {
        let (code, stdout, stderr) =
            output(self.command(&["admin", "user", "create", "--phone", phone])).await?;
        ensure!(code == Some(0), "admin user create failed: {stderr}");
        Ok(Login::from_admin_json(stdout.trim())?)
    }

    /// Starts `natter serve` (its output appended to `server.log`) and waits until
    /// `/healthz` answers 200.
    pub(super) async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))?;
        let mut command = self.command(&["serve"]);
        command
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        let mut child = command.spawn()?;
        let health = format!("http://{}/healthz", self.http);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = reqwest::get(&health).await
                && response.status() == 200
            {
                self.child = Some(child);
                return Ok(());
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "natter exited early with {status}; log:\n{}",
                    self.log_tail()
                );
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "natter not healthy within 30 s; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, as `kill -9`: no shutdown code runs.
    pub(super) async fn kill_9(&mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("the server is not running")?;
        child.start_kill()?;
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await??;
        ensure!(
            status.code().is_none(),
            "expected death by signal, got {status}"
        );
        Ok(())
    }

    pub(super) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// What the sender has seen.
#[derive(Debug, Default)]
struct SenderState {
    /// Client ids published, in order.
    sent: Vec<String>,
    /// Client id → server id, for every `sent` event.
    acked: HashMap<String, i64>,
    /// Client id → when the server stored it (unix ms).
    stored_at: HashMap<String, i64>,
    disconnects: usize,
}

/// What the receiver's application was handed.
#[derive(Debug, Default)]
struct ReceiverState {
    messages: Vec<Message>,
    disconnects: usize,
}

pub(super) fn options() -> Options {
    Options {
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(500),
        resend_after: Duration::from_secs(2),
        ..Options::default()
    }
}

async fn until(what: &str, server: &Server, mut check: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + PHASE_DEADLINE;
    while !check() {
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "{what}: not within {PHASE_DEADLINE:?}; server log:\n{}",
                server.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn run(dir: &Path, database: Option<&str>) -> anyhow::Result<Report> {
    let mut server = Server::new(dir, database);
    server.migrate().await?;
    let ada = server.create_user("+15551230001").await?;
    let bob = server.create_user("+15551230002").await?;
    server.start().await?;

    // The receiver: records what its application is handed, sends delivered receipts.
    let receiver_state = Arc::new(Mutex::new(ReceiverState::default()));
    let (receiver, mut receiver_events) = Client::connect(&server.mqtt, bob, options()).await?;
    let receiver_task = {
        let state = Arc::clone(&receiver_state);
        let receiver = receiver.clone();
        tokio::spawn(async move {
            while let Some(event) = receiver_events.next().await {
                match event {
                    Event::Message(message) => {
                        let _ = receiver.receipt(ReceiptStatus::Delivered, vec![message.server_id]);
                        lock(&state).messages.push(message);
                    }
                    Event::Disconnected { .. } => lock(&state).disconnects += 1,
                    _ => {}
                }
            }
        })
    };

    // The sender: numbered bodies, at most WINDOW unacknowledged.
    let sender_state = Arc::new(Mutex::new(SenderState::default()));
    let (sender, mut sender_events) = Client::connect(&server.mqtt, ada, options()).await?;
    let window = Arc::new(Semaphore::new(WINDOW));
    let (stop, stopped) = watch::channel(false);
    let events_task = {
        let state = Arc::clone(&sender_state);
        let window = Arc::clone(&window);
        tokio::spawn(async move {
            while let Some(event) = sender_events.next().await {
                match event {
                    Event::Sent {
                        id, server_id, ts, ..
                    } => {
                        let mut state = lock(&state);
                        state.stored_at.insert(id.clone(), ts);
                        state.acked.insert(id, server_id);
                        window.add_permits(1);
                    }
                    Event::Disconnected { .. } => lock(&state).disconnects += 1,
                    _ => {}
                }
            }
        })
    };
    let send_task = {
        let state = Arc::clone(&sender_state);
        let window = Arc::clone(&window);
        let sender = sender.clone();
        let to = Target::User(receiver.user_id());
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            for n in 0_u64.. {
                tokio::select! {
                    permit = window.acquire() => match permit {
                        Ok(permit) => permit.forget(),
                        Err(_) => return,
                    },
                    _ = stopped.wait_for(|stop| *stop) => return,
                }
                let id = format!("m{n}");
                lock(&state).sent.push(id.clone());
                if sender.send(to, id.clone().into_bytes(), Some(id)).is_err() {
                    return;
                }
            }
        })
    };

    // Phase 1: sending; kill -9 once ACKED_PER_PHASE sends were confirmed.
    until("acks before the kill", &server, || {
        lock(&sender_state).acked.len() >= ACKED_PER_PHASE
    })
    .await?;
    let (acked_before_kill, in_flight) = {
        let state = lock(&sender_state);
        let in_flight: Vec<String> = state
            .sent
            .iter()
            .filter(|id| !state.acked.contains_key(*id))
            .cloned()
            .collect();
        (state.acked.len(), in_flight)
    };
    server.kill_9().await?;
    let killed_at = unix_ms();

    // Phase 2: the same server again; the clients reconnect, resend and resume.
    server.start().await?;
    until("acks after the restart", &server, || {
        lock(&sender_state).acked.len() >= acked_before_kill + ACKED_PER_PHASE
    })
    .await?;
    stop.send_replace(true);
    send_task.await?;

    // Phase 3: every send confirmed, every confirmed message delivered.
    until("every send confirmed", &server, || {
        let state = lock(&sender_state);
        state.acked.len() == state.sent.len()
    })
    .await?;
    let acked = lock(&sender_state).acked.clone();
    until("every confirmed message delivered", &server, || {
        lock(&receiver_state).messages.len() >= acked.len()
    })
    .await?;
    sender.close().await;
    receiver.close().await;
    events_task.await?;
    receiver_task.await?;

    let sender_state = lock(&sender_state);
    let receiver_state = lock(&receiver_state);
    ensure!(
        sender_state.disconnects >= 1 && receiver_state.disconnects >= 1,
        "both clients should have lost the killed server: sender {}, receiver {}",
        sender_state.disconnects,
        receiver_state.disconnects
    );
    let mut received: BTreeMap<String, Vec<&Message>> = BTreeMap::new();
    for message in &receiver_state.messages {
        received
            .entry(String::from_utf8_lossy(&message.body).into_owned())
            .or_default()
            .push(message);
    }
    let duplicated: Vec<(&String, usize)> = received
        .iter()
        .filter(|(_, copies)| copies.len() > 1)
        .map(|(body, copies)| (body, copies.len()))
        .collect();
    ensure!(
        duplicated.is_empty(),
        "delivered more than once: {duplicated:?}"
    );
    let mut missing: Vec<&String> = acked
        .keys()
        .filter(|id| !received.contains_key(*id))
        .collect();
    missing.sort();
    ensure!(
        missing.is_empty(),
        "acked as sent but never delivered: {missing:?}"
    );
    let unknown: Vec<&String> = received
        .keys()
        .filter(|body| !acked.contains_key(*body))
        .collect();
    ensure!(unknown.is_empty(), "delivered but never sent: {unknown:?}");
    for (body, copies) in &received {
        let server_id = acked.get(body).copied();
        ensure!(
            server_id == Some(copies[0].server_id),
            "{body}: sent as {server_id:?}, delivered as {}",
            copies[0].server_id
        );
    }
    // One conversation: its seq and the inbox position rise with every message handed over.
    let mut last_seq: HashMap<i64, i64> = HashMap::new();
    let mut last_inbox = 0;
    for message in &receiver_state.messages {
        let last = last_seq.entry(message.conversation_id).or_insert(0);
        ensure!(
            message.seq > *last && message.inbox_seq > last_inbox,
            "out of order: seq {} after {}, inbox_seq {} after {}",
            message.seq,
            *last,
            message.inbox_seq,
            last_inbox
        );
        *last = message.seq;
        last_inbox = message.inbox_seq;
    }
    // Stored before the server died: only the "sent" was lost, the resend was deduplicated.
    let in_flight_committed = in_flight
        .iter()
        .filter(|id| {
            sender_state
                .stored_at
                .get(*id)
                .is_some_and(|ts| *ts <= killed_at)
        })
        .count();
    Ok(Report {
        acked_before_kill,
        in_flight_at_kill: in_flight.len(),
        in_flight_committed,
        acked_after_restart: acked.len() - acked_before_kill,
        sent: sender_state.sent.len(),
        delivered: receiver_state.messages.len(),
    })
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Creates an empty database on the PostgreSQL server at `server_url` (named like the
/// harness's, so that its stale-database sweep applies) and returns its URL.
pub(super) async fn fresh_postgres_database(server_url: &str) -> anyhow::Result<String> {
    let admin = Database::connect(server_url).await.with_context(|| {
        format!("NATTER_TEST_POSTGRES_URL={server_url} is set but does not answer")
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let name = format!(
        "natter_t_{now}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .context("creating a test database")?;
    admin.close().await.ok();
    let (base, _) = server_url
        .rsplit_once('/')
        .filter(|(base, _)| base.contains("://"))
        .context("NATTER_TEST_POSTGRES_URL must end in /database")?;
    Ok(format!("{base}/{name}"))
}

pub(super) async fn drop_postgres_database(
    server_url: &str,
    database_url: &str,
) -> anyhow::Result<()> {
    let name = database_url
        .rsplit_once('/')
        .map(|(_, name)| name)
        .context("not a database URL")?;
    let admin = Database::connect(server_url).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin.close().await.ok();
    Ok(())
}
