//! Presence end to end: watchers (contacts allowed by the owner's last-seen privacy) get
//! online/offline events on `u/{me}/presence` from the connection lifecycle — connect, clean
//! disconnect, lost connection with a Last Will, keep-alive timeout, revocation kick —
//! aggregated over the owner's devices, coalesced, never to non-contacts or blocked users;
//! and `GET /v1/presence` answers the same way.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use natter_entities::{blocks, contacts, users};
use natter_proto::topics::ControlTopic;
use natter_tests::mqtt::{ClientV5, Login, connect_v4_with, connect_v5};
use natter_tests::{TestApp, scenario, spawn_app_with};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A user of a scenario: credentials and phone number.
pub(crate) struct Person {
    pub(crate) credentials: natter_accounts::Credentials,
    pub(crate) phone: String,
}

impl Person {
    pub(crate) fn id(&self) -> i64 {
        self.credentials.user_id
    }

    pub(crate) fn login(&self) -> Login {
        Login::from(&self.credentials)
    }
}

pub(crate) async fn person(app: &TestApp, phone: &str) -> anyhow::Result<Person> {
    Ok(Person {
        credentials: app.create_user(phone).await?,
        phone: phone.to_owned(),
    })
}

/// `owner` puts `contact` in their address book.
pub(crate) async fn add_contact(
    app: &TestApp,
    owner: &Person,
    contact: &Person,
) -> anyhow::Result<()> {
    let db = app.db().await?;
    contacts::ActiveModel {
        owner_id: Set(owner.id()),
        phone: Set(contact.phone.clone()),
        contact_user_id: Set(Some(contact.id())),
        created_at: Set(natter_accounts::now_ms()),
    }
    .insert(&db)
    .await?;
    db.close().await?;
    Ok(())
}

/// Both have each other in their address books.
pub(crate) async fn mutual_contacts(app: &TestApp, a: &Person, b: &Person) -> anyhow::Result<()> {
    add_contact(app, a, b).await?;
    add_contact(app, b, a).await
}

async fn block(app: &TestApp, blocker: &Person, blocked: &Person) -> anyhow::Result<()> {
    let db = app.db().await?;
    blocks::ActiveModel {
        blocker_id: Set(blocker.id()),
        blocked_id: Set(blocked.id()),
        created_at: Set(natter_accounts::now_ms()),
    }
    .insert(&db)
    .await?;
    db.close().await?;
    Ok(())
}

async fn set_last_seen_privacy(
    app: &TestApp,
    owner: &Person,
    audience: &str,
) -> anyhow::Result<()> {
    let db = app.db().await?;
    users::ActiveModel {
        id: Set(owner.id()),
        last_seen_privacy: Set(audience.to_owned()),
        ..Default::default()
    }
    .update(&db)
    .await?;
    db.close().await?;
    Ok(())
}

/// A device of `person` subscribed to its presence topic.
pub(crate) async fn watcher(app: &TestApp, person: &Person) -> anyhow::Result<ClientV5> {
    let mut client = connect_v5(app.mqtt_addr(), &person.login());
    client
        .client
        .subscribe(format!("u/{}/presence", person.id()), QoS::AtLeastOnce)
        .await?;
    client
        .wait(|p| matches!(p, Packet::SubAck(_)).then_some(()))
        .await?;
    Ok(client)
}

/// The next presence event `client` receives, as JSON.
pub(crate) async fn next_event(client: &mut ClientV5) -> anyhow::Result<Value> {
    let payload = client
        .wait(|p| match p {
            Packet::Publish(publish) => Some(publish.payload.clone()),
            _ => None,
        })
        .await?;
    Ok(serde_json::from_slice(&payload)?)
}

/// A connected (CONNACK received) device of `person` that is not subscribed to anything.
pub(crate) async fn online(app: &TestApp, person: &Person) -> anyhow::Result<ClientV5> {
    let mut client = connect_v5(app.mqtt_addr(), &person.login());
    client
        .wait(|p| matches!(p, Packet::ConnAck(_)).then_some(()))
        .await?;
    Ok(client)
}

