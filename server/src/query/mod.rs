//! QueryService: every question xlserver answers, transport-neutral. HTTP, the batch
//! endpoint and gRPC all call [`QueryService::call`] (or the typed methods behind it) and
//! render the [`Table`] it returns.
//!
//! Each function is a file of its own here: its declaration (name, parameters with their
//! types, required flags, defaults and docs; see [`functions`]) and its `run`. The
//! declaration drives the argument checks, the OpenAPI document, `GET /api/v1` and the
//! tests that the gRPC service and the add-in's `functions.json` agree with it. Adding a
//! function: a new file with its `FUNCTION`, a `mod` line and a line in [`FUNCTIONS`]
//! (the gRPC service and the add-in then follow, and their tests say where).
//!
//! | function | answers |
//! |---|---|
//! | `history` | bars of a symbol at 1m…1h, daily, weekly, monthly (stored, or resampled from finer data) |
//! | `ticks` | a symbol's trades in a time range, paged |
//! | `quote` | latest values of a symbol, now or as of a time |
//! | `chain` | an underlying's option chain at a date or time, with IV and Greeks |
//! | `option` | one contract's IV and Greeks per trade or per day |
//! | `dividends`, `rate`, `fundamentals`, `search` | reference data |
//! | `compare` | server-side comparisons of symbols; implied vs realized volatility; FEED vs POST consistency |

pub mod args;
pub mod data;
pub mod functions;

// The functions, a file each: its parameters declared once, and its run.
mod chain;
pub(crate) mod compare;
mod dividends;
mod fundamentals;
mod history;
mod option;
mod quote;
mod rate;
mod search;
pub(crate) mod ticks;

/// Every query function, in the order `GET /api/v1` lists them. A new function is a file
/// above and a line here.
pub const FUNCTIONS: &[Function] = &[
    history::FUNCTION,
    ticks::FUNCTION,
    quote::FUNCTION,
    chain::FUNCTION,
    option::FUNCTION,
    dividends::FUNCTION,
    rate::FUNCTION,
    fundamentals::FUNCTION,
    search::FUNCTION,
    compare::FUNCTION,
];

/// The function called `name`.
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// The function called `name` once `args` passed its declaration; else the error naming the
/// unknown function or the bad argument.
pub fn checked(name: &str, args: &Args) -> ApiResult<&'static Function> {
    let Some(f) = function(name) else {
        let names: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        return Err(ApiError::not_found(format!(
            "no function {} (there are {})",
            xlfeed_core::quoted(name),
            names.join(", ")
        )));
    };
    f.check(args)?;
    Ok(f)
}

pub use args::{Args, DayEnd};
pub use data::{CacheConfig, Data};
pub use functions::{Function, Param, ParamType};

use std::sync::{Arc, Mutex};

use crate::error::{ApiError, ApiResult};
use crate::meter::{Meter, ServerBudget, Spend};
use crate::table::{DateStyle, Table};

/// The server's budget of answer bytes in flight when none is configured.
pub const DEFAULT_ANSWER_BUDGET: usize = 128 << 20;

/// Where calls are computed: a tokio runtime of their own, so that answering (decoding
/// chunks, building and rendering tables: CPU work with few await points) never holds the
/// threads that accept connections and answer `/healthz`. Dropping the future that waits for
/// a call aborts the call.
#[derive(Debug, Clone)]
pub struct Pool {
    handle: tokio::runtime::Handle,
    _owner: Arc<PoolOwner>,
}

#[derive(Debug)]
struct PoolOwner(Mutex<Option<tokio::runtime::Runtime>>);

impl Drop for PoolOwner {
    fn drop(&mut self) {
        // A runtime may not be dropped from inside another one: let its threads go.
        if let Some(rt) = self
            .0
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            rt.shutdown_background();
        }
    }
}

