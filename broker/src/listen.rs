//! Binding listeners with errors that name the setting to change.

use std::net::SocketAddr;

use crate::error::{Error, Result};

/// Checks that `addr` can be bound now, so that a taken port is reported at start-up with
/// the setting that chose it. rumqttd binds its listener itself, inside `Server::start`,
/// so the check binds and releases the address just before.
pub(crate) fn check_free(addr: SocketAddr, setting: &'static str) -> Result<()> {
    std::net::TcpListener::bind(addr)
        .map(drop)
        .map_err(|source| Error::bind(addr, setting, source))
}
