//! Media end to end: a user uploads a photo and a voice note, sends them in messages, the
//! recipient downloads them through signed URLs (with ranges), a third user cannot, the
//! photo's EXIF location is gone and the voice note is Opus. Fixtures are made in code (a
//! JPEG with a hand-built EXIF block carrying GPS, a sine-wave WAV), never committed.
//! Shared helpers for the other `media_*` files live here too.

use std::time::Duration;

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use natter_accounts::Credentials;
use natter_tests::mqtt::{ClientV5, Login, connect_v5};
use natter_tests::{TestApp, scenario, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// Text hidden in the fixture's EXIF (ImageDescription); must not survive processing.
pub(crate) const EXIF_SECRET: &[u8] = b"natter-test-secret-location";

/// `(status, JSON body)` of a response (`Null` when the body is not JSON).
pub(crate) async fn answer(response: reqwest::Response) -> anyhow::Result<(StatusCode, Value)> {
    let status = response.status();
    let bytes = response.bytes().await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// A request to `path` as the device of `who`.
pub(crate) fn as_device(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    who: &Credentials,
) -> reqwest::RequestBuilder {
    app.http
        .request(method, app.url(path))
        .basic_auth(&who.mqtt_username, Some(who.mqtt_password.expose_secret()))
}

/// `POST /v1/media?{query}` with `bytes` as `who`.
pub(crate) async fn upload(
    app: &TestApp,
    who: &Credentials,
    query: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<(StatusCode, Value)> {
    let response = as_device(
        app,
        reqwest::Method::POST,
        &format!("/v1/media?{query}"),
        who,
    )
    .header("content-type", "application/octet-stream")
    .body(bytes)
    .send()
    .await?;
    answer(response).await
}

/// `GET /v1/media/{id}` as `who`.
pub(crate) async fn describe(
    app: &TestApp,
    who: &Credentials,
    media_id: i64,
) -> anyhow::Result<(StatusCode, Value)> {
    let response = as_device(
        app,
        reqwest::Method::GET,
        &format!("/v1/media/{media_id}"),
        who,
    )
    .send()
    .await?;
    answer(response).await
}

/// The bytes behind a signed URL (no credentials: the URL is the permission).
pub(crate) async fn fetch(app: &TestApp, url: &str) -> anyhow::Result<(StatusCode, Vec<u8>)> {
    let response = app.http.get(url).send().await?;
    Ok((response.status(), response.bytes().await?.to_vec()))
}

/// The `id` of an upload answer.
pub(crate) fn id_of(body: &Value) -> anyhow::Result<i64> {
    body["id"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("no media id in {body}"))
}

/// A `width`×`height` JPEG with noise-free gradients.
pub(crate) fn jpeg(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            u8::try_from(x * 255 / width).unwrap_or(0),
            u8::try_from(y * 255 / height).unwrap_or(0),
            128,
        ])
    });
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 90).encode_image(&image)?;
    Ok(bytes)
}

/// A JPEG whose EXIF (an APP1 segment built by hand, big-endian TIFF) holds a GPS position
/// (52°31'12.34" N, 13°24'56.78" E), [`EXIF_SECRET`] as its description and `orientation`.
pub(crate) fn jpeg_with_gps(width: u32, height: u32, orientation: u16) -> anyhow::Result<Vec<u8>> {
    fn entry(tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]) {
        tiff.extend_from_slice(&tag.to_be_bytes());
        tiff.extend_from_slice(&kind.to_be_bytes());
        tiff.extend_from_slice(&count.to_be_bytes());
        tiff.extend_from_slice(&value);
    }
    const ASCII: u16 = 2;
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const RATIONAL: u16 = 5;
    let description_at: u32 = 8 + 2 + 3 * 12 + 4;
    let mut description = EXIF_SECRET.to_vec();
    description.push(0);
    let gps_at = description_at + u32::try_from(description.len())?;
    let latitude_at = gps_at + 2 + 4 * 12 + 4;
    let longitude_at = latitude_at + 24;

    let mut tiff = b"MM\x00\x2a".to_vec();
    tiff.extend_from_slice(&8u32.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    entry(
        &mut tiff,
        0x010E,
        ASCII,
        u32::try_from(description.len())?,
        description_at.to_be_bytes(),
    );
    let [high, low] = orientation.to_be_bytes();
    entry(&mut tiff, 0x0112, SHORT, 1, [high, low, 0, 0]);
    entry(&mut tiff, 0x8825, LONG, 1, gps_at.to_be_bytes());
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(&description);
    tiff.extend_from_slice(&4u16.to_be_bytes());
    entry(&mut tiff, 0x0001, ASCII, 2, *b"N\0\0\0");
    entry(&mut tiff, 0x0002, RATIONAL, 3, latitude_at.to_be_bytes());
    entry(&mut tiff, 0x0003, ASCII, 2, *b"E\0\0\0");
    entry(&mut tiff, 0x0004, RATIONAL, 3, longitude_at.to_be_bytes());
    tiff.extend_from_slice(&0u32.to_be_bytes());
    for (numerator, denominator) in [
        (52u32, 1u32),
        (31, 1),
        (1234, 100),
        (13, 1),
        (24, 1),
        (5678, 100),
    ] {
        tiff.extend_from_slice(&numerator.to_be_bytes());
        tiff.extend_from_slice(&denominator.to_be_bytes());
    }

    let plain = jpeg(width, height)?;
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&u16::try_from(2 + 6 + tiff.len())?.to_be_bytes());
    segment.extend_from_slice(b"Exif\0\0");
    segment.extend_from_slice(&tiff);
    let mut photo = plain[..2].to_vec(); // SOI
    photo.extend_from_slice(&segment);
    photo.extend_from_slice(&plain[2..]);
    Ok(photo)
}

