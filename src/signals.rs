//! SIGINT/SIGTERM handling: the first signal cancels the root token, a second one exits at
//! once.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Exit code after a second signal, as shells report an interrupted program.
const FORCED_EXIT_CODE: i32 = 130;

/// Returns a token that is cancelled on the first SIGINT or SIGTERM. A second signal ends
/// the process immediately with exit code 130.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub fn shutdown_token() -> std::io::Result<CancellationToken> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        info!("shutdown requested, draining (signal again to exit at once)");
        cancel.cancel();
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        warn!("second signal, exiting at once");
        std::process::exit(FORCED_EXIT_CODE);
    });
    Ok(token)
}
