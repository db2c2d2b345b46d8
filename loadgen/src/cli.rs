//! The command line: one subcommand per scenario, plus `cleanup`. Owns argument parsing and
//! defaults only; what the arguments mean at run time is up to each scenario.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Load generator for natter.
#[derive(Debug, Parser)]
#[command(name = "natter-loadgen", version, about)]
pub(crate) struct Cli {
    /// Worker threads of the load generator's runtime.
    #[arg(long, global = true, default_value_t = 1)]
    pub(crate) threads: usize,
    /// The scenario to run.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Opens idle authenticated connections in steps; reports the connect rate and the
    /// server's RSS per connection at each step.
    Connections(ConnectionsArgs),
    /// Sends to groups of each size and reports the time to "sent" and to the last member's
    /// delivery.
    Fanout(FanoutArgs),
    /// N pairs chatting 1:1 at a fixed rate: delivered messages/s and send-to-deliver latency,
    /// optionally side by side with a plain MQTT broker.
    Chat(ChatArgs),
    /// Devices offline while messages pile up for them, then all reconnect at once and
    /// resume from their cursors: the time until every device has caught up.
    Resume(ResumeArgs),
    /// Starts natter itself (SQLite, and PostgreSQL when asked), runs every scenario and
    /// writes docs/BENCHMARKS.md with a latency plot.
    Report(ReportArgs),
    /// Deletes every user and device that the load generator provisioned.
    Cleanup(DatabaseArgs),
}

/// Where the natter database is.
#[derive(Debug, Args)]
pub(crate) struct DatabaseArgs {
    /// Database URL (`sqlite:…` or `postgres://…`); wins over `--data-dir`.
    #[arg(long, env = "NATTER__DATABASE__URL")]
    pub(crate) database_url: Option<String>,
    /// natter's data directory: the database is its `natter.db`.
    #[arg(long, env = "NATTER__DATA_DIR", default_value = "data")]
    pub(crate) data_dir: PathBuf,
}

/// Arguments of the `chat` scenario.
#[derive(Debug, Args)]
pub(crate) struct ChatArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    /// The server's client-facing MQTT address.
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub(crate) server: SocketAddr,
    /// Sender/receiver pairs.
    #[arg(long, default_value_t = 50)]
    pub(crate) pairs: usize,
    /// Messages per second each sender offers.
    #[arg(long, default_value_t = 20)]
    pub(crate) rate: u64,
    /// How long to send, seconds.
    #[arg(long, default_value_t = 10)]
    pub(crate) duration_secs: u64,
    /// Body size in bytes (at least 8: the send time travels in the body).
    #[arg(long, default_value_t = 20)]
    pub(crate) body_bytes: usize,
    /// A plain MQTT broker (e.g. Mosquitto on 127.0.0.1:1883) to run the same relay against.
    #[arg(long)]
    pub(crate) baseline: Option<SocketAddr>,
}

/// Arguments of the `fanout` scenario.
#[derive(Debug, Args)]
pub(crate) struct FanoutArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    /// The server's client-facing MQTT address.
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub(crate) server: SocketAddr,
    /// Group sizes (members besides the sender).
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    pub(crate) members: Vec<usize>,
    /// Messages sent to each group, one at a time.
    #[arg(long, default_value_t = 50)]
    pub(crate) messages: usize,
}

/// Arguments of the `resume` scenario.
#[derive(Debug, Args)]
pub(crate) struct ResumeArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    /// The server's client-facing MQTT address.
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub(crate) server: SocketAddr,
    /// Devices (each its own user) that go offline and resume.
    #[arg(long, default_value_t = 1000)]
    pub(crate) devices: usize,
    /// Messages sent to each device while it is offline.
    #[arg(long, default_value_t = 100)]
    pub(crate) messages: usize,
    /// Sender users sharing the sending.
    #[arg(long, default_value_t = 10)]
    pub(crate) senders: usize,
    /// Sends each sender keeps in flight (waiting for "sent").
    #[arg(long, default_value_t = 50)]
    pub(crate) window: usize,
    /// Longest the catch-up may take before the scenario fails, seconds.
    #[arg(long, default_value_t = 300)]
    pub(crate) timeout_secs: u64,
}

