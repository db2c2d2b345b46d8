//! Who a connection is, and the questions the edge asks about it. The answers come from the
//! accounts store, injected by the binary: the broker does not read the database itself.

use std::future::Future;
use std::pin::Pin;

/// A boxed future, the return type of [`Authenticator`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an authenticated connection may do; see docs/PROTOCOL.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A person's phone or companion: its own `u/{user}/…` topics and its groups' `g/{id}/…`.
    User,
    /// An IoT-style device or bot: its own `d/{device}/…` namespace.
    Device,
    /// Read-only monitoring of any topic; publishes nothing.
    Operator,
}

/// An authenticated device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The account.
    pub user_id: i64,
    /// The device (one credential per device).
    pub device_id: i64,
    /// What it may do.
    pub role: Role,
}

/// The outcome of checking a CONNECT's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials are valid.
    Accepted(Identity),
    /// Unknown username or wrong password (CONNACK "bad user name or password").
    BadCredentials,
    /// Valid once, but the device was revoked (CONNACK "not authorized").
    Revoked,
}

/// The accounts store, as the edge needs it.
pub trait Authenticator: Send + Sync + 'static {
    /// Checks a username and password from a CONNECT.
    ///
    /// # Errors
    /// A message for the log when the store cannot answer (the client gets "server
    /// unavailable", never a false refusal).
    fn authenticate<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<Verdict, String>>;

    /// Whether `user_id` is a member of group `group_id` now.
    ///
    /// # Errors
    /// A message for the log when the store cannot answer (the subscription is refused).
    fn is_member(&self, user_id: i64, group_id: i64) -> BoxFuture<'_, Result<bool, String>>;
}
