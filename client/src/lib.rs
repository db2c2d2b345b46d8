//! natter's client library: log in with a device's credentials over MQTT 5, send messages
//! until the server confirms them, receive every message once and in inbox order, and resume
//! after a reconnect or a restart from a cursor.
//!
//! ```no_run
//! # async fn demo() -> natter_client::Result<()> {
//! use natter_client::{Client, Event, Login, Options, Target};
//! let login = Login::new(1, "d1", "password-printed-by-natter-admin")?;
//! let (client, mut events) = Client::connect("127.0.0.1:1883", login, Options::default()).await?;
//! let id = client.send(Target::User(2), b"hello".to_vec(), None)?;
//! while let Some(event) = events.next().await {
//!     if let Event::Sent { id: sent, server_id, .. } = &event && *sent == id {
//!         println!("stored as {server_id}");
//!         break;
//!     }
//! }
//! client.close().await;
//! # Ok(()) }
//! ```
//!
//! What the library does for the application (docs/PROTOCOL.md §4a):
//! - subscribes to `u/{me}/inbox` and `u/{me}/reply/{device}` after every (re)connect, before
//!   it publishes anything;
//! - keeps every send until `sent` arrives for its id and publishes it again, with the same id,
//!   after a reconnect or when no answer came within [`Options::resend_after`] (the server
//!   stores a client id once, so a resend never makes a second message);
//! - keeps a cursor (the highest `inbox_seq` handed to the application), optionally persisted
//!   through a [`CursorStore`], sends `sync` with it after every connect, drops any message at
//!   or below it, and holds a live message that skips a position until a `sync` fills the gap:
//!   the application sees each message once, in inbox order;
//! - reconnects with exponential backoff when the connection is lost.

mod cursor;
mod error;
mod session;

use std::time::Duration;

pub use cursor::{CursorStore, FileCursor, MemoryCursor};
pub use error::{Error, Result};
pub use natter_proto::envelope::{MessageKind, ReceiptStatus, Target};
use tokio::sync::{mpsc, oneshot};

/// A device's credentials, as `natter admin user create` prints them.
#[derive(Clone, Debug)]
pub struct Login {
    /// The user the device belongs to (topics are per user).
    pub user_id: i64,
    /// The device (the username is `d<device_id>`).
    pub device_id: i64,
    /// The MQTT username, `d<device_id>`.
    pub username: String,
    /// The MQTT password.
    pub password: String,
}

