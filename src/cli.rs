//! The command line: subcommands and what each runs.

use anyhow::Context;
use clap::{Parser, Subcommand};
use natter_config::Settings;
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
            let db = open_existing_database(&settings).await?;
            let outcome = crate::admin::run(command, &db).await;
            db.close().await.ok();
            let mut outcome = outcome?;
            outcome.json["database"] = settings.database_url_redacted().into();
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

/// Opens the server's database for an admin command: one that already has natter's schema
/// (migrated to this binary's version). A database without it is refused, naming it: an admin
/// command run from the wrong directory would otherwise create a new, empty database and print
/// credentials the server does not know. `natter migrate` creates a new database on purpose.
///
/// # Errors
/// When the database has no natter schema, or cannot be reached or migrated.
async fn open_existing_database(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    use sea_orm::ConnectionTrait;
    let name = settings.database_url_redacted();
    let refuse = || {
        anyhow::anyhow!(
            "the database {name} has no natter schema: is NATTER__DATA_DIR (or NATTER__DATABASE__URL) \
             the server's? `natter migrate` creates a new one"
        )
    };
    if settings.database.url.is_none() && !settings.data_dir.join("natter.db").is_file() {
        return Err(refuse());
    }
    let db = crate::db::connect(settings).await?;
    let probe = sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT 1 FROM seaql_migrations LIMIT 1",
    );
    if !matches!(db.query_one_raw(probe).await, Ok(Some(_))) {
        db.close().await.ok();
        return Err(refuse());
    }
    natter_entities::migrate(&db)
        .await
        .context("applying database migrations")?;
    Ok(db)
}