/// One second of a 440 Hz sine, 16 kHz mono 16-bit PCM, as a WAV file.
pub(crate) fn voice_wav() -> Vec<u8> {
    let rate = 16_000u32;
    let samples: Vec<i16> = (0..rate)
        .map(|n| {
            let phase = f64::from(n) * 440.0 * std::f64::consts::TAU / f64::from(rate);
            (phase.sin() * 12_000.0) as i16
        })
        .collect();
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(0);
    let mut wav = b"RIFF".to_vec();
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    wav
}

/// Whether `haystack` contains `needle`.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A device of `who` subscribed to its replies and its user's inbox.
pub(crate) async fn phone(app: &TestApp, who: &Credentials) -> anyhow::Result<ClientV5> {
    let mut client = connect_v5(app.mqtt_addr(), &Login::from(who));
    for topic in [
        format!("u/{}/inbox", who.user_id),
        format!("u/{}/reply/{}", who.user_id, who.device_id),
    ] {
        client.client.subscribe(topic, QoS::AtLeastOnce).await?;
        client
            .wait(|packet| matches!(packet, Packet::SubAck(_)).then_some(()))
            .await?;
    }
    Ok(client)
}

/// Sends a message carrying `media_id` from `sender` to user `to` over MQTT and returns the
/// server's answer to the sender (`sent`, or an error).
pub(crate) async fn send_media(
    client: &mut ClientV5,
    sender: &Credentials,
    to: i64,
    client_id: &str,
    media_id: i64,
) -> anyhow::Result<Value> {
    let request = json!({
        "type": "send",
        "id": client_id,
        "to": {"user": to},
        "body": "aGk=",
        "media": media_id,
    });
    client
        .client
        .publish(
            format!("u/{}/out", sender.user_id),
            QoS::AtLeastOnce,
            false,
            serde_json::to_vec(&request)?,
        )
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let payload = client
            .wait(|packet| match packet {
                Packet::Publish(publish) => Some(publish.payload.clone()),
                _ => None,
            })
            .await?;
        let event: Value = serde_json::from_slice(&payload)?;
        if event["id"] == client_id || tokio::time::Instant::now() > deadline {
            return Ok(event);
        }
    }
}

scenario!(
    a_photo_and_a_voice_note_reach_the_recipient_and_no_one_else,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        anyhow::ensure!(
            natter_media::ffmpeg::is_available("ffmpeg".as_ref()).await,
            "these tests need ffmpeg on the PATH (apt-get install ffmpeg; .ci/run installs it)"
        );
        let ada = app.create_user("+15551240001").await?;
        let bob = app.create_user("+15551240002").await?;
        let eve = app.create_user("+15551240003").await?;

        // Ada's photo: 2400x1200, EXIF says "rotate 90° clockwise" and where it was taken.
        let photo = jpeg_with_gps(2400, 1200, 6)?;
        assert!(contains(&photo, EXIF_SECRET) && contains(&photo, b"Exif\0\0"));
        let (status, photo_view) = upload(&app, &ada, "kind=image", photo).await?;
        assert_eq!(status, StatusCode::CREATED, "{photo_view}");
        assert_eq!(photo_view["mime"], "image/jpeg");
        // Upright (portrait) and fitted into 2048 pixels.
        assert_eq!(
            (photo_view["width"].as_i64(), photo_view["height"].as_i64()),
            (Some(1024), Some(2048))
        );
        assert_eq!(photo_view["thumbnail"], true);
        let photo_id = id_of(&photo_view)?;

        let (status, voice_view) = upload(&app, &ada, "kind=audio", voice_wav()).await?;
        assert_eq!(status, StatusCode::CREATED, "{voice_view}");
        assert_eq!(voice_view["mime"], "audio/ogg");
        assert_eq!(voice_view["kind"], "audio");
        assert_eq!(voice_view["duration_ms"], 1000);
        let voice_id = id_of(&voice_view)?;

        // Not shared yet: Bob may not fetch them.
        let (status, body) = describe(&app, &bob, photo_id).await?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden"))
        );

        let mut ada_phone = phone(&app, &ada).await?;
        for (client_id, media_id) in [("photo-1", photo_id), ("voice-1", voice_id)] {
            let answer = send_media(&mut ada_phone, &ada, bob.user_id, client_id, media_id).await?;
            assert_eq!(answer["type"], "sent", "{answer}");
        }

        // Bob downloads both through signed URLs.
        let (status, photo_link) = describe(&app, &bob, photo_id).await?;
        assert_eq!(status, StatusCode::OK, "{photo_link}");
        let url = photo_link["url"].as_str().unwrap_or_default().to_owned();
        let (status, stored_photo) = fetch(&app, &url).await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&stored_photo[..3], &[0xFF, 0xD8, 0xFF]);
        assert!(!contains(&stored_photo, b"Exif\0\0"), "EXIF survived");
        assert!(
            !contains(&stored_photo, EXIF_SECRET),
            "the EXIF description survived"
        );
        let decoded = image::load_from_memory(&stored_photo)?;
        assert_eq!((decoded.width(), decoded.height()), (1024, 2048));
        let thumbnail_url = photo_link["thumbnail_url"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (status, thumbnail) = fetch(&app, &thumbnail_url).await?;
        assert_eq!(status, StatusCode::OK);
        assert!(
            thumbnail.len() < 8 * 1024,
            "thumbnail of {} bytes",
            thumbnail.len()
        );
        assert_eq!(&thumbnail[..2], &[0xFF, 0xD8]);

        // Range requests on the signed URL.
        let response = app
            .http
            .get(&url)
            .header("range", "bytes=0-9")
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(response.bytes().await?.as_ref(), &stored_photo[..10]);

        let (status, voice_link) = describe(&app, &bob, voice_id).await?;
        assert_eq!(status, StatusCode::OK, "{voice_link}");
        let (status, voice) = fetch(&app, voice_link["url"].as_str().unwrap_or_default()).await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&voice[..4], b"OggS");
        assert!(contains(&voice, b"OpusHead"), "not Opus");
        assert!(
            voice.len() < 16 * 1024,
            "a 1 s voice note of {} bytes",
            voice.len()
        );

        // Eve is in neither conversation.
        for media_id in [photo_id, voice_id] {
            let (status, body) = describe(&app, &eve, media_id).await?;
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("forbidden"))
            );
        }
        app.stop().await
    }
);

