//! The maths of the post-processing stage, pure (no I/O, no async): Black–Scholes–Merton
//! European prices and Greeks ([`bsm`]) on the special functions under them (the normal
//! distribution and its quantile, `erfcx`, a fast `exp`: [`special`]), the implied-volatility
//! solver ([`iv`]), risk-free rate curves and their conventions ([`rates`]), dividend yields
//! over an option's life ([`dividends`]), and the as-of join of option trades with underlying
//! trades ([`asof`]). Also the statistics behind the query server's compare API: date
//! alignment, returns, volatility, drawdowns, and beta, correlation and spreads against a
//! benchmark ([`compare`]), and what the query server's `history`, `quote` and `chain`
//! answer from decoded rows ([`bars`], [`quote`], [`chain`]), which reconciliation compares
//! workbooks against.

pub mod asof;
pub mod bars;
pub mod bsm;
pub mod chain;
pub mod compare;
pub mod dividends;
pub mod iv;
pub mod quote;
pub mod rates;
pub mod special;
