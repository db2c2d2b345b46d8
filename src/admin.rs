//! `natter admin …`: provisioning from the command line (users, devices, operators), each
//! command printing one JSON object.
//!
//! Owns the command names, their flags and the JSON they print; the rules (phone numbers,
//! secrets, revocation) are `natter_accounts`'. Connecting to and migrating the database is the
//! caller's job. The printed password is shown once: only its hash is stored.

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use natter_accounts::{Credentials, Role};
use natter_proto::topics::ControlTopic;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use serde_json::json;

/// Provision users, devices and operators; prints one JSON object.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Manage users.
    User {
        /// What to do with users.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage devices.
    Device {
        /// What to do with devices.
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Manage operators.
    Operator {
        /// What to do with operators.
        #[command(subcommand)]
        command: OperatorCommand,
    },
}

/// `natter admin user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Register a user with a first device, and print its MQTT credentials.
    Create {
        /// Phone number in international format, e.g. +15551230001.
        #[arg(long)]
        phone: String,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
    },
}

/// `natter admin device …`.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Add a device to a user, and print its MQTT credentials.
    Create {
        /// The owning user's id.
        #[arg(long)]
        user_id: i64,
        /// Human-readable device name, e.g. "Kitchen sensor".
        #[arg(long)]
        name: String,
        /// Client platform: android, ios, web, device, bot…
        #[arg(long, default_value = "device")]
        platform: String,
        /// What the device may do.
        #[arg(long, value_enum, default_value_t = DeviceRole::Device)]
        role: DeviceRole,
    },
    /// Revoke a device: it can no longer connect.
    Revoke {
        /// The device's id.
        #[arg(long)]
        device_id: i64,
    },
}

/// `natter admin operator …`.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Create an operator account (no phone number), and print its MQTT credentials.
    Create {
        /// Operator name.
        #[arg(long)]
        name: String,
    },
}

/// The roles `natter admin device create` may give; operators have their own command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceRole {
    /// A machine acting for the user (sensor, bot).
    Device,
    /// A client of the user's own (phone, browser).
    User,
}

impl From<DeviceRole> for Role {
    fn from(role: DeviceRole) -> Self {
        match role {
            DeviceRole::Device => Role::Device,
            DeviceRole::User => Role::User,
        }
    }
}

/// Runs `command` against `db` (connected and migrated) and returns the JSON object to print.
///
/// # Errors
/// One line naming what failed and why: an invalid or taken phone number, an unknown user or
/// device, or a database error.
pub async fn run(command: AdminCommand, db: &DatabaseConnection) -> anyhow::Result<Outcome> {
    let mut control = None;
    let output = match command {
        AdminCommand::User {
            command: UserCommand::Create { phone, name },
        } => {
            let credentials = natter_accounts::create_user(db, &phone, &name)
                .await
                .context("creating the user")?;
            credentials_json(&credentials)
        }
        AdminCommand::Device {
            command:
                DeviceCommand::Create {
                    user_id,
                    name,
                    platform,
                    role,
                },
        } => {
            let credentials =
                natter_accounts::add_device(db, user_id, &name, &platform, role.into())
                    .await
                    .with_context(|| format!("adding a device to user {user_id}"))?;
            credentials_json(&credentials)
        }
        AdminCommand::Device {
            command: DeviceCommand::Revoke { device_id },
        } => {
            let identity = natter_accounts::revoke_device(db, device_id)
                .await
                .with_context(|| format!("revoking device {device_id}"))?;
            control = Some(ControlTopic::DeviceRevoked { device_id });
            json!({
                "device_id": identity.device_id,
                "user_id": identity.user_id,
                "revoked": true,
            })
        }
        AdminCommand::Operator {
            command: OperatorCommand::Create { name },
        } => {
            let credentials = natter_accounts::create_operator(db, &name)
                .await
                .context("creating the operator")?;
            credentials_json(&credentials)
        }
    };
    Ok(Outcome {
        json: output,
        control,
    })
}

/// What an admin command did: the JSON to print, and the control message that running nodes
/// must get (for a revoked device: disconnect it now).
#[derive(Debug)]
pub struct Outcome {
    /// The object to print.
    pub json: serde_json::Value,
    /// The control message to publish, if any.
    pub control: Option<ControlTopic>,
}

