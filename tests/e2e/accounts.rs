//! Accounts over HTTP: registration with one-time codes, devices, profiles and privacy,
//! contact discovery, blocking and account deletion, through the documented `/v1` API.

use natter_tests::mqtt::{ClientV5, Login, connect_v5};
use natter_tests::{TestApp, scenario, spawn_app, spawn_app_with};
use reqwest::{Response, StatusCode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Packet};
use serde_json::{Value, json};

/// The credentials `POST /v1/verify` hands out.
#[derive(Clone, Debug)]
struct Device {
    user_id: i64,
    device_id: i64,
    login: Login,
}

/// `POST /v1/register` for `phone`.
async fn register(app: &TestApp, phone: &str) -> anyhow::Result<Response> {
    Ok(app
        .http
        .post(app.url("/v1/register"))
        .json(&json!({ "phone": phone }))
        .send()
        .await?)
}

/// The last code the development sender wrote for `phone`.
fn last_code(app: &TestApp, phone: &str) -> anyhow::Result<String> {
    let outbox = std::fs::read_to_string(app.settings.data_dir.join("sms-outbox.log"))?;
    outbox
        .lines()
        .rev()
        .filter_map(|line| line.split_once(' '))
        .find(|(to, _)| *to == phone)
        .map(|(_, code)| code.to_owned())
        .ok_or_else(|| anyhow::anyhow!("no code was sent to {phone}"))
}

/// `POST /v1/verify`.
async fn verify(
    app: &TestApp,
    phone: &str,
    code: &str,
    platform: &str,
) -> anyhow::Result<Response> {
    Ok(app
        .http
        .post(app.url("/v1/verify"))
        .json(&json!({
            "phone": phone,
            "code": code,
            "device_name": format!("{platform} of {phone}"),
            "platform": platform,
        }))
        .send()
        .await?)
}

/// Registers `phone` with the code from the outbox and returns the new device.
async fn sign_up(app: &TestApp, phone: &str, platform: &str) -> anyhow::Result<Device> {
    let requested = register(app, phone).await?;
    anyhow::ensure!(
        requested.status() == StatusCode::ACCEPTED,
        "register: {}",
        requested.text().await?
    );
    let verified = verify(app, phone, &last_code(app, phone)?, platform).await?;
    anyhow::ensure!(
        verified.status() == StatusCode::CREATED,
        "verify: {}",
        verified.text().await?
    );
    device_from(&verified.json().await?)
}

fn device_from(body: &Value) -> anyhow::Result<Device> {
    let field = |name: &str| {
        body.get(name)
            .ok_or_else(|| anyhow::anyhow!("no {name} in {body}"))
    };
    Ok(Device {
        user_id: field("user_id")?.as_i64().unwrap_or_default(),
        device_id: field("device_id")?.as_i64().unwrap_or_default(),
        login: Login {
            username: field("mqtt_username")?
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            password: field("mqtt_password")?
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        },
    })
}

/// An authenticated request as `device`.
fn call(
    app: &TestApp,
    device: &Device,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    app.http
        .request(method, app.url(path))
        .basic_auth(&device.login.username, Some(&device.login.password))
}

async fn get_json(app: &TestApp, device: &Device, path: &str) -> anyhow::Result<Value> {
    let response = call(app, device, reqwest::Method::GET, path).send().await?;
    anyhow::ensure!(
        response.status() == StatusCode::OK,
        "GET {path}: {}",
        response.status()
    );
    Ok(response.json().await?)
}

async fn patch_profile(app: &TestApp, device: &Device, body: Value) -> anyhow::Result<Response> {
    Ok(call(app, device, reqwest::Method::PATCH, "/v1/profile")
        .json(&body)
        .send()
        .await?)
}

async fn sync_contacts(app: &TestApp, device: &Device, body: Value) -> anyhow::Result<Response> {
    Ok(
        call(app, device, reqwest::Method::POST, "/v1/contacts/sync")
            .json(&body)
            .send()
            .await?,
    )
}

