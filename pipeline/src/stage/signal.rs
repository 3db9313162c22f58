//! The one shutdown signal of xlfeed's programs: ctrl-c (SIGINT) or SIGTERM. `xlpipeline`'s
//! stages and simulator and `xlserver` all wait on [`shutdown_signal`].
//!
//! When one of the two handlers cannot be installed, that is logged and the other still
//! stops the program; the failure never counts as a signal (a program that stopped at once
//! because it could not listen for ctrl-c would be a surprise in a container).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Resolves on ctrl-c or SIGTERM. A handler that cannot be installed is logged and waited
/// on no further; with neither, this never resolves.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c; SIGTERM still stops");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                if s.recv().await.is_none() {
                    std::future::pending::<()>().await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; ctrl-c still stops");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Sets `stop` on the shutdown signal: the run starts no more units, the ones in flight
/// finish and commit.
pub(crate) fn watch(stop: Arc<AtomicBool>, stage: &'static str) {
    tokio::spawn(async move {
        shutdown_signal().await;
        eprintln!("{stage}: stopping after the units in flight (signal received)");
        stop.store(true, Ordering::SeqCst);
    });
}
