//! What answering may cost: every call runs under a [`Meter`] that charges the rows its answer
//! grows by against two budgets, and stops the call as soon as either is spent or its request
//! is gone:
//!
//! - the **request's budget** ([`Spend`]): a batch's answers together at most
//!   `limits.max_response_bytes` (Excel on the web's payload cap); a single call at most the
//!   server's whole budget;
//! - the **server's budget**: answer bytes held in memory by every call being answered and
//!   every answer not yet sent, at most `limits.max_answers_in_flight_bytes` (a semaphore of
//!   KiB permits, held until the response body is dropped).
//!
//! Rows are charged as they are pushed ([`Table::push`](crate::table::Table::push)) at an
//! estimate of their size (about what they take in memory and as JSON), in steps of
//! [`STEP`] so that the budgets are touched rarely. A call whose request timed out or whose
//! client went away stops at its next row or chunk ([`checkpoint`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, ApiResult};

/// Bytes taken from the budgets at a time.
pub const STEP: usize = 64 << 10;
/// The server budget's unit: one permit is this many bytes.
const PERMIT_BYTES: usize = 1 << 10;

tokio::task_local! {
    static METER: Meter;
}

/// The server-wide budget of answer bytes in flight.
#[derive(Debug, Clone)]
pub struct ServerBudget {
    permits: Arc<Semaphore>,
    bytes: usize,
}

impl ServerBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> ServerBudget {
        let n = (bytes / PERMIT_BYTES).clamp(1, Semaphore::MAX_PERMITS);
        ServerBudget {
            permits: Arc::new(Semaphore::new(n)),
            bytes: n * PERMIT_BYTES,
        }
    }

    /// The whole budget, bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        (self.bytes / PERMIT_BYTES).saturating_sub(self.permits.available_permits()) * PERMIT_BYTES
    }
}

/// One request's spending: its budget of answer bytes, and whether it is still wanted.
#[derive(Debug)]
pub struct Spend {
    limit: usize,
    remaining: AtomicUsize,
    cancelled: AtomicBool,
    server: ServerBudget,
}

impl Spend {
    /// A request that may answer `limit` bytes from `server`'s budget.
    pub fn new(limit: usize, server: &ServerBudget) -> Arc<Spend> {
        let limit = limit.min(server.bytes());
        Arc::new(Spend {
            limit,
            remaining: AtomicUsize::new(limit),
            cancelled: AtomicBool::new(false),
            server: server.clone(),
        })
    }

    /// The request's budget, bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Stops every call of the request at its next row or chunk.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether the request is no longer wanted.
    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Whether nothing is left of the budget.
    pub fn spent(&self) -> bool {
        self.remaining.load(Ordering::Acquire) == 0
    }

    /// Takes `want` bytes, or all that is left when that is at least `need`; `None` when
    /// less than `need` is left.
    fn take_up_to(&self, want: usize, need: usize) -> Option<usize> {
        self.remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                (r >= need).then(|| r - r.min(want))
            })
            .ok()
            .map(|r| r.min(want))
    }

    fn give_back(&self, n: usize) {
        self.remaining.fetch_add(n, Ordering::AcqRel);
    }

    /// Why a call of `charged` bytes does not fit: larger than the whole budget (ask for
    /// less), or than what the request's other answers left of it (send it again later).
    fn over_budget(&self, charged: usize) -> ApiError {
        let limit = self.limit;
        if charged > limit {
            ApiError::bad(format!(
                "the answer is larger than the {limit} bytes one request may answer: ask for less (a shorter range, fewer fields, a smaller limit)"
            ))
        } else {
            ApiError::resend(format!(
                "the answers of this batch exceed {limit} bytes: send this call in a later batch, or ask for less (a shorter range, fewer fields, a smaller limit)"
            ))
        }
    }

    /// Charges a copy of an answer already computed (the same call made again in a batch):
    /// its `bytes` from the request's budget and the server's.
    pub fn charge_copy(&self, bytes: usize) -> ApiResult<Held> {
        if self.take_up_to(bytes, bytes).is_none() {
            return Err(self.over_budget(bytes));
        }
        let permits = u32::try_from(bytes.div_ceil(PERMIT_BYTES)).unwrap_or(u32::MAX);
        match self.server.permits.clone().try_acquire_many_owned(permits) {
            Ok(p) => Ok(Held { permits: Some(p) }),
            Err(_) => {
                self.give_back(bytes);
                Err(busy())
            }
        }
    }

    /// A guard that cancels the request when dropped: a handler holds it, so a request that
    /// times out or loses its client stops its calls.
    pub fn cancel_on_drop(self: &Arc<Spend>) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }
}

