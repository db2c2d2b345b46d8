//! A conversation looks the same on every device of a user: what one device sends reaches the
//! user's other devices (live and through `sync`), and so does how far it has read. Also the
//! smaller messaging checks the same walk found: forged quotes, deleted messages in sync,
//! publishes under a deeper outbox topic.

use std::time::Duration;

use natter_accounts::Role;
use natter_proto::envelope::{Base64, Event, MessageKind, ReceiptStatus, Request, Target};
use natter_tests::{scenario, spawn_app};
use rumqttc::v5::mqttbytes::QoS;
use secrecy::ExposeSecret;

use crate::messaging::{device, event, request, send};

/// How long a scenario waits for one natter-client event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The next event of `client` that `pick` accepts, skipping others.
async fn next_event<T>(
    client: &mut natter_tests::mqtt::ClientV5,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> anyhow::Result<T> {
    loop {
        if let Some(value) = pick(event(client).await?) {
            return Ok(value);
        }
    }
}

/// Everything a sync after `after` answers, up to its `synced`.
async fn sync_all(
    client: &mut natter_tests::mqtt::ClientV5,
    user: i64,
    after: i64,
) -> anyhow::Result<Vec<Event>> {
    request(client, user, &Request::Sync { after }).await?;
    let mut events = Vec::new();
    loop {
        match event(client).await? {
            Event::Synced { .. } => return Ok(events),
            other => events.push(other),
        }
    }
}

scenario!(
    a_message_sent_on_one_device_reaches_the_others_live_and_in_sync,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let ada_tablet = app.add_device(ada.user_id, Role::User).await?;
        let bob = app.create_user("+15551230002").await?;
        let mut phone = device(&app, &ada).await?;
        let mut tablet = device(&app, &ada_tablet).await?;
        let mut bob_phone = device(&app, &bob).await?;

        request(
            &phone,
            ada.user_id,
            &send("c1", Target::User(bob.user_id), "hello bob"),
        )
        .await?;
        let Event::Sent {
            server_id,
            inbox_seq: own_seq,
            ..
        } = event(&mut phone).await?
        else {
            anyhow::bail!("expected sent")
        };
        let own_seq = own_seq.ok_or_else(|| anyhow::anyhow!("sent names no inbox position"))?;
        // The tablet gets the message itself, body included, at that inbox position.
        let (got, from, from_device, body, inbox_seq, id) =
            next_event(&mut tablet, |event| match event {
                Event::Message {
                    server_id,
                    from,
                    from_device,
                    body,
                    inbox_seq,
                    id,
                    ..
                } => Some((server_id, from, from_device, body, inbox_seq, id)),
                _ => None,
            })
            .await?;
        assert_eq!(
            (got, from, from_device, inbox_seq, id.as_deref()),
            (server_id, ada.user_id, ada.device_id, own_seq, Some("c1"))
        );
        assert_eq!(body.0, b"hello bob");

        // The phone that sent it does not get its own body back: the next thing on its inbox
        // is Bob's answer, right after the own entry.
        next_event(&mut bob_phone, |event| {
            matches!(event, Event::Message { .. }).then_some(())
        })
        .await?;
        request(
            &bob_phone,
            bob.user_id,
            &send("b1", Target::User(ada.user_id), "hi ada"),
        )
        .await?;
        let Event::Message {
            from, inbox_seq, ..
        } = event(&mut phone).await?
        else {
            anyhow::bail!("expected bob's message on the phone")
        };
        assert_eq!((from, inbox_seq), (bob.user_id, own_seq + 1));

        // The tablet is away while the phone sends again; its sync brings everything.
        tablet.client.disconnect().await?;
        drop(tablet);
        request(
            &phone,
            ada.user_id,
            &send("c2", Target::User(bob.user_id), "still there?"),
        )
        .await?;
        next_event(&mut phone, |event| {
            matches!(event, Event::Sent { ref id, .. } if id == "c2").then_some(())
        })
        .await?;
        let mut tablet = device(&app, &ada_tablet).await?;
        let synced = sync_all(&mut tablet, ada.user_id, 0).await?;
        let bodies: Vec<(i64, i64, Vec<u8>)> = synced
            .into_iter()
            .filter_map(|event| match event {
                Event::Message {
                    from,
                    inbox_seq,
                    body,
                    ..
                } => Some((inbox_seq, from, body.0)),
                _ => None,
            })
            .collect();
        assert_eq!(
            bodies,
            vec![
                (own_seq, ada.user_id, b"hello bob".to_vec()),
                (own_seq + 1, bob.user_id, b"hi ada".to_vec()),
                (own_seq + 2, ada.user_id, b"still there?".to_vec()),
            ]
        );
        app.stop().await
    }
);

