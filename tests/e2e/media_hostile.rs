//! Media uploads that must be refused cleanly, each with its error code and nothing lost:
//! bytes that are not what the client says, truncated images, oversized uploads and images,
//! unknown kinds, missing credentials, bad links and ranges, the quota; and resumable
//! uploads that are resumed, misaligned or completed early.

use natter_tests::{scenario, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;

use crate::media::{answer, as_device, describe, fetch, id_of, jpeg, upload};

/// `(status, error code)` of an answer.
fn refusal(answer: &(StatusCode, serde_json::Value)) -> (StatusCode, Option<&str>) {
    (answer.0, answer.1["error"]["code"].as_str())
}

/// Bytes that sniff as nothing in particular, `len` long.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

scenario!(uploads_are_judged_by_their_bytes_and_limits, |services| {
    let app = spawn_app_with(&services, |settings| {
        settings.media.image_max_bytes = 200_000;
        settings.media.image_max_pixels = 1_000_000;
        settings.media.quota_bytes = 150_000;
    })
    .await?;
    app.wait_healthy().await?;
    let ada = app.create_user("+15551250001").await?;

    // An HTML page that claims to be a PNG.
    let html = b"<html><script>alert(1)</script></html>".repeat(10);
    let response = as_device(&app, reqwest::Method::POST, "/v1/media?kind=image", &ada)
        .header("content-type", "image/png")
        .body(html.clone())
        .send()
        .await?;
    let refused = answer(response).await?;
    assert_eq!(
        refusal(&refused),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_type")),
        "{}",
        refused.1
    );

    // A photo cut short.
    let whole = jpeg(300, 200)?;
    let refused = upload(&app, &ada, "kind=image", whole[..whole.len() / 2].to_vec()).await?;
    assert_eq!(
        refusal(&refused),
        (StatusCode::BAD_REQUEST, Some("invalid_media")),
        "{}",
        refused.1
    );

    // Over the byte limit for images, and over the pixel limit.
    let refused = upload(
        &app,
        &ada,
        "kind=image",
        [jpeg(8, 8)?, noise(250_000, 1)].concat(),
    )
    .await?;
    assert_eq!(
        refusal(&refused),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large")),
        "{}",
        refused.1
    );
    let refused = upload(&app, &ada, "kind=image", jpeg(1200, 1000)?).await?;
    assert_eq!(
        refusal(&refused),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large")),
        "{}",
        refused.1
    );

    // Unknown kind, no credentials.
    let refused = upload(&app, &ada, "kind=executable", jpeg(10, 10)?).await?;
    assert_eq!(
        refusal(&refused),
        (StatusCode::BAD_REQUEST, Some("invalid_kind"))
    );
    let response = app
        .http
        .post(app.url("/v1/media"))
        .body(jpeg(10, 10)?)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A document is stored as sent, typed by its bytes, and deduplicated per user.
    let document = [b"%PDF-1.7\n".to_vec(), noise(100_000, 2)].concat();
    let (status, first) = upload(&app, &ada, "kind=file", document.clone()).await?;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(
        (first["mime"].as_str(), first["deduplicated"].as_bool()),
        (Some("application/pdf"), Some(false))
    );
    let (status, again) = upload(&app, &ada, "", document.clone()).await?;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (id_of(&again)?, again["deduplicated"].as_bool()),
        (id_of(&first)?, Some(true))
    );

    // The quota (150 000 bytes, 100 009 used) refuses a second distinct 100 kB file.
    let refused = upload(&app, &ada, "kind=file", noise(100_000, 3)).await?;
    assert_eq!(
        refusal(&refused),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("quota_exceeded")),
        "{}",
        refused.1
    );

    // Links: a wrong signature, a range past the end. The good download still works.
    let document_id = id_of(&first)?;
    let forged = app.url(&format!(
        "/v1/media/{document_id}/content?variant=original&expires=99999999999&sig=00ff"
    ));
    let (status, _) = fetch(&app, &forged).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, link) = describe(&app, &ada, document_id).await?;
    let url = link["url"].as_str().unwrap_or_default().to_owned();
    let response = app
        .http
        .get(&url)
        .header("range", "bytes=500000-")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let response = app
        .http
        .get(&url)
        .header("range", "bytes=-9")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.bytes().await?.as_ref(),
        &document[document.len() - 9..]
    );
    let (status, stored) = fetch(&app, &url).await?;
    assert_eq!((status, stored == document), (StatusCode::OK, true));

    // A media id that does not exist, or is not a number; a query that is not one.
    let (status, _) = describe(&app, &ada, 987_654_321).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = as_device(&app, reqwest::Method::GET, "/v1/media/photo.jpg", &ada)
        .send()
        .await?;
    assert_eq!(
        refusal(&answer(response).await?),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let refused = upload(&app, &ada, "encrypted=maybe", jpeg(10, 10)?).await?;
    assert_eq!(
        refusal(&refused),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
    let (status, _) = fetch(&app, &app.url(&format!("/v1/media/{document_id}/content"))).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await
});

