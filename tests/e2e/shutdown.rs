//! Graceful shutdown of the in-process app.

use std::time::Duration;

use natter_tests::{scenario, spawn_app};

scenario!(
    run_returns_ok_within_the_grace_period_after_cancel,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let grace = app.settings.shutdown.grace();

        // stop() cancels, waits for run_until_stopped and returns its outcome.
        let outcome = tokio::time::timeout(grace, app.stop()).await;

        outcome.map_err(|_| anyhow::anyhow!("app still running after {grace:?}"))?
    }
);

scenario!(http_listener_is_closed_after_shutdown, |services| {
    let app = spawn_app(&services).await?;
    app.wait_healthy().await?;
    let addr = app.http_addr;

    app.stop().await?;

    let connect =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await?;
    assert!(
        connect.is_err(),
        "HTTP still accepts connections after shutdown"
    );
    Ok(())
});
