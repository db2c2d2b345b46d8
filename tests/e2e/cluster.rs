//! Two nodes behind one address, sharing the database and Redis: messages, take-overs and
//! revocations cross from one node to the other at once. Needs Redis: `NATTER_TEST_REDIS_URL`,
//! or this machine's at 127.0.0.1:6379 (it fails, never skips, when none answers). The
//! database is PostgreSQL from `NATTER_TEST_POSTGRES_URL`, or one SQLite file both nodes open.

use std::time::Duration;

use anyhow::Context;
use natter_proto::envelope::{Event, Target};
use natter_tests::mqtt::{Login, connect_v5};
use natter_tests::{Services, TestApp, eventually, spawn_app_with};
use rumqttc::v5::mqttbytes::v5::Packet;
use secrecy::{ExposeSecret, SecretString};

use crate::messaging::{device, event, request, send};

/// How soon a take-over or a revocation must reach the other node.
const ACROSS_NODES: Duration = Duration::from_secs(1);

fn redis_url(services: &Services) -> String {
    services
        .redis
        .clone()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned())
}

/// Node A on `services` with Redis, and node B on A's database, Redis and key prefix.
async fn two_nodes(services: &Services) -> anyhow::Result<(TestApp, TestApp)> {
    let mut services = services.clone();
    services.redis = Some(redis_url(&services));
    let a = spawn_app_with(&services, |_| {}).await?;
    let database = a.settings.database_url();
    let prefix = a.settings.redis.key_prefix.clone();
    let storage = a.settings.storage.clone();
    let b_services = Services {
        postgres: None,
        ..services.clone()
    };
    let b = spawn_app_with(&b_services, |settings| {
        settings.database.url = Some(SecretString::from(database));
        settings.redis.key_prefix = prefix;
        if services.s3.is_none() {
            // One machine: both nodes see A's media directory.
            settings.storage = storage;
            settings.storage.local_shared = true;
        }
    })
    .await?;
    Ok((a, b))
}

/// Waits until `nodes` nodes receive user `user_id`'s channel (their subscription is live).
async fn subscribed(app: &TestApp, user_id: i64, nodes: i64) -> anyhow::Result<()> {
    let url = app
        .settings
        .redis
        .url
        .as_ref()
        .map(|url| url.expose_secret().to_owned())
        .unwrap_or_default();
    let mut redis = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let channel = format!("{}:u:{user_id}", app.settings.redis.key_prefix);
    eventually(Duration::from_secs(5), || {
        let mut redis = redis.clone();
        let channel = channel.clone();
        async move {
            let (_, count): (String, i64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async::<(String, i64)>(&mut redis)
                .await?;
            Ok((count == nodes).then_some(()))
        }
    })
    .await?;
    let _ = &mut redis;
    Ok(())
}

async fn stop(a: TestApp, b: TestApp) -> anyhow::Result<()> {
    b.stop().await?;
    a.stop().await
}

async fn messages_take_overs_and_revocations_cross_nodes(services: Services) -> anyhow::Result<()> {
    let (a, b) = two_nodes(&services).await?;
    a.wait_healthy().await?;
    b.wait_healthy().await?;
    let ada = a.create_user("+15551230001").await?;
    let bob = a.create_user("+15551230002").await?;
    let mut ada_phone = device(&a, &ada).await?;
    let mut bob_phone = device(&b, &bob).await?;
    subscribed(&b, bob.user_id, 1).await?;
    subscribed(&a, ada.user_id, 1).await?;

    // Ada on node A writes to Bob on node B, and back: live, both ways.
    request(
        &ada_phone,
        ada.user_id,
        &send("a1", Target::User(bob.user_id), "hi bob"),
    )
    .await?;
    let Event::Message { body, from, .. } = event(&mut bob_phone).await? else {
        anyhow::bail!("expected Ada's message on node B")
    };
    assert_eq!((from, body.0.as_slice()), (ada.user_id, &b"hi bob"[..]));
    request(
        &bob_phone,
        bob.user_id,
        &send("b1", Target::User(ada.user_id), "hi ada"),
    )
    .await?;
    loop {
        match event(&mut ada_phone).await? {
            Event::Message { body, .. } => {
                assert_eq!(body.0, b"hi ada");
                break;
            }
            Event::Sent { .. } | Event::Receipt { .. } => {}
            other => anyhow::bail!("unexpected event on node A: {other:?}"),
        }
    }

    // Bob's phone connects to node A: its connection on node B closes as taken over.
    let _bob_on_a = connect_v5(a.mqtt_addr(), &Login::from(&bob));
    // rumqttc reports the server's DISCONNECT as the error that ends the connection.
    let closed = tokio::time::timeout(ACROSS_NODES, async {
        loop {
            if let Err(err) = bob_phone.next().await {
                return format!("{err:?}");
            }
        }
    })
    .await;
    assert!(
        closed
            .as_ref()
            .is_ok_and(|why| why.contains("SessionTakenOver")),
        "Bob's connection on node B was not taken over within {ACROSS_NODES:?}: {closed:?}"
    );

    // A revocation published on node B closes Ada's connection on node A.
    let control = b.service().await?;
    control
        .client
        .publish(
            natter_proto::topics::ControlTopic::DeviceRevoked {
                device_id: ada.device_id,
            }
            .topic(),
            rumqttc::QoS::AtLeastOnce,
            false,
            Vec::new(),
        )
        .await?;
    let cut = tokio::time::timeout(ACROSS_NODES, async {
        loop {
            match ada_phone.next().await {
                Ok(Packet::Disconnect(_)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        cut.is_ok(),
        "Ada's connection on node A survived a revocation on node B"
    );
    stop(a, b).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_sqlite_and_redis() -> anyhow::Result<()> {
    messages_take_overs_and_revocations_cross_nodes(Services::embedded()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_services() -> anyhow::Result<()> {
    messages_take_overs_and_revocations_cross_nodes(Services::from_env()?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_media_only_it_sees_is_refused_beside_another() -> anyhow::Result<()> {
    let services = Services {
        redis: Some(redis_url(&Services::from_env()?)),
        ..Services::embedded()
    };
    let a = spawn_app_with(&services, |_| {}).await?;
    let prefix = a.settings.redis.key_prefix.clone();
    let refused = spawn_app_with(&services, |settings| {
        settings.redis.key_prefix = prefix;
    })
    .await;
    let message = format!("{:#}", refused.err().context("the second node started")?);
    assert!(
        message.contains("NATTER__STORAGE__BACKEND") && message.contains("other natter node"),
        "{message}"
    );
    a.stop().await
}
