//! The `natter` binary's wiring: settings → telemetry → the parts (broker, bridge, workers,
//! HTTP), each on a child of one shutdown token. Kept as a library so that tests start the
//! very same app in-process.

pub mod app;
pub mod cli;
pub mod db;
pub mod signals;
pub mod telemetry;
