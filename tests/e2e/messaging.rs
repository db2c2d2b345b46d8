//! Messaging through the bridge: send, sent, deliver, receipts, resume from the inbox
//! position, groups, idempotent resends.

use natter_proto::envelope::{Base64, Event, ReceiptStatus, Request, Target};
use natter_tests::mqtt::{ClientV5, Login, connect_v5};
use natter_tests::{TestApp, scenario, spawn_app};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;

/// A device of `credentials` subscribed to its user's inbox and its own replies.
pub(crate) async fn device(
    app: &TestApp,
    credentials: &natter_accounts::Credentials,
) -> anyhow::Result<ClientV5> {
    let mut client = connect_v5(app.mqtt_addr(), &Login::from(credentials));
    let user = credentials.user_id;
    client
        .client
        .subscribe(format!("u/{user}/inbox"), QoS::AtLeastOnce)
        .await?;
    client
        .wait(|p| matches!(p, Packet::SubAck(_)).then_some(()))
        .await?;
    client
        .client
        .subscribe(
            format!("u/{user}/reply/{}", credentials.device_id),
            QoS::AtLeastOnce,
        )
        .await?;
    client
        .wait(|p| matches!(p, Packet::SubAck(_)).then_some(()))
        .await?;
    Ok(client)
}

pub(crate) async fn request(client: &ClientV5, user: i64, request: &Request) -> anyhow::Result<()> {
    let payload = serde_json::to_vec(request)?;
    client
        .client
        .publish(format!("u/{user}/out"), QoS::AtLeastOnce, false, payload)
        .await?;
    Ok(())
}

/// The next messaging event the device receives.
pub(crate) async fn event(client: &mut ClientV5) -> anyhow::Result<Event> {
    let payload = client
        .wait(|p| match p {
            Packet::Publish(publish) => Some(publish.payload.clone()),
            _ => None,
        })
        .await?;
    Ok(serde_json::from_slice(&payload)?)
}

pub(crate) fn send(id: &str, to: Target, body: &str) -> Request {
    Request::Send {
        id: id.into(),
        to,
        body: Base64(body.as_bytes().to_vec()),
        reply_to: None,
        media: None,
    }
}

scenario!(
    a_message_is_stored_then_delivered_and_receipts_reach_the_sender,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let mut ada_phone = device(&app, &ada).await?;
        let mut bob_phone = device(&app, &bob).await?;

        request(
            &ada_phone,
            ada.user_id,
            &send("c1", Target::User(bob.user_id), "hello bob"),
        )
        .await?;

        let Event::Sent {
            id, server_id, seq, ..
        } = event(&mut ada_phone).await?
        else {
            anyhow::bail!("expected sent")
        };
        assert_eq!((id.as_str(), seq), ("c1", 1));
        let Event::Message {
            server_id: got,
            from,
            from_device,
            body,
            inbox_seq,
            ..
        } = event(&mut bob_phone).await?
        else {
            anyhow::bail!("expected a message")
        };
        assert_eq!(
            (got, from, from_device, inbox_seq),
            (server_id, ada.user_id, ada.device_id, 1)
        );
        assert_eq!(body.0, b"hello bob");

        request(
            &bob_phone,
            bob.user_id,
            &Request::Receipt {
                status: ReceiptStatus::Read,
                ids: vec![server_id],
            },
        )
        .await?;
        let receipt = event(&mut ada_phone).await?;
        assert_eq!(
            receipt,
            Event::Receipt {
                status: ReceiptStatus::Read,
                ids: vec![server_id],
                by: bob.user_id
            }
        );
        app.stop().await
    }
);