/// Asserts that `response` is the `/v1` error `code` with `status`; returns the body.
async fn assert_error(response: Response, status: StatusCode, code: &str) -> anyhow::Result<Value> {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await?;
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{body}"
    );
    Ok(body)
}

/// Connects `device` over MQTT 5 and waits for a successful CONNACK.
async fn connect(app: &TestApp, device: &Device) -> anyhow::Result<ClientV5> {
    let mut client = connect_v5(app.mqtt_addr(), &device.login);
    let code = client
        .wait(|packet| match packet {
            Packet::ConnAck(ack) => Some(ack.code),
            _ => None,
        })
        .await?;
    assert_eq!(code, ConnectReturnCode::Success);
    Ok(client)
}

/// Subscribes `client` to `topic` and waits for the SUBACK.
async fn subscribe(client: &mut ClientV5, topic: String) -> anyhow::Result<()> {
    client.client.subscribe(topic, QoS::AtLeastOnce).await?;
    client
        .wait(|p| matches!(p, Packet::SubAck(_)).then_some(()))
        .await
}

/// Publishes `request` as JSON on the outbox of `user_id`.
async fn publish(client: &ClientV5, user_id: i64, request: &Value) -> anyhow::Result<()> {
    client
        .client
        .publish(
            format!("u/{user_id}/out"),
            QoS::AtLeastOnce,
            false,
            serde_json::to_vec(request)?,
        )
        .await?;
    Ok(())
}

/// The next messaging event `client` receives.
async fn next_event(client: &mut ClientV5) -> anyhow::Result<Value> {
    let payload = client
        .wait(|p| match p {
            Packet::Publish(publish) => Some(publish.payload.clone()),
            _ => None,
        })
        .await?;
    Ok(serde_json::from_slice(&payload)?)
}

