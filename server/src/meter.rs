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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
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
///
/// A batch's calls are computed several at a time but have the budget in the calls' order:
/// a call that finds the budget spent while later calls hold part of it takes their part
/// (the last of them, as many as it needs, are cut with every call after them: they give
/// the bytes back at their next row, and are answered "send again"); a call
/// that does not fit even so is cut itself, with every call after it. So a batch too large
/// for one response answers a prefix of its calls, never none of them.
#[derive(Debug)]
pub struct Spend {
    limit: usize,
    ledger: Mutex<Ledger>,
    cancelled: AtomicBool,
    server: ServerBudget,
}

#[derive(Debug)]
struct Ledger {
    /// Bytes of the budget not taken; below zero while cut calls have yet to give theirs back.
    remaining: i64,
    /// Calls from this index on are cut.
    cutoff: usize,
    /// Bytes taken by each call still being computed, by the call's index.
    held: BTreeMap<usize, usize>,
}

/// Why a call may not take more of its request's budget.
enum Refused {
    /// A call before it needed the room: send it again later.
    Cut,
    /// It does not fit in what the calls before it left.
    Over,
}

fn signed(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Spend {
    /// A request that may answer `limit` bytes from `server`'s budget.
    pub fn new(limit: usize, server: &ServerBudget) -> Arc<Spend> {
        let limit = limit.min(server.bytes());
        Arc::new(Spend {
            limit,
            ledger: Mutex::new(Ledger {
                remaining: signed(limit),
                cutoff: usize::MAX,
                held: BTreeMap::new(),
            }),
            cancelled: AtomicBool::new(false),
            server: server.clone(),
        })
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

    /// Whether call `call` is cut (an earlier call needed the room): it is not worth starting.
    pub fn is_cut(&self, call: usize) -> Option<ApiError> {
        (call >= self.ledger().cutoff).then(|| self.over_budget(0))
    }

    /// Takes `want` bytes for call `call`, or at least `need`: from what is left, or else from
    /// the calls after it (which are cut).
    fn take(&self, call: usize, want: usize, need: usize) -> Result<usize, Refused> {
        let mut l = self.ledger();
        if call >= l.cutoff {
            return Err(Refused::Cut);
        }
        let got = if l.remaining >= signed(need) {
            want.min(usize::try_from(l.remaining).unwrap_or(usize::MAX))
                .max(need)
        } else {
            // Cut the last calls being computed until their bytes cover what is missing.
            let missing = signed(need) - l.remaining;
            let mut freed = 0;
            let mut from = None;
            for (&i, &n) in l.held.range(call + 1..).rev() {
                freed += signed(n);
                if freed >= missing {
                    from = Some(i);
                    break;
                }
            }
            let Some(from) = from else {
                return Err(Refused::Over);
            };
            l.cutoff = l.cutoff.min(from);
            need
        };
        l.remaining -= signed(got);
        *l.held.entry(call).or_default() += got;
        Ok(got)
    }

    /// Why call `call`, now at `charged` bytes, may not take more: larger than the whole
    /// budget (ask for less; the calls after it go on), or than what the calls before it left
    /// (it and every call after it are cut: send them again later).
    fn refusal(&self, call: usize, charged: usize, refused: Refused) -> ApiError {
        match refused {
            Refused::Cut => self.over_budget(0),
            Refused::Over if charged > self.limit => self.over_budget(charged),
            Refused::Over => {
                let mut l = self.ledger();
                l.cutoff = l.cutoff.min(call);
                drop(l);
                self.over_budget(charged)
            }
        }
    }

    /// Call `call` gives back `n` of the bytes it took.
    fn give_back(&self, call: usize, n: usize) {
        let mut l = self.ledger();
        l.remaining += signed(n);
        if let Some(h) = l.held.get_mut(&call) {
            *h = h.saturating_sub(n);
            if *h == 0 {
                l.held.remove(&call);
            }
        }
    }

    /// Call `call`'s answer is final: what it took stays spent and can no longer be cut.
    fn keep(&self, call: usize) {
        self.ledger().held.remove(&call);
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
        {
            let mut l = self.ledger();
            if l.remaining < signed(bytes) {
                return Err(self.over_budget(bytes));
            }
            l.remaining -= signed(bytes);
        }
        let permits = u32::try_from(bytes.div_ceil(PERMIT_BYTES)).unwrap_or(u32::MAX);
        match self.server.permits.clone().try_acquire_many_owned(permits) {
            Ok(p) => Ok(Held { permits: Some(p) }),
            Err(_) => {
                self.ledger().remaining += signed(bytes);
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
    /// The call's index in its request (its place in the budget's order).
    call: usize,
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
    /// A meter for call `call` (its index in the request) of `spend`'s request.
    pub fn new(spend: &Arc<Spend>, call: usize) -> Meter {
        Meter {
            spend: spend.clone(),
            call,
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
        let got = match self.spend.take(self.call, need.max(STEP), need) {
            Ok(got) => got,
            Err(refused) => {
                let charged = s.charged;
                self.give_back_all(&mut s);
                return Err(self.spend.refusal(self.call, charged, refused));
            }
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
                self.spend.give_back(self.call, got);
                return Err(busy());
            }
        }
        s.granted += got;
        Ok(())
    }

    fn give_back_all(&self, s: &mut State) {
        let granted = std::mem::take(&mut s.granted);
        s.permits = None;
        self.spend.give_back(self.call, granted);
    }

    /// Ends the call whose answer came to `bytes`: the request's budget is charged exactly
    /// `bytes` (an answer that no longer fits, or whose call was cut, is an error), and the
    /// share of the server's budget to keep until the answer is sent is returned.
    pub fn settle(self, bytes: usize) -> ApiResult<Held> {
        let mut s = self.lock();
        let granted = s.granted;
        if bytes > granted {
            let more = bytes - granted;
            if let Err(refused) = self.spend.take(self.call, more, more) {
                self.give_back_all(&mut s);
                return Err(self.spend.refusal(self.call, bytes, refused));
            }
        } else if self.spend.is_cut(self.call).is_some() {
            self.give_back_all(&mut s);
            return Err(self.spend.over_budget(0));
        } else {
            self.spend.give_back(self.call, granted - bytes);
        }
        s.granted = 0;
        self.spend.keep(self.call);
        Ok(Held {
            permits: s.permits.take(),
        })
    }

    /// Gives back everything the call took (it failed).
    pub fn release(self) {
        let mut s = self.lock();
        self.give_back_all(&mut s);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spend(limit: usize) -> Arc<Spend> {
        Spend::new(limit, &ServerBudget::new(1 << 30))
    }

    #[test]
    fn an_earlier_call_takes_the_room_of_later_ones_being_computed() {
        let s = spend(4 * STEP);
        let (a, b, c) = (Meter::new(&s, 0), Meter::new(&s, 1), Meter::new(&s, 2));
        // The three share the budget as they grow, then the later two hold most of it.
        assert!(b.charge(2 * STEP).is_ok());
        assert!(c.charge(STEP).is_ok());
        assert!(a.charge(STEP).is_ok());
        // The first needs more: the later two are cut and told to send again.
        assert!(a.charge(2 * STEP).is_ok());
        let e = b.charge(1).unwrap_err();
        assert!(e.resend, "{e:?}");
        let e = c.clone().settle(STEP).unwrap_err();
        assert!(e.resend, "{e:?}");
        assert!(s.is_cut(1).is_some() && s.is_cut(5).is_some());
        assert!(a.settle(3 * STEP).is_ok());
        // What the cut calls took is back: the first one's answer is all that is spent.
        assert_eq!(s.ledger().remaining, signed(STEP));
        assert!(s.ledger().held.is_empty());
    }

    #[test]
    fn a_call_that_does_not_fit_behind_earlier_ones_is_cut_with_those_after_it() {
        let s = spend(4 * STEP);
        let (a, b, c) = (Meter::new(&s, 0), Meter::new(&s, 1), Meter::new(&s, 2));
        assert!(a.charge(3 * STEP).is_ok());
        assert!(a.clone().settle(3 * STEP).is_ok());
        let e = b.charge(2 * STEP).unwrap_err();
        assert!(e.resend, "{e:?}");
        assert!(s.is_cut(1).is_some() && s.is_cut(2).is_some());
        assert!(c.charge(1).unwrap_err().resend);
        assert_eq!(s.ledger().remaining, signed(STEP));
    }

    #[test]
    fn a_call_larger_than_the_whole_budget_is_a_bad_argument_and_cuts_nothing() {
        let s = spend(2 * STEP);
        let (a, b) = (Meter::new(&s, 0), Meter::new(&s, 1));
        assert!(a.charge(2 * STEP).is_ok());
        let e = a.charge(1).unwrap_err();
        assert!(!e.resend, "{e:?}");
        assert!(e.message.contains("larger than the"), "{}", e.message);
        assert!(s.is_cut(1).is_none());
        assert!(b.charge(STEP).is_ok());
        assert!(b.settle(STEP).is_ok());
    }
}
