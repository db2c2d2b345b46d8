//! Upload throughput for docs/BENCHMARKS.md: a 64 MiB document through `POST /v1/media` (one
//! streamed request) and through resumable 8 MiB chunks, against the app's object store:
//! local files by default, S3 when `NATTER_TEST_S3_*` is set (`.ci/run -- ...` sets it).
//!
//! `cargo run --release -p natter-tests --example media_throughput`
//! `.ci/run -- cargo run --release -p natter-tests --example media_throughput`

#![allow(missing_docs)]

use std::time::Instant;

use natter_tests::{Services, spawn_app_with};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const SIZE: usize = 64 * 1024 * 1024;
const CHUNK: usize = 8 * 1024 * 1024;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let services = Services::from_env()?;
    let backend = if services.s3.is_some() { "s3" } else { "local" };
    let app = spawn_app_with(&services, |settings| {
        settings.media.file_max_bytes = 1 << 30;
        settings.media.quota_bytes = 1 << 40;
    })
    .await?;
    app.wait_healthy().await?;
    let ada = app.create_user("+15551270001").await?;
    let auth = |request: reqwest::RequestBuilder| {
        request.basic_auth(&ada.mqtt_username, Some(ada.mqtt_password.expose_secret()))
    };
    let mut state = 0x2545_F491u32;
    let mut file = b"%PDF-1.7\n".to_vec();
    file.extend((file.len()..SIZE).map(|_| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state >> 24) as u8
    }));

    let started = Instant::now();
    let response = auth(app.http.post(app.url("/v1/media?kind=file")))
        .body(file.clone())
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "upload: {}",
        response.status()
    );
    let single = started.elapsed().as_secs_f64();

    // A different file (no dedupe): flip the last byte.
    if let Some(last) = file.last_mut() {
        *last ^= 0xFF;
    }
    let started = Instant::now();
    let response = auth(app.http.post(app.url("/v1/media/uploads")))
        .json(&json!({"size": file.len(), "kind": "file"}))
        .send()
        .await?;
    let session: Value = response.json().await?;
    let upload_id = session["upload_id"].as_str().unwrap_or_default().to_owned();
    for (index, chunk) in file.chunks(CHUNK).enumerate() {
        let response = auth(
            app.http
                .put(app.url(&format!("/v1/media/uploads/{upload_id}"))),
        )
        .header("upload-offset", (index * CHUNK).to_string())
        .body(chunk.to_vec())
        .send()
        .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "chunk: {}",
            response.status()
        );
    }
    let response = auth(
        app.http
            .post(app.url(&format!("/v1/media/uploads/{upload_id}/complete"))),
    )
    .send()
    .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "complete: {}",
        response.status()
    );
    let chunked = started.elapsed().as_secs_f64();

    let mib = SIZE as f64 / (1024.0 * 1024.0);
    println!("backend: {backend}, file: {mib:.0} MiB");
    println!("single request: {single:.2} s, {:.0} MiB/s", mib / single);
    println!(
        "resumable, {} MiB chunks: {chunked:.2} s, {:.0} MiB/s",
        CHUNK / (1024 * 1024),
        mib / chunked
    );
    app.stop().await
}
