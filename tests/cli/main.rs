//! The `natter` binary as a user runs it: start-up failures, configuration output, and
//! signals. Each test runs the real binary in a temporary working directory.

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

mod admin;
mod cluster;
mod durability;
mod faults;
mod http_limits;
mod limits;
// The harness's proxy, shared by path (the harness crate depends on this one).
#[allow(unreachable_pub, dead_code)]
#[path = "../src/proxy.rs"]
mod proxy;

const BIN: &str = env!("CARGO_BIN_EXE_natter");

/// A command for the binary in `dir`, with free loopback ports and the `test` settings.
fn natter(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    with_test_environment(command, dir)
}

/// Like [`natter`], run by `sh` with the open-files limit (soft and hard) set to `open_files`.
fn natter_with_open_files(dir: &Path, open_files: u64, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -n {open_files} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args);
    with_test_environment(command, dir)
}

fn with_test_environment(mut command: Command, dir: &Path) -> Command {
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "NATTER_CONFIG_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config"),
        )
        .env("NATTER_ENV", "test")
        .env("NATTER__DATA_DIR", dir.join("data"))
        .env("NATTER__MQTT__LISTEN", free_addr())
        .env("NATTER__MQTT__INTERNAL_LISTEN", free_addr())
        .env("NATTER__HTTP__LISTEN", free_addr())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

fn free_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("invariant: loopback can bind");
    listener.local_addr().expect("invariant: bound").to_string()
}

/// Runs to completion (at most 30 s) and returns (exit code, stdout, stderr).
async fn output(mut command: Command) -> anyhow::Result<(Option<i32>, String, String)> {
    let output = tokio::time::timeout(Duration::from_secs(30), command.output()).await??;
    Ok((
        output.status.code(),
        String::from_utf8(output.stdout)?,
        String::from_utf8(output.stderr)?,
    ))
}

/// Asserts the one-line error contract: non-zero exit, exactly one line on stderr that
/// contains every one of `needles`, no panic or backtrace.
fn assert_one_line_error(code: Option<i32>, stderr: &str, needles: &[&str]) {
    assert_ne!(code, Some(0), "expected failure, stderr: {stderr}");
    assert!(code.is_some(), "killed by a signal, stderr: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for needle in needles {
        assert!(lines[0].contains(needle), "missing {needle:?} in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_taken_http_port_gives_one_line_naming_the_setting() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let taken = TcpListener::bind("127.0.0.1:0")?;
    let mut command = natter(dir.path(), &["serve"]);
    command.env("NATTER__HTTP__LISTEN", taken.local_addr()?.to_string());

    let (code, _, stderr) = output(command).await?;

    assert_one_line_error(code, &stderr, &["NATTER__HTTP__LISTEN", "in use"]);
    Ok(())
}

#[tokio::test]
async fn a_taken_mqtt_port_gives_one_line_naming_the_setting_and_the_likely_culprit()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let taken = TcpListener::bind("127.0.0.1:0")?;
    let mut command = natter(dir.path(), &["serve"]);
    command.env("NATTER__MQTT__LISTEN", taken.local_addr()?.to_string());

    let (code, _, stderr) = output(command).await?;

    assert_one_line_error(
        code,
        &stderr,
        &["NATTER__MQTT__LISTEN", "in use", "Mosquitto"],
    );
    Ok(())
}

#[tokio::test]
async fn admin_user_create_prints_credentials_as_json() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (code, _, stderr) = output(natter(dir.path(), &["migrate"])).await?;
    assert_eq!(code, Some(0), "{stderr}");
    let command = natter(
        dir.path(),
        &[
            "admin",
            "user",
            "create",
            "--phone",
            "+1 555 123 0001",
            "--name",
            "Ada",
        ],
    );

    let (code, stdout, stderr) = output(command).await?;

    assert_eq!(code, Some(0), "{stderr}");
    let created: serde_json::Value = serde_json::from_str(stdout.trim())?;
    for field in ["user_id", "device_id", "mqtt_username", "mqtt_password"] {
        assert!(!created[field].is_null(), "{field} missing in {stdout}");
    }
    let invalid = natter(
        dir.path(),
        &[
            "admin", "user", "create", "--phone", "12345", "--name", "Bob",
        ],
    );
    let (code, _, stderr) = output(invalid).await?;
    assert_one_line_error(code, &stderr, &["12345"]);
    Ok(())
}

