//! Groups and the rest of messaging beyond plain text, all over MQTT: calls (create, add,
//! remove, admins, leave, invite links, message info, timers), system events, delivered and
//! read by all, edits, deletions, reactions, typing.

use natter_proto::envelope::{Event, MessageKind, ReceiptStatus, Request, Target};
use natter_tests::mqtt::ClientV5;
use natter_tests::{TestApp, scenario, spawn_app};
use serde_json::{Value, json};

use crate::messaging::{device, event, request, send};

/// Calls `method` and returns its result; fails on an error answer.
pub(crate) async fn call(
    client: &mut ClientV5,
    user: i64,
    method: &str,
    params: Value,
) -> anyhow::Result<Value> {
    match call_raw(client, user, method, params).await? {
        Ok(result) => Ok(result),
        Err((code, message)) => anyhow::bail!("{method} failed: {code}: {message}"),
    }
}

/// Calls `method` and returns its result or its (code, message), skipping other events.
async fn call_raw(
    client: &mut ClientV5,
    user: i64,
    method: &str,
    params: Value,
) -> anyhow::Result<Result<Value, (String, String)>> {
    let rid = format!("r-{method}");
    let call = Request::Call {
        rid: rid.clone(),
        method: method.into(),
        params,
    };
    request(client, user, &call).await?;
    loop {
        match event(client).await? {
            Event::Result { rid: got, result } if got == rid => return Ok(Ok(result)),
            Event::Error {
                rid: Some(got),
                code,
                message,
                ..
            } if got == rid => return Ok(Err((code, message))),
            _ => {}
        }
    }
}

/// The next `message` event of kind `kind`, with its body as JSON for system events.
async fn next_of_kind(client: &mut ClientV5, kind: MessageKind) -> anyhow::Result<Event> {
    loop {
        let got = event(client).await?;
        if matches!(&got, Event::Message { kind: k, .. } if *k == kind) {
            return Ok(got);
        }
    }
}

async fn system(client: &mut ClientV5) -> anyhow::Result<Value> {
    let Event::Message { body, .. } = next_of_kind(client, MessageKind::System).await? else {
        anyhow::bail!("expected a system event")
    };
    Ok(serde_json::from_slice(&body.0)?)
}

async fn users(app: &TestApp, n: u32) -> anyhow::Result<Vec<natter_accounts::Credentials>> {
    let mut users = Vec::new();
    for i in 1..=n {
        users.push(app.create_user(&format!("+1555123000{i}")).await?);
    }
    Ok(users)
}

