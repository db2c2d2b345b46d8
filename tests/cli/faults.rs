//! The real binary with its PostgreSQL connection black-holed by a proxy (connections open
//! and silent, as in a partition): SIGTERM still ends it within `shutdown.grace_ms`, with
//! requests stuck on the database in flight. Needs PostgreSQL: `NATTER_TEST_POSTGRES_URL`,
//! else what `.ci/run` provides; one that does not answer fails the test.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use natter_client::{Client, Event, Options, Target};

use crate::durability::{Server, drop_postgres_database, fresh_postgres_database};
use crate::proxy::Proxy;

const CI_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const GRACE: Duration = Duration::from_millis(3000);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_within_the_grace_period_while_the_database_is_black_holed()
-> anyhow::Result<()> {
    let server_url = std::env::var("NATTER_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| CI_POSTGRES.to_owned());
    let database = fresh_postgres_database(&server_url).await?;
    let dir = tempfile::tempdir()?;
    let outcome = run(dir.path(), &database).await;
    drop_postgres_database(&server_url, &database).await?;
    outcome
}

async fn run(dir: &std::path::Path, database: &str) -> anyhow::Result<()> {
    let (scheme, rest) = database.split_once("://").context("not a URL")?;
    let (authority, name) = rest.split_once('/').context("no database name")?;
    let (user, host) = authority.rsplit_once('@').unwrap_or(("", authority));
    let proxy = Proxy::start(host).await?;
    let at = if user.is_empty() { "" } else { "@" };
    let proxied = format!("{scheme}://{user}{at}{}/{name}", proxy.addr());

    let mut server = Server::new(dir, Some(&proxied));
    server.env = vec![
        ("NATTER__SHUTDOWN__GRACE_MS", GRACE.as_millis().to_string()),
        ("NATTER__DATABASE__STATEMENT_TIMEOUT_MS", "2000".to_owned()),
        ("NATTER__DATABASE__ACQUIRE_TIMEOUT_MS", "1000".to_owned()),
    ];
    server.migrate().await?;
    let ada = server.create_user("+15551230001").await?;
    let bob = server.create_user("+15551230002").await?;
    server.start().await?;
    let (sender, mut events) = Client::connect(&server.mqtt, ada, Options::default()).await?;
    let to = Target::User(bob.user_id);
    sender.send(to, b"before".to_vec(), None)?;
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = events.next().await {
            if matches!(event, Event::Sent { .. }) {
                return;
            }
        }
    })
    .await
    .context("the first message was not sent")?;

    // Requests go to the database and hang there; then SIGTERM.
    proxy.black_hole();
    for n in 0..5 {
        sender.send(to, format!("stuck {n}").into_bytes(), None)?;
    }
    // Until they reach the database's connection and hang there.
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy.held_bytes() == 0 {
        ensure!(Instant::now() < deadline, "no request reached the database");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut child = server.child.take().context("the server is not running")?;
    let pid = child.id().context("no pid")?;
    let started = Instant::now();
    let status = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await?;
    ensure!(status.success(), "kill -TERM failed");
    let limit = GRACE + Duration::from_millis(1500);
    let exited = tokio::time::timeout(limit + Duration::from_secs(10), child.wait()).await;
    let took = started.elapsed();
    let log = server.log_tail();
    let status =
        exited.with_context(|| format!("still running {took:?} after SIGTERM; log:\n{log}"))??;
    ensure!(
        took <= limit,
        "SIGTERM took {took:?} (grace {GRACE:?}); log:\n{log}"
    );
    ensure!(
        status.success(),
        "exit {status} after SIGTERM ({took:?}); log:\n{log}"
    );
    println!("stopped {took:?} after SIGTERM with the database black-holed");
    Ok(())
}
