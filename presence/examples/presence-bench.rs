//! Presence figures (docs/BENCHMARKS.md, "Presence"):
//!
//! 1. store operations per second: `device_online` + `device_offline` for distinct devices,
//!    one at a time and 64 in flight;
//! 2. changes per second sustained through the whole service (store, coalescing off,
//!    watcher query in the database, one event per change to a counting sink);
//! 3. fanning one change out to 500 watching contacts: from the edge's report to the 500th
//!    event handed to the broker (the sink), median and p99 over repeated changes.
//!
//! `cargo run --release -p natter-presence --example presence-bench -- [--redis URL]
//! [--database URL] [--changes N] [--watchers N]`. The database defaults to a SQLite file in a
//! temporary directory, as `natter serve` uses by default.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::future::BoxFuture;
use natter_config::PresenceSettings;
use natter_entities::{contacts, users};
use natter_presence::{
    DeviceRef, EventSink, InProcessStore, Leaving, PresenceService, PresenceStore, RedisStore,
};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, EntityTrait, Set};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
struct CountingSink {
    events: AtomicU64,
}

impl EventSink for CountingSink {
    fn publish(&self, _topic: String, _payload: bytes::Bytes) -> BoxFuture<'_, Result<(), String>> {
        self.events.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }
}

struct Options {
    redis: Option<String>,
    database: Option<String>,
    changes: u64,
    watchers: i64,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        redis: None,
        database: None,
        changes: 20_000,
        watchers: 500,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--redis" => options.redis = Some(value),
            "--database" => options.database = Some(value),
            "--changes" => options.changes = value.parse()?,
            "--watchers" => options.watchers = value.parse()?,
            _ => anyhow::bail!("unknown option {arg}"),
        }
    }
    Ok(options)
}

async fn store(options: &Options, ttl: Duration) -> anyhow::Result<Arc<dyn PresenceStore>> {
    Ok(match &options.redis {
        Some(url) => {
            let prefix = format!("bench-{}", std::process::id());
            Arc::new(RedisStore::connect(url, &prefix, ttl, Duration::from_secs(2)).await?)
        }
        None => Arc::new(InProcessStore::new(ttl)),
    })
}