/// See [`Spend::cancel_on_drop`].
#[derive(Debug)]
pub struct CancelOnDrop(Arc<Spend>);

impl CancelOnDrop {
    /// The request is answered: dropping the guard no longer cancels anything.
    pub fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// What a finished call holds of the server's budget, kept until its answer is sent.
#[derive(Debug, Default)]
pub struct Held {
    permits: Option<OwnedSemaphorePermit>,
}

impl Held {
    /// Joins `other`'s share to this one.
    pub fn merge(&mut self, other: Held) {
        match (&mut self.permits, other.permits) {
            (Some(a), Some(b)) => a.merge(b),
            (a @ None, b) => *a = b,
            _ => {}
        }
    }
}

/// The meter of one call (clones share it).
#[derive(Debug, Clone)]
pub struct Meter {
    spend: Arc<Spend>,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Bytes charged by the call so far.
    charged: usize,
    /// Bytes taken from the request's budget (and the server's).
    granted: usize,
    permits: Option<OwnedSemaphorePermit>,
}

impl Meter {
    /// A meter for one call of `spend`'s request.
    pub fn new(spend: &Arc<Spend>) -> Meter {
        Meter {
            spend: spend.clone(),
            state: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn charge(&self, n: usize) -> ApiResult<()> {
        if self.spend.cancelled() {
            return Err(cancelled());
        }
        let mut s = self.lock();
        s.charged += n;
        if s.charged <= s.granted {
            return Ok(());
        }
        let need = s.charged - s.granted;
        let Some(got) = self.spend.take_up_to(need.max(STEP), need) else {
            // What the call had stays spent: the rest of the batch waits for a later one
            // rather than each call computing what cannot fit.
            s.granted = 0;
            return Err(self.over_budget(s.charged));
        };
        let permits = u32::try_from(got.div_ceil(PERMIT_BYTES)).unwrap_or(u32::MAX);
        match self
            .spend
            .server
            .permits
            .clone()
            .try_acquire_many_owned(permits)
        {
            Ok(p) => match &mut s.permits {
                Some(held) => held.merge(p),
                None => s.permits = Some(p),
            },
            Err(_) => {
                self.spend.give_back(got);
                return Err(busy());
            }
        }
        s.granted += got;
        Ok(())
    }

    fn over_budget(&self, charged: usize) -> ApiError {
        self.spend.over_budget(charged)
    }

    /// Ends the call whose answer came to `bytes`: the request's budget is charged exactly
    /// `bytes` (an answer that no longer fits is an error), and the share of the server's
    /// budget to keep until the answer is sent is returned.
    pub fn settle(self, bytes: usize) -> ApiResult<Held> {
        let mut s = self.lock();
        let granted = std::mem::take(&mut s.granted);
        if bytes > granted {
            if self
                .spend
                .take_up_to(bytes - granted, bytes - granted)
                .is_none()
            {
                self.spend.give_back(granted);
                return Err(self.over_budget(bytes));
            }
        } else {
            self.spend.give_back(granted - bytes);
        }
        Ok(Held {
            permits: s.permits.take(),
        })
    }

    /// Gives back everything the call took (it failed).
    pub fn release(self) {
        let mut s = self.lock();
        let granted = std::mem::take(&mut s.granted);
        s.permits = None;
        self.spend.give_back(granted);
    }

    /// Runs `f` with this meter as the current call's.
    pub async fn run<T>(&self, f: impl Future<Output = T>) -> T {
        METER.scope(self.clone(), f).await
    }
}

/// Charges the current call `bytes` (a row it adds to its answer). Outside a metered call it
/// costs nothing.
pub fn charge(bytes: usize) -> ApiResult<()> {
    METER.try_with(|m| m.charge(bytes)).unwrap_or(Ok(()))
}

/// Fails when the current call's request is no longer wanted (timed out, client gone).
pub fn checkpoint() -> ApiResult<()> {
    METER
        .try_with(|m| {
            if m.spend.cancelled() {
                Err(cancelled())
            } else {
                Ok(())
            }
        })
        .unwrap_or(Ok(()))
}

/// The error of a call the server has no room for now.
fn busy() -> ApiError {
    ApiError::unavailable("the server is answering too much at once; send this call again shortly")
        .resendable()
}

/// The error of a call whose request is no longer wanted.
pub fn cancelled() -> ApiError {
    ApiError::unavailable("the request was cancelled (timed out or its client went away)")
}
