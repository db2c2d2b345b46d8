//! `natter admin` against the real binary on the embedded defaults: revocation reaches the
//! running server with no configuration, and a command run against the wrong data directory
//! is refused instead of creating an empty database.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet};

use super::durability::Server;
use super::{assert_one_line_error, natter, output};

/// How soon a revoked device's live session must end.
const CUT_WITHIN: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_device_on_the_defaults_closes_its_live_session_within_a_second()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // No NATTER__MQTT__SERVICE_PASSWORD anywhere: the server and the admin command agree
    // through the data directory.
    let mut server = Server::new(dir.path(), None);
    server.start().await?;
    let login = server.create_user("+15551230001").await?;

    let (host, port) = server.mqtt.rsplit_once(':').context("mqtt address")?;
    let mut options = MqttOptions::new("revoked-phone", host, port.parse()?);
    options.set_credentials(login.username.clone(), login.password.clone());
    options.set_keep_alive(Duration::from_secs(30));
    let (_client, mut eventloop) = AsyncClient::new(options, 10);
    loop {
        if let Event::Incoming(Packet::ConnAck(_)) = eventloop.poll().await? {
            break;
        }
    }

    let (code, stdout, stderr) = output(server.command(&[
        "admin",
        "device",
        "revoke",
        "--device-id",
        &login.device_id.to_string(),
    ]))
    .await?;
    ensure!(code == Some(0), "device revoke failed: {stderr}");
    let revoked: serde_json::Value = serde_json::from_str(stdout.trim())?;
    assert_eq!(revoked["nodes_notified"], true, "{stdout}");

    let asked = Instant::now();
    let ended = tokio::time::timeout(CUT_WITHIN, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the revoked device was still connected {:?} after the command",
        asked.elapsed()
    );
    // And it cannot come back.
    let (host, port) = server.mqtt.rsplit_once(':').context("mqtt address")?;
    let mut options = MqttOptions::new("revoked-again", host, port.parse()?);
    options.set_credentials(login.username, login.password);
    let (_client, mut eventloop) = AsyncClient::new(options, 10);
    assert!(
        !matches!(
            eventloop.poll().await,
            Ok(Event::Incoming(Packet::ConnAck(ack))) if ack.code == rumqttc::ConnectReturnCode::Success
        ),
        "a revoked device connected again"
    );
    Ok(())
}

#[tokio::test]
async fn admin_refuses_a_data_directory_without_a_database_and_names_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let create = || {
        natter(
            dir.path(),
            &["admin", "user", "create", "--phone", "+15551230001"],
        )
    };

    let (code, stdout, stderr) = output(create()).await?;
    assert_one_line_error(code, &stderr, &["natter.db", "natter migrate"]);
    assert!(stdout.is_empty(), "credentials printed: {stdout}");
    assert!(
        !dir.path().join("data").join("natter.db").exists(),
        "an empty database was created"
    );

    let (code, _, stderr) = output(natter(dir.path(), &["migrate"])).await?;
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stdout, stderr) = output(create()).await?;
    assert_eq!(code, Some(0), "{stderr}");
    let created: serde_json::Value = serde_json::from_str(stdout.trim())?;
    let database = created["database"].as_str().unwrap_or_default();
    assert!(
        database.starts_with("sqlite:") && database.ends_with("natter.db?mode=rwc"),
        "the output does not say which database: {stdout}"
    );
    Ok(())
}
