//! The maths of the post-processing stage, pure (no I/O, no async): Black–Scholes–Merton
//! European prices and Greeks ([`bsm`]) on the special functions under them (the normal
//! distribution and its quantile, `erfcx`, a fast `exp`: [`special`]), the implied-volatility
//! solver ([`iv`]), risk-free rate curves and their conventions ([`rates`]), dividend yields
//! over an option's life ([`dividends`]), and the as-of join of option trades with underlying
//! trades ([`asof`]). Also the statistics behind the query server's compare API: date
//! alignment, returns, volatility, drawdowns, and beta, correlation and spreads against a
//! benchmark ([`compare`]).

pub mod asof;
pub mod bsm;
pub mod compare;
pub mod dividends;
pub mod iv;
pub mod rates;
pub mod special;