/// Aborts a pool task when the caller stops waiting for it.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Pool {
    /// A pool of `threads` threads (0: one per core).
    pub fn new(threads: usize) -> std::io::Result<Pool> {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if threads > 0 {
            b.worker_threads(threads);
        }
        let rt = b.thread_name("xlserver-query").enable_all().build()?;
        Ok(Pool {
            handle: rt.handle().clone(),
            _owner: Arc::new(PoolOwner(Mutex::new(Some(rt)))),
        })
    }

    /// Runs `f` on the pool and waits for it.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl Future<Output = ApiResult<T>> + Send + 'static,
    ) -> ApiResult<T> {
        let task = self.handle.spawn(f);
        let _abort = AbortOnDrop(task.abort_handle());
        match task.await {
            Ok(r) => r,
            Err(e) if e.is_panic() => {
                let what = e.into_panic();
                let what = what
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| what.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                tracing::error!(panic = %what, "a query panicked");
                Err(ApiError::new(
                    xlfeed_core::ErrorKind::Internal,
                    "internal error; see the server log",
                ))
            }
            Err(_) => Err(ApiError::unavailable("the server is stopping")),
        }
    }
}

/// The query service over FEED and POST.
#[derive(Debug, Clone)]
pub struct QueryService {
    data: Data,
    pool: Option<Pool>,
    budget: ServerBudget,
}

impl QueryService {
    /// A service reading `data`, answering on the caller's runtime within the default budget.
    pub fn new(data: Data) -> QueryService {
        QueryService {
            data,
            pool: None,
            budget: ServerBudget::new(DEFAULT_ANSWER_BUDGET),
        }
    }

    /// The same service answering on `pool` within `budget`.
    pub fn with_pool(self, pool: Pool, budget: ServerBudget) -> QueryService {
        QueryService {
            pool: Some(pool),
            budget,
            ..self
        }
    }

    /// The stores and their caches.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// The server's budget of answer bytes in flight.
    pub fn budget(&self) -> &ServerBudget {
        &self.budget
    }

    /// Runs `f` on the pool (or here, without one).
    pub async fn on_pool<T: Send + 'static>(
        &self,
        f: impl Future<Output = ApiResult<T>> + Send + 'static,
    ) -> ApiResult<T> {
        match &self.pool {
            Some(p) => p.run(f).await,
            None => f.await,
        }
    }

    /// Calls the function `name` with `args` on the pool, metered within the server's budget.
    pub async fn call(&self, name: &str, args: &Args) -> ApiResult<Table> {
        let spend = Spend::new(self.budget.bytes(), &self.budget);
        let cancel = spend.cancel_on_drop();
        let (me, name, args) = (self.clone(), name.to_owned(), args.clone());
        let r = self
            .on_pool(async move {
                let meter = Meter::new(&spend, 0);
                match meter.run(me.dispatch(&name, &args)).await {
                    Ok(t) => {
                        meter.settle(0)?;
                        Ok(t)
                    }
                    Err(e) => {
                        meter.release();
                        Err(e)
                    }
                }
            })
            .await;
        cancel.disarm();
        r
    }

    /// Calls the function `name` with `args` on the pool, metered against `spend`, and
    /// renders the answer as JSON text in `style`. The caller settles the meter with the
    /// answer's size ([`Meter::settle`]): a batch does so in the calls' order.
    pub async fn answer(
        &self,
        name: &str,
        args: &Args,
        style: DateStyle,
        spend: &Arc<Spend>,
        call: usize,
    ) -> ApiResult<(String, Meter)> {
        let (me, name, args, spend) = (self.clone(), name.to_owned(), args.clone(), spend.clone());
        self.on_pool(async move { me.answer_here(&name, &args, style, &spend, call).await })
            .await
    }

    /// [`QueryService::answer`] in the calling task (which should be on the pool).
    pub async fn answer_here(
        &self,
        name: &str,
        args: &Args,
        style: DateStyle,
        spend: &Arc<Spend>,
        call: usize,
    ) -> ApiResult<(String, Meter)> {
        let meter = Meter::new(spend, call);
        match meter.run(self.dispatch(name, args)).await {
            Ok(t) => Ok((t.to_json_string(style), meter)),
            Err(e) => {
                meter.release();
                Err(e)
            }
        }
    }

    /// Calls the function `name` with `args` here, once they passed its declaration.
    async fn dispatch(&self, name: &str, args: &Args) -> ApiResult<Table> {
        let f = checked(name, args)?;
        (f.run)(&self.data, args).await
    }
}
