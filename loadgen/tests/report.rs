//! `natter-loadgen report --quick` end to end: it starts a real natter (the binary built next
//! to the load generator; `NATTER_BIN` overrides), runs every scenario at tiny sizes on SQLite
//! (and on PostgreSQL when `NATTER_TEST_POSTGRES_URL` is set, as `.ci/run` does) with a
//! Mosquitto of its own on a free loopback port as the baseline (Debian's `mosquitto`, which
//! `scripts/test` installs: without it the test fails), and writes the report into a temporary
//! directory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

const LOADGEN: &str = env!("CARGO_BIN_EXE_natter-loadgen");
/// How long the baseline Mosquitto may take to accept connections.
const BASELINE_READY: Duration = Duration::from_secs(10);
/// A safety net only: the quick report takes well under 30 s.
const LIMIT: Duration = Duration::from_secs(180);

/// The natter binary: `NATTER_BIN`, or `natter` beside the load generator (built by
/// `cargo test --workspace`; built here with `cargo build -p natter` when missing).
fn natter_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("NATTER_BIN").filter(|p| !p.is_empty()) {
        return Ok(path.into());
    }
    let dir = Path::new(LOADGEN)
        .parent()
        .context("the load generator has no directory")?;
    let natter = dir.join("natter");
    if natter.is_file() {
        return Ok(natter);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("no workspace")?;
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "-p", "natter", "--bin", "natter"])
        .current_dir(workspace);
    if dir.ends_with("release") {
        build.arg("--release");
    }
    let status = build.status().context("running cargo build -p natter")?;
    ensure!(status.success(), "cargo build -p natter failed");
    ensure!(natter.is_file(), "no {} after building", natter.display());
    Ok(natter)
}

/// Runs `command` to completion within [`LIMIT`]. Its output goes to files in `logs` (a pipe
/// nobody reads while waiting would stall a chatty child once the pipe is full).
fn output_within(mut command: Command, logs: &Path) -> anyhow::Result<(Output, Duration)> {
    let started = Instant::now();
    let (out_path, err_path) = (logs.join("loadgen.stdout"), logs.join("loadgen.stderr"));
    let mut child = command
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?)
        .spawn()
        .context("starting natter-loadgen")?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > LIMIT {
            child.kill().ok();
            bail!(
                "natter-loadgen report --quick ran over {} s",
                LIMIT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = Output {
        status,
        stdout: std::fs::read(&out_path)?,
        stderr: std::fs::read(&err_path)?,
    };
    Ok((output, started.elapsed()))
}

/// The data rows of the first table whose header row starts with `header`.
fn rows<'a>(markdown: &'a str, header: &str) -> anyhow::Result<Vec<Vec<&'a str>>> {
    let mut lines = markdown
        .lines()
        .skip_while(|line| !line.starts_with(header));
    lines
        .next()
        .with_context(|| format!("no table {header:?}"))?;
    lines.next().context("no separator row")?;
    let rows: Vec<Vec<&str>> = lines
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect::<Vec<_>>()
        })
        .collect();
    ensure!(!rows.is_empty(), "table {header:?} has no rows");
    Ok(rows)
}