scenario!(
    a_new_user_registers_connects_edits_its_profile_finds_contacts_and_blocks_one,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let bob = sign_up(&app, "+15551230002", "ios").await?;

        let requested = register(&app, "+1 (555) 123-0001").await?;
        assert_eq!(requested.status(), StatusCode::ACCEPTED);
        let sent: Value = requested.json().await?;
        assert_eq!(sent["phone"], "+15551230001");
        assert_eq!(sent["expires_in_secs"], 300);
        let code = last_code(&app, "+15551230001")?;
        assert_eq!(code.len(), 6);
        let verified = verify(&app, "+15551230001", &code, "android").await?;
        assert_eq!(verified.status(), StatusCode::CREATED);
        let body: Value = verified.json().await?;
        assert_eq!(
            (&body["new_account"], &body["primary"]),
            (&json!(true), &json!(true))
        );
        let ada = device_from(&body)?;
        assert_eq!(ada.login.username, format!("d{}", ada.device_id));

        // The credentials work on the broker.
        let mut phone = connect(&app, &ada).await?;
        phone
            .client
            .subscribe(format!("u/{}/inbox", ada.user_id), QoS::AtLeastOnce)
            .await?;
        phone
            .wait(|p| matches!(p, Packet::SubAck(_)).then_some(()))
            .await?;

        let updated = patch_profile(
            &app,
            &ada,
            json!({"display_name": "Ada Lovelace", "about": "Analytical engines", "last_seen_privacy": "everyone"}),
        )
        .await?;
        assert_eq!(updated.status(), StatusCode::OK);
        let profile = get_json(&app, &ada, "/v1/profile").await?;
        assert_eq!(profile["display_name"], "Ada Lovelace");
        assert_eq!(profile["about"], "Analytical engines");
        assert_eq!(profile["phone"], "+15551230001");
        assert_eq!(profile["last_seen_privacy"], "everyone");
        assert_eq!(profile["photo_privacy"], "contacts");

        let synced = sync_contacts(
            &app,
            &ada,
            json!({"add": ["+1 555 123 0002", "+15551239999", "12345"]}),
        )
        .await?;
        assert_eq!(synced.status(), StatusCode::OK);
        let synced: Value = synced.json().await?;
        assert_eq!(synced["added"], 2);
        assert_eq!(synced["matches"].as_array().map(Vec::len), Some(1));
        assert_eq!(synced["matches"][0]["phone"], "+15551230002");
        assert_eq!(synced["matches"][0]["user"]["user_id"], bob.user_id);
        assert_eq!(synced["invalid"][0]["input"], "12345");
        let contacts = get_json(&app, &ada, "/v1/contacts").await?;
        assert_eq!(contacts["contacts"].as_array().map(Vec::len), Some(2));

        let blocked = call(
            &app,
            &ada,
            reqwest::Method::PUT,
            &format!("/v1/blocks/{}", bob.user_id),
        )
        .send()
        .await?;
        assert_eq!(blocked.status(), StatusCode::NO_CONTENT);
        let blocks = get_json(&app, &ada, "/v1/blocks").await?;
        assert_eq!(blocks["blocked"][0]["user_id"], bob.user_id);

        // Bob's message while blocked is "sent" for him and never reaches Ada's inbox.
        let mut bob_phone = connect(&app, &bob).await?;
        subscribe(&mut bob_phone, format!("u/{}/inbox", bob.user_id)).await?;
        let hello = |id: &str| json!({"type": "send", "id": id, "to": {"user": ada.user_id}, "body": "aGk="});
        publish(&bob_phone, bob.user_id, &hello("b1")).await?;
        assert_eq!(next_event(&mut bob_phone).await?["type"], "sent");
        subscribe(
            &mut phone,
            format!("u/{}/reply/{}", ada.user_id, ada.device_id),
        )
        .await?;
        publish(&phone, ada.user_id, &json!({"type": "sync", "after": 0})).await?;
        let synced = next_event(&mut phone).await?;
        assert_eq!(
            (&synced["type"], &synced["upto"]),
            (&json!("synced"), &json!(0))
        );
        let unblocked = call(
            &app,
            &ada,
            reqwest::Method::DELETE,
            &format!("/v1/blocks/{}", bob.user_id),
        )
        .send()
        .await?;
        assert_eq!(unblocked.status(), StatusCode::NO_CONTENT);
        let blocks = get_json(&app, &ada, "/v1/blocks").await?;
        assert_eq!(blocks["blocked"], json!([]));
        publish(&bob_phone, bob.user_id, &hello("b2")).await?;
        let message = next_event(&mut phone).await?;
        assert_eq!(
            (&message["type"], &message["from"]),
            (&json!("message"), &json!(bob.user_id))
        );
        app.stop().await
    }
);

scenario!(wrong_expired_and_reused_codes_are_refused, |services| {
    let app = spawn_app_with(&services, |settings| {
        settings.accounts.code_resend_cooldown_secs = 0;
        settings.accounts.code_daily_limit = 2;
    })
    .await?;
    let phone = "+15551230001";
    assert_error(
        verify(&app, phone, "123456", "android").await?,
        StatusCode::FORBIDDEN,
        "code_invalid",
    )
    .await?;

    register(&app, phone).await?;
    let code = last_code(&app, phone)?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let body = assert_error(
        verify(&app, phone, wrong, "android").await?,
        StatusCode::FORBIDDEN,
        "code_invalid",
    )
    .await?;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("4 attempt")),
        "{body}"
    );
    assert_eq!(
        verify(&app, phone, &code, "android").await?.status(),
        StatusCode::CREATED
    );
    assert_error(
        verify(&app, phone, &code, "android").await?,
        StatusCode::FORBIDDEN,
        "code_invalid",
    )
    .await?;

    // A new code whose time has passed (moved into the past in the database, no waiting).
    register(&app, phone).await?;
    let code = last_code(&app, phone)?;
    let db = app.db().await?;
    {
        use natter_entities::otp_codes;
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        otp_codes::Entity::update_many()
            .col_expr(otp_codes::Column::ExpiresAt, Expr::value(1_i64))
            .filter(otp_codes::Column::Phone.eq(phone))
            .exec(&db)
            .await?;
    }
    db.close().await?;
    assert_error(
        verify(&app, phone, &code, "android").await?,
        StatusCode::FORBIDDEN,
        "code_expired",
    )
    .await?;

    // Two codes a day for this number, then a wait until tomorrow (UTC).
    let third = register(&app, phone).await?;
    assert!(third.headers().contains_key(reqwest::header::RETRY_AFTER));
    assert_error(third, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await?;
    assert_eq!(
        register(&app, "+15551230002").await?.status(),
        StatusCode::ACCEPTED
    );
    app.stop().await
});

