//! What a lookup request selects, worked out apart from the connection: the sessions a
//! history request covers, its time filters, how many of its newest points it keeps, and
//! which contracts of a chain and which instruments of a search it answers with.
//!
//! Pure functions of their arguments (the calendar aside), so each rule of
//! `lookup_port`'s header can be tested here without a socket or a market: the port resolves
//! the request against the market, asks this file what to send, and writes it.

use chrono::{Days, NaiveDate};
use xlfeed_core::records::OptionContract;
use xlfeed_core::{Nyse, Right, TradingDay};

use crate::sim::market::universe::Instrument;
use crate::wire::chain::{Chain, SymbolMatch};
use crate::wire::request::{ChainFilter, DateTime, Sides, Window};

/// Most sessions `HTD`/`HID`/`HDX` count back.
pub(super) const MAX_SESSIONS: u32 = 10_000;

/// `max_points`, or `all` when it is 0 ("no limit"): how far back a `…X` request reaches.
pub(super) fn all_or(max_points: u32, all: u32) -> u32 {
    if max_points == 0 { all } else { max_points }
}

/// `date` less `days` calendar days (the earliest date when that underflows).
pub(super) fn days_before(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_sub_days(Days::new(days))
        .unwrap_or(NaiveDate::MIN)
}

/// NYSE sessions from `from` to `to`, both included.
pub(super) fn sessions(from: NaiveDate, to: TradingDay) -> Vec<TradingDay> {
    if from > to.date() {
        return Vec::new();
    }
    let from = TradingDay::from_date(from)
        .or_else(|_| TradingDay::from_ymd(1900, 1, 1))
        .unwrap_or(to);
    Nyse.trading_days(from, to).collect()
}

/// The last `n` sessions up to `today` (included when it is one), oldest first.
pub(super) fn last_sessions(today: TradingDay, n: u32) -> Vec<TradingDay> {
    let n = n.min(MAX_SESSIONS) as usize;
    let mut out = Vec::with_capacity(n);
    let mut day = if Nyse.is_trading_day(today) {
        Some(today)
    } else {
        Nyse.prev_trading_day(today)
    };
    while out.len() < n {
        let Some(d) = day else { break };
        out.push(d);
        day = Nyse.prev_trading_day(d);
    }
    out.reverse();
    out
}

/// The time filters of a request: a date-time range and a daily time-of-day window.
#[derive(Debug, Clone, Copy)]
pub(super) struct Filter {
    begin: Option<(u32, i64)>,
    end: Option<(u32, i64)>,
    begin_time: Option<i64>,
    end_time: Option<i64>,
}

/// `hhmmss` as microseconds after midnight.
fn hhmmss_us(t: u32) -> i64 {
    i64::from((t / 10_000) * 3_600 + ((t / 100) % 100) * 60 + t % 100) * 1_000_000
}

impl Filter {
    /// The filter of a request's date-time range (either end open) and its window's daily
    /// time-of-day filter.
    pub(super) fn new(begin: Option<DateTime>, end: Option<DateTime>, w: &Window) -> Filter {
        let at = |d: DateTime| (d.date, hhmmss_us(d.time));
        Filter {
            begin: begin.map(at),
            end: end.map(at),
            begin_time: w.begin_filter.map(hhmmss_us),
            end_time: w.end_filter.map(hhmmss_us),
        }
    }

    /// Whether a point at (`yyyymmdd`, microseconds after midnight in New York) passes: the
    /// begin is exact, the end reaches to the end of its second.
    pub(super) fn keeps(&self, (date, us): (u32, i64)) -> bool {
        let second = us - us.rem_euclid(1_000_000);
        self.begin.is_none_or(|b| (date, us) >= b)
            && self.end.is_none_or(|e| (date, second) <= e)
            && self.begin_time.is_none_or(|b| us >= b)
            && self.end_time.is_none_or(|e| second <= e)
    }
}

/// The `max` newest of `items` (oldest first); all of them when `max` is 0 or `None`.
pub(super) fn newest<T>(items: &[T], max: Option<u32>) -> &[T] {
    let keep = max
        .filter(|m| *m > 0)
        .map_or(items.len(), |m| items.len().min(m as usize));
    &items[items.len() - keep..]
}

