//! The command line of `natter-client`: one subcommand per use, events printed as JSON lines.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use natter_client::{
    Client, Event, FileCursor, Login, MemoryCursor, MessageKind, Options, ReceiptStatus, Target,
};
use serde_json::{Value, json};

/// A small natter client: log in with a device's credentials, then send, listen or sync.
#[derive(Debug, Parser)]
#[command(name = "natter-client", version, about)]
pub(crate) struct Args {
    /// The natter MQTT listener, host:port.
    #[arg(long, env = "NATTER_SERVER", default_value = "127.0.0.1:1883")]
    server: String,
    /// The device's MQTT username, d<device id>.
    #[arg(long, env = "NATTER_USERNAME", required_unless_present = "credentials")]
    username: Option<String>,
    /// The device's MQTT password.
    #[arg(
        long,
        env = "NATTER_PASSWORD",
        hide_env_values = true,
        required_unless_present = "credentials"
    )]
    password: Option<String>,
    /// The user the device belongs to (topics are per user).
    #[arg(long, env = "NATTER_USER_ID", required_unless_present = "credentials")]
    user_id: Option<i64>,
    /// A file holding the JSON `natter admin user create` printed, instead of the three above.
    #[arg(long, conflicts_with_all = ["username", "password", "user_id"])]
    credentials: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send one message, wait until the server stored it, print its server id.
    Send {
        /// user:<id> or group:<id>.
        #[arg(long, value_parser = parse_target)]
        to: Target,
        /// The message text.
        text: String,
        /// The client id (a fresh one by default); the same id is stored once.
        #[arg(long)]
        id: Option<String>,
        /// How long to wait for "sent", in seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Print every event as a JSON line and send delivered receipts, until interrupted.
    Listen {
        /// Resume from (and keep) the inbox cursor in this file.
        #[arg(long)]
        cursor_file: Option<PathBuf>,
        /// Do not send delivered receipts.
        #[arg(long)]
        no_receipts: bool,
    },
    /// Print the messages after an inbox position, then exit.
    Sync {
        /// The inbox position to start after (0: everything).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// How long to wait for the end of the sync, in seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
}

fn parse_target(text: &str) -> Result<Target, String> {
    let invalid = || format!("expected user:<id> or group:<id>, got {text:?}");
    let (kind, id) = text.split_once(':').ok_or_else(invalid)?;
    let id = id.parse().map_err(|_| invalid())?;
    match kind {
        "user" => Ok(Target::User(id)),
        "group" => Ok(Target::Group(id)),
        _ => Err(invalid()),
    }
}

fn login(args: &Args) -> anyhow::Result<Login> {
    if let Some(path) = &args.credentials {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(Login::from_admin_json(&text)?);
    }
    match (&args.username, &args.password, args.user_id) {
        (Some(username), Some(password), Some(user_id)) => {
            Ok(Login::new(user_id, username, password)?)
        }
        _ => bail!("give --username, --password and --user-id, or --credentials"),
    }
}

/// Runs the subcommand.
///
/// # Errors
/// A refused login, an unreachable server, a refused send, or a timeout.
pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let login = login(&args)?;
    let mut options = Options::default();
    match &args.command {
        Command::Listen {
            cursor_file: Some(path),
            ..
        } => options.cursor = Some(Box::new(FileCursor::new(path))),
        Command::Sync { after, .. } => options.cursor = Some(Box::new(MemoryCursor(*after))),
        _ => {}
    }
    let me = login.user_id;
    let (client, mut events) = Client::connect(&args.server, login, options)
        .await
        .context("connecting")?;
    let outcome = match args.command {
        Command::Send {
            to,
            text,
            id,
            timeout,
        } => {
            let id = client.send(to, text.into_bytes(), id)?;
            within(timeout, async {
                while let Some(event) = events.next().await {
                    match &event {
                        Event::Sent { id: sent, .. } if *sent == id => {
                            println!("{}", event_json(&event));
                            return Ok(());
                        }
                        Event::Error {
                            id: Some(failed),
                            code,
                            message,
                        } if *failed == id && code != "unavailable" => {
                            // `unavailable` is not final: the client sends it again after
                            // the server's retry_after_ms.
                            bail!("the server refused the message: {code}: {message}")
                        }
                        _ => {}
                    }
                }
                bail!("the client stopped")
            })
            .await
        }
        Command::Listen { no_receipts, .. } => {
            while let Some(event) = events.next().await {
                println!("{}", event_json(&event));
                // Own messages from another device are not receipted: they were not delivered
                // to me by someone else.
                if let Event::Message(message) = &event
                    && !no_receipts
                    && message.from != me
                {
                    client.receipt(ReceiptStatus::Delivered, vec![message.server_id])?;
                }
            }
            Ok(())
        }
        Command::Sync { timeout, .. } => {
            within(timeout, async {
                while let Some(event) = events.next().await {
                    match &event {
                        Event::Message(_) | Event::Read { .. } => {
                            println!("{}", event_json(&event));
                        }
                        Event::Synced { .. } => {
                            println!("{}", event_json(&event));
                            return Ok(());
                        }
                        _ => {}
                    }
                }
                bail!("the client stopped")
            })
            .await
        }
    };
    client.close().await;
    outcome
}

async fn within(
    secs: u64,
    work: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(secs), work)
        .await
        .with_context(|| format!("no answer within {secs} s"))?
}

/// One event as the JSON line the CLI prints; a body that is UTF-8 is shown as `text` too.
fn event_json(event: &Event) -> Value {
    match event {
        Event::Connected => json!({"type": "connected"}),
        Event::Disconnected { reason } => json!({"type": "disconnected", "reason": reason}),
        Event::Message(message) => {
            let mut value = json!({
                "type": "message",
                "server_id": message.server_id,
                "inbox_seq": message.inbox_seq,
                "conversation_id": message.conversation_id,
                "seq": message.seq,
                "from": message.from,
                "from_device": message.from_device,
                "body": natter_proto_base64(&message.body),
                "ts": message.ts,
            });
            if let Ok(text) = std::str::from_utf8(&message.body) {
                value["text"] = json!(text);
            }
            if message.kind != MessageKind::Text {
                value["kind"] = json!(message.kind);
            }
            for (key, field) in [
                ("group_id", message.group_id),
                ("reply_to", message.reply_to),
                ("media", message.media),
                ("ref", message.reference),
                ("expires_at", message.expires_at),
            ] {
                if let Some(field) = field {
                    value[key] = json!(field);
                }
            }
            if message.deleted {
                value["deleted"] = json!(true);
            }
            value
        }
        Event::Sent {
            id,
            server_id,
            conversation_id,
            seq,
            ts,
        } => json!({"type": "sent", "id": id, "server_id": server_id,
                    "conversation_id": conversation_id, "seq": seq, "ts": ts}),
        Event::Receipt { status, ids, by } => {
            json!({"type": "receipt", "status": status, "ids": ids, "by": by})
        }
        Event::Synced { upto } => json!({"type": "synced", "upto": upto}),
        Event::Read {
            conversation_id,
            seq,
            inbox_seq,
        } => json!({"type": "read", "conversation_id": conversation_id, "seq": seq,
                    "inbox_seq": inbox_seq}),
        Event::Error { id, code, message } => {
            json!({"type": "error", "id": id, "code": code, "message": message})
        }
        Event::Other(event) => serde_json::to_value(event).unwrap_or(Value::Null),
    }
}

fn natter_proto_base64(body: &[u8]) -> Value {
    serde_json::to_value(natter_proto::envelope::Base64(body.to_vec())).unwrap_or(Value::Null)
}
