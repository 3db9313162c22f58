//! The `HTX` reply lines the parse benchmarks read: a liquid stock trading milliseconds apart,
//! protocol 6.2 with request id `H42` (about 99 bytes a line), over as many weekdays as the
//! count needs. Shared by `benches/parse.rs` and `examples/parse_file.rs`.

use chrono::{Datelike, NaiveDate, Weekday};
use xlfeed_core::Conditions;
use xlfeed_core::records::Trade;
use xlfeed_iqfeed::wire::Protocol;
use xlfeed_iqfeed::wire::history::{Tick, write_tick};
use xlfeed_iqfeed::wire::lookup::write_data_prefix;

/// The line prefix of every line.
pub(crate) const PREFIX: &[u8] = b"H42,LH,";

/// Writes `lines` tick lines, handing them to `sink` in blocks of about 64 KiB.
pub(crate) fn tick_lines(lines: usize, mut sink: impl FnMut(&[u8])) {
    let mut out = Vec::with_capacity(1 << 16);
    let mut micros = 34_200_000_000i64;
    let mut cents = 19_012i64;
    let mut day = NaiveDate::from_ymd_opt(2024, 1, 2).unwrap_or_default();
    let three_d = Conditions::parse("3D").unwrap_or(Conditions::NONE);
    for i in 0..lines as i64 {
        micros += 1_000 * (1 + (i * 7919) % 400);
        if micros >= 57_600_000_000 {
            micros = 34_200_000_000;
            day = day.succ_opt().unwrap_or(day);
            while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                day = day.succ_opt().unwrap_or(day);
            }
        }
        cents = (cents + (i * 31) % 5 - 2).max(100);
        let p = cents as f64 / 100.0;
        let tick = Tick {
            trade: Trade {
                time: 0,
                price: p,
                size: 100 * (1 + i % 3),
                bid: p - 0.01,
                ask: p + 0.01,
                tick_id: 4_012_345_678 + i,
                basis: 'C',
                market_center: [5, 11, 19, 26][(i % 4) as usize],
                conditions: if i % 10 == 0 {
                    three_d
                } else {
                    Conditions::NONE
                },
            },
            total_volume: 1_000_000 + i * 150,
            aggressor: (i % 3) as u8,
            day_code: 2,
        };
        let yyyymmdd = day.year() as u32 * 10_000 + day.month() * 100 + day.day();
        write_data_prefix(&mut out, Some(b"H42"), b"LH", Protocol::V62);
        write_tick(&mut out, &tick, yyyymmdd, micros, true);
        out.extend_from_slice(b"\r\n");
        if out.len() > 60_000 {
            sink(&out);
            out.clear();
        }
    }
    sink(&out);
}