scenario!(
    resending_a_client_id_never_makes_a_second_message,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let mut ada_phone = device(&app, &ada).await?;
        let mut bob_phone = device(&app, &bob).await?;

        request(
            &ada_phone,
            ada.user_id,
            &send("same", Target::User(bob.user_id), "once"),
        )
        .await?;
        request(
            &ada_phone,
            ada.user_id,
            &send("same", Target::User(bob.user_id), "once"),
        )
        .await?;
        request(
            &ada_phone,
            ada.user_id,
            &send("next", Target::User(bob.user_id), "twice"),
        )
        .await?;

        let Event::Sent {
            server_id: first, ..
        } = event(&mut ada_phone).await?
        else {
            anyhow::bail!("expected sent")
        };
        let Event::Sent {
            server_id: again, ..
        } = event(&mut ada_phone).await?
        else {
            anyhow::bail!("expected sent")
        };
        assert_eq!(first, again, "a resend got a new server id");
        let Event::Message { body, .. } = event(&mut bob_phone).await? else {
            anyhow::bail!("expected a message")
        };
        assert_eq!(body.0, b"once");
        let Event::Message {
            body, inbox_seq, ..
        } = event(&mut bob_phone).await?
        else {
            anyhow::bail!("expected a message")
        };
        assert_eq!(
            (body.0.as_slice(), inbox_seq),
            (&b"twice"[..], 2),
            "the resend was delivered twice"
        );
        app.stop().await
    }
);

scenario!(
    a_device_that_was_offline_resumes_with_exactly_what_it_missed,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let mut ada_phone = device(&app, &ada).await?;
        let mut bob_phone = device(&app, &bob).await?;
        request(
            &ada_phone,
            ada.user_id,
            &send("m1", Target::User(bob.user_id), "seen live"),
        )
        .await?;
        let Event::Message {
            inbox_seq: seen, ..
        } = event(&mut bob_phone).await?
        else {
            anyhow::bail!("expected a message")
        };
        event(&mut ada_phone).await?;

        // Bob's phone goes away; three messages arrive meanwhile.
        drop(bob_phone);
        for (id, text) in [("m2", "one"), ("m3", "two"), ("m4", "three")] {
            request(
                &ada_phone,
                ada.user_id,
                &send(id, Target::User(bob.user_id), text),
            )
            .await?;
            event(&mut ada_phone).await?;
        }
        let mut bob_phone = device(&app, &bob).await?;
        request(&bob_phone, bob.user_id, &Request::Sync { after: seen }).await?;

        let mut missed = Vec::new();
        loop {
            match event(&mut bob_phone).await? {
                Event::Message {
                    body, inbox_seq, ..
                } => missed.push((inbox_seq, String::from_utf8(body.0)?)),
                Event::Synced { upto, .. } => {
                    assert_eq!(upto, 4);
                    break;
                }
                other => anyhow::bail!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            missed,
            vec![(2, "one".into()), (3, "two".into()), (4, "three".into())]
        );
        app.stop().await
    }
);

scenario!(
    group_messages_reach_every_other_member_and_strangers_are_refused,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let carol = app.create_user("+15551230003").await?;
        let dave = app.create_user("+15551230004").await?;
        let group = app
            .create_group(&[ada.user_id, bob.user_id, carol.user_id])
            .await?;
        let mut ada_phone = device(&app, &ada).await?;
        let mut bob_phone = device(&app, &bob).await?;
        let mut carol_phone = device(&app, &carol).await?;
        let mut dave_phone = device(&app, &dave).await?;

        request(
            &ada_phone,
            ada.user_id,
            &send("g1", Target::Group(group), "hi all"),
        )
        .await?;
        request(
            &dave_phone,
            dave.user_id,
            &send("x1", Target::Group(group), "let me in"),
        )
        .await?;

        assert!(matches!(event(&mut ada_phone).await?, Event::Sent { .. }));
        for phone in [&mut bob_phone, &mut carol_phone] {
            let Event::Message {
                group_id,
                from,
                body,
                ..
            } = event(phone).await?
            else {
                anyhow::bail!("expected a message")
            };
            assert_eq!(
                (group_id, from, body.0.as_slice()),
                (Some(group), ada.user_id, &b"hi all"[..])
            );
        }
        let Event::Error { id, code, .. } = event(&mut dave_phone).await? else {
            anyhow::bail!("expected an error")
        };
        assert_eq!((id.as_deref(), code.as_str()), (Some("x1"), "not_a_member"));
        app.stop().await
    }
);