scenario!(
    a_group_is_made_and_run_over_mqtt_with_system_events,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let people = users(&app, 4).await?;
        let (ada, bob, cy, dan) = (&people[0], &people[1], &people[2], &people[3]);
        let mut ada_phone = device(&app, ada).await?;
        let mut bob_phone = device(&app, bob).await?;
        let mut cy_phone = device(&app, cy).await?;
        let mut dan_phone = device(&app, dan).await?;

        let created = call(
            &mut ada_phone,
            ada.user_id,
            "group.create",
            json!({"name": "Climbing", "members": [bob.user_id, cy.user_id]}),
        )
        .await?;
        let group = created["group"].as_i64().expect("a group id");
        assert_eq!(created["added"], json!([bob.user_id, cy.user_id]));
        let seen = system(&mut bob_phone).await?;
        assert_eq!(seen["event"], "created");
        assert_eq!(seen["by"], ada.user_id);
        assert_eq!(system(&mut cy_phone).await?["event"], "created");

        // Only admins manage; bob is not one yet.
        let refused = call_raw(
            &mut bob_phone,
            bob.user_id,
            "group.add",
            json!({"group": group, "users": [dan.user_id]}),
        )
        .await?;
        assert_eq!(
            refused.map_err(|(code, _)| code),
            Err("not_an_admin".to_owned())
        );
        call(
            &mut ada_phone,
            ada.user_id,
            "group.promote",
            json!({"group": group, "user": bob.user_id}),
        )
        .await?;
        assert_eq!(system(&mut cy_phone).await?["event"], "promoted");
        let added = call(
            &mut bob_phone,
            bob.user_id,
            "group.add",
            json!({"group": group, "users": [dan.user_id]}),
        )
        .await?;
        assert_eq!(added["added"], json!([dan.user_id]));
        let joined = system(&mut dan_phone).await?;
        assert_eq!(
            (joined["event"].as_str(), joined["users"].clone()),
            (Some("added"), json!([dan.user_id]))
        );

        let info = call(
            &mut cy_phone,
            cy.user_id,
            "group.info",
            json!({"group": group}),
        )
        .await?;
        assert_eq!(info["name"], "Climbing");
        assert_eq!(info["members"].as_array().map(Vec::len), Some(4));
        assert!(
            info.get("invite_token").is_none(),
            "members who are not admins see no invite token"
        );

        // Removal: cy learns it, then stops receiving at once.
        call(
            &mut ada_phone,
            ada.user_id,
            "group.remove",
            json!({"group": group, "users": [cy.user_id]}),
        )
        .await?;
        let removed = system(&mut cy_phone).await?;
        assert_eq!(
            (removed["event"].as_str(), removed["users"].clone()),
            (Some("removed"), json!([cy.user_id]))
        );
        request(
            &ada_phone,
            ada.user_id,
            &send("g1", Target::Group(group), "after cy left"),
        )
        .await?;
        let Event::Message { body, .. } = next_of_kind(&mut dan_phone, MessageKind::Text).await?
        else {
            anyhow::bail!("expected a message")
        };
        assert_eq!(body.0, b"after cy left");
        request(
            &cy_phone,
            cy.user_id,
            &send("c1", Target::Group(group), "still here?"),
        )
        .await?;
        let Event::Error { code, .. } = event(&mut cy_phone).await? else {
            anyhow::bail!("expected cy's send to be refused")
        };
        assert_eq!(code, "not_a_member");
        let sync = Request::Sync { after: 0 };
        request(&cy_phone, cy.user_id, &sync).await?;
        let mut bodies = Vec::new();
        loop {
            match event(&mut cy_phone).await? {
                Event::Message {
                    body,
                    kind: MessageKind::Text,
                    ..
                } => bodies.push(body.0),
                Event::Synced { .. } => break,
                _ => {}
            }
        }
        assert!(bodies.is_empty(), "a removed member received {bodies:?}");

        // Invite links: revocable tokens.
        let invite = call(
            &mut ada_phone,
            ada.user_id,
            "group.invite",
            json!({"group": group}),
        )
        .await?;
        let token = invite["token"].as_str().expect("a token").to_owned();
        call(
            &mut ada_phone,
            ada.user_id,
            "group.revoke_invite",
            json!({"group": group}),
        )
        .await?;
        let stale = call_raw(
            &mut cy_phone,
            cy.user_id,
            "group.join",
            json!({"token": token}),
        )
        .await?;
        assert_eq!(
            stale.map_err(|(code, _)| code),
            Err("invalid_invite".to_owned())
        );
        let invite = call(
            &mut ada_phone,
            ada.user_id,
            "group.invite",
            json!({"group": group}),
        )
        .await?;
        call(
            &mut cy_phone,
            cy.user_id,
            "group.join",
            json!({"token": invite["token"]}),
        )
        .await?;
        assert_eq!(system(&mut dan_phone).await?["event"], "joined");

        // The last admins leave: the longest-standing member is promoted.
        call(
            &mut bob_phone,
            bob.user_id,
            "group.leave",
            json!({"group": group}),
        )
        .await?;
        call(
            &mut ada_phone,
            ada.user_id,
            "group.leave",
            json!({"group": group}),
        )
        .await?;
        let mut events = Vec::new();
        while events.len() < 3 {
            events.push(system(&mut dan_phone).await?);
        }
        assert_eq!(events[2]["event"], "promoted", "{events:?}");
        let info = call(
            &mut dan_phone,
            dan.user_id,
            "group.info",
            json!({"group": group}),
        )
        .await?;
        let admins: Vec<&Value> = info["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["role"] == "admin")
            .collect();
        assert_eq!(admins.len(), 1);

        let unknown = call_raw(&mut dan_phone, dan.user_id, "group.explode", json!({})).await?;
        assert_eq!(
            unknown.map_err(|(code, _)| code),
            Err("unknown_method".to_owned())
        );
        let bad = call_raw(
            &mut dan_phone,
            dan.user_id,
            "group.add",
            json!({"group": "seven"}),
        )
        .await?;
        assert_eq!(bad.map_err(|(code, _)| code), Err("bad_params".to_owned()));
        app.stop().await
    }
);

