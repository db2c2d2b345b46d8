//! One suite for every presence store: each test runs on the in-process store, and on Redis
//! when `NATTER_TEST_REDIS_URL` is set (`.ci/run` sets it). A set variable whose server does
//! not answer fails the test; it never turns into a skip.

use std::time::Duration;

use anyhow::Context;
use natter_presence::{DeviceRef, InProcessStore, PresenceStore, RedisStore, UserPresence};

/// A TTL long enough that no heartbeat expires during a test that does not wait for it.
const LONG_TTL: Duration = Duration::from_secs(60);

/// The stores under test, named, with heartbeats lasting `ttl`.
async fn stores(ttl: Duration) -> anyhow::Result<Vec<(&'static str, Box<dyn PresenceStore>)>> {
    let mut stores: Vec<(&'static str, Box<dyn PresenceStore>)> =
        vec![("in-process", Box::new(InProcessStore::new(ttl)))];
    if let Some(url) = std::env::var("NATTER_TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
    {
        let prefix = format!("t-{}", uuid_like());
        let store = RedisStore::connect(&url, &prefix, ttl, Duration::from_secs(2))
            .await
            .with_context(|| format!("NATTER_TEST_REDIS_URL={url} is set but does not answer"))?;
        stores.push(("redis", Box::new(store)));
    }
    Ok(stores)
}

fn uuid_like() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos())
    )
}

fn device(user_id: i64, device_id: i64) -> DeviceRef {
    DeviceRef { user_id, device_id }
}

fn now_ms() -> i64 {
    natter_presence::now_ms()
}

