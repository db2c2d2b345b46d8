//! Connects the broker's edge to the accounts store: the edge asks, the accounts crate
//! answers from the database. Wiring only.

use natter_accounts::AuthOutcome;
use natter_broker::{Authenticator, BoxFuture, Identity, Role, Verdict};
use sea_orm::DatabaseConnection;

/// The accounts store as the edge's [`Authenticator`].
#[derive(Clone, Debug)]
pub struct AccountsAuthenticator {
    db: DatabaseConnection,
}

impl AccountsAuthenticator {
    /// An authenticator reading `db`.
    pub fn new(db: DatabaseConnection) -> AccountsAuthenticator {
        AccountsAuthenticator { db }
    }
}

impl Authenticator for AccountsAuthenticator {
    fn authenticate<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<Verdict, String>> {
        Box::pin(async move {
            let outcome = natter_accounts::authenticate(&self.db, username, password.as_bytes())
                .await
                .map_err(|err| format!("{:#}", anyhow::Error::from(err)))?;
            Ok(match outcome {
                AuthOutcome::Accepted(identity) => Verdict::Accepted(Identity {
                    user_id: identity.user_id,
                    device_id: identity.device_id,
                    role: match identity.role {
                        natter_accounts::Role::User => Role::User,
                        natter_accounts::Role::Device => Role::Device,
                        natter_accounts::Role::Operator => Role::Operator,
                    },
                }),
                AuthOutcome::UnknownUser | AuthOutcome::BadPassword => Verdict::BadCredentials,
                AuthOutcome::Revoked => Verdict::Revoked,
            })
        })
    }

    fn is_member(&self, user_id: i64, group_id: i64) -> BoxFuture<'_, Result<bool, String>> {
        Box::pin(async move {
            natter_accounts::is_member(&self.db, user_id, group_id)
                .await
                .map_err(|err| format!("{:#}", anyhow::Error::from(err)))
        })
    }
}
