//! A migrated in-memory database, the rules over it, users, and readers of outcomes.

use std::sync::Arc;
use std::time::Duration;

use natter_chat::{Caller, Chat, ChatSettings, DatabaseHealth, Out, Outcome, Refusal, Request};
use natter_proto::envelope::{Event, Target};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

/// The rules over a fresh database, and a clock.
pub(crate) struct World {
    pub(crate) chat: Chat,
    pub(crate) db: DatabaseConnection,
    users: u32,
    now: i64,
}

/// A fresh, migrated in-memory database and the rules over it (group limit 1024, edit
/// window 15 min, typing interval 2 s).
pub(crate) async fn world() -> World {
    let mut options = ConnectOptions::new("sqlite::memory:");
    // Every connection to `:memory:` is its own database: keep exactly one.
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .expect("opening in-memory sqlite");
    natter_entities::migrate(&db).await.expect("migrating");
    let settings = ChatSettings {
        messaging: natter_config::MessagingSettings {
            group_member_limit: 1024,
            edit_window_secs: 900,
            typing_interval_ms: 2000,
        },
        accounts: natter_config::AccountsSettings::default(),
        presence: None,
    };
    let health = Arc::new(DatabaseHealth::new(Duration::from_secs(5)));
    World {
        chat: Chat::new(db.clone(), settings, health),
        db,
        users: 0,
        now: 1_700_000_000_000,
    }
}

impl World {
    /// A new user with one device, calling at the world's clock.
    pub(crate) async fn user(&mut self) -> Caller {
        self.users += 1;
        let phone = format!("+1555123{:04}", self.users);
        let name = format!("user {}", self.users);
        let credentials = natter_accounts::create_user(&self.db, &phone, &name)
            .await
            .expect("creating a user");
        Caller {
            user: credentials.user_id,
            device: credentials.device_id,
            now: self.now,
        }
    }

    /// What the rules answer to one request.
    pub(crate) async fn one(&mut self, caller: Caller, request: Request) -> Outcome {
        let mut outcomes = self.chat.handle_batch(vec![(caller, request)]).await;
        assert_eq!(outcomes.len(), 1, "one outcome per request");
        outcomes.pop().unwrap_or_default()
    }

    /// What the rules answer to `requests` handled as one batch.
    pub(crate) async fn batch(&mut self, requests: Vec<(Caller, Request)>) -> Vec<Outcome> {
        let count = requests.len();
        let outcomes = self.chat.handle_batch(requests).await;
        assert_eq!(outcomes.len(), count, "one outcome per request");
        outcomes
    }
}

/// A text message with client id `id` to `to`.
pub(crate) fn send(id: &str, to: Target) -> Request {
    Request::Send {
        id: id.to_owned(),
        to,
        body: format!("body of {id}").into_bytes(),
        reply_to: None,
        media: None,
    }
}

/// The server id in the `sent` of `outcome`, if it has one.
pub(crate) fn sent(outcome: &Outcome) -> Option<i64> {
    outcome.iter().find_map(|out| match out {
        Out::Event(_, Event::Sent { server_id, .. }) => Some(*server_id),
        _ => None,
    })
}

/// The refusal in `outcome`, if it has one.
pub(crate) fn refusal(outcome: &Outcome) -> Option<&Refusal> {
    outcome.iter().find_map(|out| match out {
        Out::Refused(refused) => Some(&refused.refusal),
        _ => None,
    })
}

/// The `message` events of `outcome` (server id, addressee).
pub(crate) fn messages(outcome: &Outcome) -> Vec<(i64, natter_chat::Address)> {
    outcome
        .iter()
        .filter_map(|out| match out {
            Out::Event(address, Event::Message { server_id, .. }) => Some((*server_id, *address)),
            _ => None,
        })
        .collect()
}

/// The result of a call answered in `outcome`.
pub(crate) fn result(outcome: &Outcome) -> Option<&serde_json::Value> {
    outcome.iter().find_map(|out| match out {
        Out::Event(_, Event::Result { result, .. }) => Some(result),
        _ => None,
    })
}
