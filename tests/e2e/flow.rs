//! Flow control, end to end: a client catching up thousands of messages gets them all, once,
//! in order, without being disconnected and without the server's memory following the inbox;
//! and under a flood from one client every send the broker acknowledged (PUBACK) of another
//! client is stored, without that client resending anything.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use natter_client::{Client, Event as ClientEvent, Login as ClientLogin, Options};
use natter_entities::{deliveries, messages};
use natter_proto::envelope::{Event, Request, Target};
use natter_tests::mqtt::{Login, connect_v5, options_v4};
use natter_tests::{TestApp, eventually, scenario, spawn_app};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::{AsyncClient, Event as MqttEvent, Outgoing, Packet as PacketV4};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use secrecy::ExposeSecret;

use crate::messaging::{device, request, send};

/// Messages in the inbox a client catches up with.
const BACKLOG: usize = 6000;
/// Body size of those messages: the inbox holds about 12 MB.
const BODY: usize = 2048;

/// This process's resident memory, KiB.
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Publishes `count` sends from `from` to `to` through the edge (QoS 1, a plain 3.1.1
/// client that never resends) and waits until all are stored.
async fn fill_inbox(
    app: &TestApp,
    from: &natter_accounts::Credentials,
    to: i64,
    count: usize,
) -> anyhow::Result<()> {
    let options = options_v4(app.mqtt_addr(), &Login::from(from));
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let driver = tokio::spawn(async move {
        let mut acked = 0;
        while acked < count {
            match eventloop.poll().await {
                Ok(MqttEvent::Incoming(PacketV4::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(err) => return Err(anyhow::anyhow!("the filling client failed: {err}")),
            }
        }
        Ok(())
    });
    let body = "x".repeat(BODY);
    for index in 0..count {
        let payload = serde_json::to_vec(&send(&format!("f{index}"), Target::User(to), &body))?;
        client
            .publish(
                format!("u/{}/out", from.user_id),
                rumqttc::QoS::AtLeastOnce,
                false,
                payload,
            )
            .await?;
    }
    driver.await??;
    let db = app.db().await?;
    eventually(Duration::from_secs(60), || async {
        let stored = messages::Entity::find()
            .filter(messages::Column::SenderUserId.eq(from.user_id))
            .count(&db)
            .await?;
        Ok((stored as usize == count).then_some(()))
    })
    .await
}

scenario!(
    a_client_catching_up_thousands_of_messages_gets_all_once_in_order_and_stays_connected,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        fill_inbox(&app, &ada, bob.user_id, BACKLOG).await?;

        // natter-client from cursor 0: everything, in order, no disconnect.
        let login = ClientLogin::new(
            bob.user_id,
            &bob.mqtt_username,
            bob.mqtt_password.expose_secret(),
        )?;
        let (phone, mut events) =
            Client::connect(&app.mqtt_addr().to_string(), login, Options::default()).await?;
        let mut seqs = Vec::with_capacity(BACKLOG);
        tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(event) = events.next().await {
                match event {
                    ClientEvent::Message(message) => seqs.push(message.inbox_seq),
                    ClientEvent::Synced { .. } if seqs.len() >= BACKLOG => break,
                    ClientEvent::Disconnected { reason } => {
                        anyhow::bail!("disconnected after {} messages: {reason}", seqs.len())
                    }
                    _ => {}
                }
            }
            Ok(())
        })
        .await
        .map_err(|_| anyhow::anyhow!("natter-client caught up {} of {BACKLOG}", seqs.len()))??;
        let expected: Vec<i64> = (1..=BACKLOG as i64).collect();
        assert_eq!(
            seqs, expected,
            "natter-client: every message once, in order"
        );
        phone.close().await;

        // A plain MQTT client following docs/PROTOCOL.md: sync, and after each `synced` with
        // `more`, sync again from its `upto`.
        let mut plain = device(&app, &bob).await?;
        let mut seqs = Vec::with_capacity(BACKLOG);
        let mut pages = 0;
        request(&plain, bob.user_id, &Request::Sync { after: 0 }).await?;
        loop {
            match crate::messaging::event(&mut plain).await? {
                Event::Message { inbox_seq, .. } => seqs.push(inbox_seq),
                Event::Synced { upto, more } => {
                    pages += 1;
                    if !more {
                        break;
                    }
                    request(&plain, bob.user_id, &Request::Sync { after: upto }).await?;
                }
                _ => {}
            }
        }
        assert_eq!(seqs, expected, "plain client: every message once, in order");
        assert!(pages > 1, "a backlog this size comes in pages");

        // A client asking for the whole inbox ten times at once, without waiting: the server
        // holds pages, not inboxes (the 12 MB inbox would take 120 MB ten times over).
        let greedy = connect_v5(app.mqtt_addr(), &Login::from(&bob));
        let before = resident_kib();
        let sampler = tokio::spawn(async move {
            let mut peak = 0;
            for _ in 0..60 {
                peak = peak.max(resident_kib());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak
        });
        for _ in 0..10 {
            let payload = serde_json::to_vec(&Request::Sync { after: 0 })?;
            greedy
                .client
                .publish(
                    format!("u/{}/out", bob.user_id),
                    QoS::AtLeastOnce,
                    false,
                    payload,
                )
                .await?;
        }
        let grown_mib = sampler.await?.saturating_sub(before) / 1024;
        println!("rss growth during ten quick syncs of a 12 MB inbox: {grown_mib} MiB");
        assert!(
            grown_mib < 48,
            "ten quick syncs grew the server by {grown_mib} MiB"
        );
        drop(greedy);
        drop(plain);
        Ok(())
    }
);

/// One bystander send: when it was published, acknowledged and confirmed (`sent`).
#[derive(Debug, Default, Clone, Copy)]
struct Timing {
    published: Option<Instant>,
    acked: Option<Instant>,
    sent: Option<Instant>,
}

scenario!(
    under_a_flood_every_acknowledged_send_of_a_bystander_is_stored_and_the_flooder_is_slowed,
    |services| {
        const BYSTANDER_SENDS: usize = 150;
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let flooder = app.create_user("+15551230001").await?;
        let sink = app.create_user("+15551230002").await?;
        let bystander = app.create_user("+15551230003").await?;
        let friend = app.create_user("+15551230004").await?;

        // The flooder: a plain 3.1.1 client publishing sends as fast as the broker takes them.
        let options = options_v4(app.mqtt_addr(), &Login::from(&flooder));
        let (flood_client, mut flood_loop) = AsyncClient::new(options, 100);
        let flood_acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = flood_acked.clone();
        let flood_acks = tokio::spawn(async move {
            while let Ok(event) = flood_loop.poll().await {
                if let MqttEvent::Incoming(PacketV4::PubAck(_)) = event {
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
        let flood_topic = format!("u/{}/out", flooder.user_id);
        let flood_to = Target::User(sink.user_id);
        let flooding = tokio::spawn(async move {
            let body = "f".repeat(200);
            for index in 0.. {
                let Ok(payload) = serde_json::to_vec(&send(&format!("x{index}"), flood_to, &body))
                else {
                    return;
                };
                let publish = flood_client.publish(
                    flood_topic.clone(),
                    rumqttc::QoS::AtLeastOnce,
                    false,
                    payload,
                );
                if publish.await.is_err() {
                    return;
                }
            }
        });
        // Until the flood is under way: the server has acknowledged some of it.
        let under_way = Instant::now() + Duration::from_secs(30);
        while flood_acked.load(std::sync::atomic::Ordering::Relaxed) < 10 {
            anyhow::ensure!(Instant::now() < under_way, "the flood never got going");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        // The bystander: a plain 3.1.1 client that publishes each send once and never again,
        // and watches its inbox for `sent`.
        let options = options_v4(app.mqtt_addr(), &Login::from(&bystander));
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        client
            .subscribe(
                format!("u/{}/inbox", bystander.user_id),
                rumqttc::QoS::AtLeastOnce,
            )
            .await?;
        let timings = std::sync::Arc::new(std::sync::Mutex::new(vec![
            Timing::default();
            BYSTANDER_SENDS
        ]));
        let watched = timings.clone();
        let watcher = tokio::spawn(async move {
            // Packet ids are given in publish order: the n-th outgoing publish is send n.
            let mut send_of_pkid: HashMap<u16, usize> = HashMap::new();
            let mut published = 0;
            loop {
                let event = eventloop.poll().await;
                let now = Instant::now();
                let mut timings = watched.lock().expect("timings");
                match event {
                    Ok(MqttEvent::Outgoing(Outgoing::Publish(pkid))) => {
                        send_of_pkid.insert(pkid, published);
                        published += 1;
                    }
                    Ok(MqttEvent::Incoming(PacketV4::PubAck(ack))) => {
                        if let Some(&index) = send_of_pkid.get(&ack.pkid) {
                            timings[index].acked.get_or_insert(now);
                        }
                    }
                    Ok(MqttEvent::Incoming(PacketV4::Publish(publish))) => {
                        if let Ok(Event::Sent { id, .. }) = serde_json::from_slice(&publish.payload)
                            && let Some(index) =
                                id.strip_prefix('b').and_then(|i| i.parse::<usize>().ok())
                            && index < timings.len()
                        {
                            timings[index].sent.get_or_insert(now);
                        }
                    }
                    Ok(_) => {}
                    Err(err) => return format!("{err}"),
                }
            }
        });
        let topic = format!("u/{}/out", bystander.user_id);
        for index in 0..BYSTANDER_SENDS {
            let payload = serde_json::to_vec(&send(
                &format!("b{index}"),
                Target::User(friend.user_id),
                "hello",
            ))?;
            timings.lock().expect("timings")[index].published = Some(Instant::now());
            client
                .publish(topic.as_str(), rumqttc::QoS::AtLeastOnce, false, payload)
                .await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Every acknowledged send is confirmed while the flood goes on.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (acked, confirmed) = {
                let timings = timings.lock().expect("timings");
                let acked = timings.iter().filter(|t| t.acked.is_some()).count();
                let confirmed = timings
                    .iter()
                    .filter(|t| t.acked.is_some() && t.sent.is_some())
                    .count();
                (acked, confirmed)
            };
            if acked == BYSTANDER_SENDS && confirmed == acked {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline && !watcher.is_finished(),
                "bystander: {acked} of {BYSTANDER_SENDS} acknowledged, {confirmed} of them confirmed (sent)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        flooding.abort();
        let db = app.db().await?;
        let stored_from = |user: i64| {
            let db = db.clone();
            async move {
                anyhow::Ok(
                    messages::Entity::find()
                        .filter(messages::Column::SenderUserId.eq(user))
                        .count(&db)
                        .await? as usize,
                )
            }
        };
        assert_eq!(stored_from(bystander.user_id).await?, BYSTANDER_SENDS);

        let mut latencies: Vec<Duration> = timings
            .lock()
            .expect("timings")
            .iter()
            .filter_map(|t| Some(t.sent?.duration_since(t.published?)))
            .collect();
        latencies.sort();
        let median = latencies[latencies.len() / 2];
        let p90 = latencies[latencies.len() * 9 / 10];
        // The flooder was slowed to what the server stores: each of its PUBACKs, too, stands
        // for a stored message.
        drop(watcher);
        flood_acks.abort();
        let flood_acked = flood_acked.load(std::sync::atomic::Ordering::SeqCst);
        let flood_stored = stored_from(flooder.user_id).await?;
        println!(
            "bystander send->sent under flood: median {median:?}, p90 {p90:?}; \
             flooder: {flood_acked} acknowledged, {flood_stored} stored"
        );
        assert!(
            flood_acked <= flood_stored,
            "the flooder got {flood_acked} PUBACKs for {flood_stored} stored messages"
        );
        let delivered = deliveries::Entity::find()
            .filter(deliveries::Column::RecipientUserId.eq(friend.user_id))
            .count(&db)
            .await? as usize;
        assert_eq!(
            delivered, BYSTANDER_SENDS,
            "every send reached its recipient's inbox"
        );
        assert!(
            median < Duration::from_secs(5),
            "the bystander is starved: median send->sent {median:?}"
        );
        Ok(())
    }
);
