//! Readiness and metrics over HTTP.

use std::time::Duration;

use natter::app::{App, Role};
use natter_tests::{eventually, scenario, spawn_app, spawn_app_with, test_settings};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
use secrecy::SecretString;

scenario!(healthz_turns_ready_when_every_part_is_up, |services| {
    let app = spawn_app(&services).await?;

    let report = app.wait_healthy().await?;

    assert_eq!(report["status"], "ok");
    for part in ["broker", "database", "bridge"] {
        assert_eq!(report["checks"][part], "ok", "{part} in {report}");
    }
    if services.redis.is_some() {
        assert_eq!(report["checks"]["redis"], "ok", "{report}");
    }
    app.stop().await
});

scenario!(metrics_are_exported_in_prometheus_text_format, |services| {
    let app = spawn_app(&services).await?;
    app.wait_healthy().await?;

    let response = app.http.get(app.url("/metrics")).send().await?;

    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str()?.to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let body = response.text().await?;
    assert!(
        body.contains("# TYPE natter_bridge_connected gauge"),
        "{body}"
    );
    assert!(body.contains("natter_undelivered_dropped_total"), "{body}");
    app.stop().await
});

scenario!(migrations_are_applied_at_start, |services| {
    let app = spawn_app(&services).await?;
    app.wait_healthy().await?;

    let db = natter::db::connect(&app.settings).await?;
    let applied = sea_orm_migration_count(&db).await?;

    assert!(applied >= 1, "expected applied migrations, found {applied}");
    db.close().await?;
    app.stop().await
});

async fn sea_orm_migration_count(db: &sea_orm::DatabaseConnection) -> anyhow::Result<i64> {
    use sea_orm::{ConnectionTrait, Statement};
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM seaql_migrations",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get("", "n")?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_with_a_reason_while_the_bridge_cannot_reach_the_broker()
-> anyhow::Result<()> {
    // A bridge on its own, pointed at a port where no broker listens.
    let data_dir = tempfile::tempdir()?;
    let mut settings = test_settings(data_dir.path().join("data"))?;
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")?;
    settings.bridge.broker_addr = Some(nobody.local_addr()?.to_string());
    drop(nobody);
    settings.mqtt.service_password = Some(SecretString::from("test-service-password"));
    let app = App::build(settings, Role::Bridge).await?;
    let url = format!("http://{}/healthz", app.http_addr());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));

    let response = reqwest::get(&url).await?;

    assert_eq!(response.status(), 503);
    let report: serde_json::Value = response.json().await?;
    assert_eq!(report["status"], "unavailable");
    assert_eq!(report["checks"]["database"], "ok");
    assert_eq!(report["reason"], "bridge: not connected to the broker");
    shutdown.cancel();
    handle.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_reconnects_and_turns_ready_when_a_broker_appears() -> anyhow::Result<()> {
    // Broker and bridge as separate parts, the bridge started first.
    let data_dir = tempfile::tempdir()?;
    let mut settings = test_settings(data_dir.path().join("data"))?;
    let free = std::net::TcpListener::bind("127.0.0.1:0")?;
    let broker_addr = free.local_addr()?;
    drop(free);
    settings.mqtt.internal_listen = broker_addr;
    settings.bridge.broker_addr = Some(broker_addr.to_string());
    settings.mqtt.service_password = Some(SecretString::from("test-service-password"));
    let bridge = App::build(settings.clone(), Role::Bridge).await?;
    let bridge_health = format!("http://{}/healthz", bridge.http_addr());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let bridge_task = tokio::spawn(bridge.run_until_stopped(shutdown.clone()));
    assert_eq!(reqwest::get(&bridge_health).await?.status(), 503);

    let broker = App::build(settings, Role::Broker).await?;
    let broker_task = tokio::spawn(broker.run_until_stopped(shutdown.clone()));

    eventually(Duration::from_secs(10), || async {
        Ok((reqwest::get(&bridge_health).await?.status() == 200).then_some(()))
    })
    .await?;
    shutdown.cancel();
    bridge_task.await??;
    broker_task.await??;
    Ok(())
}

scenario!(
    internal_listener_accepts_only_the_service_user,
    |services| {
        let app = spawn_app_with(&services, |settings| {
            settings.mqtt.service_password = Some(SecretString::from("right-password"));
        })
        .await?;
        let addr = app.settings.mqtt.internal_listen;

        let wrong = first_answer(addr, natter_proto::SERVICE_USERNAME, "wrong-password").await;
        let stranger = first_answer(addr, "mallory", "right-password").await;
        let right = first_answer(addr, natter_proto::SERVICE_USERNAME, "right-password").await;

        assert!(wrong.is_err(), "wrong password got {wrong:?}");
        assert!(stranger.is_err(), "other user got {stranger:?}");
        assert!(
            matches!(right, Ok(Packet::ConnAck(_))),
            "service user got {right:?}"
        );
        app.stop().await
    }
);

/// Connects to `addr` with these credentials and returns the first packet the broker sends,
/// or the connection error.
async fn first_answer(
    addr: std::net::SocketAddr,
    user: &str,
    password: &str,
) -> anyhow::Result<Packet> {
    let client_id = format!("t-{}", uuid::Uuid::new_v4().simple());
    let mut options = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
    options.set_credentials(user, password);
    let (_client, mut eventloop) = AsyncClient::new(options, 10);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await?? {
            Event::Incoming(packet) => return Ok(packet),
            Event::Outgoing(_) => {}
        }
    }
}
