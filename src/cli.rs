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
    /// Provision users, devices and operators without SMS (prints JSON).
    Admin {
        /// What to do.
        #[command(subcommand)]
        command: crate::admin::AdminCommand,
    },
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
            crate::app::prepare_data_dir(&settings.data_dir)?;
            let _telemetry = crate::telemetry::init(&settings.telemetry)?;
            crate::db::connect_and_migrate(&settings).await?;
            tracing::info!("migrations applied");
            return Ok(());
        }
        Command::Admin { command } => {
            crate::app::prepare_data_dir(&settings.data_dir)?;
            let db = crate::db::connect_and_migrate(&settings).await?;
            let outcome = crate::admin::run(command, &db).await;
            db.close().await.ok();
            let mut outcome = outcome?;
            if let Some(control) = outcome.control {
                // Tell running nodes at once (a revoked device is disconnected now).
                let password = crate::service_password::resolve(&settings)?;
                let broker = settings.bridge.broker_addr(&settings.mqtt);
                let notified = crate::control::publish(&broker, &password, control).await?;
                outcome.json["nodes_notified"] = serde_json::Value::Bool(notified);
            }
            println!("{}", outcome.json);
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
