//! Process limits: every client connection is a file descriptor, so the open-files soft
//! limit (1024 on a stock Linux login) would cap natter far below `mqtt.max_connections`.
//! HTTP gets a share of the descriptors, never all: stalled HTTP clients must not leave MQTT
//! (or `/healthz`) without descriptors.

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use tracing::{info, warn};

/// Descriptors kept for the database, listeners, logs and the like.
const RESERVED: u64 = 256;

/// HTTP may use at most this fraction (1/n) of the descriptors left after [`RESERVED`].
const HTTP_SHARE_DIVISOR: u64 = 4;

/// Raises the open-files soft limit to the hard limit and warns when that is still below what
/// `max_connections` needs. Never fails start-up: a lower limit only means fewer clients.
/// Returns the limit in effect (`None` when it cannot be read).
pub fn raise_open_files(max_connections: usize) -> Option<u64> {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return None;
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
    Some(limit)
}

/// The HTTP connection bound: `configured` (`http.max_connections`), but at most a quarter of
/// the descriptors `open_files` leaves after the reserve (and at least 1), so that MQTT keeps
/// the rest whatever HTTP clients do.
pub fn http_connections(configured: usize, open_files: Option<u64>) -> usize {
    let Some(open_files) = open_files else {
        return configured;
    };
    let share = (open_files.saturating_sub(RESERVED) / HTTP_SHARE_DIVISOR).max(1);
    let share = usize::try_from(share).unwrap_or(usize::MAX);
    if share < configured {
        warn!(
            open_files,
            http_max_connections = configured,
            using = share,
            "the open-files limit leaves HTTP {share} connections (a quarter of what the reserve leaves); raise it (ulimit -n / LimitNOFILE) to serve NATTER__HTTP__MAX_CONNECTIONS"
        );
    }
    configured.min(share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_gets_at_most_a_quarter_of_what_the_reserve_leaves() {
        assert_eq!(http_connections(1024, Some(1_048_576)), 1024);
        assert_eq!(http_connections(1024, Some(1024)), 192);
        assert_eq!(http_connections(1024, Some(100)), 1);
        assert_eq!(http_connections(1024, None), 1024);
    }
}