scenario!(
    codes_lock_after_the_attempt_limit_and_resends_wait_for_the_cooldown,
    |services| {
        let app = spawn_app_with(&services, |settings| {
            settings.accounts.code_max_attempts = 3;
        })
        .await?;
        let phone = "+15551230001";
        register(&app, phone).await?;
        let code = last_code(&app, phone)?;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..3 {
            assert_error(
                verify(&app, phone, wrong, "android").await?,
                StatusCode::FORBIDDEN,
                "code_invalid",
            )
            .await?;
        }
        // Even the right code no longer counts.
        assert_error(
            verify(&app, phone, &code, "android").await?,
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
        )
        .await?;

        let again = register(&app, phone).await?;
        let retry_after = again
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        assert!(retry_after.is_some_and(|secs| (1..=60).contains(&secs)));
        assert_error(again, StatusCode::TOO_MANY_REQUESTS, "resend_too_soon").await?;
        app.stop().await
    }
);

scenario!(
    a_verification_does_not_reset_the_resend_cooldown,
    |services| {
        let app = spawn_app(&services).await?;
        let phone = "+15551230001";
        sign_up(&app, phone, "android").await?;
        // At once a second code for the same number: the cooldown still runs.
        assert_error(
            register(&app, phone).await?,
            StatusCode::TOO_MANY_REQUESTS,
            "resend_too_soon",
        )
        .await?;
        app.stop().await
    }
);