#[tokio::test]
async fn a_taken_internal_mqtt_port_gives_one_line_naming_the_setting() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let taken = TcpListener::bind("127.0.0.1:0")?;
    let mut command = natter(dir.path(), &["serve"]);
    command.env(
        "NATTER__MQTT__INTERNAL_LISTEN",
        taken.local_addr()?.to_string(),
    );

    let (code, _, stderr) = output(command).await?;

    assert_one_line_error(code, &stderr, &["NATTER__MQTT__INTERNAL_LISTEN", "in use"]);
    Ok(())
}

#[tokio::test]
async fn an_unwritable_data_dir_gives_one_line_naming_the_setting() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A path below a regular file can never be created, even by root.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"file")?;
    let mut command = natter(dir.path(), &["serve"]);
    command.env("NATTER__DATA_DIR", blocker.join("data"));

    let (code, _, stderr) = output(command).await?;

    assert_one_line_error(code, &stderr, &["NATTER__DATA_DIR", "not writable"]);
    Ok(())
}

#[tokio::test]
async fn an_unreachable_database_gives_one_line_naming_the_setting() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let nobody = free_addr();
    let mut command = natter(dir.path(), &["serve"]);
    command
        .env(
            "NATTER__DATABASE__URL",
            format!("postgres://natter@{nobody}/natter"),
        )
        .env("NATTER__DATABASE__CONNECT_TIMEOUT_MS", "2000");

    let (code, _, stderr) = output(command).await?;

    assert_one_line_error(code, &stderr, &["NATTER__DATABASE__URL", "cannot connect"]);
    Ok(())
}

#[tokio::test]
async fn an_unknown_setting_stops_start_up_naming_the_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut command = natter(dir.path(), &["serve"]);
    command.env("NATTER__MQTT__LISTNE", "0.0.0.0:1884");

    let (code, _, stderr) = output(command).await?;

    assert_one_line_error(code, &stderr, &["NATTER__MQTT__LISTNE"]);
    Ok(())
}

#[tokio::test]
async fn config_prints_the_effective_settings_with_secrets_redacted() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut command = natter(dir.path(), &["config"]);
    command
        .env("NATTER__MQTT__SERVICE_PASSWORD", "hunter2-service")
        .env(
            "NATTER__DATABASE__URL",
            "postgres://natter:hunter2-db@127.0.0.1:5432/natter",
        )
        .env("NATTER__HTTP__LISTEN", "127.0.0.1:8099");

    let (code, stdout, stderr) = output(command).await?;

    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("127.0.0.1:8099"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "secret printed: {stdout}");
    assert!(stdout.contains("[redacted]"), "{stdout}");
    Ok(())
}

/// Starts `natter serve` and waits until it logs that it started; returns the child and its
/// HTTP address.
async fn start_serving(dir: &Path) -> anyhow::Result<(Child, String)> {
    let http = free_addr();
    let mut command = natter(dir, &["serve"]);
    command.env("NATTER__HTTP__LISTEN", &http);
    let mut child = command.spawn()?;
    let health = format!("http://{http}/healthz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = reqwest::get(&health).await
            && response.status() == 200
        {
            return Ok((child, http));
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("natter exited early with {status}");
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "natter not healthy within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn send_signal(child: &Child, signal: &str) -> anyhow::Result<()> {
    let pid = child
        .id()
        .ok_or_else(|| anyhow::anyhow!("child already exited"))?;
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -{signal} failed");
    Ok(())
}

#[tokio::test]
async fn sigterm_exits_zero_within_ten_seconds() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut child, _) = start_serving(dir.path()).await?;

    send_signal(&child, "TERM")?;
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await??;

    assert_eq!(status.code(), Some(0));
    Ok(())
}
