//! Feeds arbitrary bytes through every IQFeed line parser: framing, lookup replies, history
//! records, chains, symbol search, Level 1 messages and request lines, and the one-pass tick
//! scan (whose every accepted line must parse the same line by line). None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xlfeed_iqfeed::wire::level1::{UpdateFields, parse_message};
use xlfeed_iqfeed::wire::num::Eastern;
use xlfeed_iqfeed::wire::{LineSplitter, Protocol, chain, history, lookup, request, scan};

fuzz_target!(|data: &[u8]| {
    // The bulk scan over the raw bytes, as the client runs it: what it takes, the line
    // parser takes identically.
    let mut ticks = Vec::new();
    let used = scan::parse_tick_lines(data, b"H1,LH,", &mut Eastern::new(), &mut ticks);
    assert!(used <= data.len());
    let mut again = ticks.iter();
    for line in data[..used].split_inclusive(|&b| b == b'\n') {
        let body = line.strip_prefix(b"H1,LH,").expect("scanned lines carry the prefix");
        let body = body.strip_suffix(b"\n").expect("scanned lines are whole");
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let by_line = history::parse_tick(body, &mut Eastern::new()).expect("the line parses");
        assert_eq!(Some(&by_line), again.next());
    }
    assert!(again.next().is_none());

    let mut split = LineSplitter::new();
    // Feed in two pieces so lines also cross a read boundary.
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    split.push(&data[..cut]);
    split.push(&data[cut..]);
    let fields = UpdateFields::default();
    let mut clock = Eastern::new();
    while let Some(line) = split.next_line() {
        for p in [Protocol::V61, Protocol::V62] {
            for with_id in [false, true] {
                if let Ok(l) = lookup::parse_line(line, with_id, p)
                    && let lookup::Reply::Data { fields: f, .. } = l.reply
                {
                    let _ = history::parse_tick(f, &mut clock);
                    let _ = history::parse_bar(f, &mut clock);
                    let _ = history::parse_daily(f);
                    let _ = chain::parse_option_chain(f);
                    let _ = chain::parse_symbol_match(f);
                }
            }
        }
        let _ = parse_message(line, &fields);
        if let Ok(text) = std::str::from_utf8(line) {
            let _ = request::parse(text);
        }
    }
});
