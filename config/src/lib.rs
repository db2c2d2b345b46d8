//! natter's typed settings: the [`Settings`] tree, layered loading ([`load`]) and
//! validation ([`Settings::validate`]).
//!
//! Layers, lowest first: `base.toml` compiled into the binary, then the optional
//! `{dir}/{NATTER_ENV}.toml`, then environment variables `NATTER__SECTION__KEY` (double
//! underscores, so `NATTER__MQTT__MAX_PACKET_SIZE` sets `mqtt.max_packet_size`). Every
//! error names the offending key and its environment variable.
//!
//! This crate holds plain data. It builds no clients and installs no subscriber; the
//! crates that own a subsystem turn its section into whatever they need.

mod accounts;
mod error;
mod fields;
mod keys;
mod layers;
mod load;
mod media;
mod messaging;
mod network;
mod presence;
mod runtime;
mod settings;
mod stores;

pub use crate::accounts::{AccountsSettings, SmsSenderKind};
pub use crate::error::{Error, Result};
pub use crate::load::{load, load_from, load_with_env};
pub use crate::media::MediaSettings;
pub use crate::messaging::MessagingSettings;
pub use crate::network::{BridgeSettings, HttpSettings, MqttSettings};
pub use crate::presence::PresenceSettings;
pub use crate::runtime::{LogFormat, ShutdownSettings, TelemetrySettings, WorkersSettings};
pub use crate::settings::Settings;
pub use crate::stores::{DatabaseSettings, RedisSettings, StorageBackend, StorageSettings};

/// The source directory of this crate, which holds `base.toml`, `local.toml`, `test.toml`
/// and `production.toml`. For tests in this workspace: `load_from("test", FILES_DIR.as_ref())`.
pub const FILES_DIR: &str = env!("CARGO_MANIFEST_DIR");
