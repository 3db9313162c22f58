//! Store retries, the same for every stage: a store that blinks (a restart, a failover) is
//! waited for with capped exponential backoff and jitter ([`STORE_BACKOFF`]); one that stays
//! down ends the unit with [`UnitError::Store`], which stops the run (exit 3) with everything
//! committed before kept. Only [`StoreError::Unavailable`] is retried: a corrupt chunk or a
//! backend's refusal does not cure itself.

use std::time::Duration;

use backon::Retryable;
use xlfeed_core::Symbol;
use xlfeed_core::retry::Backoff;
use xlfeed_store::{Dataset, Kind, Store, StoreError};

use super::runner::UnitError;

/// Attempts at one store call before the store counts as down: 0.5 s doubling to 8 s between
/// them, each pause stretched by up to as much again (jitter), so 15 to 30 s in all.
pub(crate) const STORE_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(500), Duration::from_secs(8), 6);

/// Which store a call is on, for the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// SSDB-FEED.
    Feed,
    /// SSDB-POST.
    Post,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Feed => "FEED",
            Role::Post => "POST",
        }
    }
}

/// Runs the store call `op` on `store`, retried while the store is unavailable (see the
/// module documentation); a failure that remains names the store.
pub(crate) async fn store_call<T, F, Fut>(store: &Store, role: Role, op: F) -> Result<T, UnitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    op.retry(STORE_BACKOFF.builder())
        .when(|e| matches!(e, StoreError::Unavailable { .. }))
        .notify(|e, pause| {
            tracing::warn!(
                error = %e,
                pause_ms = pause.as_millis() as u64,
                "the {} store is unavailable; retrying",
                role.name()
            );
        })
        .await
        .map_err(|error| UnitError::Store {
            store: format!("the {} store {}", role.name(), store.url()),
            error,
        })
}

/// [`Store::ensure_registered`] for the series of `kind` whose days a run skips (their
/// registry entries are not written again with them), retried as [`store_call`]; those
/// found missing and written back are logged.
pub(crate) async fn ensure_registered(
    store: &Store,
    role: Role,
    ds: Dataset,
    kind: Kind,
    symbols: &[Symbol],
) -> Result<(), UnitError> {
    let restored = store_call(store, role, || store.ensure_registered(ds, kind, symbols)).await?;
    if let Some(first) = restored.first() {
        tracing::warn!(
            kind = %kind,
            symbols = restored.len(),
            first = %first,
            "series with stored days were missing from the registry; registered again"
        );
    }
    Ok(())
}
