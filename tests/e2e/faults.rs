//! Network faults between natter and its stores, through a proxy that black-holes traffic
//! (connections stay open and silent, as in a partition): the database and Redis. While
//! black-holed, requests get `unavailable` with a retry hint in bounded time and `/healthz`
//! names the store; once traffic passes again (on new connections only: the old ones stay
//! silent, as stale connections do), natter recovers on its own and nothing that was
//! acknowledged is lost.
//!
//! Both need a networked store: SQLite and in-process presence have no network to cut, so
//! the embedded variant uses the machine's PostgreSQL and Redis as CI provides them
//! (`NATTER_TEST_POSTGRES_URL`, `NATTER_TEST_REDIS_URL`, else `.ci/run`'s defaults); an
//! unreachable one fails the test, never skips it.

use std::time::{Duration, Instant};

use anyhow::Context;
use natter_tests::mqtt::{ClientV5, connect_v5};
use natter_tests::proxy::Proxy;
use natter_tests::services::{drop_postgres_database, fresh_postgres_database};
use natter_tests::{Services, TestApp, eventually, scenario, spawn_app_with};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::presence::{Person, mutual_contacts, online, person, query};

/// What `.ci/run` provides when the variable is unset.
const CI_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const CI_REDIS: &str = "redis://127.0.0.1:6379";
/// The statement timeout these scenarios run with.
const STATEMENT_TIMEOUT: Duration = Duration::from_millis(2000);

/// `host:port` of a `scheme://[user@]host:port/…` URL, and the URL with `host:port`
/// replaced by `proxy`.
fn via_proxy(url: &str, proxy: &str) -> anyhow::Result<(String, String)> {
    let (scheme, rest) = url.split_once("://").context("not a URL")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    Ok((host.to_owned(), format!("{scheme}://{user}{proxy}/{path}")))
}

/// `/healthz`: status code and JSON.
async fn health(app: &TestApp) -> anyhow::Result<(u16, Value)> {
    let response = app.http.get(app.url("/healthz")).send().await?;
    Ok((response.status().as_u16(), response.json().await?))
}

/// A device of `person` subscribed to its inbox and its replies.
async fn device(app: &TestApp, person: &Person) -> anyhow::Result<ClientV5> {
    let mut client = connect_v5(app.mqtt_addr(), &person.login());
    let device_id = person.credentials.device_id;
    for topic in [
        format!("u/{}/inbox", person.id()),
        format!("u/{}/reply/{device_id}", person.id()),
    ] {
        client.client.subscribe(topic, QoS::AtLeastOnce).await?;
        client
            .wait(|p| matches!(p, Packet::SubAck(_)).then_some(()))
            .await?;
    }
    Ok(client)
}

async fn send(client: &ClientV5, from: &Person, to: &Person, id: &str) -> anyhow::Result<()> {
    let send = json!({"type": "send", "id": id, "to": {"user": to.id()}, "body": "aGk="});
    client
        .client
        .publish(
            format!("u/{}/out", from.id()),
            QoS::AtLeastOnce,
            false,
            serde_json::to_vec(&send)?,
        )
        .await?;
    Ok(())
}

/// The next `sent` or `error` event about client id `id`.
async fn answer_to(client: &mut ClientV5, id: &str) -> anyhow::Result<Value> {
    loop {
        let payload = client
            .wait(|p| match p {
                Packet::Publish(publish) => Some(publish.payload.clone()),
                _ => None,
            })
            .await?;
        let event: Value = serde_json::from_slice(&payload)?;
        if event["id"] == id && (event["type"] == "sent" || event["type"] == "error") {
            return Ok(event);
        }
    }
}