/// Sends DISCONNECT and waits for the connection to end.
pub(crate) async fn disconnect(mut client: ClientV5) -> anyhow::Result<()> {
    client.client.disconnect().await?;
    while client.next().await.is_ok() {}
    Ok(())
}

/// `GET /v1/presence/{user}` as `asker`.
pub(crate) async fn query(app: &TestApp, asker: &Person, user: i64) -> anyhow::Result<Value> {
    let login = asker.login();
    let response = app
        .http
        .get(app.url(&format!("/v1/presence/{user}")))
        .basic_auth(login.username, Some(login.password))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "status {}", response.status());
    Ok(response.json().await?)
}

fn is_event(event: &Value, user: i64, state: &str) -> bool {
    event["type"] == "presence" && event["user"] == user && event["state"] == state
}

/// Settings for these scenarios: a short coalescing window, fast heartbeats.
fn quick(settings: &mut natter_config::Settings) {
    settings.presence.coalesce_ms = 300;
    settings.presence.heartbeat_ms = 200;
    settings.presence.ttl_ms = 1000;
}

scenario!(
    a_contact_sees_a_user_go_online_then_offline_with_last_seen,
    |services| {
        let app = spawn_app_with(&services, quick).await?;
        let ada = person(&app, "+15551230001").await?;
        let bob = person(&app, "+15551230002").await?;
        mutual_contacts(&app, &ada, &bob).await?;
        let mut bob_watch = watcher(&app, &bob).await?;

        let started = Instant::now();
        let ada_phone = online(&app, &ada).await?;
        let event = next_event(&mut bob_watch).await?;
        assert_eq!(
            event,
            json!({"type": "presence", "user": ada.id(), "state": "online", "last_seen": null})
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "online took {:?}",
            started.elapsed()
        );
        assert_eq!(query(&app, &bob, ada.id()).await?["state"], "online");

        let before = natter_accounts::now_ms();
        disconnect(ada_phone).await?;
        let event = next_event(&mut bob_watch).await?;
        assert!(is_event(&event, ada.id(), "offline"), "{event}");
        let last_seen = event["last_seen"].as_i64().unwrap_or_default();
        assert!(
            last_seen >= before && last_seen <= natter_accounts::now_ms(),
            "{event}"
        );

        let answer = query(&app, &bob, ada.id()).await?;
        assert_eq!(
            answer,
            json!({"type": "presence", "user": ada.id(), "state": "offline", "last_seen": last_seen})
        );
        let db = app.db().await?;
        let stored = users::Entity::find_by_id(ada.id()).one(&db).await?;
        assert_eq!(stored.and_then(|user| user.last_seen_at), Some(last_seen));
        db.close().await?;
        app.stop().await
    }
);

scenario!(non_contacts_and_blocked_users_see_nothing, |services| {
    let app = spawn_app_with(&services, quick).await?;
    let ada = person(&app, "+15551230001").await?;
    let bob = person(&app, "+15551230002").await?;
    let carol = person(&app, "+15551230003").await?;
    let dave = person(&app, "+15551230004").await?;
    let erin = person(&app, "+15551230005").await?;
    mutual_contacts(&app, &ada, &bob).await?;
    // Carol has Ada's number, but Ada (last seen: contacts) does not have Carol's.
    add_contact(&app, &carol, &ada).await?;
    // Dave and Ada are mutual contacts, but Ada blocked Dave.
    mutual_contacts(&app, &ada, &dave).await?;
    block(&app, &ada, &dave).await?;
    // Erin shows her presence to everyone: she is the marker that ends each watch below.
    set_last_seen_privacy(&app, &erin, "everyone").await?;
    for watcher_person in [&bob, &carol, &dave] {
        add_contact(&app, watcher_person, &erin).await?;
    }
    let mut bob_watch = watcher(&app, &bob).await?;
    let mut carol_watch = watcher(&app, &carol).await?;
    let mut dave_watch = watcher(&app, &dave).await?;

    let ada_phone = online(&app, &ada).await?;
    assert!(is_event(
        &next_event(&mut bob_watch).await?,
        ada.id(),
        "online"
    ));
    disconnect(ada_phone).await?;
    assert!(is_event(
        &next_event(&mut bob_watch).await?,
        ada.id(),
        "offline"
    ));

    // Events go out in order: had Carol or Dave been told about Ada, it would come first.
    let _erin_phone = online(&app, &erin).await?;
    for (name, watch) in [
        ("carol", &mut carol_watch),
        ("dave", &mut dave_watch),
        ("bob", &mut bob_watch),
    ] {
        let event = next_event(watch).await?;
        assert!(is_event(&event, erin.id(), "online"), "{name} got {event}");
    }
    for asker in [&carol, &dave] {
        assert_eq!(
            query(&app, asker, ada.id()).await?,
            json!({"type": "presence", "user": ada.id(), "state": "hidden", "last_seen": null})
        );
    }
    let login = bob.login();
    let many: Value = app
        .http
        .get(app.url(&format!("/v1/presence?users={},{}", ada.id(), carol.id())))
        .basic_auth(login.username, Some(login.password))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(many["presence"][0]["state"], "offline", "{many}");
    assert_eq!(many["presence"][1]["state"], "hidden", "{many}");
    // Blocking hides in both directions: Ada does not see Dave either.
    assert_eq!(query(&app, &ada, dave.id()).await?["state"], "hidden");
    // "nobody" hides from contacts too.
    set_last_seen_privacy(&app, &ada, "nobody").await?;
    assert_eq!(query(&app, &bob, ada.id()).await?["state"], "hidden");
    app.stop().await
});