scenario!(malformed_requests_get_clear_errors, |services| {
    let app = spawn_app(&services).await?;
    for phone in ["5551230001", "+1 555", "+999 1234567", "call me"] {
        assert_error(
            register(&app, phone).await?,
            StatusCode::BAD_REQUEST,
            "invalid_phone",
        )
        .await?;
    }
    let missing = app
        .http
        .post(app.url("/v1/verify"))
        .json(&json!({"phone": "+15551230001"}))
        .send()
        .await?;
    assert_error(missing, StatusCode::BAD_REQUEST, "invalid_body").await?;
    register(&app, "+15551230001").await?;
    let code = last_code(&app, "+15551230001")?;
    assert_error(
        verify(&app, "+15551230001", &code, "toaster").await?,
        StatusCode::BAD_REQUEST,
        "invalid_platform",
    )
    .await?;

    let anonymous = app.http.get(app.url("/v1/profile")).send().await?;
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await?;
    let ada = sign_up(&app, "+15551230002", "android").await?;
    assert_error(
        call(&app, &ada, reqwest::Method::GET, "/v1/users/not-a-number")
            .send()
            .await?,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await?;
    assert_error(
        call(&app, &ada, reqwest::Method::GET, "/v1/users/999999")
            .send()
            .await?,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await?;
    assert_error(
        call(
            &app,
            &ada,
            reqwest::Method::PUT,
            &format!("/v1/blocks/{}", ada.user_id),
        )
        .send()
        .await?,
        StatusCode::BAD_REQUEST,
        "cannot_block_self",
    )
    .await?;
    app.stop().await
});

scenario!(
    the_device_limit_caps_companions_and_only_the_phone_signs_others_out,
    |services| {
        let app = spawn_app_with(&services, |settings| {
            settings.accounts.max_devices = 2;
            settings.accounts.code_resend_cooldown_secs = 0;
        })
        .await?;
        let phone = "+15551230001";
        let primary = sign_up(&app, phone, "android").await?;
        let laptop = sign_up(&app, phone, "desktop").await?;
        assert_eq!(laptop.user_id, primary.user_id);

        register(&app, phone).await?;
        let code = last_code(&app, phone)?;
        assert_error(
            verify(&app, phone, &code, "web").await?,
            StatusCode::CONFLICT,
            "device_limit",
        )
        .await?;

        let devices = get_json(&app, &laptop, "/v1/devices").await?;
        let listed: Vec<(i64, bool, bool)> = devices["devices"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                (
                    d["device_id"].as_i64().unwrap_or_default(),
                    d["primary"] == true,
                    d["current"] == true,
                )
            })
            .collect();
        assert_eq!(
            listed,
            vec![
                (primary.device_id, true, false),
                (laptop.device_id, false, true)
            ]
        );
        let path = format!("/v1/devices/{}", primary.device_id);
        assert_error(
            call(&app, &laptop, reqwest::Method::DELETE, &path)
                .send()
                .await?,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await?;
        let companion_path = format!("/v1/devices/{}", laptop.device_id);
        let removed = call(&app, &primary, reqwest::Method::DELETE, &companion_path)
            .send()
            .await?;
        assert_eq!(removed.status(), StatusCode::NO_CONTENT);
        let refused = call(&app, &laptop, reqwest::Method::GET, "/v1/profile")
            .send()
            .await?;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

        // The freed slot takes the code that the limit refused.
        assert_eq!(
            verify(&app, phone, &code, "web").await?.status(),
            StatusCode::CREATED
        );
        app.stop().await
    }
);

scenario!(
    registering_on_a_new_phone_signs_the_old_one_out_and_keeps_messages,
    |services| {
        let app = spawn_app_with(&services, |settings| {
            settings.accounts.code_resend_cooldown_secs = 0;
        })
        .await?;
        app.wait_healthy().await?;
        let phone = "+15551230001";
        let old_phone = sign_up(&app, phone, "android").await?;
        let mut old_session = connect(&app, &old_phone).await?;
        let bob = app.create_user("+15551230002").await?;

        // Bob writes while Ada moves to a new phone.
        let mut bob_phone = connect_v5(app.mqtt_addr(), &Login::from(&bob));
        bob_phone
            .client
            .subscribe(format!("u/{}/inbox", bob.user_id), QoS::AtLeastOnce)
            .await?;
        bob_phone
            .wait(|p| matches!(p, Packet::SubAck(_)).then_some(()))
            .await?;
        let send =
            json!({"type": "send", "id": "b1", "to": {"user": old_phone.user_id}, "body": "aGk="});
        bob_phone
            .client
            .publish(
                format!("u/{}/out", bob.user_id),
                QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&send)?,
            )
            .await?;
        bob_phone
            .wait(|p| match p {
                Packet::Publish(publish) => serde_json::from_slice::<Value>(&publish.payload)
                    .ok()
                    .filter(|event| event["type"] == "sent"),
                _ => None,
            })
            .await?;

        let new_phone = sign_up(&app, phone, "ios").await?;
        assert_eq!(new_phone.user_id, old_phone.user_id);
        assert_ne!(new_phone.device_id, old_phone.device_id);

        // The old phone is signed out: its session is dropped and its credentials refused.
        let ended = loop {
            if let Err(err) = old_session.next().await {
                break err;
            }
        };
        assert!(
            !ended.to_string().starts_with("no packet within"),
            "the old session was not dropped: {ended:#}"
        );
        let refused = call(&app, &old_phone, reqwest::Method::GET, "/v1/profile")
            .send()
            .await?;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let mut again = connect_v5(app.mqtt_addr(), &old_phone.login);
        let refusal = again.next().await.err();
        assert!(
            refusal.as_ref().is_some_and(|err| matches!(
                err.downcast_ref::<rumqttc::v5::ConnectionError>(),
                Some(rumqttc::v5::ConnectionError::ConnectionRefused(_))
            )),
            "{refusal:?}"
        );

        // The new phone resumes the inbox: Bob's message is there.
        let mut session = connect(&app, &new_phone).await?;
        let inbox = format!("u/{}/inbox", new_phone.user_id);
        let reply = format!("u/{}/reply/{}", new_phone.user_id, new_phone.device_id);
        for topic in [inbox, reply] {
            session.client.subscribe(topic, QoS::AtLeastOnce).await?;
            session
                .wait(|p| matches!(p, Packet::SubAck(_)).then_some(()))
                .await?;
        }
        session
            .client
            .publish(
                format!("u/{}/out", new_phone.user_id),
                QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&json!({"type": "sync", "after": 0}))?,
            )
            .await?;
        let body = session
            .wait(|p| match p {
                Packet::Publish(publish) => serde_json::from_slice::<Value>(&publish.payload)
                    .ok()
                    .filter(|event| event["type"] == "message")
                    .map(|event| event["body"].clone()),
                _ => None,
            })
            .await?;
        assert_eq!(body, "aGk=");
        let devices = get_json(&app, &new_phone, "/v1/devices").await?;
        assert_eq!(devices["devices"].as_array().map(Vec::len), Some(1));
        app.stop().await
    }
);