/// Sends `id` until it is `sent`, waiting `retry_after_ms` after each `unavailable`, within
/// `deadline`.
async fn send_until_sent(
    client: &mut ClientV5,
    from: &Person,
    to: &Person,
    id: &str,
    deadline: Duration,
) -> anyhow::Result<Value> {
    let until = Instant::now() + deadline;
    loop {
        send(client, from, to, id).await?;
        let answer = answer_to(client, id).await?;
        if answer["type"] == "sent" {
            return Ok(answer);
        }
        anyhow::ensure!(answer["code"] == "unavailable", "refused: {answer}");
        let wait = answer["retry_after_ms"].as_u64().context("no retry hint")?;
        anyhow::ensure!(
            Instant::now() < until,
            "not sent within {deadline:?}: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

scenario!(
    a_black_holed_database_is_refused_in_bounded_time_reported_and_recovered,
    |services| {
        let server = services
            .postgres
            .clone()
            .unwrap_or_else(|| CI_POSTGRES.to_owned());
        let database = fresh_postgres_database(&server)
            .await
            .with_context(|| format!("this test needs a PostgreSQL at {server}"))?;
        let (upstream, _) = via_proxy(&database, "")?;
        let proxy = Proxy::start(&upstream).await?;
        let (_, proxied) = via_proxy(&database, &proxy.addr().to_string())?;
        let others = Services {
            postgres: None,
            ..services.clone()
        };
        let app = spawn_app_with(&others, |settings| {
            settings.database.url = Some(SecretString::from(proxied));
            settings.database.statement_timeout_ms = 2000;
            settings.database.acquire_timeout_ms = 1000;
        })
        .await?;
        let outcome = black_holed_database(&app, &proxy).await;
        let stopped = app.stop().await;
        drop(proxy);
        drop_postgres_database(&server, &database).await?;
        outcome?;
        stopped
    }
);

async fn black_holed_database(app: &TestApp, proxy: &Proxy) -> anyhow::Result<()> {
    let ada = person(app, "+15551230001").await?;
    let bob = person(app, "+15551230002").await?;
    let mut ada_phone = device(app, &ada).await?;
    let mut bob_phone = device(app, &bob).await?;
    send(&ada_phone, &ada, &bob, "c1").await?;
    assert_eq!(answer_to(&mut ada_phone, "c1").await?["type"], "sent");

    proxy.black_hole();
    let started = Instant::now();
    send(&ada_phone, &ada, &bob, "c2").await?;
    let refused = answer_to(&mut ada_phone, "c2").await?;
    let waited = started.elapsed();
    assert_eq!(refused["code"], "unavailable", "{refused}");
    let hint = refused["retry_after_ms"]
        .as_u64()
        .context("no retry hint")?;
    assert!((1000..=8000).contains(&hint), "{refused}");
    assert!(
        waited < STATEMENT_TIMEOUT + Duration::from_secs(2),
        "refused after {waited:?}"
    );
    // Health names the database within a bounded time.
    let report = eventually(Duration::from_secs(5), || async {
        let (status, report) = health(app).await?;
        Ok((status == 503 && report["checks"]["database"] != "ok").then_some(report))
    })
    .await
    .context("/healthz never reported the database")?;
    let reported = started.elapsed();
    assert!(
        report["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("database")),
        "{report}"
    );
    // Known down: a request is refused at once, not after another timeout.
    let again = Instant::now();
    send(&ada_phone, &ada, &bob, "c3").await?;
    let refused = answer_to(&mut ada_phone, "c3").await?;
    let waited_again = again.elapsed();
    assert_eq!(refused["code"], "unavailable", "{refused}");
    assert!(refused["retry_after_ms"].as_u64().is_some(), "{refused}");
    assert!(waited_again < STATEMENT_TIMEOUT + Duration::from_secs(2));

    // The partition heals, but the connections natter had stay silent.
    proxy.heal_new_only();
    let healed = Instant::now();
    eventually(Duration::from_secs(20), || async {
        Ok((health(app).await?.0 == 200).then_some(()))
    })
    .await
    .context("/healthz did not recover")?;
    println!(
        "database black-holed: first unavailable after {waited:?}, next after {waited_again:?}, \
         /healthz 503 after {reported:?}; healed: /healthz 200 after {:?}",
        healed.elapsed()
    );
    for id in ["c2", "c3", "c4"] {
        send_until_sent(&mut ada_phone, &ada, &bob, id, Duration::from_secs(20)).await?;
    }
    // Everything that got `sent` reaches Bob, once each (live or by sync).
    let sync = json!({"type": "sync", "after": 0});
    bob_phone
        .client
        .publish(
            format!("u/{}/out", bob.id()),
            QoS::AtLeastOnce,
            false,
            serde_json::to_vec(&sync)?,
        )
        .await?;
    let mut synced = Vec::new();
    loop {
        let (topic, payload) = bob_phone
            .wait(|p| match p {
                Packet::Publish(publish) => Some((publish.topic.clone(), publish.payload.clone())),
                _ => None,
            })
            .await?;
        if !String::from_utf8_lossy(&topic).contains("/reply/") {
            continue; // live deliveries; the sync answer is the record
        }
        let event: Value = serde_json::from_slice(&payload)?;
        if event["type"] == "synced" {
            break;
        }
        if event["type"] == "message" {
            synced.push(event["inbox_seq"].as_i64().unwrap_or_default());
        }
    }
    let mut bodies = synced.clone();
    bodies.dedup();
    assert_eq!(bodies, synced, "a message twice: {synced:?}");
    assert_eq!(bodies.len(), 4, "c1 to c4 each stored once: {synced:?}");
    Ok(())
}

scenario!(
    presence_uses_redis_again_after_a_black_hole_heals,
    |services| {
        let redis_url = services
            .redis
            .clone()
            .unwrap_or_else(|| CI_REDIS.to_owned());
        let (upstream, _) = via_proxy(&redis_url, "")?;
        tokio::net::TcpStream::connect(&upstream)
            .await
            .with_context(|| format!("this test needs a Redis at {redis_url}"))?;
        let proxy = Proxy::start(&upstream).await?;
        let (_, proxied) = via_proxy(&redis_url, &proxy.addr().to_string())?;
        let app = spawn_app_with(&services, |settings| {
            settings.redis.url = Some(SecretString::from(proxied.trim_end_matches('/')));
            settings.redis.key_prefix = format!("t-{}", uuid::Uuid::new_v4().simple());
            settings.redis.timeout_ms = 500;
            settings.presence.heartbeat_ms = 200;
            settings.presence.ttl_ms = 2000;
        })
        .await?;
        let ada = person(&app, "+15551230001").await?;
        let bob = person(&app, "+15551230002").await?;
        mutual_contacts(&app, &ada, &bob).await?;
        let _ada_phone = online(&app, &ada).await?;
        eventually(Duration::from_secs(5), || async {
            Ok((query(&app, &bob, ada.id()).await?["state"] == "online").then_some(()))
        })
        .await?;

        proxy.black_hole();
        eventually(Duration::from_secs(5), || async {
            let (status, report) = health(&app).await?;
            Ok((status == 503 && report["checks"]["redis"] != "ok").then_some(()))
        })
        .await
        .context("/healthz never reported Redis")?;
        let started = Instant::now();
        assert_eq!(query(&app, &bob, ada.id()).await?["state"], "unknown");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );

        // Heals with stale connections: only new ones pass.
        proxy.heal_new_only();
        let healed = Instant::now();
        eventually(Duration::from_secs(10), || async {
            Ok((health(&app).await?.0 == 200).then_some(()))
        })
        .await
        .context("/healthz did not recover")?;
        let healthy = healed.elapsed();
        eventually(Duration::from_secs(10), || async {
            Ok((query(&app, &bob, ada.id()).await?["state"] == "online").then_some(()))
        })
        .await
        .context("presence did not use Redis again")?;
        println!(
            "redis healed: /healthz 200 after {healthy:?}, presence online after {:?}",
            healed.elapsed()
        );
        app.stop().await
    }
);