scenario!(
    group_receipts_say_when_everyone_has_it_and_message_info_lists_who,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let people = users(&app, 3).await?;
        let (ada, bob, cy) = (&people[0], &people[1], &people[2]);
        let mut ada_phone = device(&app, ada).await?;
        let mut bob_phone = device(&app, bob).await?;
        let mut cy_phone = device(&app, cy).await?;
        let created = call(
            &mut ada_phone,
            ada.user_id,
            "group.create",
            json!({"name": "Trio", "members": [bob.user_id, cy.user_id]}),
        )
        .await?;
        let group = created["group"].as_i64().expect("a group id");
        system(&mut bob_phone).await?;
        system(&mut cy_phone).await?;

        request(
            &ada_phone,
            ada.user_id,
            &send("m1", Target::Group(group), "hi both"),
        )
        .await?;
        let sent = loop {
            if let Event::Sent { server_id, .. } = event(&mut ada_phone).await? {
                break server_id;
            }
        };
        next_of_kind(&mut bob_phone, MessageKind::Text).await?;
        next_of_kind(&mut cy_phone, MessageKind::Text).await?;
        let read = |ids| Request::Receipt {
            status: ReceiptStatus::Read,
            ids,
        };
        request(&bob_phone, bob.user_id, &read(vec![sent])).await?;
        let first = event(&mut ada_phone).await?;
        assert_eq!(
            first,
            Event::Receipt {
                status: ReceiptStatus::Read,
                ids: vec![sent],
                by: bob.user_id
            }
        );
        let info = call(
            &mut ada_phone,
            ada.user_id,
            "message.info",
            json!({"message": sent}),
        )
        .await?;
        assert_eq!(
            (
                info["delivered_to_all"].clone(),
                info["read_by_all"].clone()
            ),
            (json!(false), json!(false))
        );
        let statuses: Vec<(i64, String)> = info["recipients"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r["user"].as_i64().unwrap_or(0),
                    r["status"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert_eq!(
            statuses,
            vec![
                (bob.user_id, "read".to_owned()),
                (cy.user_id, "pending".to_owned())
            ]
        );

        request(&cy_phone, cy.user_id, &read(vec![sent])).await?;
        let mut got = Vec::new();
        while got.len() < 2 {
            got.push(event(&mut ada_phone).await?);
        }
        assert!(
            got.contains(&Event::ReceiptAll {
                status: ReceiptStatus::Read,
                ids: vec![sent]
            }),
            "{got:?}"
        );
        let info = call(
            &mut ada_phone,
            ada.user_id,
            "message.info",
            json!({"message": sent}),
        )
        .await?;
        assert_eq!(
            (
                info["delivered_to_all"].clone(),
                info["read_by_all"].clone()
            ),
            (json!(true), json!(true))
        );
        let others = call_raw(
            &mut bob_phone,
            bob.user_id,
            "message.info",
            json!({"message": sent}),
        )
        .await?;
        assert_eq!(
            others.map_err(|(code, _)| code),
            Err("unknown_message".to_owned())
        );
        app.stop().await
    }
);

scenario!(
    edits_deletions_reactions_and_typing_reach_the_other_side,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let people = users(&app, 2).await?;
        let (ada, bob) = (&people[0], &people[1]);
        let mut ada_phone = device(&app, ada).await?;
        let mut bob_phone = device(&app, bob).await?;
        request(
            &ada_phone,
            ada.user_id,
            &send("m1", Target::User(bob.user_id), "helo"),
        )
        .await?;
        let Event::Message { server_id, .. } =
            next_of_kind(&mut bob_phone, MessageKind::Text).await?
        else {
            anyhow::bail!("expected a message")
        };

        let edit = Request::Edit {
            id: "e1".into(),
            message: server_id,
            body: natter_proto::envelope::Base64(b"hello".to_vec()),
        };
        request(&ada_phone, ada.user_id, &edit).await?;
        let Event::Message {
            body, reference, ..
        } = next_of_kind(&mut bob_phone, MessageKind::Edit).await?
        else {
            anyhow::bail!("expected an edit")
        };
        assert_eq!(
            (body.0.as_slice(), reference),
            (b"hello".as_slice(), Some(server_id))
        );
        // Bob may not edit Ada's message.
        let theirs = Request::Edit {
            id: "e2".into(),
            message: server_id,
            body: natter_proto::envelope::Base64(b"x".to_vec()),
        };
        request(&bob_phone, bob.user_id, &theirs).await?;
        let refusal = loop {
            if let Event::Error { code, .. } = event(&mut bob_phone).await? {
                break code;
            }
        };
        assert_eq!(refusal, "not_author");

        let react = Request::React {
            id: "r1".into(),
            message: server_id,
            emoji: "👍".into(),
        };
        request(&bob_phone, bob.user_id, &react).await?;
        let Event::Message {
            body,
            reference,
            from,
            ..
        } = next_of_kind(&mut ada_phone, MessageKind::Reaction).await?
        else {
            anyhow::bail!("expected a reaction")
        };
        assert_eq!(
            (String::from_utf8(body.0)?, reference, from),
            ("👍".to_owned(), Some(server_id), bob.user_id)
        );

        let typing = Request::Typing {
            to: Target::User(ada.user_id),
            active: true,
        };
        request(&bob_phone, bob.user_id, &typing).await?;
        let shown = loop {
            if let ev @ Event::Typing { .. } = event(&mut ada_phone).await? {
                break ev;
            }
        };
        assert_eq!(
            shown,
            Event::Typing {
                from: bob.user_id,
                group_id: None,
                active: true
            }
        );

        request(
            &ada_phone,
            ada.user_id,
            &Request::Delete {
                id: "d1".into(),
                message: server_id,
            },
        )
        .await?;
        let Event::Message { reference, .. } =
            next_of_kind(&mut bob_phone, MessageKind::Delete).await?
        else {
            anyhow::bail!("expected a deletion")
        };
        assert_eq!(reference, Some(server_id));
        // A device resuming later sees the message with its body gone, then the deletion.
        request(&bob_phone, bob.user_id, &Request::Sync { after: 0 }).await?;
        let mut replay = Vec::new();
        loop {
            match event(&mut bob_phone).await? {
                Event::Message {
                    server_id: id,
                    kind,
                    body,
                    ..
                } => replay.push((id, kind, body.0)),
                Event::Synced { .. } => break,
                _ => {}
            }
        }
        assert_eq!(
            replay.first(),
            Some(&(server_id, MessageKind::Text, Vec::new())),
            "{replay:?}"
        );
        assert_eq!(replay.last().map(|r| r.1), Some(MessageKind::Delete));
        app.stop().await
    }
);

