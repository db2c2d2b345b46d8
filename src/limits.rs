//! Process limits: every client connection is a file descriptor, so the open-files soft
//! limit (1024 on a stock Linux login) would cap natter far below `mqtt.max_connections`.

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use tracing::{info, warn};

/// Descriptors kept for the database, listeners, logs and the like.
const RESERVED: u64 = 256;

/// Raises the open-files soft limit to the hard limit and warns when that is still below what
/// `max_connections` needs. Never fails start-up: a lower limit only means fewer clients.
pub fn raise_open_files(max_connections: usize) {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let limit = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        info!(from = soft, to = hard, "raised the open-files limit");
        hard
    } else {
        soft
    };
    let wanted = u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_add(RESERVED);
    if limit < wanted {
        warn!(
            open_files = limit,
            max_connections,
            "the open-files limit allows about {} client connections; raise it (ulimit -n / LimitNOFILE) or lower NATTER__MQTT__MAX_CONNECTIONS",
            limit.saturating_sub(RESERVED)
        );
    }
}