/// Where the newest `max` points begin in sessions of `counts(i)` points each (`days`
/// sessions, oldest first): the first session sent and the points of it skipped. Counts
/// back from the newest session and stops as soon as it has `max`, so older sessions are
/// never counted.
pub(super) fn newest_start(
    days: usize,
    max: Option<u64>,
    mut counts: impl FnMut(usize) -> u64,
) -> (usize, usize) {
    let Some(max) = max else { return (0, 0) };
    let (mut start, mut need) = (0, max);
    for i in (0..days).rev() {
        let n = counts(i);
        start = i;
        if n >= need {
            return (i, (n - need) as usize);
        }
        need -= n;
    }
    (start, 0)
}

/// The `CEO` chain from a day's listed `contracts` with the underlying at `spot`: the sides,
/// month codes (the contract's own letter, A–L calls, M–X puts) or near months (calendar
/// months of listed expiries), and strike filter asked for, in chain order.
pub(super) fn chain(
    contracts: &[OptionContract],
    spot: f64,
    sides: Sides,
    month_codes: &str,
    near_months: Option<u32>,
    filter: ChainFilter,
) -> Chain {
    let month_of = |expiry: u32| (expiry / 100) as i32;
    let mut near: Vec<i32> = contracts.iter().map(|c| month_of(c.expiry)).collect();
    near.sort_unstable();
    near.dedup();
    let codes: Vec<char> = month_codes.chars().collect();
    let wanted = |c: &OptionContract| {
        let put = c.right == Right::Put;
        let side_ok = match sides {
            Sides::Calls => !put,
            Sides::Puts => put,
            Sides::Both => true,
        };
        let month = (c.expiry / 100) % 100;
        let letter = char::from(if put { b'M' } else { b'A' } + (month as u8).saturating_sub(1));
        let month_ok = if !codes.is_empty() {
            codes.contains(&letter)
        } else {
            match near_months.filter(|n| *n > 0) {
                Some(n) => near
                    .iter()
                    .take(n as usize)
                    .any(|m| *m == month_of(c.expiry)),
                None => true,
            }
        };
        let strike_ok = match filter {
            ChainFilter::StrikeRange(lo, hi) => c.strike >= lo - 1e-9 && c.strike <= hi + 1e-9,
            _ => true,
        };
        side_ok && month_ok && strike_ok
    };
    let mut kept: Vec<&OptionContract> = contracts.iter().filter(|c| wanted(c)).collect();
    if let ChainFilter::Moneyness(in_money, out_money) = filter {
        kept = moneyness(&kept, spot, in_money as usize, out_money as usize);
    }
    let mut chain = Chain::default();
    for c in kept {
        if c.right == Right::Put {
            chain.puts.push(c.symbol.clone());
        } else {
            chain.calls.push(c.symbol.clone());
        }
    }
    chain
}

/// Filter type 2: per expiry and side, the `in_money` strikes nearest the money on the
/// in-the-money side and the `out_money` nearest on the other, in chain order.
fn moneyness<'a>(
    contracts: &[&'a OptionContract],
    spot: f64,
    in_money: usize,
    out_money: usize,
) -> Vec<&'a OptionContract> {
    let mut keep = vec![false; contracts.len()];
    let mut groups: Vec<(u32, Right)> = contracts.iter().map(|c| (c.expiry, c.right)).collect();
    groups.sort_unstable();
    groups.dedup();
    for (expiry, right) in groups {
        let members: Vec<usize> = (0..contracts.len())
            .filter(|&k| contracts[k].expiry == expiry && contracts[k].right == right)
            .collect();
        let itm = |k: &usize| {
            let s = contracts[*k].strike;
            if right == Right::Put {
                s > spot
            } else {
                s < spot
            }
        };
        let distance = |k: &usize| (contracts[*k].strike - spot).abs();
        let mut inside: Vec<usize> = members.iter().copied().filter(|k| itm(k)).collect();
        let mut outside: Vec<usize> = members.iter().copied().filter(|k| !itm(k)).collect();
        inside.sort_by(|a, b| distance(a).total_cmp(&distance(b)));
        outside.sort_by(|a, b| distance(a).total_cmp(&distance(b)));
        for k in inside.into_iter().take(in_money) {
            keep[k] = true;
        }
        for k in outside.into_iter().take(out_money) {
            keep[k] = true;
        }
    }
    contracts
        .iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(*c))
        .collect()
}