/// Polls `check` every 20 ms until it holds, failing after `deadline`.
async fn within<F, Fut>(deadline: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if check().await? {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < until,
            "condition not met within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_user_is_online_while_any_of_their_devices_is() -> anyhow::Result<()> {
    for (name, store) in stores(LONG_TTL).await? {
        let store = store.as_ref();
        store.heartbeat("node-a", now_ms()).await?;
        assert!(
            store.device_online("node-a", device(1, 10)).await?,
            "{name}"
        );
        assert!(
            !store.device_online("node-a", device(1, 11)).await?,
            "{name}"
        );
        assert_eq!(
            store.user_presence(1).await?,
            UserPresence::Online,
            "{name}"
        );
        assert!(
            !store.device_offline("node-a", device(1, 10), 1000).await?,
            "{name}"
        );
        assert_eq!(
            store.user_presence(1).await?,
            UserPresence::Online,
            "{name}"
        );
        assert!(
            store.device_offline("node-a", device(1, 11), 2000).await?,
            "{name}"
        );
        assert_eq!(
            store.user_presence(1).await?,
            UserPresence::Offline {
                last_seen: Some(2000)
            },
            "{name}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_user_never_seen_is_offline_without_last_seen() -> anyhow::Result<()> {
    for (name, store) in stores(LONG_TTL).await? {
        assert_eq!(
            store.user_presence(404).await?,
            UserPresence::Offline { last_seen: None },
            "{name}"
        );
        assert_eq!(store.node_of(device(404, 1)).await?, None, "{name}");
        assert!(
            !store.device_offline("node-a", device(404, 1), 5).await?,
            "{name}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_registry_names_the_node_holding_a_device_and_a_moved_device_stays_online()
-> anyhow::Result<()> {
    for (name, store) in stores(LONG_TTL).await? {
        let store = store.as_ref();
        store.heartbeat("node-a", now_ms()).await?;
        store.heartbeat("node-b", now_ms()).await?;
        store.device_online("node-a", device(2, 20)).await?;
        assert_eq!(
            store.node_of(device(2, 20)).await?.as_deref(),
            Some("node-a"),
            "{name}"
        );
        // The device reconnects through node b before node a notices it left.
        assert!(
            !store.device_online("node-b", device(2, 20)).await?,
            "{name}"
        );
        assert!(
            !store.device_offline("node-a", device(2, 20), 7).await?,
            "{name}"
        );
        assert_eq!(
            store.user_presence(2).await?,
            UserPresence::Online,
            "{name}"
        );
        assert_eq!(
            store.node_of(device(2, 20)).await?.as_deref(),
            Some("node-b"),
            "{name}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn users_of_a_node_that_stops_heartbeating_go_offline_within_the_ttl() -> anyhow::Result<()> {
    let ttl = Duration::from_millis(400);
    for (name, store) in stores(ttl).await? {
        let store = store.as_ref();
        let last_beat = now_ms();
        assert!(
            !store.heartbeat("crashing", last_beat).await?,
            "{name}: first beat"
        );
        assert!(
            store.heartbeat("crashing", last_beat).await?,
            "{name}: registered"
        );
        store.device_online("crashing", device(3, 30)).await?;
        store.device_online("crashing", device(4, 40)).await?;
        assert_eq!(
            store.user_presence(3).await?,
            UserPresence::Online,
            "{name}"
        );

        // No more heartbeats: queries turn offline once the TTL runs out, with no reaping.
        within(ttl * 5, || async {
            Ok(matches!(
                store.user_presence(3).await?,
                UserPresence::Offline { .. }
            ))
        })
        .await
        .with_context(|| format!("{name}: user 3 still online"))?;
        assert_eq!(store.node_of(device(3, 30)).await?, None, "{name}");

        // One live node reaps the dead one, once.
        let mut reaped = store.reap_dead_nodes(now_ms()).await?;
        reaped.sort_by_key(|user| user.user_id);
        let users: Vec<(i64, i64)> = reaped.iter().map(|r| (r.user_id, r.last_seen)).collect();
        assert_eq!(users, vec![(3, last_beat), (4, last_beat)], "{name}");
        assert!(
            store.reap_dead_nodes(now_ms()).await?.is_empty(),
            "{name}: reaped twice"
        );
        assert_eq!(
            store.user_presence(4).await?,
            UserPresence::Offline {
                last_seen: Some(last_beat)
            },
            "{name}"
        );
        // A node that comes back after being reaped learns it must re-register.
        assert!(!store.heartbeat("crashing", now_ms()).await?, "{name}");
    }
    Ok(())
}

#[tokio::test]
async fn a_live_node_is_never_reaped() -> anyhow::Result<()> {
    for (name, store) in stores(LONG_TTL).await? {
        let store = store.as_ref();
        store.heartbeat("alive", now_ms()).await?;
        store.device_online("alive", device(5, 50)).await?;
        assert!(store.reap_dead_nodes(now_ms()).await?.is_empty(), "{name}");
        assert_eq!(
            store.user_presence(5).await?,
            UserPresence::Online,
            "{name}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn resync_makes_the_registry_match_the_nodes_connections() -> anyhow::Result<()> {
    for (name, store) in stores(LONG_TTL).await? {
        let store = store.as_ref();
        store.heartbeat("node-r", now_ms()).await?;
        store.device_online("node-r", device(6, 60)).await?;
        store.device_online("node-r", device(7, 70)).await?;
        // While the store was unreachable, device 60 left and device 80 arrived.
        store
            .resync("node-r", &[device(7, 70), device(8, 80)], 99)
            .await?;
        assert_eq!(
            store.user_presence(6).await?,
            UserPresence::Offline {
                last_seen: Some(99)
            },
            "{name}"
        );
        assert_eq!(
            store.user_presence(7).await?,
            UserPresence::Online,
            "{name}"
        );
        assert_eq!(
            store.user_presence(8).await?,
            UserPresence::Online,
            "{name}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn removing_a_node_takes_its_users_offline_but_not_users_online_elsewhere()
-> anyhow::Result<()> {
    for (name, store) in stores(LONG_TTL).await? {
        let store = store.as_ref();
        store.heartbeat("leaving", now_ms()).await?;
        store.heartbeat("staying", now_ms()).await?;
        store.device_online("leaving", device(9, 90)).await?;
        store.device_online("leaving", device(10, 100)).await?;
        store.device_online("staying", device(10, 101)).await?;
        let offline = store.remove_node("leaving", 1234).await?;
        assert_eq!(offline, vec![9], "{name}");
        assert_eq!(
            store.user_presence(9).await?,
            UserPresence::Offline {
                last_seen: Some(1234)
            },
            "{name}"
        );
        assert_eq!(
            store.user_presence(10).await?,
            UserPresence::Online,
            "{name}"
        );
        store.ping().await?;
    }
    Ok(())
}
