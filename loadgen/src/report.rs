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

impl Row {
    /// Connections held that the server had not closed.
    pub(crate) fn alive(&self) -> usize {
        self.open - self.closed_by_server
    }

    /// Server RSS growth since `baseline_rss` per live connection, KiB.
    pub(crate) fn per_connection_kib(&self, baseline_rss: u64) -> Option<f64> {
        let alive = self.alive();
        (alive > 0)
            .then(|| self.server_rss.saturating_sub(baseline_rss) as f64 / alive as f64 / 1024.0)
    }
}

/// The table header.
pub(crate) const TABLE_HEADER: &str = "| connections | connect rate (CONNACK/s) | p50 / p99 connect (ms) | failures \
     | server RSS (MiB) | RSS growth (MiB) | RSS per connection (KiB) | loadgen RSS (MiB) \
     | CPU server / loadgen (s) |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

/// One row; `baseline_rss` is the server's RSS before the first connection.
pub(crate) fn table_row(row: &Row, baseline_rss: u64) -> String {
    let growth = row.server_rss.saturating_sub(baseline_rss);
    let per_connection = row
        .per_connection_kib(baseline_rss)
        .map_or_else(|| "-".to_owned(), |kib| format!("{kib:.1}"));
    let alive = row.alive();
    let connections = if row.closed_by_server == 0 {
        alive.to_string()
    } else {
        format!("{alive} ({} closed by server)", row.closed_by_server)
    };
    format!(
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
    )
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