scenario!(
    a_conversation_timer_makes_new_messages_disappear,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let people = users(&app, 2).await?;
        let (ada, bob) = (&people[0], &people[1]);
        let mut ada_phone = device(&app, ada).await?;
        let mut bob_phone = device(&app, bob).await?;
        call(
            &mut ada_phone,
            ada.user_id,
            "conversation.timer",
            json!({"to": {"user": bob.user_id}, "secs": 3600}),
        )
        .await?;
        let timer = system(&mut bob_phone).await?;
        assert_eq!(
            (timer["event"].as_str(), timer["secs"].as_i64()),
            (Some("timer"), Some(3600))
        );
        request(
            &ada_phone,
            ada.user_id,
            &send("m1", Target::User(bob.user_id), "soon gone"),
        )
        .await?;
        let Event::Message { expires_at, ts, .. } =
            next_of_kind(&mut bob_phone, MessageKind::Text).await?
        else {
            anyhow::bail!("expected a message")
        };
        assert_eq!(expires_at, Some(ts + 3_600_000));
        // An hour later the workers delete it, and a resuming device no longer gets it.
        let workers = natter_workers::WorkersContext::new(app.db().await?, &app.settings.workers);
        let outcome = natter_workers::disappearing::run_once(&workers, ts + 3_600_001).await?;
        assert_eq!(outcome, natter_workers::Outcome::Worked(1));
        request(&bob_phone, bob.user_id, &Request::Sync { after: 0 }).await?;
        let mut kinds = Vec::new();
        loop {
            match event(&mut bob_phone).await? {
                Event::Message { kind, .. } => kinds.push(kind),
                Event::Synced { .. } => break,
                _ => {}
            }
        }
        assert_eq!(
            kinds,
            vec![MessageKind::System],
            "only the timer announcement stays"
        );
        let bad = call_raw(
            &mut ada_phone,
            ada.user_id,
            "conversation.timer",
            json!({"to": {"user": bob.user_id}, "secs": -1}),
        )
        .await?;
        assert_eq!(bad.map_err(|(code, _)| code), Err("bad_params".to_owned()));
        app.stop().await
    }
);