impl Login {
    /// Credentials for user `user_id` with MQTT `username` (`d<device id>`) and `password`.
    ///
    /// # Errors
    /// [`Error::Username`] when the username is not `d<device id>`.
    pub fn new(user_id: i64, username: &str, password: &str) -> Result<Login> {
        let device_id = username
            .strip_prefix('d')
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| Error::Username {
                username: username.to_owned(),
            })?;
        Ok(Login {
            user_id,
            device_id,
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }

    /// Reads the JSON object `natter admin user create` (or `device create`) prints.
    ///
    /// # Errors
    /// [`Error::Credentials`] when a field is missing or has the wrong type.
    pub fn from_admin_json(json: &str) -> Result<Login> {
        #[derive(serde::Deserialize)]
        struct Printed {
            user_id: i64,
            device_id: i64,
            mqtt_username: String,
            mqtt_password: String,
        }
        let printed: Printed = serde_json::from_str(json).map_err(Error::Credentials)?;
        Ok(Login {
            user_id: printed.user_id,
            device_id: printed.device_id,
            username: printed.mqtt_username,
            password: printed.mqtt_password,
        })
    }
}

/// How the client behaves; [`Options::default`] suits phones and bots.
pub struct Options {
    /// MQTT keep-alive.
    pub keep_alive: Duration,
    /// First wait before reconnecting; doubles after each failed attempt.
    pub reconnect_min: Duration,
    /// Longest wait between reconnect attempts.
    pub reconnect_max: Duration,
    /// Publish a send (or a sync) again when no answer came within this long.
    pub resend_after: Duration,
    /// Where the cursor is kept; in memory from 0 when `None`.
    pub cursor: Option<Box<dyn CursorStore>>,
    /// The MQTT client id; a random one when `None` (natter identifies the device by its
    /// username, not by the client id).
    pub client_id: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            keep_alive: Duration::from_secs(30),
            reconnect_min: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(10),
            resend_after: Duration::from_secs(5),
            cursor: None,
            client_id: None,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("keep_alive", &self.keep_alive)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("resend_after", &self.resend_after)
            .field("cursor", &self.cursor.as_ref().map(|_| "…"))
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// A message delivered to this user, handed to the application once, in inbox order. `from`
/// equal to this user means an own message sent from another device of the user (or from
/// this device before its cursor was lost): show it as sent by me.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The server's id (for receipts and replies).
    pub server_id: i64,
    /// Position in this user's inbox (the cursor after this message).
    pub inbox_seq: i64,
    /// The conversation.
    pub conversation_id: i64,
    /// Position in the conversation.
    pub seq: i64,
    /// The group, for group messages.
    pub group_id: Option<i64>,
    /// The sender.
    pub from: i64,
    /// The sending device.
    pub from_device: i64,
    /// The opaque body.
    pub body: Vec<u8>,
    /// The message this one answers.
    pub reply_to: Option<i64>,
    /// An attached media item.
    pub media: Option<i64>,
    /// What this entry is (a plain message, an edit, a reaction…).
    pub kind: MessageKind,
    /// The message an edit, deletion or reaction is about.
    pub reference: Option<i64>,
    /// When the message disappears, unix milliseconds.
    pub expires_at: Option<i64>,
    /// The message was deleted for everyone (its body and media are gone).
    pub deleted: bool,
    /// When the server stored it, unix milliseconds.
    pub ts: i64,
}

/// What the client reports to the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Connected and subscribed; a `sync` from the cursor and any unconfirmed sends follow.
    Connected,
    /// The connection was lost; the client reconnects with backoff.
    Disconnected {
        /// What ended the connection.
        reason: String,
    },
    /// A message for this user (never one at or below the cursor), or an own message from
    /// another device of the user (`from` is this user). A send of this very client is
    /// reported as [`Event::Sent`] only, never also as a message.
    Message(Message),
    /// A device of this user (another one, or this one) read a conversation up to `seq`:
    /// mark it read. Handed over in inbox order like messages.
    Read {
        /// The conversation.
        conversation_id: i64,
        /// The highest position in the conversation read.
        seq: i64,
        /// Position in this user's inbox.
        inbox_seq: i64,
    },
    /// The server stored a send of this client (reported once per id).
    Sent {
        /// The client id of the send.
        id: String,
        /// The server's id.
        server_id: i64,
        /// The conversation.
        conversation_id: i64,
        /// Position in the conversation.
        seq: i64,
        /// When the server stored it, unix milliseconds.
        ts: i64,
    },
    /// Recipients received or read messages this user sent.
    Receipt {
        /// `delivered` or `read`.
        status: ReceiptStatus,
        /// Server ids of the messages.
        ids: Vec<i64>,
        /// The recipient.
        by: i64,
    },
    /// A sync finished: every message up to `upto` has been handed over (the client asks
    /// for the pages of a long sync one after the other and reports the last).
    Synced {
        /// The inbox position the sync reached.
        upto: i64,
    },
    /// The server refused a request. A refused send (any code but `unavailable`) is not
    /// sent again; `unavailable` ones are.
    Error {
        /// The client id, when the request was a send.
        id: Option<String>,
        /// The server's code (`not_a_member`, `unknown_recipient`…), or `cursor_store`
        /// when the cursor could not be saved.
        code: String,
        /// A human explanation.
        message: String,
    },
    /// Any other server event (typing, call results, group receipts…), as received.
    Other(natter_proto::envelope::Event),
}