scenario!(
    reading_on_one_device_moves_the_read_position_on_the_others,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let ada_tablet = app.add_device(ada.user_id, Role::User).await?;
        let bob = app.create_user("+15551230002").await?;
        let mut phone = device(&app, &ada).await?;
        let mut tablet = device(&app, &ada_tablet).await?;
        let mut bob_phone = device(&app, &bob).await?;

        request(
            &bob_phone,
            bob.user_id,
            &send("b1", Target::User(ada.user_id), "hi ada"),
        )
        .await?;
        let (server_id, conversation_id, seq) = next_event(&mut phone, |event| match event {
            Event::Message {
                server_id,
                conversation_id,
                seq,
                ..
            } => Some((server_id, conversation_id, seq)),
            _ => None,
        })
        .await?;
        request(
            &phone,
            ada.user_id,
            &Request::Receipt {
                status: ReceiptStatus::Read,
                ids: vec![server_id],
            },
        )
        .await?;

        // Bob still learns that Ada read it.
        let receipt = next_event(&mut bob_phone, |event| {
            matches!(event, Event::Receipt { .. }).then_some(event)
        })
        .await?;
        assert_eq!(
            receipt,
            Event::Receipt {
                status: ReceiptStatus::Read,
                ids: vec![server_id],
                by: ada.user_id
            }
        );
        // Ada's tablet learns it live...
        let read = next_event(&mut tablet, |event| {
            matches!(event, Event::Read { .. }).then_some(event)
        })
        .await?;
        let Event::Read {
            inbox_seq,
            conversation_id: read_conversation,
            seq: read_seq,
        } = read
        else {
            anyhow::bail!("expected read")
        };
        assert_eq!((read_conversation, read_seq), (conversation_id, seq));
        // ... and a device that was away learns it from sync, in inbox order.
        let synced = sync_all(&mut tablet, ada.user_id, 0).await?;
        let last = synced.last().cloned();
        assert_eq!(
            last,
            Some(Event::Read {
                inbox_seq,
                conversation_id,
                seq
            })
        );
        // The phone that read sees the entry too (it takes a position in the inbox).
        let on_phone = next_event(&mut phone, |event| {
            matches!(event, Event::Read { .. }).then_some(event)
        })
        .await?;
        assert_eq!(
            on_phone,
            Event::Read {
                inbox_seq,
                conversation_id,
                seq
            }
        );
        // Reading the same message again moves nothing and tells nobody.
        request(
            &phone,
            ada.user_id,
            &Request::Receipt {
                status: ReceiptStatus::Read,
                ids: vec![server_id],
            },
        )
        .await?;
        // (The phone asks: its receipt and its sync are handled in the order it sent them.)
        let after = sync_all(&mut phone, ada.user_id, inbox_seq).await?;
        assert_eq!(after, Vec::new());
        app.stop().await
    }
);

fn client_login(
    credentials: &natter_accounts::Credentials,
) -> anyhow::Result<natter_client::Login> {
    Ok(natter_client::Login::new(
        credentials.user_id,
        &credentials.mqtt_username,
        credentials.mqtt_password.expose_secret(),
    )?)
}

