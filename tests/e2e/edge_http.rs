//! Refusals as docs/API.md and docs/PROTOCOL.md describe them (issue #13): one-time codes are
//! limited per client address and per block of numbers, an image too large in pixels is 413,
//! a negative upload offset is 400, a small image is its own thumbnail, and a request with
//! fields this server does not know is served.

use std::time::Duration;

use image::codecs::png::PngEncoder;
use image::{DynamicImage, Rgb, RgbImage};
use natter_tests::{TestApp, scenario, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use serde_json::{Value, json};

use crate::media::{answer, as_device, describe, fetch, id_of, phone, upload};

/// `(status, error code, Retry-After)` of `POST /v1/register` for `number`.
async fn register(
    app: &TestApp,
    number: &str,
) -> anyhow::Result<(StatusCode, Option<String>, Option<u64>)> {
    let response = app
        .http
        .post(app.url("/v1/register"))
        .json(&json!({ "phone": number }))
        .send()
        .await?;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    let (status, body) = answer(response).await?;
    let code = body["error"]["code"].as_str().map(str::to_owned);
    Ok((status, code, retry_after))
}

scenario!(
    code_requests_are_limited_per_client_address_and_per_block_of_numbers,
    |services| {
        let app = spawn_app_with(&services, |settings| {
            settings.accounts.code_hourly_limit_per_ip = 5;
            settings.accounts.code_hourly_limit_per_prefix = 3;
        })
        .await?;
        app.wait_healthy().await?;

        // One block of 1,000 numbers (+1555127 0xxx): three codes, then refused.
        for number in ["+15551270101", "+15551270102", "+15551270103"] {
            let (status, code, _) = register(&app, number).await?;
            assert_eq!(status, StatusCode::ACCEPTED, "{number}: {code:?}");
        }
        let (status, code, retry_after) = register(&app, "+15551270104").await?;
        assert_eq!(
            (status, code.as_deref()),
            (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
        );
        assert!(
            retry_after.is_some_and(|secs| (1..=3600).contains(&secs)),
            "Retry-After {retry_after:?}"
        );

        // Another block is fine until this client address has had its five requests.
        let (status, code, _) = register(&app, "+15551271201").await?;
        assert_eq!(status, StatusCode::ACCEPTED, "{code:?}");
        let (status, code, retry_after) = register(&app, "+15551272301").await?;
        assert_eq!(
            (status, code.as_deref()),
            (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
        );
        assert!(retry_after.is_some(), "no Retry-After");
        app.stop().await
    }
);

/// CRC-32 (IEEE) of `bytes`, for hand-built PNG chunks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header says `width`×`height` (its pixel data is a stub: it is never decoded).
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        png.extend_from_slice(&u32::try_from(data.len()).unwrap_or(0).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        png.extend_from_slice(&body);
        png.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut png, b"IHDR", &header);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

scenario!(media_refusals_match_the_docs, |services| {
    let app = spawn_app(&services).await?;
    app.wait_healthy().await?;
    let ada = app.create_user("+15551280001").await?;

    // 20,000 × 20,000 is over the pixel limit: 413, as documented (it was 400).
    let refused = upload(&app, &ada, "kind=image", png_header_only(20_000, 20_000)).await?;
    assert_eq!(
        (refused.0, refused.1["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large")),
        "{}",
        refused.1
    );

    // A negative offset is malformed (400 invalid_offset), not elsewhere in the upload (409).
    let response = as_device(&app, reqwest::Method::POST, "/v1/media/uploads", &ada)
        .json(&json!({"size": 1000, "kind": "file"}))
        .send()
        .await?;
    let (status, started) = answer(response).await?;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let upload_id = started["upload_id"].as_str().unwrap_or_default().to_owned();
    let response = as_device(
        &app,
        reqwest::Method::PUT,
        &format!("/v1/media/uploads/{upload_id}"),
        &ada,
    )
    .header("upload-offset", "-5")
    .body(vec![1u8; 10])
    .send()
    .await?;
    let (status, body) = answer(response).await?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_offset")),
        "{body}"
    );

    // A small image's thumbnail is never larger than the image.
    for (width, height) in [(1, 1), (16, 12), (40, 40)] {
        let image = RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 5) as u8, (y * 7) as u8, 90])
        });
        let mut png = Vec::new();
        DynamicImage::ImageRgb8(image).write_with_encoder(PngEncoder::new(&mut png))?;
        let (status, body) = upload(&app, &ada, "kind=image", png).await?;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, view) = describe(&app, &ada, id_of(&body)?).await?;
        assert_eq!(status, StatusCode::OK, "{view}");
        let (status, stored) = fetch(&app, view["url"].as_str().unwrap_or_default()).await?;
        assert_eq!(status, StatusCode::OK);
        let thumbnail_url = view["thumbnail_url"].as_str().unwrap_or_default();
        let (status, thumbnail) = fetch(&app, thumbnail_url).await?;
        assert_eq!(status, StatusCode::OK);
        assert!(
            thumbnail.len() <= stored.len(),
            "{width}x{height}: thumbnail of {} bytes, image of {} bytes",
            thumbnail.len(),
            stored.len()
        );
    }
    app.stop().await
});

scenario!(
    requests_with_fields_this_server_does_not_know_are_served,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551280101").await?;
        let bob = app.create_user("+15551280102").await?;
        let mut client = phone(&app, &ada).await?;

        // A client written for a newer server adds fields; this server ignores them.
        let request = json!({
            "type": "send",
            "id": "future-1",
            "to": {"user": bob.user_id},
            "body": "aGk=",
            "expires_in_secs": 60,
            "formatting": {"bold": [0, 2]},
        });
        client
            .client
            .publish(
                format!("u/{}/out", ada.user_id),
                QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&request)?,
            )
            .await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let answer = loop {
            let payload = tokio::time::timeout_at(
                deadline,
                client.wait(|packet| match packet {
                    Packet::Publish(publish) => Some(publish.payload.clone()),
                    _ => None,
                }),
            )
            .await??;
            let event: Value = serde_json::from_slice(&payload)?;
            if event["id"] == "future-1" {
                break event;
            }
        };
        assert_eq!(answer["type"], "sent", "{answer}");
        app.stop().await
    }
);
