//! The presence service end to end without the broker: two nodes share a store; a device on
//! node A comes online, node A crashes (no goodbye), and node B tells the watcher "offline"
//! within the heartbeat TTL, with the crashed node's last heartbeat as last seen. Runs on the
//! in-process store and, when `NATTER_TEST_REDIS_URL` is set, on Redis.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::future::BoxFuture;
use natter_config::PresenceSettings;
use natter_entities::contacts;
use natter_presence::{
    EventSink, InProcessStore, PresenceService, PresenceState, PresenceStore, RedisStore,
};
use sea_orm::{ActiveModelTrait, Database, DatabaseConnection, Set};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Records what would be published.
#[derive(Debug, Default)]
struct Recorder {
    events: Mutex<Vec<(String, Value)>>,
}

impl EventSink for Recorder {
    fn publish(&self, topic: String, payload: bytes::Bytes) -> BoxFuture<'_, Result<(), String>> {
        let event = serde_json::from_slice(&payload).unwrap_or(Value::Null);
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((topic, event));
        Box::pin(async { Ok(()) })
    }
}

impl Recorder {
    fn states(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, event)| event["state"].as_str().unwrap_or("?").to_owned())
            .collect()
    }
}

/// Two handles on one shared store (two Redis connections with one prefix).
async fn shared_stores(
    ttl: Duration,
) -> anyhow::Result<Vec<(&'static str, Arc<dyn PresenceStore>, Arc<dyn PresenceStore>)>> {
    let in_process: Arc<dyn PresenceStore> = Arc::new(InProcessStore::new(ttl));
    let mut stores = vec![("in-process", in_process.clone(), in_process)];
    if let Some(url) = std::env::var("NATTER_TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
    {
        let prefix = format!("t-svc-{}-{}", std::process::id(), natter_presence::now_ms());
        let connect = || RedisStore::connect(&url, &prefix, ttl, Duration::from_secs(2));
        let a: Arc<dyn PresenceStore> =
            Arc::new(connect().await.with_context(|| {
                format!("NATTER_TEST_REDIS_URL={url} is set but does not answer")
            })?);
        let b: Arc<dyn PresenceStore> = Arc::new(connect().await?);
        stores.push(("redis", a, b));
    }
    Ok(stores)
}

/// A database where `watcher` has `owner` in their address book and `owner` shows presence
/// to everyone.
async fn database(owner: i64, watcher: i64) -> anyhow::Result<DatabaseConnection> {
    let db = Database::connect("sqlite::memory:").await?;
    natter_entities::migrate(&db).await?;
    for n in 1..=2 {
        natter_accounts::create_user(&db, &format!("+1555000000{n}"), "u").await?;
    }
    natter_entities::users::ActiveModel {
        id: Set(owner),
        last_seen_privacy: Set("everyone".into()),
        ..Default::default()
    }
    .update(&db)
    .await?;
    contacts::ActiveModel {
        owner_id: Set(watcher),
        phone: Set("+15550000001".into()),
        contact_user_id: Set(Some(owner)),
        created_at: Set(0),
    }
    .insert(&db)
    .await?;
    Ok(db)
}

async fn within<F: Fn() -> bool>(deadline: Duration, check: F) -> anyhow::Result<()> {
    let until = tokio::time::Instant::now() + deadline;
    while !check() {
        anyhow::ensure!(
            tokio::time::Instant::now() < until,
            "condition not met within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_hear_that_the_users_of_a_crashed_node_went_offline_within_the_ttl()
-> anyhow::Result<()> {
    let ttl = Duration::from_millis(600);
    let (owner, watcher) = (1, 2);
    for (name, store_a, store_b) in shared_stores(ttl).await? {
        let db = database(owner, watcher).await?;
        let settings = |node: &str| PresenceSettings {
            coalesce_ms: 0,
            heartbeat_ms: 100,
            ttl_ms: 600,
            node_id: Some(node.to_owned()),
        };
        let sink_a = Arc::new(Recorder::default());
        let sink_b = Arc::new(Recorder::default());
        let node_a = PresenceService::new(&settings("a"), store_a, db.clone(), sink_a.clone());
        let node_b = PresenceService::new(&settings("b"), store_b, db.clone(), sink_b.clone());
        let (handle_a, handle_b) = (node_a.handle(), node_b.handle());
        let crash_a = tokio::spawn(node_a.run(CancellationToken::new()));
        let stop_b = CancellationToken::new();
        let running_b = tokio::spawn(node_b.run(stop_b.clone()));

        handle_a.connected(owner, 10, 1);
        within(Duration::from_secs(5), || sink_a.states() == ["online"])
            .await
            .with_context(|| format!("{name}: no online event"))?;
        assert_eq!(
            sink_a
                .events
                .lock()
                .map(|e| e[0].0.clone())
                .unwrap_or_default(),
            "u/2/presence"
        );
        assert_eq!(
            handle_b.query(watcher, owner).await?.state,
            PresenceState::Online,
            "{name}"
        );

        // Node A dies without unregistering anything.
        crash_a.abort();
        let crashed = Instant::now();
        within(Duration::from_secs(5), || sink_b.states() == ["offline"])
            .await
            .with_context(|| format!("{name}: node b never reaped node a"))?;
        // Within the TTL plus one heartbeat of node b (and scheduling slack).
        assert!(
            crashed.elapsed() < ttl + Duration::from_millis(900),
            "{name}: {:?}",
            crashed.elapsed()
        );
        let answer = handle_b.query(watcher, owner).await?;
        assert_eq!(answer.state, PresenceState::Offline, "{name}");
        assert!(answer.last_seen.is_some(), "{name}: {answer:?}");

        stop_b.cancel();
        running_b.await??;
    }
    Ok(())
}