/// The stream of [`Event`]s of one client.
#[derive(Debug)]
pub struct Events {
    receiver: mpsc::UnboundedReceiver<Event>,
}

impl Events {
    /// The next event; `None` once the client is closed.
    pub async fn next(&mut self) -> Option<Event> {
        self.receiver.recv().await
    }
}

/// A connected natter client; cheap to clone, closed by [`Client::close`] or when every clone
/// is dropped.
#[derive(Clone, Debug)]
pub struct Client {
    commands: mpsc::UnboundedSender<session::Command>,
    login_user: i64,
    login_device: i64,
}

impl Client {
    /// Connects to `addr` (`host:port`) as `login`, subscribes, and starts resuming from the
    /// cursor. Returns once the first connection is up; later losses are reconnected in the
    /// background and reported as [`Event::Disconnected`] / [`Event::Connected`].
    ///
    /// # Errors
    /// [`Error::Address`] for a malformed address, [`Error::Cursor`] when the cursor cannot be
    /// loaded, [`Error::Connect`] when the first connection fails (refused credentials,
    /// nothing listening, subscriptions refused).
    pub async fn connect(addr: &str, login: Login, options: Options) -> Result<(Client, Events)> {
        let (host, port) = addr
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host.trim_matches(['[', ']']), port.parse().ok()?)))
            .filter(|(host, _)| !host.is_empty())
            .ok_or_else(|| Error::Address {
                addr: addr.to_owned(),
            })?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, receiver) = mpsc::unbounded_channel();
        let (first_tx, first_rx) = oneshot::channel();
        let (user, device) = (login.user_id, login.device_id);
        session::start(host, port, login, options, command_rx, event_tx, first_tx)?;
        match first_rx.await {
            Ok(Ok(())) => Ok((
                Client {
                    commands,
                    login_user: user,
                    login_device: device,
                },
                Events { receiver },
            )),
            Ok(Err(reason)) => Err(Error::Connect { reason }),
            Err(_) => Err(Error::Closed),
        }
    }

    /// This client's user id.
    pub fn user_id(&self) -> i64 {
        self.login_user
    }

    /// This client's device id.
    pub fn device_id(&self) -> i64 {
        self.login_device
    }

    /// Queues a message for `to` and returns its client id (`client_id`, or a fresh UUID).
    /// The client publishes it until [`Event::Sent`] for that id arrives.
    ///
    /// # Errors
    /// [`Error::Closed`] when the client is closed.
    pub fn send(&self, to: Target, body: Vec<u8>, client_id: Option<String>) -> Result<String> {
        let id = client_id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        self.command(session::Command::Send {
            id: id.clone(),
            to,
            body,
        })?;
        Ok(id)
    }

    /// Tells the senders that these messages were `delivered` or `read` (best effort: a
    /// receipt is not repeated if the connection drops).
    ///
    /// # Errors
    /// [`Error::Closed`] when the client is closed.
    pub fn receipt(&self, status: ReceiptStatus, ids: Vec<i64>) -> Result<()> {
        self.command(session::Command::Receipt { status, ids })
    }

    /// Reads the inbox again after position `after`: the cursor moves back (or forward) to
    /// `after`, so messages after it are handed over again, then [`Event::Synced`].
    ///
    /// # Errors
    /// [`Error::Closed`] when the client is closed.
    pub fn sync(&self, after: i64) -> Result<()> {
        self.command(session::Command::Sync { after })
    }

    /// Sends DISCONNECT and stops; sends without `sent` yet are abandoned.
    pub async fn close(self) {
        let (done, wait) = oneshot::channel();
        if self.command(session::Command::Close { done }).is_ok() {
            let _ = wait.await;
        }
    }

    fn command(&self, command: session::Command) -> Result<()> {
        self.commands.send(command).map_err(|_| Error::Closed)
    }
}