scenario!(
    contacts_follow_later_registration_and_account_deletion,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = sign_up(&app, "+15551230001", "android").await?;
        let synced = sync_contacts(&app, &ada, json!({"add": ["+15551230003"]})).await?;
        let synced: Value = synced.json().await?;
        assert_eq!(synced["matches"], json!([]));

        let carol = sign_up(&app, "+15551230003", "android").await?;
        let contacts = get_json(&app, &ada, "/v1/contacts").await?;
        assert_eq!(contacts["contacts"][0]["user"]["user_id"], carol.user_id);

        let deleted = call(&app, &carol, reqwest::Method::DELETE, "/v1/account")
            .send()
            .await?;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        let contacts = get_json(&app, &ada, "/v1/contacts").await?;
        assert_eq!(contacts["contacts"][0]["phone"], "+15551230003");
        assert_eq!(contacts["contacts"][0]["user"], Value::Null);
        let gone = call(&app, &carol, reqwest::Method::GET, "/v1/profile")
            .send()
            .await?;
        assert_eq!(gone.status(), StatusCode::UNAUTHORIZED);
        assert_error(
            call(
                &app,
                &ada,
                reqwest::Method::GET,
                &format!("/v1/users/{}", carol.user_id),
            )
            .send()
            .await?,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await?;

        // The number is free again: a new, unrelated account.
        let carol_again = sign_up(&app, "+15551230003", "android").await?;
        assert_ne!(carol_again.user_id, carol.user_id);
        let profile = get_json(&app, &carol_again, "/v1/profile").await?;
        assert_eq!(profile["display_name"], "");
        let contacts = get_json(&app, &ada, "/v1/contacts").await?;
        assert_eq!(
            contacts["contacts"][0]["user"]["user_id"],
            carol_again.user_id
        );
        app.stop().await
    }
);