scenario!(
    without_ffmpeg_a_voice_note_is_stored_as_uploaded,
    |services| {
        let app = spawn_app_with(&services, |settings| {
            settings.media.ffmpeg_path = "/nonexistent/ffmpeg".into();
        })
        .await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551240031").await?;
        let wav = voice_wav();
        let (status, view) = upload(&app, &ada, "kind=voice", wav.clone()).await?;
        assert_eq!(status, StatusCode::CREATED, "{view}");
        assert_eq!(view["mime"], "audio/x-wav");
        let (_, link) = describe(&app, &ada, id_of(&view)?).await?;
        let (_, stored) = fetch(&app, link["url"].as_str().unwrap_or_default()).await?;
        assert!(stored == wav, "the voice note changed without ffmpeg");
        app.stop().await
    }
);

scenario!(encrypted_media_is_stored_untouched, |services| {
    let app = spawn_app(&services).await?;
    app.wait_healthy().await?;
    let ada = app.create_user("+15551240011").await?;
    // Ciphertext that happens to start like a JPEG must not be "processed".
    let mut ciphertext = vec![0xFF, 0xD8, 0xFF, 0xE0];
    ciphertext.extend((0..20_000u32).map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8));
    let (status, view) =
        upload(&app, &ada, "kind=image&encrypted=true", ciphertext.clone()).await?;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(
        (
            view["mime"].as_str(),
            view["encrypted"].as_bool(),
            view["thumbnail"].as_bool()
        ),
        (Some("application/octet-stream"), Some(true), Some(false))
    );
    let (_, link) = describe(&app, &ada, id_of(&view)?).await?;
    let (status, stored) = fetch(&app, link["url"].as_str().unwrap_or_default()).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored, ciphertext);
    app.stop().await
});

scenario!(
    a_video_is_transcoded_to_h264_with_a_poster_thumbnail,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551240021").await?;
        let dir = tempfile::tempdir()?;
        let source = dir.path().join("clip.mkv");
        // A one-second test pattern in a container and codec natter must convert.
        let made = tokio::process::Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg("testsrc=duration=1:size=640x360:rate=15")
            .args(["-c:v", "mpeg4", "-y"])
            .arg(&source)
            .status()
            .await?;
        anyhow::ensure!(made.success(), "ffmpeg could not make the test clip");
        let (status, view) =
            upload(&app, &ada, "kind=video", tokio::fs::read(&source).await?).await?;
        assert_eq!(status, StatusCode::CREATED, "{view}");
        assert_eq!(
            (view["mime"].as_str(), view["thumbnail"].as_bool()),
            (Some("video/mp4"), Some(true))
        );
        let (_, link) = describe(&app, &ada, id_of(&view)?).await?;
        let (_, video) = fetch(&app, link["url"].as_str().unwrap_or_default()).await?;
        assert_eq!(&video[4..8], b"ftyp");
        assert!(contains(&video, b"avc1"), "not H.264");
        app.stop().await
    }
);