fn number(cell: &str) -> Option<f64> {
    cell.trim_start_matches("≥ ")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Every row of the table has a number in each of `columns`.
fn numeric(markdown: &str, header: &str, columns: &[usize]) -> anyhow::Result<()> {
    for row in rows(markdown, header)? {
        for &column in columns {
            let cell = row.get(column).copied().unwrap_or_default();
            ensure!(
                number(cell).is_some(),
                "table {header:?}: column {column} is not a number: {row:?}"
            );
        }
    }
    Ok(())
}

/// A Mosquitto on a free loopback port, stopped when dropped.
struct Baseline {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Debian's `mosquitto` (on the PATH or in /usr/sbin) with a config of its own in `dir`
/// and waits until it accepts connections.
fn start_baseline(dir: &Path) -> anyhow::Result<Baseline> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let config = dir.join("mosquitto.conf");
    std::fs::write(
        &config,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )?;
    let program = ["/usr/sbin/mosquitto", "mosquitto"]
        .into_iter()
        .find(|p| !p.starts_with('/') || Path::new(p).is_file())
        .unwrap_or("mosquitto");
    let child = Command::new(program)
        .arg("-c")
        .arg(&config)
        .stdout(File::create(dir.join("mosquitto.log"))?)
        .stderr(File::create(dir.join("mosquitto.err"))?)
        .spawn()
        .context("starting mosquitto, the baseline broker (scripts/test installs it)")?;
    let mut baseline = Baseline {
        child,
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(baseline.addr).is_err() {
        if let Some(status) = baseline.child.try_wait()? {
            bail!(
                "mosquitto exited ({status}): {}",
                std::fs::read_to_string(dir.join("mosquitto.err")).unwrap_or_default()
            );
        }
        ensure!(
            started.elapsed() < BASELINE_READY,
            "mosquitto did not accept connections within {BASELINE_READY:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(baseline)
}

#[test]
fn a_quick_report_has_every_section_with_figures_and_a_plot() -> anyhow::Result<()> {
    let natter = natter_binary()?;
    let dir = tempfile::tempdir()?;
    let baseline = start_baseline(dir.path())?;
    let baseline_addr = baseline.addr.to_string();
    let out = dir.path().join("BENCHMARKS.md");
    let mut command = Command::new(LOADGEN);
    command
        .args(["report", "--quick", "--baseline", &baseline_addr, "--natter"])
        .arg(&natter)
        .arg("--out")
        .arg(&out)
        .current_dir(dir.path());
    let postgres = std::env::var("NATTER_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty());
    if let Some(url) = &postgres {
        // The test harness's naming, so that a database left by a crash is dropped later.
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let name = format!("natter_t_{secs}_lg{}", std::process::id());
        command.args(["--postgres-url", url, "--postgres-db", &name]);
    }

    let (output, took) = output_within(command, dir.path())?;

    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.success(),
        "report failed ({}):\n{stderr}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
    eprintln!("report --quick took {:.1} s", took.as_secs_f64());
    let markdown = std::fs::read_to_string(&out)?;
    let mut backends = vec!["SQLite"];
    if postgres.is_some() {
        backends.push("PostgreSQL");
    }
    for section in [
        "# Benchmarks",
        "## Run",
        "## Aims of issue #8",
        "## Connections",
        "## 1:1 chat",
        "### plain broker 127.0.0.1:1883",
        "### natter / plain broker",
        "### Latency plot",
        "## Group fan-out",
        "## Resume",
        "## Run time",
        "## Other benchmarks",
        "(benchmarks-latency.svg)",
        "(PERFORMANCE.md)",
        "| commit |",
        "| CPU |",
    ] {
        ensure!(
            markdown.contains(section),
            "missing {section:?} in:\n{markdown}"
        );
    }
    for backend in &backends {
        ensure!(
            markdown.contains(&format!("### natter {backend}")),
            "no chat sweep for {backend}"
        );
        ensure!(
            markdown.contains(&format!("### {backend}\n")),
            "no fan-out/resume for {backend}"
        );
    }
    // Connections (SQLite): connections, rate, failures, RSS, RSS per connection.
    numeric(&markdown, "| connections |", &[0, 1, 3, 4, 6])?;
    ensure!(
        rows(&markdown, "| connections |")?[0][0] == "50",
        "the quick ramp holds 50 connections"
    );
    // Chat: offered, delivered, p50, p99, p99.9, max.
    numeric(&markdown, "| server | pairs |", &[1, 2, 3, 4, 5, 6, 7])?;
    numeric(&markdown, "| offered msg/s | plain broker |", &[1, 2, 3])?;
    numeric(&markdown, "| members |", &[0, 1, 2, 3, 4, 5, 6])?;
    let resume = rows(&markdown, "| devices |")?;
    ensure!(
        resume[0][6] == "0" && resume[0][7] == "0",
        "resume: {resume:?}"
    );
    numeric(&markdown, "| devices |", &[0, 1, 2, 3, 5])?;
    numeric(&markdown, "| part | seconds |", &[1])?;

    let svg = std::fs::read_to_string(dir.path().join("benchmarks-latency.svg"))?;
    ensure!(
        svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "not an SVG: {}",
        &svg[..svg.len().min(200)]
    );
    ensure!(
        svg.contains("natter SQLite"),
        "the plot has no natter SQLite curve"
    );
    Ok(())
}