scenario!(
    privacy_settings_and_blocks_decide_who_sees_photo_and_last_seen,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = sign_up(&app, "+15551230001", "android").await?;
        let bob = sign_up(&app, "+15551230002", "android").await?;
        let (photo, bobs_photo) = {
            use natter_entities::{media, users};
            use sea_orm::sea_query::Expr;
            use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
            let db = app.db().await?;
            let mut ids = Vec::new();
            for (owner, key) in [(ada.user_id, "ada.jpg"), (bob.user_id, "bob.jpg")] {
                let row = media::ActiveModel {
                    owner_user_id: Set(owner),
                    sha256: Set("00".repeat(32)),
                    mime: Set("image/jpeg".into()),
                    size_bytes: Set(3),
                    storage_key: Set(format!("{}-{key}", uuid::Uuid::new_v4())),
                    created_at: Set(1),
                    ..Default::default()
                }
                .insert(&db)
                .await?;
                ids.push(row.id);
            }
            users::Entity::update_many()
                .col_expr(
                    users::Column::LastSeenAt,
                    Expr::value(1_700_000_000_000_i64),
                )
                .filter(users::Column::Id.eq(ada.user_id))
                .exec(&db)
                .await?;
            db.close().await?;
            (ids[0], ids[1])
        };

        assert_error(
            patch_profile(&app, &ada, json!({"avatar_media_id": bobs_photo})).await?,
            StatusCode::NOT_FOUND,
            "media_not_found",
        )
        .await?;
        assert_error(
            patch_profile(&app, &ada, json!({"display_name": "x".repeat(26)})).await?,
            StatusCode::BAD_REQUEST,
            "invalid_display_name",
        )
        .await?;
        assert_error(
            patch_profile(&app, &ada, json!({"about": "y".repeat(140)})).await?,
            StatusCode::BAD_REQUEST,
            "invalid_about",
        )
        .await?;
        assert_error(
            patch_profile(&app, &ada, json!({"photo_privacy": "friends"})).await?,
            StatusCode::BAD_REQUEST,
            "invalid_privacy",
        )
        .await?;
        let set = patch_profile(&app, &ada, json!({"avatar_media_id": photo})).await?;
        assert_eq!(set.status(), StatusCode::OK);

        let ada_path = format!("/v1/users/{}", ada.user_id);
        let seen = |profile: &Value| {
            (
                profile["avatar_media_id"].as_i64(),
                profile["last_seen_at"].as_i64(),
            )
        };
        // Default: contacts only, and Bob is not in Ada's address book.
        let profile = get_json(&app, &bob, &ada_path).await?;
        assert_eq!(seen(&profile), (None, None));
        sync_contacts(&app, &ada, json!({"add": ["+15551230002"]})).await?;
        let profile = get_json(&app, &bob, &ada_path).await?;
        assert_eq!(seen(&profile), (Some(photo), Some(1_700_000_000_000)));

        patch_profile(
            &app,
            &ada,
            json!({"photo_privacy": "nobody", "last_seen_privacy": "everyone"}),
        )
        .await?;
        let profile = get_json(&app, &bob, &ada_path).await?;
        assert_eq!(seen(&profile), (None, Some(1_700_000_000_000)));
        // Ada herself always sees her own.
        let own = get_json(&app, &ada, &ada_path).await?;
        assert_eq!(own["avatar_media_id"].as_i64(), Some(photo));

        patch_profile(&app, &ada, json!({"photo_privacy": "everyone"})).await?;
        call(
            &app,
            &ada,
            reqwest::Method::PUT,
            &format!("/v1/blocks/{}", bob.user_id),
        )
        .send()
        .await?;
        let profile = get_json(&app, &bob, &ada_path).await?;
        assert_eq!(seen(&profile), (None, None));
        assert_eq!(profile["display_name"], "");

        let removed = patch_profile(&app, &ada, json!({"avatar_media_id": null})).await?;
        let removed: Value = removed.json().await?;
        assert_eq!(removed["avatar_media_id"], Value::Null);
        app.stop().await
    }
);