scenario!(
    malformed_requests_and_unknown_recipients_get_a_clear_error,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let mut ada_phone = device(&app, &ada).await?;

        ada_phone
            .client
            .publish(
                format!("u/{}/out", ada.user_id),
                QoS::AtLeastOnce,
                false,
                "not json",
            )
            .await?;
        request(
            &ada_phone,
            ada.user_id,
            &send("c1", Target::User(999_999), "nobody"),
        )
        .await?;

        let Event::Error { code, .. } = event(&mut ada_phone).await? else {
            anyhow::bail!("expected an error")
        };
        assert_eq!(code, "bad_request");
        let Event::Error { code, id, .. } = event(&mut ada_phone).await? else {
            anyhow::bail!("expected an error")
        };
        assert_eq!(
            (code.as_str(), id.as_deref()),
            ("unknown_recipient", Some("c1"))
        );
        app.stop().await
    }
);

/// A media row as an upload leaves it (the media routes are tested on their own).
async fn uploaded_media(app: &TestApp, owner: i64, key: &str) -> anyhow::Result<i64> {
    use sea_orm::{ActiveModelTrait, Set};
    let row = natter_entities::media::ActiveModel {
        owner_user_id: Set(owner),
        sha256: Set(format!("{key:0>64}")),
        mime: Set("image/jpeg".into()),
        size_bytes: Set(1),
        storage_key: Set(key.into()),
        created_at: Set(0),
        ..Default::default()
    }
    .insert(&app.db().await?)
    .await?;
    Ok(row.id)
}

scenario!(
    a_message_carries_media_its_sender_uploaded_or_received_and_nothing_else,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let cy = app.create_user("+15551230003").await?;
        let mut ada_phone = device(&app, &ada).await?;
        let mut bob_phone = device(&app, &bob).await?;
        let photo = uploaded_media(&app, ada.user_id, "photo").await?;
        let bobs_own = uploaded_media(&app, bob.user_id, "bobs").await?;

        let with_media = |id: &str, to: i64, media: i64| Request::Send {
            id: id.into(),
            to: Target::User(to),
            body: Base64(b"look".to_vec()),
            reply_to: None,
            media: Some(media),
        };
        // Someone else's upload, never received: refused, nothing delivered.
        request(
            &ada_phone,
            ada.user_id,
            &with_media("c0", bob.user_id, bobs_own),
        )
        .await?;
        let Event::Error { id, code, .. } = event(&mut ada_phone).await? else {
            anyhow::bail!("expected an error")
        };
        assert_eq!(
            (id.as_deref(), code.as_str()),
            (Some("c0"), "unknown_media")
        );

        request(
            &ada_phone,
            ada.user_id,
            &with_media("c1", bob.user_id, photo),
        )
        .await?;
        let Event::Message { media, .. } = event(&mut bob_phone).await? else {
            anyhow::bail!("expected a message")
        };
        assert_eq!(media, Some(photo));

        // Bob received it, so he may forward it.
        request(
            &bob_phone,
            bob.user_id,
            &with_media("f1", cy.user_id, photo),
        )
        .await?;
        let forwarded = bob_phone
            .wait(|p| match p {
                Packet::Publish(publish) => serde_json::from_slice::<Event>(&publish.payload).ok(),
                _ => None,
            })
            .await?;
        assert!(
            matches!(forwarded, Event::Sent { ref id, .. } if id == "f1"),
            "{forwarded:?}"
        );
        app.stop().await
    }
);

