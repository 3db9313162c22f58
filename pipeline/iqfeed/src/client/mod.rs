//! The IQFeed clients, one per port: [`lookup`] (9100: history, chains, symbol search),
//! [`level1`] (5009: watches, fundamentals, quotes) and [`admin`] (9300: stats). The top layer
//! of wire → connection → client.

pub mod admin;
pub mod level1;
pub mod limiter;
pub mod lookup;