scenario!(contact_lookups_are_limited_per_day, |services| {
    let app = spawn_app_with(&services, |settings| {
        settings.accounts.contacts_daily_limit = 3;
    })
    .await?;
    let ada = sign_up(&app, "+15551230001", "android").await?;
    let first = json!({"add": ["+15551230101", "+15551230102", "+15551230103"]});
    assert_eq!(
        sync_contacts(&app, &ada, first.clone()).await?.status(),
        StatusCode::OK
    );
    let refused = sync_contacts(&app, &ada, json!({"add": ["+15551230104"]})).await?;
    assert!(refused.headers().contains_key(reqwest::header::RETRY_AFTER));
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await?;
    // Numbers already in the address book cost nothing.
    assert_eq!(
        sync_contacts(&app, &ada, first).await?.status(),
        StatusCode::OK
    );
    let contacts = get_json(&app, &ada, "/v1/contacts").await?;
    assert_eq!(contacts["contacts"].as_array().map(Vec::len), Some(3));
    let too_many: Vec<String> = (0..5001).map(|n| format!("+1555{n:07}")).collect();
    assert_error(
        sync_contacts(&app, &ada, json!({ "add": too_many })).await?,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_contacts",
    )
    .await?;
    app.stop().await
});

scenario!(
    the_webhook_sender_posts_codes_and_reports_gateway_failures,
    |services| {
        let gateway = fake_gateway::start().await?;
        let url = gateway.url.clone();
        let app = spawn_app_with(&services, |settings| {
            settings.accounts.sms_sender = natter_config::SmsSenderKind::Webhook;
            settings.accounts.sms_webhook_url = Some(url);
            settings.accounts.sms_webhook_token = Some("gateway-token".to_owned().into());
        })
        .await?;
        let requested = register(&app, "+15551230001").await?;
        assert_eq!(requested.status(), StatusCode::ACCEPTED);
        let received = gateway.received().await;
        assert_eq!(received.len(), 1);
        let (authorization, body) = &received[0];
        assert_eq!(authorization.as_deref(), Some("Bearer gateway-token"));
        assert_eq!(body["to"], "+15551230001");
        let text = body["body"].as_str().unwrap_or_default();
        let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
        assert_eq!(
            verify(&app, "+15551230001", &code, "android")
                .await?
                .status(),
            StatusCode::CREATED
        );

        gateway.fail_next();
        assert_error(
            register(&app, "+15551230002").await?,
            StatusCode::BAD_GATEWAY,
            "sms_failed",
        )
        .await?;
        // Nobody got that code, so asking again at once is fine.
        assert_eq!(
            register(&app, "+15551230002").await?.status(),
            StatusCode::ACCEPTED
        );
        app.stop().await
    }
);

/// A fake SMS gateway: records what it is sent, answers 200 (or 500 once when told).
mod fake_gateway {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::Json;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, header};
    use serde_json::Value;
    use tokio::sync::Mutex;

    type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

    pub(super) struct Gateway {
        pub(super) url: String,
        received: Received,
        fail: Arc<AtomicBool>,
        server: tokio::task::JoinHandle<()>,
    }

    impl Gateway {
        pub(super) async fn received(&self) -> Vec<(Option<String>, Value)> {
            self.received.lock().await.clone()
        }

        pub(super) fn fail_next(&self) {
            self.fail.store(true, Ordering::SeqCst);
        }
    }

    impl Drop for Gateway {
        fn drop(&mut self) {
            self.server.abort();
        }
    }

    pub(super) async fn start() -> anyhow::Result<Gateway> {
        let received = Received::default();
        let fail = Arc::new(AtomicBool::new(false));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/send", listener.local_addr()?);
        let router = axum::Router::new()
            .route("/send", axum::routing::post(send))
            .with_state((received.clone(), fail.clone()));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Gateway {
            url,
            received,
            fail,
            server,
        })
    }

    async fn send(
        State((received, fail)): State<(Received, Arc<AtomicBool>)>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> StatusCode {
        if fail.swap(false, Ordering::SeqCst) {
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        received.lock().await.push((authorization, body));
        StatusCode::OK
    }
}
