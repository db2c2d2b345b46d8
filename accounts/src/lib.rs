//! natter's accounts: users and their devices, the MQTT credentials of each device, how the
//! broker checks them, and group membership as the ACL needs it.
//!
//! This crate owns the rules around those rows (phone numbers in E.164, one secret per device,
//! hashed at rest, revocation); the table shapes belong to `natter-entities`. It knows nothing
//! of MQTT itself: the broker calls [`authenticate`] with what a client presented at CONNECT,
//! and the `natter admin` commands call the provisioning functions.
//!
//! The account operations clients call (`registration`, `devices`, `profile`, `contacts`,
//! `blocking`, `deletion`) are plain async functions over a database connection, the caller's
//! [`Identity`] and serde request/response types, so that HTTP (`natter-api`) and MQTT
//! request/response are thin adapters over the same rules; [`Error::code`] names each refusal.
//!
//! Device secrets are 32 random bytes from the operating system, handed out once as base64url
//! and stored only as `sha256:<hex>` (the `secret` module explains why no slow KDF).

mod auth;
pub mod blocking;
mod clock;
mod code;
pub mod contacts;
pub mod deletion;
pub mod devices;
mod error;
mod limits;
mod membership;
mod phone;
pub mod privacy;
pub mod profile;
mod provisioning;
pub mod registration;
mod role;
mod secret;
pub mod sms;

pub use auth::{AuthOutcome, Identity, authenticate};
pub use clock::now_ms;
pub use error::{Error, Result};
pub use membership::is_member;
pub use provisioning::{Credentials, add_device, create_operator, create_user, revoke_device};
pub use role::Role;
