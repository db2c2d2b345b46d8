//! The command line: subcommands and what each runs.

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::app::{App, Role};

/// natter: an MQTT-native messaging backbone in one binary.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to run; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything in one process: broker, bridge, workers and HTTP (the default).
    Serve,
    /// Run the broker alone (router and MQTT listeners).
    Broker,
    /// Run the bridge workers alone, against the broker at NATTER__BRIDGE__BROKER_ADDR.
    Bridge,
    /// Run the background jobs alone.
    Workers,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective configuration, secrets redacted, and exit.
    Config,
}

/// Loads the settings, installs telemetry and runs `cli`'s subcommand until it finishes or a
/// signal stops it.
///
/// # Errors
/// Any start-up or run-time failure, with context naming the setting to change.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = natter_config::load()?;
    let role = match cli.command.unwrap_or(Command::Serve) {
        Command::Config => {
            print!("{}", settings.redacted_toml());
            return Ok(());
        }
        Command::Migrate => {
            let _telemetry = crate::telemetry::init(&settings.telemetry)?;
            crate::db::connect_and_migrate(&settings).await?;
            tracing::info!("migrations applied");
            return Ok(());
        }
        Command::Serve => Role::Serve,
        Command::Broker => Role::Broker,
        Command::Bridge => Role::Bridge,
        Command::Workers => Role::Workers,
    };
    let _telemetry = crate::telemetry::init(&settings.telemetry)?;
    let shutdown: CancellationToken =
        crate::signals::shutdown_token().context("installing signal handlers")?;
    let app = App::build(settings, role).await?;
    app.run_until_stopped(shutdown).await
}