scenario!(
    account_operations_work_over_the_same_mqtt_connection,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let people = users(&app, 2).await?;
        let (ada, bob) = (&people[0], &people[1]);
        let mut ada_phone = device(&app, ada).await?;
        let mut bob_phone = device(&app, bob).await?;

        let profile = call(
            &mut ada_phone,
            ada.user_id,
            "profile.update",
            json!({"display_name": "Ada", "about": "climbing", "last_seen_privacy": "nobody"}),
        )
        .await?;
        assert_eq!(
            (
                profile["display_name"].as_str(),
                profile["last_seen_privacy"].as_str()
            ),
            (Some("Ada"), Some("nobody"))
        );
        let too_long = call_raw(
            &mut ada_phone,
            ada.user_id,
            "profile.update",
            json!({"about": "x".repeat(500)}),
        )
        .await?;
        assert_eq!(
            too_long.map_err(|(code, _)| code),
            Err("invalid_about".to_owned())
        );

        let synced = call(
            &mut bob_phone,
            bob.user_id,
            "contacts.sync",
            json!({"add": ["+1 555 123 0001", "not a number"]}),
        )
        .await?;
        assert_eq!(synced["matches"][0]["user"]["user_id"], ada.user_id);
        assert_eq!(synced["matches"][0]["user"]["display_name"], "Ada");
        assert_eq!(synced["invalid"].as_array().map(Vec::len), Some(1));
        let seen = call(
            &mut bob_phone,
            bob.user_id,
            "users.get",
            json!({"user": ada.user_id}),
        )
        .await?;
        assert_eq!(
            seen["last_seen_at"],
            Value::Null,
            "ada hides her last seen from everyone"
        );

        // Ada blocks Bob: his messages no longer reach her.
        call(
            &mut ada_phone,
            ada.user_id,
            "blocks.add",
            json!({"user": bob.user_id}),
        )
        .await?;
        let blocked = call(&mut ada_phone, ada.user_id, "blocks.list", json!({})).await?;
        assert!(
            blocked.to_string().contains(&bob.user_id.to_string()),
            "{blocked}"
        );
        request(
            &bob_phone,
            bob.user_id,
            &send("b1", Target::User(ada.user_id), "hello?"),
        )
        .await?;
        loop {
            if let Event::Sent { id, .. } = event(&mut bob_phone).await? {
                assert_eq!(id, "b1");
                break;
            }
        }
        call(
            &mut ada_phone,
            ada.user_id,
            "blocks.remove",
            json!({"user": bob.user_id}),
        )
        .await?;
        request(
            &bob_phone,
            bob.user_id,
            &send("b2", Target::User(ada.user_id), "now?"),
        )
        .await?;
        let Event::Message { body, .. } = next_of_kind(&mut ada_phone, MessageKind::Text).await?
        else {
            anyhow::bail!("expected a message")
        };
        assert_eq!(
            body.0, b"now?",
            "the message sent while blocked never arrives"
        );

        // Presence over the same connection: Bob has Ada in his contacts, Ada hides hers.
        let seen = call(
            &mut ada_phone,
            ada.user_id,
            "presence.query",
            json!({"users": [bob.user_id]}),
        )
        .await?;
        assert_eq!(seen["users"][0]["state"], "online", "{seen}");
        let hidden = call(
            &mut bob_phone,
            bob.user_id,
            "presence.query",
            json!({"users": [ada.user_id]}),
        )
        .await?;
        assert_eq!(hidden["users"][0]["state"], "hidden", "{hidden}");

        let devices = call(&mut ada_phone, ada.user_id, "devices.list", json!({})).await?;
        assert!(
            devices.to_string().contains(&ada.device_id.to_string()),
            "{devices}"
        );
        let unknown = call_raw(
            &mut ada_phone,
            ada.user_id,
            "users.get",
            json!({"user": 999_999}),
        )
        .await?;
        assert_eq!(
            unknown.map_err(|(code, _)| code),
            Err("not_found".to_owned())
        );
        app.stop().await
    }
);
