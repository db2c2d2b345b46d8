//! The `connections` scenario: provision devices, ramp idle authenticated connections up in
//! steps, and after each step sample the server's RSS; print the connect rate and the RSS per
//! connection at each step.
//!
//! RSS per connection is (RSS after the step - RSS before the first connection) / connections
//! held, so it includes allocator slack and whatever the server grows by on its own.

use std::time::Duration;

use anyhow::{Context, bail};
use sea_orm::DatabaseConnection;

use crate::cli::ConnectionsArgs;
use crate::ramp::{Plan, Ramp};
use crate::report::{self, Row};
use crate::{database, limits, provision, server};

/// Descriptors this process needs besides its connections (stdio, database, runtime).
const SPARE_DESCRIPTORS: u64 = 64;

/// What a ramp measured.
#[derive(Debug)]
pub(crate) struct ConnectionsResult {
    /// The server's open-files limit, `None` when unlimited or unreadable.
    pub(crate) server_limit: Option<u64>,
    /// The server's RSS before the first connection, bytes.
    pub(crate) baseline_rss: u64,
    /// One row per step reached.
    pub(crate) rows: Vec<Row>,
    /// Whether the ramp stopped at `--max-failures`.
    pub(crate) gave_up: bool,
}

impl ConnectionsResult {
    /// The last row: the most connections held.
    pub(crate) fn largest(&self) -> Option<&Row> {
        self.rows.last()
    }
}

/// Runs the scenario and prints its table.
///
/// # Errors
/// On bad arguments, when the server or its database cannot be found, or provisioning
/// fails. Connection failures are reported in the table, not returned.
pub(crate) async fn run(args: ConnectionsArgs) -> anyhow::Result<()> {
    let server_pid = match args.server_pid {
        Some(pid) => pid,
        None => server::find_listening_pid(args.server.port())
            .context("finding the server process (or pass --server-pid)")?,
    };
    let db = database::connect(&args.database).await?;
    let result = measure(&db, &args, server_pid).await?;
    println!();
    println!("{}", report::TABLE_HEADER);
    for row in &result.rows {
        println!("{}", report::table_row(row, result.baseline_rss));
    }
    println!();
    Ok(())
}

/// Provisions devices in `db`, ramps through `args.steps` against the server `server_pid`
/// and samples it after each step; closes the connections and (unless `--keep-devices`)
/// deletes the devices at the end.
///
/// # Errors
/// On bad arguments, when the server's memory cannot be read, or provisioning fails.
pub(crate) async fn measure(
    db: &DatabaseConnection,
    args: &ConnectionsArgs,
    server_pid: u32,
) -> anyhow::Result<ConnectionsResult> {
    let Some(&largest) = args.steps.iter().max() else {
        bail!("--steps needs at least one connection count");
    };
    if !args.steps.is_sorted() {
        bail!("--steps must be in ascending order");
    }
    let own_limit = limits::raise_open_files()?;
    if own_limit < largest as u64 + SPARE_DESCRIPTORS {
        println!(
            "warning: this process may open {own_limit} files: steps above ~{} will fail \
             (raise the hard limit: ulimit -Hn)",
            own_limit.saturating_sub(SPARE_DESCRIPTORS)
        );
    }
    let server_limit = server::open_files_limit(server_pid);
    println!(
        "server pid {server_pid}: open files {} of limit {}",
        server::open_files(server_pid).map_or("?".to_owned(), |n| n.to_string()),
        server_limit.map_or("unlimited".to_owned(), |n| n.to_string()),
    );
    if server_limit.is_some_and(|limit| limit < largest as u64 + SPARE_DESCRIPTORS) {
        println!(
            "warning: the server's open-files limit caps it below {largest} connections; \
             start it after `ulimit -n <more>`"
        );
    }

    // A few spare devices, so that failed connects do not leave the last step short.
    let devices = provision::provision(db, largest + args.max_failures).await?;
    let sources = args.source_ips();
    let plan = Plan {
        server: args.server,
        keep_alive_secs: args.keep_alive_secs,
        connect_timeout: args.connect_timeout(),
        concurrency: args.concurrency.max(1),
        max_failures: args.max_failures.max(1),
        sources,
    };
    println!(
        "ramping to {:?} against {} with {} connects in flight from {} source address(es)",
        args.steps,
        plan.server,
        plan.concurrency,
        plan.sources.len().max(1)
    );

    let settle = Duration::from_millis(args.settle_ms);
    // Lets the server finish what it was doing (the provisioning's checkpoint, start-up)
    // before the baseline sample: a measurement pause, not a readiness wait.
    tokio::time::sleep(settle).await;
    let baseline_rss = server::rss_bytes(server_pid)?;
    println!(
        "server RSS before connecting: {:.1} MiB",
        baseline_rss as f64 / (1024.0 * 1024.0)
    );
    let mut ramp = Ramp::new(plan, devices);
    let mut rows = Vec::new();
    let cpu_times = || {
        (
            server::cpu_time(server_pid),
            server::cpu_time(std::process::id()),
        )
    };
    for &target in &args.steps {
        let (server_cpu_before, loadgen_cpu_before) = cpu_times();
        let step = ramp.ramp_to(target).await;
        tokio::time::sleep(settle).await;
        let (server_cpu_after, loadgen_cpu_after) = cpu_times();
        let row = Row {
            server_cpu: server_cpu_after
                .zip(server_cpu_before)
                .map(|(after, before)| after.saturating_sub(before)),
            loadgen_cpu: loadgen_cpu_after
                .zip(loadgen_cpu_before)
                .map(|(after, before)| after.saturating_sub(before)),
            open: ramp.open_count(),
            closed_by_server: ramp.count_closed(),
            server_rss: server::rss_bytes(server_pid)?,
            loadgen_rss: server::rss_bytes(std::process::id())?,
            step,
        };
        println!(
            "step {target}: {} connections held, {} accepted in {:.1} s, {} failed",
            row.open,
            row.step.accepted,
            row.step.elapsed.as_secs_f64(),
            row.step.failure_count()
        );
        report::print_failures(&row.step);
        rows.push(row);
        if ramp.gave_up() {
            println!(
                "stopping: {} failures reached --max-failures",
                args.max_failures
            );
            break;
        }
    }
    let gave_up = ramp.gave_up();

    if args.hold_secs > 0 {
        println!("holding the connections for {} s", args.hold_secs);
        tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    }
    ramp.close_all();
    if !args.keep_devices {
        let deleted = provision::remove_all(db).await?;
        println!("deleted {deleted} load-test devices");
    }
    Ok(ConnectionsResult {
        server_limit,
        baseline_rss,
        rows,
        gave_up,
    })
}