/// The next natter-client event `pick` accepts; what was skipped is kept in `seen`.
async fn next_client_event<T>(
    events: &mut natter_client::Events,
    seen: &mut Vec<natter_client::Event>,
    mut pick: impl FnMut(&natter_client::Event) -> Option<T>,
) -> anyhow::Result<T> {
    tokio::time::timeout(EVENT_TIMEOUT, async {
        while let Some(event) = events.next().await {
            let picked = pick(&event);
            seen.push(event);
            if let Some(value) = picked {
                return Ok(value);
            }
        }
        anyhow::bail!("the client stopped")
    })
    .await
    .map_err(|_| anyhow::anyhow!("no such event within {EVENT_TIMEOUT:?}"))?
}

scenario!(
    natter_client_hands_an_own_send_over_once_and_shows_it_on_the_other_device,
    |services| {
        use natter_client::{Client, Event as ClientEvent, Options};
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let ada_tablet = app.add_device(ada.user_id, Role::User).await?;
        let bob = app.create_user("+15551230002").await?;
        let addr = app.mqtt_addr().to_string();
        let (phone, mut phone_events) =
            Client::connect(&addr, client_login(&ada)?, Options::default()).await?;
        let (_tablet, mut tablet_events) =
            Client::connect(&addr, client_login(&ada_tablet)?, Options::default()).await?;
        let (bob_phone, mut bob_events) =
            Client::connect(&addr, client_login(&bob)?, Options::default()).await?;
        let mut seen = Vec::new();
        for events in [&mut phone_events, &mut tablet_events, &mut bob_events] {
            next_client_event(events, &mut seen, |event| {
                matches!(event, ClientEvent::Synced { .. }).then_some(())
            })
            .await?;
        }

        let mut ids = Vec::new();
        for body in ["one", "two", "three"] {
            ids.push(phone.send(Target::User(bob.user_id), body.as_bytes().to_vec(), None)?);
        }
        let mut phone_seen = Vec::new();
        for id in &ids {
            next_client_event(&mut phone_events, &mut phone_seen, |event| {
                matches!(event, ClientEvent::Sent { id: sent, .. } if sent == id).then_some(())
            })
            .await?;
        }
        for _ in 0..3 {
            next_client_event(&mut bob_events, &mut seen, |event| {
                matches!(event, ClientEvent::Message(_)).then_some(())
            })
            .await?;
        }
        bob_phone.send(Target::User(ada.user_id), b"four".to_vec(), None)?;
        let answer = next_client_event(&mut phone_events, &mut phone_seen, |event| match event {
            ClientEvent::Message(message) => Some(message.clone()),
            _ => None,
        })
        .await?;
        // The phone's next message is Bob's: its own sends were reported as `sent` only, and
        // moving its cursor past them started no sync (a sync would end in `synced`).
        assert_eq!(
            (answer.from, answer.body.as_slice()),
            (bob.user_id, &b"four"[..])
        );
        let extra: Vec<_> = phone_seen
            .iter()
            .filter(|event| matches!(event, ClientEvent::Message(_) | ClientEvent::Synced { .. }))
            .collect();
        assert_eq!(extra.len(), 1, "{phone_seen:?}");
        let sent_count = phone_seen
            .iter()
            .filter(|event| matches!(event, ClientEvent::Sent { .. }))
            .count();
        assert_eq!(sent_count, 3);

        // The tablet shows all four, its own three as Ada's, in order.
        let mut tablet_messages = Vec::new();
        while tablet_messages.len() < 4 {
            let message = next_client_event(&mut tablet_events, &mut seen, |event| match event {
                ClientEvent::Message(message) => Some(message.clone()),
                _ => None,
            })
            .await?;
            tablet_messages.push((message.from, message.body));
        }
        assert_eq!(
            tablet_messages,
            vec![
                (ada.user_id, b"one".to_vec()),
                (ada.user_id, b"two".to_vec()),
                (ada.user_id, b"three".to_vec()),
                (bob.user_id, b"four".to_vec()),
            ]
        );
        app.stop().await
    }
);