/// Arguments of `report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The natter binary; default: `natter` next to this executable.
    #[arg(long)]
    pub(crate) natter: Option<PathBuf>,
    /// The Markdown file to write; the plot goes beside it as `benchmarks-latency.svg`.
    #[arg(long, default_value = "docs/BENCHMARKS.md")]
    pub(crate) out: PathBuf,
    /// The plain MQTT broker the chat sweep is compared with.
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub(crate) baseline: SocketAddr,
    /// A PostgreSQL maintenance database URL (e.g. postgres://postgres@127.0.0.1:5432/test):
    /// runs the scenarios on PostgreSQL too, in a database dropped and created at start.
    #[arg(long)]
    pub(crate) postgres_url: Option<String>,
    /// The database created on that server for the run (dropped at start and at the end).
    #[arg(long, default_value = "natter_bench")]
    pub(crate) postgres_db: String,
    /// Also run the connections ramp on PostgreSQL.
    #[arg(long)]
    pub(crate) postgres_connections: bool,
    /// A small, fast version (seconds, not minutes) to check that everything works.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Seconds each chat rate step sends for.
    #[arg(long)]
    pub(crate) chat_secs: Option<u64>,
    /// Chat pairs.
    #[arg(long)]
    pub(crate) chat_pairs: Option<usize>,
    /// Total offered msg/s of the sweep's first step; each next step doubles it.
    #[arg(long)]
    pub(crate) chat_start_rate: Option<u64>,
    /// Steps of the sweep at most (it stops earlier once delivery falls behind).
    #[arg(long)]
    pub(crate) chat_steps: Option<usize>,
    /// Resume devices.
    #[arg(long)]
    pub(crate) resume_devices: Option<usize>,
    /// Messages per resume device.
    #[arg(long)]
    pub(crate) resume_messages: Option<usize>,
    /// Fan-out group sizes.
    #[arg(long, value_delimiter = ',')]
    pub(crate) fanout_members: Option<Vec<usize>>,
    /// Connection counts to ramp to; default 1000, 10000 and the largest the descriptor
    /// limits allow.
    #[arg(long, value_delimiter = ',')]
    pub(crate) connection_steps: Option<Vec<usize>>,
    /// The command line to print in the report (scripts/bench passes its own).
    #[arg(long)]
    pub(crate) command_line: Option<String>,
}

/// Arguments of the `connections` scenario.
#[derive(Debug, Args)]
pub(crate) struct ConnectionsArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    /// The server's client-facing MQTT address.
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub(crate) server: SocketAddr,
    /// Connection counts to ramp to, in order; the server is measured at each.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,50000")]
    pub(crate) steps: Vec<usize>,
    /// Connects in flight at once during the ramp.
    #[arg(long, default_value_t = 128)]
    pub(crate) concurrency: usize,
    /// Source addresses 127.0.0.1 to 127.0.0.N, used in turn (one address gives ~28k
    /// ephemeral ports). Ignored unless the server address is IPv4 loopback.
    #[arg(long, default_value_t = 8)]
    pub(crate) source_addrs: u8,
    /// Keep-alive announced in CONNECT, seconds: long, so that no pings are due while measuring.
    #[arg(long, default_value_t = 600)]
    pub(crate) keep_alive_secs: u16,
    /// Time allowed for one connection from TCP connect to CONNACK, milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) connect_timeout_ms: u64,
    /// Failures after which the ramp stops instead of trying the remaining connections.
    #[arg(long, default_value_t = 200)]
    pub(crate) max_failures: usize,
    /// The server's process id; found from the listening port when omitted.
    #[arg(long)]
    pub(crate) server_pid: Option<u32>,
    /// Pause after each step before sampling the server's RSS, milliseconds.
    #[arg(long, default_value_t = 2_000)]
    pub(crate) settle_ms: u64,
    /// Keep the connections open this long after the last step, seconds (e.g. to look at the
    /// server by hand).
    #[arg(long, default_value_t = 0)]
    pub(crate) hold_secs: u64,
    /// Keep the provisioned devices in the database after the run.
    #[arg(long)]
    pub(crate) keep_devices: bool,
}

impl ConnectionsArgs {
    /// The per-connection deadline.
    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The source addresses to bind client sockets to, or none (let the kernel choose) when
    /// the server is not on loopback.
    pub(crate) fn source_ips(&self) -> Vec<Ipv4Addr> {
        let SocketAddr::V4(server) = self.server else {
            return Vec::new();
        };
        if !server.ip().is_loopback() {
            return Vec::new();
        }
        (1..=self.source_addrs.max(1))
            .map(|last| Ipv4Addr::new(127, 0, 0, last))
            .collect()
    }
}
