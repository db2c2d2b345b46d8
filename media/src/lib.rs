//! natter's media processing, free of storage and HTTP: what a file is (from its bytes, never
//! from the client's word), images decoded, stripped of metadata, resized and re-encoded with
//! a small thumbnail, and voice notes and videos transcoded with ffmpeg when it is installed.
//!
//! Everything here is CPU-bound or runs a child process; callers run [`image::process_image`]
//! in `spawn_blocking` and bound how many run at once.

mod error;
pub mod ffmpeg;
pub mod image;
pub mod sniff;

pub use error::{Error, Result};
pub use sniff::{Kind, Sniffed, sniff};