scenario!(
    a_reply_to_a_message_of_another_conversation_is_refused,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let carol = app.create_user("+15551230003").await?;
        let mut phone = device(&app, &ada).await?;

        request(
            &phone,
            ada.user_id,
            &send("c1", Target::User(bob.user_id), "for bob only"),
        )
        .await?;
        let quoted = next_event(&mut phone, |event| match event {
            Event::Sent { server_id, .. } => Some(server_id),
            _ => None,
        })
        .await?;
        let quoting = |id: &str, to: i64| Request::Send {
            id: id.into(),
            to: Target::User(to),
            body: Base64(b"re".to_vec()),
            reply_to: Some(quoted),
            media: None,
        };
        request(&phone, ada.user_id, &quoting("c2", carol.user_id)).await?;
        let answer = event(&mut phone).await?;
        let Event::Error { id, code, .. } = answer else {
            anyhow::bail!("expected an error, got {answer:?}")
        };
        assert_eq!(
            (id.as_deref(), code.as_str()),
            (Some("c2"), "unknown_reply")
        );
        // The same quote in its own conversation is fine.
        request(&phone, ada.user_id, &quoting("c3", bob.user_id)).await?;
        let answer = event(&mut phone).await?;
        assert!(
            matches!(answer, Event::Sent { ref id, .. } if id == "c3"),
            "{answer:?}"
        );
        app.stop().await
    }
);

scenario!(a_deleted_message_syncs_with_a_marker, |services| {
    let app = spawn_app(&services).await?;
    app.wait_healthy().await?;
    let ada = app.create_user("+15551230001").await?;
    let bob = app.create_user("+15551230002").await?;
    let mut phone = device(&app, &ada).await?;
    let mut bob_phone = device(&app, &bob).await?;

    request(
        &phone,
        ada.user_id,
        &send("c1", Target::User(bob.user_id), "oops"),
    )
    .await?;
    let server_id = next_event(&mut phone, |event| match event {
        Event::Sent { server_id, .. } => Some(server_id),
        _ => None,
    })
    .await?;
    let delete = Request::Delete {
        id: "d1".into(),
        message: server_id,
    };
    request(&phone, ada.user_id, &delete).await?;
    next_event(&mut phone, |event| {
        matches!(event, Event::Sent { ref id, .. } if id == "d1").then_some(())
    })
    .await?;

    // Live, Bob got the message and then the deletion (kind "delete", ref the message).
    next_event(&mut bob_phone, |event| {
        matches!(event, Event::Message { kind: MessageKind::Delete, reference: Some(r), .. } if r == server_id)
            .then_some(())
    })
    .await?;
    let synced = sync_all(&mut bob_phone, bob.user_id, 0).await?;
    let shown = synced.iter().find_map(|event| match event {
        Event::Message {
            server_id: got,
            body,
            deleted,
            ..
        } if *got == server_id => Some((body.0.clone(), *deleted)),
        _ => None,
    });
    assert_eq!(shown, Some((Vec::new(), true)), "{synced:?}");
    app.stop().await
});

scenario!(
    a_request_under_a_deeper_outbox_topic_is_answered_with_an_error,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let mut phone = device(&app, &ada).await?;

        let payload = serde_json::to_vec(&send("c1", Target::User(bob.user_id), "hi"))?;
        phone
            .client
            .publish(
                format!("u/{}/out/rpc", ada.user_id),
                QoS::AtLeastOnce,
                false,
                payload,
            )
            .await?;
        let answer = event(&mut phone).await?;
        let Event::Error { code, message, .. } = answer else {
            anyhow::bail!("expected an error, got {answer:?}")
        };
        assert_eq!(code, "bad_topic", "{message}");
        app.stop().await
    }
);
