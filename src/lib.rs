//! The `natter` binary's wiring: settings → telemetry → the parts (broker, bridge, workers,
//! HTTP), each on a child of one shutdown token. Kept as a library so that tests start the
//! very same app in-process.

pub mod admin;
pub mod app;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod control;
pub mod db;
pub mod limits;
pub mod presence;
pub mod service_password;
pub mod signals;
pub mod telemetry;
