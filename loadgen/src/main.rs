//! `natter-loadgen`: load scenarios against a running natter server.
//!
//! `connections` provisions devices straight into the database, opens authenticated idle MQTT
//! connections in steps and reports the connect rate and the server's memory per connection;
//! `chat` runs N pairs chatting 1:1 (optionally beside a plain broker such as Mosquitto);
//! `fanout` sends to groups of 10, 100 and 1,000 members and reports the time to "sent" and
//! to the last delivery; `resume` lets devices fall behind while offline and times their
//! catch-up after reconnecting at once; `report` starts natter itself, runs all of them (and
//! the chat sweep against a plain broker) and writes docs/BENCHMARKS.md with a latency plot;
//! `cleanup` removes the devices it provisioned. The binary only parses the command line and
//! builds the runtime; each scenario lives in its own module.

mod bench;
mod chat;
mod cli;
mod connections;
mod database;
mod fanout;
mod limits;
mod mqtt;
mod provision;
mod ramp;
mod report;
mod resume;
mod server;

use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Few threads by default: the load generator shares the machine with the server, and
    // opening sockets is cheap next to what the server does for each of them.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Connections(args) => connections::run(args).await,
            Command::Fanout(args) => fanout::run(args).await,
            Command::Chat(args) => chat::run(args).await,
            Command::Resume(args) => resume::run(args).await,
            Command::Report(args) => bench::run(args).await,
            Command::Cleanup(args) => provision::cleanup_command(args).await,
        }
    })
}
