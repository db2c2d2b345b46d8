//! This process's file-descriptor limit: every held connection is one descriptor here and one
//! in the server, so the soft limit is raised to the hard one before the ramp.

use anyhow::Context;
use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the new soft limit.
///
/// # Errors
/// When the limits cannot be read or set.
pub(crate) fn raise_open_files() -> anyhow::Result<u64> {
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).context("reading the open-files limit")?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
            .context("raising the open-files limit to the hard limit")?;
    }
    Ok(hard)
}
