//! The client library (natter-client) against the real app: send until "sent", receive,
//! receipts, and resume after a forced reconnect with nothing lost and nothing twice.

use std::time::Duration;

use natter_client::{Client, Event, FileCursor, Login, Message, Options, ReceiptStatus, Target};
use natter_tests::mqtt::connect_v5;
use natter_tests::{scenario, spawn_app};
use secrecy::ExposeSecret;

/// How long a scenario waits for one event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

fn login(credentials: &natter_accounts::Credentials) -> anyhow::Result<Login> {
    Ok(Login::new(
        credentials.user_id,
        &credentials.mqtt_username,
        credentials.mqtt_password.expose_secret(),
    )?)
}

fn options() -> Options {
    Options {
        // Slow enough that what is sent meanwhile can only arrive through the resume.
        reconnect_min: Duration::from_millis(500),
        reconnect_max: Duration::from_secs(1),
        resend_after: Duration::from_secs(2),
        ..Options::default()
    }
}

/// The next event `pick` accepts, skipping others.
async fn next<T>(
    events: &mut natter_client::Events,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> anyhow::Result<T> {
    tokio::time::timeout(EVENT_TIMEOUT, async {
        while let Some(event) = events.next().await {
            if let Some(value) = pick(event) {
                return Ok(value);
            }
        }
        anyhow::bail!("the client stopped")
    })
    .await
    .map_err(|_| anyhow::anyhow!("no such event within {EVENT_TIMEOUT:?}"))?
}

async fn sent(events: &mut natter_client::Events, id: &str) -> anyhow::Result<i64> {
    next(events, |event| match event {
        Event::Sent {
            id: sent,
            server_id,
            ..
        } if sent == id => Some(server_id),
        _ => None,
    })
    .await
}

async fn message(events: &mut natter_client::Events) -> anyhow::Result<Message> {
    next(events, |event| match event {
        Event::Message(message) => Some(message),
        _ => None,
    })
    .await
}

scenario!(
    the_client_sends_receives_and_resumes_after_a_forced_reconnect,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let addr = app.mqtt_addr().to_string();
        let cursor_dir = tempfile::tempdir()?;
        let cursor_file = cursor_dir.path().join("bob.cursor");
        let (ada_phone, mut ada_events) = Client::connect(&addr, login(&ada)?, options()).await?;
        let bob_options = Options {
            cursor: Some(Box::new(FileCursor::new(&cursor_file))),
            ..options()
        };
        let (bob_phone, mut bob_events) = Client::connect(&addr, login(&bob)?, bob_options).await?;
        let to_bob = Target::User(bob.user_id);

        // Send, deliver, receipt.
        let id = ada_phone.send(to_bob, b"one".to_vec(), None)?;
        let one = sent(&mut ada_events, &id).await?;
        let got = message(&mut bob_events).await?;
        assert_eq!(
            (got.server_id, got.body.as_slice(), got.from),
            (one, &b"one"[..], ada.user_id)
        );
        bob_phone.receipt(ReceiptStatus::Read, vec![one])?;
        let receipt = next(&mut ada_events, |event| match event {
            Event::Receipt { status, ids, by } => Some((status, ids, by)),
            _ => None,
        })
        .await?;
        assert_eq!(receipt, (ReceiptStatus::Read, vec![one], bob.user_id));

        // Force bob off: another connection of the same device takes the session over.
        let intruder = connect_v5(app.mqtt_addr(), &natter_tests::mqtt::Login::from(&bob));
        next(&mut bob_events, |event| {
            matches!(event, Event::Disconnected { .. }).then_some(())
        })
        .await?;
        // Sent while bob is away: only the resume can bring them.
        let mut away = Vec::new();
        for body in ["two", "three"] {
            let id = ada_phone.send(to_bob, body.as_bytes().to_vec(), None)?;
            away.push(sent(&mut ada_events, &id).await?);
        }
        next(&mut bob_events, |event| {
            matches!(event, Event::Connected).then_some(())
        })
        .await?;
        drop(intruder);
        let resumed = [
            message(&mut bob_events).await?,
            message(&mut bob_events).await?,
        ];
        assert_eq!(
            resumed
                .iter()
                .map(|m| (m.server_id, m.body.clone()))
                .collect::<Vec<_>>(),
            vec![(away[0], b"two".to_vec()), (away[1], b"three".to_vec())]
        );
        assert!(resumed[0].inbox_seq < resumed[1].inbox_seq && resumed[0].seq < resumed[1].seq);

        // Live again, and nothing from before repeats.
        let id = ada_phone.send(to_bob, b"four".to_vec(), None)?;
        let four = sent(&mut ada_events, &id).await?;
        let got = message(&mut bob_events).await?;
        assert_eq!((got.server_id, got.body.as_slice()), (four, &b"four"[..]));
        bob_phone.close().await;
        let mut rest = Vec::new();
        while let Some(event) = bob_events.next().await {
            rest.push(event);
        }
        assert!(
            !rest.iter().any(|event| matches!(event, Event::Message(_))),
            "repeated: {rest:?}"
        );

        // A new client on the same cursor file resumes after "four": only what came since.
        let id = ada_phone.send(to_bob, b"five".to_vec(), None)?;
        let five = sent(&mut ada_events, &id).await?;
        let bob_options = Options {
            cursor: Some(Box::new(FileCursor::new(&cursor_file))),
            ..options()
        };
        let (bob_tablet, mut bob_events) =
            Client::connect(&addr, login(&bob)?, bob_options).await?;
        let got = message(&mut bob_events).await?;
        assert_eq!((got.server_id, got.body.as_slice()), (five, &b"five"[..]));
        let upto = next(&mut bob_events, |event| match event {
            Event::Synced { upto } => Some(upto),
            _ => None,
        })
        .await?;
        assert_eq!(upto, got.inbox_seq);
        bob_tablet.close().await;
        ada_phone.close().await;
        app.stop().await
    }
);

scenario!(a_refused_login_fails_to_connect, |services| {
    let app = spawn_app(&services).await?;
    app.wait_healthy().await?;
    let ada = app.create_user("+15551230001").await?;
    let wrong = Login::new(ada.user_id, &ada.mqtt_username, "not-the-password")?;
    let outcome = Client::connect(&app.mqtt_addr().to_string(), wrong, options()).await;
    assert!(
        matches!(outcome, Err(natter_client::Error::Connect { .. })),
        "{outcome:?}"
    );
    // Someone else's inbox is refused at subscription time.
    let mut other = login(&ada)?;
    other.user_id += 1;
    let outcome = Client::connect(&app.mqtt_addr().to_string(), other, options()).await;
    assert!(
        matches!(outcome, Err(natter_client::Error::Connect { .. })),
        "{outcome:?}"
    );
    app.stop().await
});
