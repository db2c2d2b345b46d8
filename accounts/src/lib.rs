//! natter's accounts: users and their devices, the MQTT credentials of each device, how the
//! broker checks them, and group membership as the ACL needs it.
//!
//! This crate owns the rules around those rows (phone numbers in E.164, one secret per device,
//! hashed at rest, revocation); the table shapes belong to `natter-entities`. It knows nothing
//! of MQTT itself: the broker calls [`authenticate`] with what a client presented at CONNECT,
//! and the `natter admin` commands call the provisioning functions.
//!
//! Device secrets are 32 random bytes from the operating system, handed out once as base64url
//! and stored only as `sha256:<hex>` (the `secret` module explains why no slow KDF).

mod auth;
mod clock;
mod error;
mod membership;
mod phone;
pub mod privacy;
mod provisioning;
mod role;
mod secret;

pub use auth::{AuthOutcome, Identity, authenticate};
pub use clock::now_ms;
pub use error::{Error, Result};
pub use membership::is_member;
pub use provisioning::{Credentials, add_device, create_operator, create_user, revoke_device};
pub use role::Role;