/// `SBF` results from the instruments the market `found`, filtered by listed market (`e`)
/// or security type (`t`) ids (space-separated); any other filter keeps them all.
pub(super) fn search_matches<'a>(
    found: impl IntoIterator<Item = &'a Instrument>,
    filter: Option<&(char, String)>,
) -> Vec<SymbolMatch> {
    let ids: Vec<u32> = filter
        .map(|(_, v)| {
            v.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    found
        .into_iter()
        .filter(|inst| match filter {
            Some(('e', _)) => ids.contains(&inst.listed_market),
            Some(('t', _)) => ids.contains(&inst.security_type()),
            _ => true,
        })
        .map(|inst| SymbolMatch {
            symbol: inst.symbol.clone(),
            listed_market: inst.listed_market,
            security_type: inst.security_type(),
            description: inst.name.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Universe;

    fn day(s: &str) -> TradingDay {
        TradingDay::parse(s).unwrap()
    }

    #[test]
    fn days_count_sessions_back_from_today() {
        let got = last_sessions(day("2024-04-01"), 3);
        // Good Friday 2024-03-29 and the weekend are skipped.
        assert_eq!(
            got,
            [day("2024-03-27"), day("2024-03-28"), day("2024-04-01")]
        );
        // A closed "today" counts from the session before it.
        assert_eq!(last_sessions(day("2024-03-30"), 1), [day("2024-03-28")]);
        assert!(last_sessions(day("2024-04-01"), 0).is_empty());
    }

    #[test]
    fn sessions_are_inclusive_and_empty_when_reversed() {
        let to = day("2024-04-02");
        let got = sessions(day("2024-03-28").date(), to);
        assert_eq!(got, [day("2024-03-28"), day("2024-04-01"), to]);
        assert!(sessions(day("2024-04-03").date(), to).is_empty());
        assert_eq!(days_before(NaiveDate::MIN, 5), NaiveDate::MIN);
        assert_eq!(all_or(0, 120), 120);
        assert_eq!(all_or(7, 120), 7);
    }

    #[test]
    fn filters_are_inclusive_to_the_second() {
        let w = Window {
            begin_filter: Some(93_000),
            end_filter: Some(160_000),
            ..Window::default()
        };
        let f = Filter::new(None, None, &w);
        let at =
            |h: i64, m: i64, s: i64, us: i64| (20240612, ((h * 60 + m) * 60 + s) * 1_000_000 + us);
        assert!(!f.keeps(at(9, 29, 59, 999_999)));
        assert!(f.keeps(at(9, 30, 0, 0)));
        assert!(f.keeps(at(16, 0, 0, 500_000)));
        assert!(!f.keeps(at(16, 0, 1, 0)));
        let range = Filter::new(
            Some(DateTime {
                date: 20240611,
                time: 153_000,
            }),
            Some(DateTime {
                date: 20240612,
                time: 93_000,
            }),
            &Window::default(),
        );
        assert!(range.keeps((20240611, at(15, 30, 0, 0).1)));
        assert!(!range.keeps((20240611, at(15, 29, 59, 0).1)));
        assert!(range.keeps((20240612, at(9, 30, 0, 900_000).1)));
        assert!(!range.keeps((20240612, at(9, 30, 1, 0).1)));
    }

    #[test]
    fn the_newest_points_are_kept() {
        let items = [1, 2, 3, 4, 5];
        assert_eq!(newest(&items, Some(2)), [4, 5]);
        assert_eq!(newest(&items, Some(9)), items);
        assert_eq!(newest(&items, Some(0)), items);
        assert_eq!(newest(&items, None), items);
        // Sessions of 4, 0, 3 and 5 points: the newest 7 start 2 points into the third.
        let counts = [4, 0, 3, 5];
        let mut asked = Vec::new();
        let start = newest_start(4, Some(7), |i| {
            asked.push(i);
            counts[i]
        });
        assert_eq!(start, (2, 1));
        assert_eq!(asked, [3, 2], "older sessions are not counted");
        assert_eq!(newest_start(4, Some(5), |i| counts[i]), (3, 0));
        assert_eq!(newest_start(4, Some(100), |i| counts[i]), (0, 0));
        assert_eq!(newest_start(4, None, |_| unreachable!()), (0, 0));
    }

    fn contract(expiry: u32, right: char, strike: f64) -> OptionContract {
        OptionContract {
            symbol: format!("X{expiry}{right}{strike}"),
            occ: String::new(),
            underlying: "X".into(),
            expiry,
            strike,
            right: Right::from_char(right).unwrap_or(Right::Call),
            multiplier: 100,
        }
    }

    #[test]
    fn chains_keep_the_sides_months_and_strikes_asked_for() {
        let mut listed = Vec::new();
        for expiry in [20240621, 20240719, 20240816] {
            for right in ['C', 'P'] {
                for strike in [90.0, 95.0, 100.0, 105.0, 110.0] {
                    listed.push(contract(expiry, right, strike));
                }
            }
        }
        let all = chain(&listed, 101.0, Sides::Both, "", None, ChainFilter::None);
        assert_eq!((all.calls.len(), all.puts.len()), (15, 15));
        // Month codes are the contract's own letter: G is a July call, S a July put.
        let july = chain(&listed, 101.0, Sides::Both, "GS", None, ChainFilter::None);
        assert_eq!((july.calls.len(), july.puts.len()), (5, 5));
        assert!(
            july.calls
                .iter()
                .chain(&july.puts)
                .all(|s| s.contains("202407"))
        );
        let g_only = chain(&listed, 101.0, Sides::Both, "G", None, ChainFilter::None);
        assert_eq!((g_only.calls.len(), g_only.puts.len()), (5, 0));
        // Near months count listed expiry months; puts only.
        let near = chain(&listed, 101.0, Sides::Puts, "", Some(2), ChainFilter::None);
        assert_eq!((near.calls.len(), near.puts.len()), (0, 10));
        assert!(near.puts.iter().all(|s| !s.contains("202408")));
        // Strike range, inclusive.
        let range = ChainFilter::StrikeRange(95.0, 100.0);
        let narrow = chain(&listed, 101.0, Sides::Calls, "", Some(1), range);
        assert_eq!(narrow.calls, ["X20240621C95", "X20240621C100"]);
    }

    #[test]
    fn moneyness_counts_strikes_from_the_money_per_expiry_and_side() {
        let listed: Vec<OptionContract> = [90.0, 95.0, 100.0, 105.0, 110.0]
            .into_iter()
            .flat_map(|k| [contract(20240621, 'C', k), contract(20240621, 'P', k)])
            .collect();
        let picked = chain(
            &listed,
            101.0,
            Sides::Both,
            "",
            None,
            ChainFilter::Moneyness(1, 2),
        );
        // Calls: in the money below 101 (nearest 100), out above (105, 110), in chain order.
        assert_eq!(
            picked.calls,
            ["X20240621C100", "X20240621C105", "X20240621C110"]
        );
        // Puts: in the money above 101 (nearest 105), out below (100, 95).
        assert_eq!(
            picked.puts,
            ["X20240621P95", "X20240621P100", "X20240621P105"]
        );
    }

    #[test]
    fn search_matches_filter_by_listed_market_or_security_type() {
        let universe = Universe::standard();
        let found: Vec<&Instrument> = universe.instruments().iter().collect();
        let every = search_matches(found.iter().copied(), None);
        assert_eq!(every.len(), found.len());
        let first = &found[0];
        let by_market = ('e', format!("999 {}", first.listed_market));
        let matched = search_matches(found.iter().copied(), Some(&by_market));
        assert!(!matched.is_empty() && matched.len() <= found.len());
        assert!(
            matched
                .iter()
                .all(|m| m.listed_market == first.listed_market)
        );
        assert!(matched.iter().any(|m| m.symbol == first.symbol));
        let by_type = ('t', first.security_type().to_string());
        let typed = search_matches(found.iter().copied(), Some(&by_type));
        assert!(
            typed
                .iter()
                .all(|m| m.security_type == first.security_type())
        );
        assert!(search_matches(found.iter().copied(), Some(&('t', "999".into()))).is_empty());
    }
}
