//! The results table, printed as Markdown so that it can go into docs/BENCHMARKS.md as is.

use std::time::Duration;

use crate::ramp::Step;

/// One measured step: the ramp's outcome and the server's memory after it.
#[derive(Debug)]
pub(crate) struct Row {
    /// The ramp step.
    pub(crate) step: Step,
    /// Connections held after the step.
    pub(crate) open: usize,
    /// Of those, how many the server had closed by the time of the sample.
    pub(crate) closed_by_server: usize,
    /// The server's RSS after the step, bytes.
    pub(crate) server_rss: u64,
    /// The load generator's own RSS after the step, bytes.
    pub(crate) loadgen_rss: u64,
    /// CPU time the server used during the step (ramp and settle).
    pub(crate) server_cpu: Option<Duration>,
    /// CPU time the load generator used during the step.
    pub(crate) loadgen_cpu: Option<Duration>,
}

/// Prints the table header.
pub(crate) fn print_header() {
    println!(
        "| connections | connect rate (CONNACK/s) | p50 / p99 connect (ms) | failures \
         | server RSS (MiB) | RSS growth (MiB) | RSS per connection (KiB) | loadgen RSS (MiB) \
         | CPU server / loadgen (s) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
}

/// Prints one row; `baseline_rss` is the server's RSS before the first connection.
pub(crate) fn print_row(row: &Row, baseline_rss: u64) {
    let growth = row.server_rss.saturating_sub(baseline_rss);
    let alive = row.open - row.closed_by_server;
    let per_connection = if alive == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}", growth as f64 / alive as f64 / 1024.0)
    };
    let connections = if row.closed_by_server == 0 {
        alive.to_string()
    } else {
        format!("{alive} ({} closed by server)", row.closed_by_server)
    };
    println!(
        "| {connections} | {:.0} | {} / {} | {} | {:.1} | {:.1} | {per_connection} | {:.1} \
         | {} / {} |",
        row.step.rate(),
        millis(row.step.latency(0.5)),
        millis(row.step.latency(0.99)),
        row.step.failure_count(),
        mib(row.server_rss),
        mib(growth),
        mib(row.loadgen_rss),
        seconds(row.server_cpu),
        seconds(row.loadgen_cpu),
    );
}

/// Prints the failures of a step, one line per kind with its first message.
pub(crate) fn print_failures(step: &Step) {
    for (kind, (count, first)) in &step.failures {
        println!("  step {}: {count} x {kind} (first: {first})", step.target);
    }
}

fn millis(latency: Option<Duration>) -> String {
    latency.map_or_else(
        || "-".to_owned(),
        |l| format!("{:.1}", l.as_secs_f64() * 1e3),
    )
}

fn seconds(duration: Option<Duration>) -> String {
    duration.map_or_else(|| "?".to_owned(), |d| format!("{:.1}", d.as_secs_f64()))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