scenario!(a_large_file_uploads_in_chunks_and_resumes, |services| {
    let app = spawn_app(&services).await?;
    app.wait_healthy().await?;
    let ada = app.create_user("+15551250011").await?;
    let bob = app.create_user("+15551250012").await?;
    let file = [b"%PDF-1.7\n".to_vec(), noise(300_000, 4)].concat();

    let response = as_device(&app, reqwest::Method::POST, "/v1/media/uploads", &ada)
        .json(&json!({"size": file.len(), "kind": "file"}))
        .send()
        .await?;
    let (status, started) = answer(response).await?;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let upload_id = started["upload_id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/v1/media/uploads/{upload_id}");
    let put_chunk = |offset: usize, bytes: Vec<u8>, who| {
        as_device(&app, reqwest::Method::PUT, &path, who)
            .header("upload-offset", offset.to_string())
            .body(bytes)
            .send()
    };

    let (status, progress) = answer(put_chunk(0, file[..100_000].to_vec(), &ada).await?).await?;
    assert_eq!(
        (status, progress["offset"].as_i64()),
        (StatusCode::OK, Some(100_000))
    );
    // A repeated chunk (its answer was lost) is told where to continue.
    let refused = answer(put_chunk(0, file[..100_000].to_vec(), &ada).await?).await?;
    assert_eq!(
        refusal(&refused),
        (StatusCode::CONFLICT, Some("offset_mismatch"))
    );
    // Someone else's upload does not exist for them.
    let refused = answer(put_chunk(100_000, file[100_000..200_000].to_vec(), &bob).await?).await?;
    assert_eq!(
        refusal(&refused),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    // Completing early says how far it got.
    let complete = format!("{path}/complete");
    let response = as_device(&app, reqwest::Method::POST, &complete, &ada)
        .send()
        .await?;
    assert_eq!(
        refusal(&answer(response).await?),
        (StatusCode::CONFLICT, Some("incomplete_upload"))
    );
    // Resume from where the server says.
    let response = as_device(&app, reqwest::Method::GET, &path, &ada)
        .send()
        .await?;
    let (_, status_view) = answer(response).await?;
    let offset = usize::try_from(status_view["offset"].as_i64().unwrap_or(0))?;
    assert_eq!(offset, 100_000);
    // A chunk past the announced size is refused.
    let refused = answer(
        put_chunk(
            offset,
            [file[offset..].to_vec(), vec![0; 10]].concat(),
            &ada,
        )
        .await?,
    )
    .await?;
    assert_eq!(
        refusal(&refused),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large"))
    );
    let (status, _) =
        answer(put_chunk(offset, file[offset..200_000].to_vec(), &ada).await?).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = answer(put_chunk(200_000, file[200_000..].to_vec(), &ada).await?).await?;
    assert_eq!(status, StatusCode::OK);

    let response = as_device(&app, reqwest::Method::POST, &complete, &ada)
        .send()
        .await?;
    let (status, stored) = answer(response).await?;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["size"].as_u64(), Some(file.len() as u64));
    let (_, link) = describe(&app, &ada, id_of(&stored)?).await?;
    let (_, bytes) = fetch(&app, link["url"].as_str().unwrap_or_default()).await?;
    assert!(bytes == file, "the assembled file differs");
    // The upload is finished: it no longer exists.
    let response = as_device(&app, reqwest::Method::GET, &path, &ada)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Uploads are not held to axum's 2 MB default body limit; JSON requests still are.
    let big = [b"%PDF-1.7\n".to_vec(), noise(3 * 1024 * 1024, 5)].concat();
    let (status, body) = upload(&app, &ada, "kind=file", big).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let padding = "x".repeat(3 * 1024 * 1024);
    let response = as_device(&app, reqwest::Method::POST, "/v1/media/uploads", &ada)
        .json(&json!({"size": 10, "padding": padding}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // With S3, the whole file may go straight to the bucket through a presigned PUT.
    let photo = jpeg(640, 480)?;
    let response = as_device(&app, reqwest::Method::POST, "/v1/media/uploads", &ada)
        .json(&json!({"size": photo.len(), "kind": "image"}))
        .send()
        .await?;
    let (_, started) = answer(response).await?;
    match (&services.s3, started["put_url"].as_str()) {
        (Some(_), Some(put_url)) => {
            let response = app.http.put(put_url).body(photo.clone()).send().await?;
            assert!(
                response.status().is_success(),
                "presigned PUT: {}",
                response.status()
            );
            let complete = format!(
                "/v1/media/uploads/{}/complete",
                started["upload_id"].as_str().unwrap_or_default()
            );
            let response = as_device(&app, reqwest::Method::POST, &complete, &ada)
                .send()
                .await?;
            let (status, stored) = answer(response).await?;
            assert_eq!(status, StatusCode::CREATED, "{stored}");
            assert_eq!(
                (stored["mime"].as_str(), stored["width"].as_i64()),
                (Some("image/jpeg"), Some(640))
            );
        }
        (None, None) => {}
        (s3, put_url) => anyhow::bail!("S3 configured: {}, put_url: {put_url:?}", s3.is_some()),
    }
    app.stop().await
});
