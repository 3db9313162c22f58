//! Encodes and decodes one day of 100,000 synthetic ticks ten times: a fixed workload for
//! instruction counting (`valgrind --tool=callgrind`), which noise on a shared machine does
//! not disturb. Usage: `cargo run --release -p xlfeed-store --example codec_once -- encode|decode`
use xlfeed_core::records::Trade;
use xlfeed_store::{codec, synth};

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "decode".into());
    let rows = synth::trades(100_000, 185.0, 42);
    let chunk = codec::encode(&rows);
    let mut n = 0usize;
    for _ in 0..10 {
        n += match what.as_str() {
            "encode" => codec::encode(std::hint::black_box(&rows)).len(),
            "setup" => 0,
            _ => codec::decode::<Trade>(std::hint::black_box(&chunk)).map_or(0, |v| v.len()),
        };
    }
    println!("{what}: {n}");
}