scenario!(
    a_user_is_online_while_any_device_is_and_a_take_over_does_not_flap,
    |services| {
        let app = spawn_app_with(&services, |settings| {
            quick(settings);
            // No coalescing: any flap would reach the watcher.
            settings.presence.coalesce_ms = 0;
        })
        .await?;
        let ada = person(&app, "+15551230001").await?;
        let bob = person(&app, "+15551230002").await?;
        mutual_contacts(&app, &ada, &bob).await?;
        let tablet = app
            .add_device(ada.id(), natter_accounts::Role::User)
            .await?;
        let mut bob_watch = watcher(&app, &bob).await?;

        let phone = online(&app, &ada).await?;
        assert!(is_event(
            &next_event(&mut bob_watch).await?,
            ada.id(),
            "online"
        ));
        let mut tablet_client = connect_v5(app.mqtt_addr(), &Login::from(&tablet));
        tablet_client
            .wait(|p| matches!(p, Packet::ConnAck(_)).then_some(()))
            .await?;
        disconnect(phone).await?;
        // The tablet reconnects: the new connection takes the old one over.
        let tablet_again = connect_v5(app.mqtt_addr(), &Login::from(&tablet));
        let mut tablet_again = tablet_again;
        tablet_again
            .wait(|p| matches!(p, Packet::ConnAck(_)).then_some(()))
            .await?;
        while tablet_client.next().await.is_ok() {}
        assert_eq!(query(&app, &bob, ada.id()).await?["state"], "online");
        disconnect(tablet_again).await?;

        // The first event after "online" is the final "offline": nothing in between.
        let event = next_event(&mut bob_watch).await?;
        assert!(is_event(&event, ada.id(), "offline"), "{event}");
        app.stop().await
    }
);