/// Inserts users `first..first + n` (privacy "everyone") directly.
async fn users(db: &DatabaseConnection, first: i64, n: i64) -> anyhow::Result<()> {
    for chunk_start in (first..first + n).step_by(500) {
        let chunk_end = (chunk_start + 500).min(first + n);
        let rows = (chunk_start..chunk_end).map(|id| users::ActiveModel {
            id: Set(id),
            phone: Set(Some(format!("+1555{id:07}"))),
            display_name: Set(String::new()),
            about: Set(String::new()),
            avatar_media_id: Set(None),
            last_seen_privacy: Set("everyone".into()),
            photo_privacy: Set("contacts".into()),
            last_seen_at: Set(None),
            created_at: Set(0),
            inbox_seq: Set(0),
            deleted_at: Set(None),
        });
        users::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(())
}

/// `owners` each gain `watcher` as a watcher (the watcher has their number).
async fn watched_by(db: &DatabaseConnection, owners: &[i64], watcher: i64) -> anyhow::Result<()> {
    for chunk in owners.chunks(500) {
        let rows = chunk.iter().map(|owner| contacts::ActiveModel {
            owner_id: Set(watcher),
            phone: Set(format!("+1555{owner:07}")),
            contact_user_id: Set(Some(*owner)),
            created_at: Set(0),
        });
        contacts::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(())
}

async fn wait_for(sink: &CountingSink, count: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while sink.events.load(Ordering::Relaxed) < count {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} of {count} events arrived",
            sink.events.load(Ordering::Relaxed)
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let ttl = Duration::from_secs(60);
    let data_dir = std::env::temp_dir().join(format!("presence-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data_dir)?;
    let database_url = options
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite:{}?mode=rwc", data_dir.join("bench.db").display()));
    // As natter connects (src/db.rs): SQLite in WAL mode with one connection.
    let mut connect = ConnectOptions::new(database_url.clone());
    if database_url.starts_with("sqlite:") {
        connect.max_connections(1).map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
        });
    }
    let db = Database::connect(connect).await?;
    natter_entities::migrate(&db).await?;
    let backend = if options.redis.is_some() {
        "redis"
    } else {
        "in-process"
    };
    println!(
        "store: {backend}, database: {}",
        database_url.split(':').next().unwrap_or("")
    );

    // 1. The store alone.
    let store_only = store(&options, ttl).await?;
    store_only
        .heartbeat("bench-node", natter_presence::now_ms())
        .await?;
    let n = options.changes;
    let started = Instant::now();
    for i in 0..n as i64 {
        let device = DeviceRef {
            user_id: 1_000_000 + i,
            device_id: i,
        };
        store_only.device_online("bench-node", device).await?;
        store_only.device_offline("bench-node", device, 1).await?;
    }
    let sequential = (2 * n) as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut in_flight = futures_util::stream::FuturesUnordered::new();
    use futures_util::StreamExt;
    for i in 0..n as i64 {
        let store = store_only.clone();
        in_flight.push(async move {
            let device = DeviceRef {
                user_id: 2_000_000 + i,
                device_id: i,
            };
            store.device_online("bench-node", device).await?;
            store.device_offline("bench-node", device, 1).await
        });
        if in_flight.len() >= 64 {
            in_flight.next().await.transpose()?;
        }
    }
    while in_flight.next().await.transpose()?.is_some() {}
    let concurrent = (2 * n) as f64 / started.elapsed().as_secs_f64();
    println!("store ops/s: {sequential:.0} one at a time, {concurrent:.0} with 64 in flight");
    store_only.remove_node("bench-node", 1).await?;

    // 2. Changes per second through the service: n users, one watcher each.
    let watcher = 1;
    users(&db, watcher, 1).await?;
    let owners: Vec<i64> = (10..10 + n as i64).collect();
    users(&db, 10, n as i64).await?;
    watched_by(&db, &owners, watcher).await?;
    let settings = PresenceSettings {
        coalesce_ms: 0,
        node_id: Some(format!("bench-{}", std::process::id())),
        ..PresenceSettings::default()
    };
    let sink = Arc::new(CountingSink::default());
    let service = PresenceService::new(
        &settings,
        store(&options, ttl).await?,
        db.clone(),
        sink.clone(),
    );
    let handle = service.handle();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(service.run(shutdown.clone()));
    handle.settled().await;
    let started = Instant::now();
    for (session, owner) in owners.iter().enumerate() {
        handle.connected(*owner, *owner, session as u64);
    }
    for (session, owner) in owners.iter().enumerate() {
        handle.disconnected(*owner, *owner, session as u64, Leaving::Gone);
    }
    wait_for(&sink, 2 * n).await?;
    let elapsed = started.elapsed();
    println!(
        "service changes/s (store + watcher query + 1 event each): {:.0} ({} changes in {elapsed:.2?})",
        (2 * n) as f64 / elapsed.as_secs_f64(),
        2 * n
    );

    // 3. One change to `watchers` watchers.
    let owner = 5;
    users(&db, owner, 1).await?;
    let first_watcher = 10 + n as i64 + 100;
    users(&db, first_watcher, options.watchers).await?;
    for watcher in first_watcher..first_watcher + options.watchers {
        watched_by(&db, &[owner], watcher).await?;
    }
    let watchers = natter_presence::watchers::of(&db, owner).await?;
    anyhow::ensure!(
        watchers.len() as i64 == options.watchers,
        "watchers: {}",
        watchers.len()
    );
    let started = Instant::now();
    let rounds = 100;
    for _ in 0..rounds {
        natter_presence::watchers::of(&db, owner).await?;
    }
    let query = started.elapsed() / rounds;
    let mut samples = Vec::new();
    for round in 0..200u64 {
        let before = sink.events.load(Ordering::Relaxed);
        let started = Instant::now();
        if round % 2 == 0 {
            handle.connected(owner, owner, 1_000_000 + round);
        } else {
            handle.disconnected(owner, owner, 1_000_000 + round - 1, Leaving::Gone);
        }
        wait_for(&sink, before + options.watchers as u64).await?;
        samples.push(started.elapsed());
    }
    samples.sort();
    let median = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];
    println!(
        "fan-out of one change to {} watchers: median {median:.2?}, p99 {p99:.2?} (watcher query alone {query:.2?})",
        options.watchers
    );
    shutdown.cancel();
    running.await??;
    db.close().await?;
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(())
}
