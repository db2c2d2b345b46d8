//! Three `natter serve` processes behind one Redis and one database, clients spread over them:
//! messages cross every pair of nodes live, a device that connects to another node takes its
//! session over, and a soak in which 10,000 messages cross nodes while the receiver's node is
//! killed with SIGKILL and restarted loses and duplicates nothing.
//!
//! Needs Redis: `NATTER_TEST_REDIS_URL`, or this machine's at 127.0.0.1:6379 (a Redis that
//! does not answer fails the tests). The database is PostgreSQL from `NATTER_TEST_POSTGRES_URL`,
//! or one SQLite file in the data directory the three processes share.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, ensure};
use natter_client::{Client, Event, ReceiptStatus, Target};
use tokio::sync::Semaphore;

use super::durability::{Server, drop_postgres_database, fresh_postgres_database, lock, options};

/// Messages of the soak.
const SOAK: usize = 10_000;
/// Sends the soak keeps unacknowledged at most.
const WINDOW: usize = 50;
/// How long any one wait may take.
const DEADLINE: Duration = Duration::from_secs(90);

/// Three nodes on one data directory (or `database`), Redis and key prefix, started.
async fn three_nodes(dir: &Path, database: Option<&str>) -> anyhow::Result<Vec<Server>> {
    let redis = std::env::var("NATTER_TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("t-{}", uuid::Uuid::new_v4().simple());
    let mut nodes = Vec::new();
    for n in 0..3 {
        let mut node = Server::new(dir, database);
        node.env = vec![
            ("NATTER__REDIS__URL", redis.clone()),
            ("NATTER__REDIS__KEY_PREFIX", prefix.clone()),
            ("NATTER__PRESENCE__NODE_ID", format!("node-{n}")),
            // One data directory on one machine: every node sees the media.
            ("NATTER__STORAGE__LOCAL_SHARED", "true".to_owned()),
        ];
        if n == 0 {
            node.migrate().await?;
        }
        if node.start().await.is_err() {
            // Its free ports can be taken by a concurrent test before natter binds them.
            node.repick_ports();
            node.start().await?;
        }
        nodes.push(node);
    }
    Ok(nodes)
}

/// Drops the PostgreSQL database of a test, if it had one.
async fn drop_database(database: Option<String>) -> anyhow::Result<()> {
    if let (Some(server), Some(database)) = (
        std::env::var("NATTER_TEST_POSTGRES_URL")
            .ok()
            .filter(|url| !url.is_empty()),
        database,
    ) {
        drop_postgres_database(&server, &database).await?;
    }
    Ok(())
}

async fn database() -> anyhow::Result<Option<String>> {
    match std::env::var("NATTER_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
    {
        Some(server) => Ok(Some(fresh_postgres_database(&server).await?)),
        None => Ok(None),
    }
}

/// The next message `events` hands over, within the deadline.
async fn next_message(events: &mut natter_client::Events) -> anyhow::Result<Vec<u8>> {
    tokio::time::timeout(DEADLINE, async {
        while let Some(event) = events.next().await {
            if let Event::Message(message) = event {
                return Ok(message.body);
            }
        }
        anyhow::bail!("the client stopped")
    })
    .await
    .context("no message in time")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_deliver_across_nodes_and_take_sessions_over() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database = database().await?;
    let nodes = three_nodes(dir.path(), database.as_deref()).await?;
    let ada = nodes[0].create_user("+15551230001").await?;
    let bob = nodes[0].create_user("+15551230002").await?;
    let carol = nodes[0].create_user("+15551230003").await?;
    let users = [ada.clone(), bob.clone(), carol];
    let mut clients = Vec::new();
    for (n, login) in users.iter().enumerate() {
        let (client, mut events) =
            Client::connect(&nodes[n].mqtt, login.clone(), options()).await?;
        // Connected and caught up before anyone writes.
        tokio::time::timeout(DEADLINE, async {
            while let Some(event) = events.next().await {
                if matches!(event, Event::Synced { .. }) {
                    break;
                }
            }
        })
        .await?;
        clients.push((client, events));
    }
    // Each user on node n writes to the user on node n + 1.
    for (n, (client, _)) in clients.iter().enumerate() {
        let to = Target::User(users[(n + 1) % 3].user_id);
        client.send(to, format!("from node {n}").into_bytes(), None)?;
    }
    for (n, (_, events)) in clients.iter_mut().enumerate() {
        let from = (n + 2) % 3;
        let body = next_message(events).await?;
        assert_eq!(body, format!("from node {from}").into_bytes());
    }

    // Ada's phone connects to node 2: her connection on node 0 is taken over.
    let (_again, _) = Client::connect(&nodes[2].mqtt, ada, options()).await?;
    let taken_over = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(event) = clients[0].1.next().await {
            if let Event::Disconnected { reason } = event {
                return reason;
            }
        }
        String::new()
    })
    .await
    .context("Ada's first connection was not closed when she connected to another node")?;
    assert!(
        taken_over.contains("SessionTakenOver") || taken_over.contains("took over"),
        "closed for another reason: {taken_over}"
    );
    for (client, _) in clients {
        client.close().await;
    }
    drop(nodes);
    drop_database(database).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_messages_cross_nodes_through_a_kill_9_without_loss_or_duplicates()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database = database().await?;
    let mut nodes = three_nodes(dir.path(), database.as_deref()).await?;
    let ada = nodes[0].create_user("+15551230001").await?;
    let bob = nodes[0].create_user("+15551230002").await?;

    // Bob on node 1 records what his application is handed.
    let received = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let (receiver, mut receiver_events) = Client::connect(&nodes[1].mqtt, bob, options()).await?;
    let receiver_task = {
        let received = Arc::clone(&received);
        let receiver = receiver.clone();
        tokio::spawn(async move {
            while let Some(event) = receiver_events.next().await {
                if let Event::Message(message) = event {
                    let _ = receiver.receipt(ReceiptStatus::Delivered, vec![message.server_id]);
                    lock(&received).push(message.body);
                }
            }
        })
    };

    // Ada on node 0 sends, at most WINDOW unacknowledged.
    let acked = Arc::new(Mutex::new(HashMap::<String, i64>::new()));
    let (sender, mut sender_events) = Client::connect(&nodes[0].mqtt, ada, options()).await?;
    let window = Arc::new(Semaphore::new(WINDOW));
    let events_task = {
        let acked = Arc::clone(&acked);
        let window = Arc::clone(&window);
        tokio::spawn(async move {
            while let Some(event) = sender_events.next().await {
                if let Event::Sent { id, server_id, .. } = event
                    && lock(&acked).insert(id, server_id).is_none()
                {
                    window.add_permits(1);
                }
            }
        })
    };
    let to = Target::User(receiver.user_id());
    let send_task = {
        let sender = sender.clone();
        let window = Arc::clone(&window);
        tokio::spawn(async move {
            for n in 0..SOAK {
                match window.acquire().await {
                    Ok(permit) => permit.forget(),
                    Err(_) => return,
                }
                let id = format!("m{n}");
                if sender.send(to, id.clone().into_bytes(), Some(id)).is_err() {
                    return;
                }
            }
        })
    };

    let wait = |what: &'static str, check: Box<dyn Fn() -> bool + Send>| async move {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !check() {
            ensure!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    };

    // Half way, the receiver's node dies and comes back on the same ports.
    {
        let acked = Arc::clone(&acked);
        wait(
            "half the messages acknowledged",
            Box::new(move || lock(&acked).len() >= SOAK / 2),
        )
        .await?;
    }
    nodes[1].kill_9().await?;
    nodes[1].start().await?;

    send_task.await?;
    {
        let acked = Arc::clone(&acked);
        wait(
            "every message acknowledged",
            Box::new(move || lock(&acked).len() >= SOAK),
        )
        .await?;
    }
    {
        let received = Arc::clone(&received);
        wait(
            "every message delivered",
            Box::new(move || lock(&received).len() >= SOAK),
        )
        .await?;
    }
    sender.close().await;
    receiver.close().await;
    events_task.abort();
    receiver_task.abort();

    let mut copies: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for body in lock(&received).iter() {
        *copies.entry(body.clone()).or_default() += 1;
    }
    let duplicated = copies.values().filter(|&&n| n > 1).count();
    let missing = lock(&acked)
        .keys()
        .filter(|id| !copies.contains_key(id.as_bytes()))
        .count();
    ensure!(
        duplicated == 0 && missing == 0 && copies.len() == SOAK,
        "{duplicated} delivered more than once, {missing} acknowledged but never delivered, {} distinct delivered",
        copies.len()
    );
    drop(nodes);
    drop_database(database).await
}