scenario!(
    several_bridge_sessions_share_the_work_and_nothing_is_lost_or_doubled,
    |services| {
        let app = natter_tests::spawn_app_with(&services, |settings| settings.bridge.sessions = 3)
            .await?;
        app.wait_healthy().await?;
        let reader = app.create_user("+15551230009").await?;
        let mut reader_phone = device(&app, &reader).await?;
        let mut senders = Vec::new();
        for i in 1..=3 {
            let credentials = app.create_user(&format!("+1555123000{i}")).await?;
            let phone = device(&app, &credentials).await?;
            senders.push((credentials, phone));
        }
        let per_sender = 20;
        for n in 0..per_sender {
            for (credentials, phone) in &senders {
                let body = format!("{}:{n}", credentials.user_id);
                let id = format!("m{n}");
                request(
                    phone,
                    credentials.user_id,
                    &send(&id, Target::User(reader.user_id), &body),
                )
                .await?;
            }
        }
        let mut got = std::collections::HashMap::new();
        let mut inbox_seqs = Vec::new();
        while got.len() < senders.len() * per_sender {
            if let Event::Message {
                body, inbox_seq, ..
            } = event(&mut reader_phone).await?
            {
                inbox_seqs.push(inbox_seq);
                *got.entry(String::from_utf8(body.0)?).or_insert(0) += 1;
            }
        }
        assert!(got.values().all(|count| *count == 1), "duplicates: {got:?}");
        inbox_seqs.sort_unstable();
        let expected: Vec<i64> = (1..=i64::try_from(inbox_seqs.len())?).collect();
        assert_eq!(inbox_seqs, expected, "inbox positions are dense and unique");
        // Each sender sees exactly one "sent" per message.
        for (credentials, phone) in &mut senders {
            let mut ids = std::collections::BTreeSet::new();
            while ids.len() < per_sender {
                if let Event::Sent { id, .. } = event(phone).await? {
                    assert!(
                        ids.insert(id.clone()),
                        "sender {} got {id} twice",
                        credentials.user_id
                    );
                }
            }
        }
        app.stop().await
    }
);

scenario!(
    a_send_the_database_refuses_in_a_burst_costs_only_itself,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230021").await?;
        let bob = app.create_user("+15551230022").await?;
        let mut ada_phone = device(&app, &ada).await?;
        let mut bob_phone = device(&app, &bob).await?;
        // The database itself refuses one body (as a full disk or a broken row would): the
        // sends around it arrive in the same batch and must not be lost with it.
        let db = app.db().await?;
        let refuse = match db.get_database_backend() {
            sea_orm::DbBackend::Sqlite => vec![
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages \
                 WHEN NEW.body = CAST('poison' AS BLOB) \
                 BEGIN SELECT RAISE(ABORT, 'poison refused'); END"
                    .to_owned(),
            ],
            _ => vec![
                "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN \
                 IF NEW.body = convert_to('poison', 'UTF8') THEN \
                 RAISE EXCEPTION 'poison refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                    .to_owned(),
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages \
                 FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
                    .to_owned(),
            ],
        };
        for statement in refuse {
            sea_orm::ConnectionTrait::execute_unprepared(&db, &statement).await?;
        }

        let total = 30;
        for n in 0..total {
            let body = if n == 15 {
                "poison".to_owned()
            } else {
                format!("m{n}")
            };
            request(
                &ada_phone,
                ada.user_id,
                &send(&format!("c{n}"), Target::User(bob.user_id), &body),
            )
            .await?;
        }
        let mut sent = std::collections::BTreeSet::new();
        let mut refused = Vec::new();
        while sent.len() + refused.len() < total {
            match event(&mut ada_phone).await? {
                Event::Sent { id, .. } => assert!(sent.insert(id.clone()), "{id} sent twice"),
                Event::Error { id, code, .. } => refused.push((id, code)),
                _ => {}
            }
        }
        assert_eq!(
            refused,
            vec![(Some("c15".to_owned()), "unavailable".to_owned())]
        );
        let mut bodies = Vec::new();
        while bodies.len() < total - 1 {
            if let Event::Message { body, .. } = event(&mut bob_phone).await? {
                bodies.push(String::from_utf8(body.0)?);
            }
        }
        let expected: Vec<String> = (0..total)
            .filter(|n| *n != 15)
            .map(|n| format!("m{n}"))
            .collect();
        assert_eq!(bodies, expected, "every other send arrives once, in order");
        app.stop().await
    }
);