/// Opens a raw v3.1.1 connection with keep-alive `keep_alive` and returns it after CONNACK.
async fn raw_connect(app: &TestApp, login: &Login, keep_alive: u16) -> anyhow::Result<TcpStream> {
    let mut connect = v4::Connect::new(format!("raw-{}", uuid::Uuid::new_v4().simple()));
    connect.keep_alive = keep_alive;
    connect.set_login(login.username.clone(), login.password.clone());
    let mut stream = TcpStream::connect(app.mqtt_addr()).await?;
    let mut bytes = BytesMut::new();
    v4::Packet::Connect(connect).write(&mut bytes, usize::MAX)?;
    stream.write_all(&bytes).await?;
    let mut received = BytesMut::new();
    loop {
        anyhow::ensure!(
            stream.read_buf(&mut received).await? > 0,
            "closed before CONNACK"
        );
        match v4::Packet::read(&mut received, usize::MAX) {
            Ok(v4::Packet::ConnAck(_)) => return Ok(stream),
            Ok(other) => anyhow::bail!("expected CONNACK, got {other:?}"),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
}

scenario!(
    keep_alive_timeout_lost_connection_and_revocation_take_a_user_offline,
    |services| {
        let app = spawn_app_with(&services, quick).await?;
        let ada = person(&app, "+15551230001").await?;
        let bob = person(&app, "+15551230002").await?;
        mutual_contacts(&app, &ada, &bob).await?;
        let mut bob_watch = watcher(&app, &bob).await?;

        // A silent client: closed after 1.5 x its 1 s keep-alive.
        let silent = raw_connect(&app, &ada.login(), 1).await?;
        assert!(is_event(
            &next_event(&mut bob_watch).await?,
            ada.id(),
            "online"
        ));
        let started = Instant::now();
        assert!(is_event(
            &next_event(&mut bob_watch).await?,
            ada.id(),
            "offline"
        ));
        assert!(
            started.elapsed() >= Duration::from_millis(1000),
            "{:?}",
            started.elapsed()
        );
        drop(silent);

        // A phone losing its network, with a Last Will.
        let phone = connect_v4_with(app.mqtt_addr(), &ada.login(), |options| {
            options.set_last_will(rumqttc::LastWill::new(
                format!("u/{}/out", ada.id()),
                "gone",
                rumqttc::QoS::AtLeastOnce,
                false,
            ));
        });
        let mut phone = phone;
        phone
            .wait(|p| matches!(p, rumqttc::Packet::ConnAck(_)).then_some(()))
            .await?;
        assert!(is_event(
            &next_event(&mut bob_watch).await?,
            ada.id(),
            "online"
        ));
        drop(phone);
        assert!(is_event(
            &next_event(&mut bob_watch).await?,
            ada.id(),
            "offline"
        ));

        // A revoked device is kicked.
        let mut phone = online(&app, &ada).await?;
        assert!(is_event(
            &next_event(&mut bob_watch).await?,
            ada.id(),
            "online"
        ));
        let db = app.db().await?;
        natter_accounts::revoke_device(&db, ada.credentials.device_id).await?;
        db.close().await?;
        let worker = app.service().await?;
        let control = ControlTopic::DeviceRevoked {
            device_id: ada.credentials.device_id,
        };
        worker
            .client
            .publish(control.topic(), rumqttc::QoS::AtLeastOnce, false, "")
            .await?;
        while phone.next().await.is_ok() {}
        assert!(is_event(
            &next_event(&mut bob_watch).await?,
            ada.id(),
            "offline"
        ));
        app.stop().await
    }
);

scenario!(
    a_flapping_phone_reaches_watchers_at_most_once_per_window,
    |services| {
        let window = Duration::from_millis(1500);
        let app = spawn_app_with(&services, |settings| {
            quick(settings);
            settings.presence.coalesce_ms = 1500;
        })
        .await?;
        let ada = person(&app, "+15551230001").await?;
        let bob = person(&app, "+15551230002").await?;
        let erin = person(&app, "+15551230005").await?;
        mutual_contacts(&app, &ada, &bob).await?;
        mutual_contacts(&app, &erin, &bob).await?;
        let mut bob_watch = watcher(&app, &bob).await?;

        let started = Instant::now();
        let mut phone = online(&app, &ada).await?;
        for _ in 0..5 {
            disconnect(phone).await?;
            phone = online(&app, &ada).await?;
        }
        disconnect(phone).await?;
        let first = next_event(&mut bob_watch).await?;
        assert!(is_event(&first, ada.id(), "online"), "{first}");
        let second = next_event(&mut bob_watch).await?;
        assert!(is_event(&second, ada.id(), "offline"), "{second}");
        assert!(
            started.elapsed() >= window,
            "offline after {:?}",
            started.elapsed()
        );

        // Nothing else about Ada: the next event is Erin's.
        let _erin_phone = online(&app, &erin).await?;
        let next = next_event(&mut bob_watch).await?;
        assert!(is_event(&next, erin.id(), "online"), "{next}");
        app.stop().await
    }
);
