//! The one shutdown signal of xlfeed's programs: ctrl-c (SIGINT) or SIGTERM. `xlpipeline`'s
//! stages and simulator and `xlserver` all wait on [`shutdown_signal`].
//!
//! When one of the two handlers cannot be installed, that is logged and the other still
//! stops the program; the failure never counts as a signal (a program that stopped at once
//! because it could not listen for ctrl-c would be a surprise in a container).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(unix)]
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The shutdown signal's handlers, installed when this is made ([`ShutdownSignal::listen`]):
/// from then on ctrl-c and SIGTERM are caught, even before anything awaits them, so a signal
/// sent as soon as a program says it is ready stops it cleanly instead of killing it.
#[derive(Debug)]
pub struct ShutdownSignal {
    #[cfg(unix)]
    interrupt: Option<Signal>,
    #[cfg(unix)]
    terminate: Option<Signal>,
}

impl ShutdownSignal {
    /// Installs the handlers now. One that cannot be installed is logged and left out; the
    /// failure never counts as a signal.
    pub fn listen() -> ShutdownSignal {
        #[cfg(unix)]
        {
            let install = |kind: SignalKind, name: &str, other: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for {name}; {other} still stops");
                    None
                }
            };
            ShutdownSignal {
                interrupt: install(SignalKind::interrupt(), "ctrl-c", "SIGTERM"),
                terminate: install(SignalKind::terminate(), "SIGTERM", "ctrl-c"),
            }
        }
        #[cfg(not(unix))]
        ShutdownSignal {}
    }

    /// Resolves on ctrl-c or SIGTERM; with neither handler, never.
    pub async fn recv(self) {
        #[cfg(unix)]
        {
            async fn next(s: Option<Signal>) {
                if let Some(mut s) = s
                    && s.recv().await.is_some()
                {
                    return;
                }
                std::future::pending::<()>().await;
            }
            tokio::select! {
                () = next(self.interrupt) => {}
                () = next(self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    }
}

/// Resolves on ctrl-c or SIGTERM (handlers installed at the first poll; to catch a signal
/// sent before that, make a [`ShutdownSignal`] first). A handler that cannot be installed
/// is logged and waited on no further; with neither, this never resolves.
pub async fn shutdown_signal() {
    ShutdownSignal::listen().recv().await;
}

/// Sets `stop` on the shutdown signal: the run starts no more units, the ones in flight
/// finish and commit.
pub(crate) fn watch(stop: Arc<AtomicBool>, stage: &'static str) {
    let signal = ShutdownSignal::listen();
    tokio::spawn(async move {
        signal.recv().await;
        eprintln!("{stage}: stopping after the units in flight (signal received)");
        stop.store(true, Ordering::SeqCst);
    });
}
