//! One fixed amount of tick-time parsing, old parser or new, for instruction counts that the
//! machine's noise does not move (see docs/BENCHMARKS.md):
//!
//! ```sh
//! cargo build --release -p xlfeed-core --example datetime_once
//! valgrind --tool=callgrind target/release/examples/datetime_once old|new|setup
//! ```

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

#[path = "../benches/support/old_datetime.rs"]
mod support;

/// Passes over the 10,000 lines.
const PASSES: usize = 10;

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let lines = support::lines();
    for _ in 0..PASSES {
        for l in &lines {
            match which.as_str() {
                "old" => {
                    black_box(support::old::parse_datetime(black_box(l)).ok());
                }
                "new" => {
                    black_box(xlfeed_core::datetime::parse_datetime(black_box(l)).ok());
                }
                "setup" => {
                    black_box(l);
                }
                _ => {
                    eprintln!("usage: datetime_once old|new|setup");
                    std::process::exit(2);
                }
            }
        }
    }
}