/// The JSON printed for new credentials, password included.
fn credentials_json(credentials: &Credentials) -> serde_json::Value {
    json!({
        "user_id": credentials.user_id,
        "device_id": credentials.device_id,
        "mqtt_username": credentials.mqtt_username,
        "mqtt_password": credentials.mqtt_password.expose_secret(),
        "role": credentials.role.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use natter_accounts::AuthOutcome;
    use sea_orm::{ConnectOptions, Database};
    use serde_json::Value;

    use super::*;

    /// Stands in for the `natter admin` level of the real command line.
    #[derive(Debug, Parser)]
    struct AdminCli {
        #[command(subcommand)]
        command: AdminCommand,
    }

    async fn migrated_sqlite() -> DatabaseConnection {
        let mut options = ConnectOptions::new("sqlite::memory:");
        // Every connection to `:memory:` is its own database: keep exactly one.
        options.max_connections(1).min_connections(1);
        let db = Database::connect(options)
            .await
            .expect("opening in-memory sqlite");
        natter_entities::migrate(&db).await.expect("migrating");
        db
    }

    async fn admin(db: &DatabaseConnection, args: &[&str]) -> anyhow::Result<Value> {
        let cli = AdminCli::try_parse_from(std::iter::once("admin").chain(args.iter().copied()))
            .expect("parsing the command line");
        Ok(run(cli.command, db).await?.json)
    }

    fn field<'a>(output: &'a Value, name: &str) -> &'a Value {
        output.get(name).unwrap_or(&Value::Null)
    }

    #[tokio::test]
    async fn admin_commands_provision_and_revoke() {
        let db = migrated_sqlite().await;

        let user = admin(
            &db,
            &[
                "user",
                "create",
                "--phone",
                "+1 555 123 0001",
                "--name",
                "Ada",
            ],
        )
        .await
        .expect("creating a user");
        let user_id = field(&user, "user_id").as_i64().expect("user_id");
        let device_id = field(&user, "device_id").as_i64().expect("device_id");
        assert_eq!(field(&user, "role"), "user");
        assert_eq!(field(&user, "mqtt_username"), &format!("d{device_id}"));
        let password = field(&user, "mqtt_password").as_str().expect("password");
        let outcome =
            natter_accounts::authenticate(&db, &format!("d{device_id}"), password.as_bytes())
                .await
                .expect("authenticating");
        assert!(matches!(outcome, AuthOutcome::Accepted(_)));

        let sensor_args = [
            "device",
            "create",
            "--user-id",
            &user_id.to_string(),
            "--name",
            "Kitchen sensor",
        ];
        let sensor = admin(&db, &sensor_args).await.expect("adding a device");
        assert_eq!(field(&sensor, "user_id"), user_id);
        assert_eq!(field(&sensor, "role"), "device");
        let sensor_id = field(&sensor, "device_id").as_i64().expect("device_id");

        let revoked = admin(
            &db,
            &["device", "revoke", "--device-id", &sensor_id.to_string()],
        )
        .await
        .expect("revoking a device");
        assert_eq!(
            revoked,
            json!({"device_id": sensor_id, "user_id": user_id, "revoked": true})
        );

        let operator = admin(&db, &["operator", "create", "--name", "ops"])
            .await
            .expect("creating an operator");
        assert_eq!(field(&operator, "role"), "operator");
        assert_eq!(
            field(&operator, "mqtt_password").as_str().map(str::len),
            Some(43)
        );
    }

    #[tokio::test]
    async fn admin_errors_are_one_line() {
        let db = migrated_sqlite().await;

        let invalid = admin(&db, &["user", "create", "--phone", "5551230001"]).await;
        let unknown = admin(&db, &["device", "revoke", "--device-id", "42"]).await;

        let invalid = format!("{:#}", invalid.expect_err("an invalid phone fails"));
        assert!(
            invalid.starts_with("creating the user: invalid phone number"),
            "{invalid}"
        );
        let unknown = format!("{:#}", unknown.expect_err("an unknown device fails"));
        assert_eq!(unknown, "revoking device 42: device 42 does not exist");
        assert!(!invalid.contains('\n') && !unknown.contains('\n'));
    }

    #[test]
    fn operators_are_not_a_device_role() {
        let parsed = AdminCli::try_parse_from([
            "admin",
            "device",
            "create",
            "--user-id",
            "1",
            "--name",
            "x",
            "--role",
            "operator",
        ]);
        assert!(parsed.is_err());
    }
}
