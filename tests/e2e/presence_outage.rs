//! Presence across a Redis outage: natter's connection to Redis goes through a TCP proxy the
//! test cuts (the machine's Redis keeps running). Meanwhile clients still connect and
//! messages still flow, presence answers "unknown" rather than "offline", and no watcher is
//! told anything; once the proxy is back, presence recovers on its own and watchers learn
//! what changed. Needs a Redis: `NATTER_TEST_REDIS_URL`, else the compose default
//! `redis://127.0.0.1:6379`; an unreachable one fails the test.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use natter_tests::mqtt::ClientV5;
use natter_tests::{eventually, scenario, spawn_app_with};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::presence::{disconnect, mutual_contacts, next_event, online, person, query, watcher};

/// A TCP proxy to Redis that the test can cut (every connection dropped, new ones refused)
/// and restore.
struct Proxy {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    cut: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl Proxy {
    async fn start(upstream: String) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let proxy = Proxy {
            addr: listener.local_addr()?,
            open: Arc::new(AtomicBool::new(true)),
            cut: Arc::new(Mutex::new(CancellationToken::new())),
            stop: CancellationToken::new(),
        };
        let (open, cut, stop) = (proxy.open.clone(), proxy.cut.clone(), proxy.stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut client, _)) = accepted else {
                    continue;
                };
                if !open.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let cut = cut.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = cut.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        Ok(proxy)
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Drops every proxied connection and refuses new ones.
    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        let mut cut = self.cut.lock().unwrap_or_else(|p| p.into_inner());
        cut.cancel();
        *cut = CancellationToken::new();
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.cut();
    }
}

/// `host:port` of a `redis://host:port[/db]` URL.
fn redis_host_port(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("redis://")
        .context("the test Redis URL must start with redis://")?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    Ok(rest.split('/').next().unwrap_or(rest).to_owned())
}

/// Waits for the next publish on `client` that is not a presence event, failing if a
/// presence event comes first.
async fn next_non_presence(client: &mut ClientV5) -> anyhow::Result<Value> {
    loop {
        if let Packet::Publish(publish) = client.next().await? {
            let topic = String::from_utf8_lossy(&publish.topic).into_owned();
            let body: Value = serde_json::from_slice(&publish.payload)?;
            anyhow::ensure!(
                !topic.ends_with("/presence"),
                "presence event during the outage: {body}"
            );
            return Ok(body);
        }
    }
}

scenario!(
    presence_degrades_to_unknown_during_a_redis_outage_and_recovers,
    |services| {
        let redis_url = services
            .redis
            .clone()
            .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
        let upstream = redis_host_port(&redis_url)?;
        TcpStream::connect(&upstream)
            .await
            .with_context(|| format!("this test needs a Redis at {redis_url}"))?;
        let proxy = Proxy::start(upstream).await?;
        let app = spawn_app_with(&services, |settings| {
            settings.redis.url = Some(SecretString::from(proxy.url()));
            settings.redis.key_prefix = format!("t-{}", uuid::Uuid::new_v4().simple());
            settings.presence.coalesce_ms = 300;
            settings.presence.heartbeat_ms = 200;
            settings.presence.ttl_ms = 2000;
        })
        .await?;
        let ada = person(&app, "+15551230001").await?;
        let bob = person(&app, "+15551230002").await?;
        let carol = person(&app, "+15551230003").await?;
        mutual_contacts(&app, &ada, &bob).await?;
        let mut bob_watch = watcher(&app, &bob).await?;
        bob_watch
            .client
            .subscribe(format!("u/{}/inbox", bob.id()), QoS::AtLeastOnce)
            .await?;
        bob_watch
            .wait(|p| matches!(p, Packet::SubAck(_)).then_some(()))
            .await?;
        let ada_phone = online(&app, &ada).await?;
        let event = next_event(&mut bob_watch).await?;
        assert_eq!(event["state"], "online", "{event}");

        proxy.cut();
        // Presence says it does not know, rather than "offline".
        let answer = eventually(Duration::from_secs(5), || async {
            let answer = query(&app, &bob, ada.id()).await?;
            Ok((answer["state"] == "unknown").then_some(answer))
        })
        .await
        .context("presence never turned unknown")?;
        assert_eq!(answer["user"], ada.id());
        // Ada leaves during the outage; Carol connects and sends Bob a message: it is delivered,
        // and Bob hears nothing about presence meanwhile.
        disconnect(ada_phone).await?;
        let carol_phone = tokio::time::timeout(Duration::from_secs(2), online(&app, &carol))
            .await
            .context("CONNECT waited on Redis")??;
        let send = json!({"type": "send", "id": "c1", "to": {"user": bob.id()}, "body": "aGk="});
        carol_phone
            .client
            .publish(
                format!("u/{}/out", carol.id()),
                QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&send)?,
            )
            .await?;
        let message = next_non_presence(&mut bob_watch).await?;
        assert_eq!(message["type"], "message", "{message}");
        assert_eq!(query(&app, &bob, ada.id()).await?["state"], "unknown");

        proxy.restore();
        // Recovered on its own: Bob learns that Ada left, and queries know again.
        let event = next_event(&mut bob_watch).await?;
        assert_eq!(event["user"], ada.id(), "{event}");
        assert_eq!(event["state"], "offline", "{event}");
        assert!(event["last_seen"].is_i64(), "{event}");
        let answer = query(&app, &bob, ada.id()).await?;
        assert_eq!(answer["state"], "offline", "{answer}");
        // And new changes flow again.
        let _ada_phone = online(&app, &ada).await?;
        assert_eq!(next_event(&mut bob_watch).await?["state"], "online");
        app.stop().await
    }
);
