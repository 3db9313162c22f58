//! Client ⇄ simulator: every lookup command through [`LookupClient`] checked against the
//! [`Market`] behind the simulator, in protocols 6.1 and 6.2; every error path; each fault
//! knob; determinism on the wire; Level 1 and admin; and transcript fixtures of the reply
//! shapes the reference documents (`tests/fixtures/*.txt`).
//!
//! Every test starts its own simulator on free ports (`spawn_sim`), with a small tick scale
//! so that a session is a few thousand trades.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use chrono::{Datelike, NaiveTime, Timelike};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use xlfeed_core::calendar::utc_ns_to_new_york;
use xlfeed_core::{Nyse, OptionSymbol, Right, TradingDay};
use xlfeed_iqfeed::IqError;
use xlfeed_iqfeed::client::admin::AdminClient;
use xlfeed_iqfeed::client::level1::Level1Client;
use xlfeed_iqfeed::client::lookup::{LookupClient, LookupConfig};
use xlfeed_iqfeed::sim::{Faults, Market, RunningSimulator, SimConfig, Simulator, Universe};
use xlfeed_iqfeed::wire::chain::{parse_option_chain, parse_symbol_match};
use xlfeed_iqfeed::wire::history::{
    DailyLine, IntervalBar, Tick, parse_bar, parse_daily, parse_tick,
};
use xlfeed_iqfeed::wire::level1::{Message, Stats, UpdateFields, f_index, parse_message};
use xlfeed_iqfeed::wire::lookup::{Reply, parse_line};
use xlfeed_iqfeed::wire::num::Eastern;
use xlfeed_iqfeed::wire::request::{
    BarSpec, ChainFilter, DateTime, Direction, IntervalType, Request, Sides, Window,
};
use xlfeed_iqfeed::wire::{LineSplitter, Protocol};

const SEED: u64 = 7;
const TODAY: &str = "2024-06-12";
const SCALE: f64 = 0.05;
const BOTH: [Protocol; 2] = [Protocol::V61, Protocol::V62];

fn day(s: &str) -> TradingDay {
    TradingDay::parse(s).unwrap()
}

fn today() -> TradingDay {
    day(TODAY)
}

fn config() -> SimConfig {
    let mut c = SimConfig::ephemeral(SEED, today());
    c.tick_scale = SCALE;
    c
}

async fn spawn_sim(tune: impl FnOnce(&mut SimConfig)) -> RunningSimulator {
    let mut c = config();
    tune(&mut c);
    Simulator::start(c).await.unwrap()
}

/// A market like the simulator's, built independently.
fn market() -> Market {
    Market::new(SEED, Universe::standard()).with_tick_scale(SCALE)
}

fn lookup_config(sim: &RunningSimulator, protocol: Protocol) -> LookupConfig {
    LookupConfig {
        addr: sim.lookup_addr().to_string(),
        protocol,
        rate_per_sec: 1_000.0,
        burst: 1_000,
        request_timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(5),
        connect_attempts: 3,
        max_backoff: Duration::from_millis(200),
        ..LookupConfig::default()
    }
}

async fn client(sim: &RunningSimulator, protocol: Protocol) -> LookupClient {
    LookupClient::connect(lookup_config(sim, protocol))
        .await
        .unwrap()
}

fn window(direction: Direction) -> Window {
    Window {
        direction,
        ..Window::default()
    }
}

/// New York time of day of a UTC nanosecond time, as `hhmmss`, and its date.
fn local(ns: i64) -> (u32, u32) {
    let t = utc_ns_to_new_york(ns);
    let d = t.date();
    (
        d.year() as u32 * 10_000 + d.month() * 100 + d.day(),
        t.hour() * 10_000 + t.minute() * 100 + t.second(),
    )
}

fn ticks_of(m: &Market, symbol: &str, days: &[&str]) -> Vec<Tick> {
    days.iter()
        .flat_map(|d| m.ticks(symbol, day(d)).unwrap())
        .collect()
}

/// Sends raw lines and reads until `ends` end-of-reply lines have arrived (or `want_lines`
/// lines when given), returning everything received.
async fn raw(addr: std::net::SocketAddr, script: &str, ends: usize) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(script.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0; 65536];
    let read = async {
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            let done = text
                .lines()
                .filter(|l| {
                    l.ends_with("!ENDMSG!,") || l.starts_with("E,") && l.contains("protocol")
                })
                .count();
            if done >= ends {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("raw reply in time");
    String::from_utf8(got).unwrap()
}

// ---------------------------------------------------------------- ticks

#[tokio::test]
async fn htx_returns_the_newest_ticks_in_either_order_in_both_protocols() {
    let sim = spawn_sim(|_| {}).await;
    let all = market().ticks("AAPL", today()).unwrap();
    let newest: Vec<Tick> = all[all.len() - 50..].to_vec();
    for protocol in BOTH {
        let c = client(&sim, protocol).await;
        let req = |direction| Request::TicksLast {
            symbol: "AAPL".into(),
            max_points: 50,
            direction,
        };
        let oldest_first = c
            .ticks(&req(Direction::OldestFirst))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(oldest_first, newest, "{protocol}");
        let mut newest_first = c
            .ticks(&req(Direction::NewestFirst))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        newest_first.reverse();
        assert_eq!(newest_first, newest, "{protocol}");
    }
}

#[tokio::test]
async fn htx_reaches_back_over_sessions() {
    let sim = spawn_sim(|_| {}).await;
    let m = market();
    let two = ticks_of(&m, "KO", &["2024-06-11", "2024-06-12"]);
    let n = m.ticks("KO", today()).unwrap().len() + 10;
    let c = client(&sim, Protocol::V62).await;
    let got = c
        .ticks(&Request::TicksLast {
            symbol: "KO".into(),
            max_points: u32::try_from(n).unwrap(),
            direction: Direction::OldestFirst,
        })
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(got, two[two.len() - n..].to_vec());
}

#[tokio::test]
async fn htd_counts_trading_days_back_and_filters_the_time_of_day() {
    let sim = spawn_sim(|_| {}).await;
    let m = market();
    // 2024-06-10 is a Monday: three sessions back from Wednesday 06-12.
    let sessions = ["2024-06-10", "2024-06-11", "2024-06-12"];
    let want: Vec<Tick> = ticks_of(&m, "MSFT", &sessions)
        .into_iter()
        .filter(|t| (100_000..=103_000).contains(&local(t.trade.time).1))
        .collect();
    assert!(!want.is_empty());
    for protocol in BOTH {
        let c = client(&sim, protocol).await;
        let got = c
            .ticks(&Request::TicksDays {
                symbol: "MSFT".into(),
                days: 3,
                window: Window {
                    begin_filter: Some(100_000),
                    end_filter: Some(103_000),
                    ..window(Direction::OldestFirst)
                },
            })
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(got, want, "{protocol}");
    }
    // MaxDatapoints keeps the newest points, in either direction.
    let c = client(&sim, Protocol::V62).await;
    let req = |direction| Request::TicksDays {
        symbol: "MSFT".into(),
        days: 3,
        window: Window {
            max_points: Some(25),
            begin_filter: Some(100_000),
            end_filter: Some(103_000),
            direction,
        },
    };
    let got = c
        .ticks(&req(Direction::OldestFirst))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(got, want[want.len() - 25..].to_vec());
    let mut got = c
        .ticks(&req(Direction::NewestFirst))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    got.reverse();
    assert_eq!(got, want[want.len() - 25..].to_vec());
}

#[tokio::test]
async fn htt_returns_the_ticks_of_a_date_time_range() {
    let sim = spawn_sim(|_| {}).await;
    let m = market();
    let begin = (20240610, 153_000);
    let end = (20240611, 100_000);
    let want: Vec<Tick> = ticks_of(&m, "SPY", &["2024-06-10", "2024-06-11"])
        .into_iter()
        .filter(|t| {
            let l = local(t.trade.time);
            l >= begin && l <= end
        })
        .collect();
    assert!(!want.is_empty());
    let c = client(&sim, Protocol::V61).await;
    let got = c
        .ticks(&Request::TicksRange {
            symbol: "SPY".into(),
            begin: Some(DateTime {
                date: begin.0,
                time: begin.1,
            }),
            end: Some(DateTime {
                date: end.0,
                time: end.1,
            }),
            window: window(Direction::OldestFirst),
        })
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(got, want);
}

/// Issue 17: a gateway with a per-reply limit answers a multi-day range with its newest
/// points, oldest first, and no error; a lower `MaxDatapoints` still wins.
#[tokio::test]
async fn a_multi_day_range_past_the_gateway_limit_keeps_its_newest_points() {
    let days = ["2024-06-10", "2024-06-11", "2024-06-12"];
    let all = ticks_of(&market(), "SPY", &days);
    let cap = u32::try_from(all.len() / 2).unwrap();
    assert!(cap > 10);
    let sim = spawn_sim(|c| c.max_datapoints = Some(cap)).await;
    let c = client(&sim, Protocol::V62).await;
    let range = |max_points: Option<u32>| Request::TicksRange {
        symbol: "SPY".into(),
        begin: Some(DateTime {
            date: 20240610,
            time: 0,
        }),
        end: Some(DateTime {
            date: 20240612,
            time: 235_959,
        }),
        window: Window {
            max_points,
            ..window(Direction::OldestFirst)
        },
    };
    let before = c.requests();
    for (max_points, want) in [
        (None, cap as usize),
        (Some(7), 7),
        (Some(2_000_000_000), cap as usize),
    ] {
        let got = c
            .ticks(&range(max_points))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(got.len(), want, "MaxDatapoints {max_points:?}");
        assert_eq!(got, all[all.len() - want..], "MaxDatapoints {max_points:?}");
    }
    assert_eq!(
        c.requests() - before,
        3,
        "the client counts the requests it sends"
    );
}

#[tokio::test]
async fn an_empty_range_is_an_empty_result_not_an_error() {
    let sim = spawn_sim(|_| {}).await;
    let c = client(&sim, Protocol::V62).await;
    for (b, e) in [
        // A weekend.
        ((20240608, 0), (20240609, 235_959)),
        // After "today".
        ((20240701, 93_000), (20240701, 160_000)),
        // Outside the session.
        ((20240612, 20_000), (20240612, 30_000)),
    ] {
        let got = c
            .ticks(&Request::TicksRange {
                symbol: "AAPL".into(),
                begin: Some(DateTime {
                    date: b.0,
                    time: b.1,
                }),
                end: Some(DateTime {
                    date: e.0,
                    time: e.1,
                }),
                window: Window::default(),
            })
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert!(got.is_empty(), "{b:?}..{e:?}");
    }
}

#[tokio::test]
async fn option_contracts_have_their_trades_as_ticks() {
    let sim = spawn_sim(|_| {}).await;
    let m = market();
    let chain = m.chain("AAPL", today()).unwrap();
    let (contract, trades) = chain
        .iter()
        .map(|c| {
            (
                c.symbol.clone(),
                m.option_trades(&c.symbol, today()).unwrap(),
            )
        })
        .find(|(_, t)| t.len() >= 3)
        .expect("a contract that traded");
    let c = client(&sim, Protocol::V62).await;
    for req in [
        Request::TicksDays {
            symbol: contract.clone(),
            days: 1,
            window: window(Direction::OldestFirst),
        },
        Request::TicksLast {
            symbol: contract.clone(),
            max_points: u32::try_from(trades.len()).unwrap(),
            direction: Direction::OldestFirst,
        },
    ] {
        let got = c.ticks(&req).await.unwrap().collect().await.unwrap();
        assert_eq!(got, trades, "{contract}");
    }
}

// ---------------------------------------------------------------- bars

fn without_trades(mut bars: Vec<IntervalBar>) -> Vec<IntervalBar> {
    bars.iter_mut().for_each(|b| b.trades = 0);
    bars
}

#[tokio::test]
async fn hix_returns_the_newest_clock_bars() {
    let sim = spawn_sim(|_| {}).await;
    let bars = without_trades(market().interval_bars("SPY", today(), 60, false).unwrap());
    let want = bars[bars.len() - 20..].to_vec();
    for protocol in BOTH {
        let c = client(&sim, protocol).await;
        let mut got = c
            .bars(&Request::BarsLast {
                symbol: "SPY".into(),
                spec: BarSpec {
                    interval: 60,
                    interval_type: IntervalType::Seconds,
                    label_at_beginning: false,
                },
                max_points: 20,
                direction: Direction::NewestFirst,
            })
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        got.reverse();
        assert_eq!(got, want, "{protocol}");
    }
}

#[tokio::test]
async fn hid_labels_at_the_beginning_and_filters_the_time_of_day() {
    let sim = spawn_sim(|_| {}).await;
    let m = market();
    let want: Vec<IntervalBar> = ["2024-06-11", "2024-06-12"]
        .iter()
        .flat_map(|d| without_trades(m.interval_bars("AAPL", day(d), 300, true).unwrap()))
        .filter(|b| (93_000..=120_000).contains(&local(b.time).1))
        .collect();
    let c = client(&sim, Protocol::V62).await;
    let got = c
        .bars(&Request::BarsDays {
            symbol: "AAPL".into(),
            spec: BarSpec {
                interval: 300,
                interval_type: IntervalType::Seconds,
                label_at_beginning: true,
            },
            days: 2,
            window: Window {
                begin_filter: Some(93_000),
                end_filter: Some(120_000),
                ..window(Direction::OldestFirst)
            },
        })
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(got, want);
}

/// Volume or tick bars as the reference simulator builds them: a bar closes on the trade
/// that fills it, stamped with its last trade's second.
fn event_bars(
    ticks: &[Tick],
    full: impl Fn(i64, i64) -> bool,
    keep_trades: bool,
) -> Vec<IntervalBar> {
    let mut out = Vec::new();
    let mut cur: Vec<&Tick> = Vec::new();
    let mut close = |cur: &mut Vec<&Tick>| {
        if let (Some(first), Some(last)) = (cur.first(), cur.last()) {
            let prices = cur.iter().map(|t| t.trade.price);
            out.push(IntervalBar {
                time: last.trade.time / 1_000_000_000 * 1_000_000_000,
                high: prices.clone().fold(f64::MIN, f64::max),
                low: prices.fold(f64::MAX, f64::min),
                open: first.trade.price,
                close: last.trade.price,
                total_volume: last.total_volume,
                period_volume: cur.iter().map(|t| t.trade.size).sum(),
                trades: if keep_trades { cur.len() as i64 } else { 0 },
            });
        }
        cur.clear();
    };
    for t in ticks {
        cur.push(t);
        let volume: i64 = cur.iter().map(|t| t.trade.size).sum();
        if full(volume, cur.len() as i64) {
            close(&mut cur);
        }
    }
    close(&mut cur);
    out
}

#[tokio::test]
async fn hit_builds_volume_and_tick_bars_from_the_ticks() {
    let sim = spawn_sim(|_| {}).await;
    let ticks = market().ticks("IWM", today()).unwrap();
    let c = client(&sim, Protocol::V62).await;
    let range = |spec| Request::BarsRange {
        symbol: "IWM".into(),
        spec,
        begin: Some(DateTime {
            date: 20240612,
            time: 0,
        }),
        end: Some(DateTime {
            date: 20240612,
            time: 235_959,
        }),
        window: window(Direction::OldestFirst),
    };
    let volume = c
        .bars(&range(BarSpec {
            interval: 20_000,
            interval_type: IntervalType::Volume,
            label_at_beginning: false,
        }))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(volume, event_bars(&ticks, |v, _| v >= 20_000, false));
    let by_ticks = c
        .bars(&range(BarSpec {
            interval: 25,
            interval_type: IntervalType::Ticks,
            label_at_beginning: false,
        }))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(by_ticks, event_bars(&ticks, |_, n| n >= 25, true));
    assert!(
        by_ticks[..by_ticks.len() - 1]
            .iter()
            .all(|b| b.trades == 25)
    );
}

// ---------------------------------------------------------------- daily

#[tokio::test]
async fn daily_weekly_and_monthly_agree_with_the_market() {
    let sim = spawn_sim(|_| {}).await;
    let m = market();
    let t = today();
    let daily = m.daily("MSFT", day("2024-01-01"), t).unwrap();
    for protocol in BOTH {
        let c = client(&sim, protocol).await;
        let got = c
            .daily(&Request::DailyLast {
                symbol: "MSFT".into(),
                max_points: 5,
                direction: Direction::OldestFirst,
            })
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(got, daily[daily.len() - 5..].to_vec(), "{protocol}");
    }
    let c = client(&sim, Protocol::V62).await;
    // HDT: a range, newest first, at most 3.
    let mut got = c
        .daily(&Request::DailyRange {
            symbol: "MSFT".into(),
            begin: Some(20240301),
            end: Some(20240331),
            max_points: Some(3),
            direction: Direction::NewestFirst,
        })
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    got.reverse();
    let march = m
        .daily("MSFT", day("2024-03-01"), day("2024-03-31"))
        .unwrap();
    assert_eq!(got, march[march.len() - 3..].to_vec());
    // HWX: the last three weeks, this one partial.
    let weekly = m.weekly("MSFT", day("2024-05-27"), t).unwrap();
    let got = c
        .daily(&Request::WeeklyLast {
            symbol: "MSFT".into(),
            max_points: 3,
            direction: Direction::OldestFirst,
        })
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(got, weekly);
    assert_eq!(got.last().map(|l| l.date), Some(20240612));
    // HMX: the last two months.
    let monthly = m.monthly("MSFT", day("2024-05-01"), t).unwrap();
    let got: Vec<DailyLine> = c
        .daily(&Request::MonthlyLast {
            symbol: "MSFT".into(),
            max_points: 2,
            direction: Direction::OldestFirst,
        })
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(got, monthly);
    assert_eq!(got[0].date, 20240531);
}

// ---------------------------------------------------------------- chains and search

fn ceo(sides: Sides, month_codes: &str, near: Option<u32>, filter: ChainFilter) -> Request {
    Request::EquityChain {
        symbol: "AAPL".into(),
        sides,
        month_codes: month_codes.into(),
        near_months: near,
        filter,
        include_nonstandard: false,
    }
}

#[tokio::test]
async fn ceo_returns_today_s_chain_filtered() {
    let sim = spawn_sim(|_| {}).await;
    let m = market();
    let chain = m.chain("AAPL", today()).unwrap();
    let calls: Vec<String> = chain
        .iter()
        .filter(|c| c.right == Right::Call)
        .map(|c| c.symbol.clone())
        .collect();
    let puts: Vec<String> = chain
        .iter()
        .filter(|c| c.right == Right::Put)
        .map(|c| c.symbol.clone())
        .collect();
    for protocol in BOTH {
        let c = client(&sim, protocol).await;
        let got = c
            .chain(&ceo(Sides::Both, "", None, ChainFilter::None))
            .await
            .unwrap();
        assert_eq!((&got.calls, &got.puts), (&calls, &puts), "{protocol}");
    }
    let c = client(&sim, Protocol::V62).await;
    let got = c
        .chain(&ceo(Sides::Calls, "", None, ChainFilter::None))
        .await
        .unwrap();
    assert_eq!(got.calls, calls);
    assert!(got.puts.is_empty());
    // F = June calls, S = July puts.
    let got = c
        .chain(&ceo(Sides::Both, "FS", None, ChainFilter::None))
        .await
        .unwrap();
    assert!(!got.calls.is_empty() && !got.puts.is_empty());
    let month_and_right = |s: &String| {
        let o = OptionSymbol::parse(s).unwrap();
        (o.expiry().month(), o.right())
    };
    assert!(
        got.calls
            .iter()
            .all(|s| month_and_right(s) == (6, Right::Call))
    );
    assert!(
        got.puts
            .iter()
            .all(|s| month_and_right(s) == (7, Right::Put))
    );
    // One near month: June 2024 only.
    let got = c
        .chain(&ceo(Sides::Both, "", Some(1), ChainFilter::None))
        .await
        .unwrap();
    let june = chain.iter().filter(|c| c.expiry / 100 == 202406).count();
    assert_eq!(got.calls.len() + got.puts.len(), june);
    // A strike range.
    let got = c
        .chain(&ceo(
            Sides::Both,
            "",
            None,
            ChainFilter::StrikeRange(190.0, 195.0),
        ))
        .await
        .unwrap();
    let in_range = chain
        .iter()
        .filter(|c| (190.0..=195.0).contains(&c.strike))
        .count();
    assert_eq!(got.calls.len() + got.puts.len(), in_range);
    // Two in and one out of the money per expiry and side.
    let expiries = {
        let mut e: Vec<u32> = chain.iter().map(|c| c.expiry).collect();
        e.sort_unstable();
        e.dedup();
        e.len()
    };
    let got = c
        .chain(&ceo(Sides::Both, "", None, ChainFilter::Moneyness(2, 1)))
        .await
        .unwrap();
    assert_eq!(got.calls.len(), 3 * expiries);
    assert_eq!(got.puts.len(), 3 * expiries);
}

#[tokio::test]
async fn cfo_knows_no_futures_and_an_index_has_no_chain() {
    let sim = spawn_sim(|_| {}).await;
    let c = client(&sim, Protocol::V62).await;
    let err = c
        .chain(&Request::FutureOptionChain {
            symbol: "@ES".into(),
            sides: Sides::Both,
            month_codes: String::new(),
            years: String::new(),
            near_months: Some(1),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, IqError::InvalidSymbol { .. }), "{err}");
    let err = c
        .chain(&Request::EquityChain {
            symbol: "AAPX".into(),
            sides: Sides::Both,
            month_codes: String::new(),
            near_months: None,
            filter: ChainFilter::None,
            include_nonstandard: false,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, IqError::InvalidSymbol { .. }), "{err}");
    let got = c
        .chain(&Request::EquityChain {
            symbol: "SPX.XO".into(),
            sides: Sides::Both,
            month_codes: String::new(),
            near_months: None,
            filter: ChainFilter::None,
            include_nonstandard: false,
        })
        .await
        .unwrap();
    assert!(got.calls.is_empty() && got.puts.is_empty());
}

#[tokio::test]
async fn sbf_searches_symbols_and_descriptions() {
    let sim = spawn_sim(|_| {}).await;
    for protocol in BOTH {
        let c = client(&sim, protocol).await;
        let search = |in_descriptions: bool, text: &str, filter: Option<(char, &str)>| {
            Request::SymbolSearch {
                in_descriptions,
                text: text.into(),
                filter: filter.map(|(k, v)| (k, v.to_owned())),
            }
        };
        let got = c.search(&search(false, "MS", None)).await.unwrap();
        assert_eq!(got.len(), 1, "{protocol}");
        assert_eq!(
            (
                got[0].symbol.as_str(),
                got[0].listed_market,
                got[0].security_type
            ),
            ("MSFT", 21, 1)
        );
        assert_eq!(got[0].description, "MICROSOFT CORP");
        let got = c.search(&search(true, "SPDR", None)).await.unwrap();
        let symbols: Vec<&str> = got.iter().map(|m| m.symbol.as_str()).collect();
        assert_eq!(symbols, ["SPY", "DIA", "GLD"]);
        let got = c
            .search(&search(false, "S", Some(('t', "6"))))
            .await
            .unwrap();
        let symbols: Vec<&str> = got.iter().map(|m| m.symbol.as_str()).collect();
        assert_eq!(symbols, ["SPX.XO"]);
        let got = c.search(&search(false, "ZZZZ", None)).await.unwrap();
        assert!(got.is_empty());
        // A comma would shift the request id out of its field: refused before sending, and
        // the connection still serves the next request.
        let err = c
            .search(&search(true, "EXXON, CORP", None))
            .await
            .unwrap_err();
        assert!(matches!(err, IqError::Rejected { .. }), "{err}");
        assert!(err.to_string().contains("EXXON, CORP"), "{err}");
        assert_eq!(c.search(&search(false, "MS", None)).await.unwrap().len(), 1);
    }
}

// ---------------------------------------------------------------- errors

#[tokio::test]
async fn unknown_symbols_are_invalid_symbol_errors() {
    let sim = spawn_sim(|_| {}).await;
    for protocol in BOTH {
        let c = client(&sim, protocol).await;
        let err = c
            .ticks(&Request::TicksLast {
                symbol: "AAPX".into(),
                max_points: 10,
                direction: Direction::NewestFirst,
            })
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        match err {
            IqError::InvalidSymbol { symbol, text } => {
                assert_eq!(
                    (symbol.as_str(), text.as_str()),
                    ("AAPX", "Invalid symbol.")
                );
            }
            other => panic!("{other}"),
        }
        let err = c
            .daily(&Request::DailyLast {
                symbol: "ZZZZ2417A190".into(),
                max_points: 10,
                direction: Direction::NewestFirst,
            })
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(matches!(err, IqError::InvalidSymbol { .. }), "{err}");
    }
}

#[tokio::test]
async fn malformed_requests_are_rejected_with_iqfeed_s_texts() {
    // (A wrong number of fields cannot come from `Request::format`; see the raw lines below.)
    let sim = spawn_sim(|_| {}).await;
    let c = client(&sim, Protocol::V62).await;
    // A bar interval of 0 does not parse.
    let err = c
        .bars(&Request::BarsLast {
            symbol: "AAPL".into(),
            spec: BarSpec {
                interval: 0,
                interval_type: IntervalType::Seconds,
                label_at_beginning: false,
            },
            max_points: 10,
            direction: Direction::NewestFirst,
        })
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, IqError::Rejected { text, .. } if text == "!SYNTAX_ERROR!"),
        "{err}"
    );
    // Raw lines: the id is echoed when it can be found, the error is two lines.
    let got = raw(
        sim.lookup_addr(),
        "S,SET PROTOCOL,6.2\r\nHTX,AAPL,abc,1,R1,100\r\nHTX,AAPL,1,1,R2,100,x,y\r\nHTX\r\nQQQ,1,2\r\n",
        4,
    )
    .await;
    assert_eq!(
        got,
        "S,CURRENT PROTOCOL,6.2\r\n\
         R1,E,!SYNTAX_ERROR!,\r\nR1,!ENDMSG!,\r\n\
         R2,E,Invalid number of parameters.,\r\nR2,!ENDMSG!,\r\n\
         E,Invalid number of parameters.,\r\n!ENDMSG!,\r\n\
         E,!SYNTAX_ERROR!,\r\n!ENDMSG!,\r\n"
    );
}

#[tokio::test]
async fn the_token_bucket_answers_too_many_requests() {
    let sim = spawn_sim(|c| c.rate_limit = (2, 0.01)).await;
    let c = client(&sim, Protocol::V62).await;
    let req = Request::DailyLast {
        symbol: "KO".into(),
        max_points: 1,
        direction: Direction::NewestFirst,
    };
    for _ in 0..2 {
        c.daily(&req).await.unwrap().collect().await.unwrap();
    }
    let err = c.daily(&req).await.unwrap().collect().await.unwrap_err();
    assert!(matches!(err, IqError::RateLimited { .. }), "{err}");
    assert!(err.is_retryable());
    // Chains and searches are not history: no limit.
    c.search(&Request::SymbolSearch {
        in_descriptions: false,
        text: "K".into(),
        filter: None,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_rejected_protocol_is_a_protocol_error() {
    let sim = spawn_sim(|c| c.max_protocol = Protocol::V61).await;
    let err = LookupClient::connect(lookup_config(&sim, Protocol::V62))
        .await
        .err()
        .expect("6.2 is refused");
    match &err {
        IqError::Protocol { reason, .. } => assert_eq!(reason, "6.2 is not a valid protocol."),
        other => panic!("{other}"),
    }
    // 6.1 is fine, and the raw answer is IQConnect's.
    client(&sim, Protocol::V61).await;
    let got = raw(sim.lookup_addr(), "S,SET PROTOCOL,5.0\r\n", 1).await;
    assert_eq!(got, "E,5.0 is not a valid protocol.,\r\n");
}

/// A gateway that accepts but does not answer the handshake (starting, or busy) is
/// unavailable, not refusing the protocol: the client connects again and gets through.
#[tokio::test]
async fn a_silent_handshake_is_retried_not_taken_for_a_refusal() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let gateway = tokio::spawn(async move {
        // The first connection is held open and never answered.
        let (silent, _) = listener.accept().await.unwrap();
        let (mut second, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 64];
        let n = second.read(&mut buf).await.unwrap();
        assert!(
            buf[..n].starts_with(b"S,SET PROTOCOL,6.2"),
            "{:?}",
            &buf[..n]
        );
        second
            .write_all(b"S,CURRENT PROTOCOL,6.2\r\n")
            .await
            .unwrap();
        (silent, second)
    });
    let cfg = LookupConfig {
        addr: addr.clone(),
        connect_timeout: Duration::from_millis(300),
        ..LookupConfig::default()
    };
    let client = LookupClient::connect(cfg).await;
    assert!(client.is_ok(), "{:?}", client.err().map(|e| e.to_string()));
    gateway.await.unwrap();

    // A gateway that never answers is reported as unavailable, naming the handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let err = LookupClient::connect(LookupConfig {
        addr,
        connect_timeout: Duration::from_millis(100),
        connect_attempts: 2,
        ..LookupConfig::default()
    })
    .await
    .err()
    .expect("no answer, no client");
    match &err {
        IqError::Unavailable { reason, .. } => {
            assert_eq!(reason, "no answer to S,SET PROTOCOL,6.2 within 100ms")
        }
        other => panic!("{other}"),
    }
    held.abort();
}

#[tokio::test]
async fn protocol_defaults_to_6_2_bare_newlines_and_id_less_requests_work() {
    let sim = spawn_sim(|_| {}).await;
    // No SET PROTOCOL: 6.2 lines; no request id: no first column.
    let got = raw(sim.lookup_addr(), "S,SET CLIENT NAME,raw\nHDX,KO,2,1\n", 1).await;
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 3, "{got}");
    assert!(lines[0].starts_with("LH,2024-06-11,"), "{got}");
    assert!(lines[1].starts_with("LH,2024-06-12,"), "{got}");
    assert_eq!(lines[2], "!ENDMSG!,");
    // 6.1 with bare `\n`: ids but no record type.
    let got = raw(sim.lookup_addr(), "S,SET PROTOCOL,6.1\nHDX,KO,1,1,D1\n", 1).await;
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines[0], "S,CURRENT PROTOCOL,6.1");
    assert!(lines[1].starts_with("D1,2024-06-12,"), "{got}");
    assert_eq!(lines[2], "D1,!ENDMSG!,");
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn a_dropped_connection_fails_the_request_and_the_next_one_reconnects() {
    let sim = spawn_sim(|c| {
        c.faults = Faults {
            drop_after_lines: Some(30),
            ..Faults::default()
        }
    })
    .await;
    let c = client(&sim, Protocol::V62).await;
    let err = c
        .ticks(&Request::TicksLast {
            symbol: "AAPL".into(),
            max_points: 100,
            direction: Direction::NewestFirst,
        })
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert!(matches!(err, IqError::Unavailable { .. }), "{err}");
    let got = c
        .ticks(&Request::TicksLast {
            symbol: "AAPL".into(),
            max_points: 5,
            direction: Direction::OldestFirst,
        })
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let all = market().ticks("AAPL", today()).unwrap();
    assert_eq!(got, all[all.len() - 5..].to_vec());
}

#[tokio::test]
async fn a_delay_longer_than_the_request_timeout_times_out() {
    let sim = spawn_sim(|c| c.faults.delay = Some(Duration::from_millis(400))).await;
    let mut cfg = lookup_config(&sim, Protocol::V62);
    cfg.request_timeout = Duration::from_millis(100);
    let c = LookupClient::connect(cfg).await.unwrap();
    let req = Request::DailyLast {
        symbol: "KO".into(),
        max_points: 1,
        direction: Direction::NewestFirst,
    };
    let err = c.daily(&req).await.unwrap().collect().await.unwrap_err();
    assert!(matches!(err, IqError::Timeout { .. }), "{err}");
    // Within the timeout the same delay is fine.
    let mut cfg = lookup_config(&sim, Protocol::V62);
    cfg.request_timeout = Duration::from_secs(5);
    let c = LookupClient::connect(cfg).await.unwrap();
    let got = c.daily(&req).await.unwrap().collect().await.unwrap();
    assert_eq!(got.len(), 1);
}

#[tokio::test]
async fn a_malformed_line_is_a_wire_error() {
    let sim = spawn_sim(|c| c.faults.malformed_every = Some(10)).await;
    for protocol in BOTH {
        let c = client(&sim, protocol).await;
        let err = c
            .ticks(&Request::TicksLast {
                symbol: "AAPL".into(),
                max_points: 30,
                direction: Direction::NewestFirst,
            })
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(matches!(err, IqError::Wire(_)), "{err}");
    }
}

#[tokio::test]
async fn rate_limit_every_refuses_every_nth_history_request() {
    let sim = spawn_sim(|c| c.faults.rate_limit_every = Some(3)).await;
    let c = client(&sim, Protocol::V62).await;
    let req = Request::DailyLast {
        symbol: "KO".into(),
        max_points: 1,
        direction: Direction::NewestFirst,
    };
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        let r = c.daily(&req).await.unwrap().collect().await;
        outcomes.push(matches!(r, Err(IqError::RateLimited { .. })));
    }
    assert_eq!(outcomes, [false, false, true, false, false, true]);
}

#[tokio::test]
async fn fragmented_writes_give_identical_results() {
    let plain = spawn_sim(|_| {}).await;
    let fragmented = spawn_sim(|c| c.faults.fragment_writes = true).await;
    let htd = Request::TicksDays {
        symbol: "AAPL".into(),
        days: 1,
        window: window(Direction::OldestFirst),
    };
    let chain = ceo(Sides::Both, "", None, ChainFilter::None);
    let hdx = Request::DailyLast {
        symbol: "SPY".into(),
        max_points: 30,
        direction: Direction::NewestFirst,
    };
    let mut results = Vec::new();
    for sim in [&plain, &fragmented] {
        let c = client(sim, Protocol::V62).await;
        let ticks = c.ticks(&htd).await.unwrap().collect().await.unwrap();
        let chain = c.chain(&chain).await.unwrap();
        let daily = c.daily(&hdx).await.unwrap().collect().await.unwrap();
        results.push((ticks, chain, daily));
    }
    assert!(!results[0].0.is_empty());
    assert_eq!(results[0], results[1]);
    // Level 1 and admin lines survive fragmentation too.
    let mut admin = AdminClient::connect(
        &fragmented.admin_addr().to_string(),
        Protocol::V62,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let stats = admin.stats().await.unwrap();
    assert_eq!(stats.get(Stats::VERSION), "6.2.0.25");
}

#[tokio::test]
async fn late_lines_of_an_abandoned_request_do_not_disturb_the_next() {
    let sim = spawn_sim(|_| {}).await;
    let c = client(&sim, Protocol::V62).await;
    let mut big = c
        .ticks(&Request::TicksDays {
            symbol: "SPY".into(),
            days: 5,
            window: window(Direction::OldestFirst),
        })
        .await
        .unwrap();
    for _ in 0..3 {
        big.next().await.unwrap().unwrap();
    }
    drop(big);
    let m = market();
    let got = c
        .daily(&Request::DailyLast {
            symbol: "SPY".into(),
            max_points: 3,
            direction: Direction::OldestFirst,
        })
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let want = m.daily("SPY", day("2024-06-10"), today()).unwrap();
    assert_eq!(got, want);
    let all = m.ticks("SPY", today()).unwrap();
    let got = c
        .ticks(&Request::TicksLast {
            symbol: "SPY".into(),
            max_points: 7,
            direction: Direction::OldestFirst,
        })
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(got, all[all.len() - 7..].to_vec());
}

#[tokio::test]
async fn a_reply_nobody_reads_is_cut_off_and_does_not_hold_up_the_others() {
    let sim = spawn_sim(|c| c.tick_scale = 0.5).await;
    let mut cfg = lookup_config(&sim, Protocol::V62);
    cfg.request_timeout = Duration::from_secs(2);
    let c = LookupClient::connect(cfg).await.unwrap();
    // Millions of bytes of ticks, never read: the socket's routing must not wait on them.
    let mut stalled = c
        .ticks(&Request::TicksDays {
            symbol: "SPY".into(),
            days: 5,
            window: window(Direction::OldestFirst),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let got = c
        .daily(&Request::DailyLast {
            symbol: "MSFT".into(),
            max_points: 3,
            direction: Direction::OldestFirst,
        })
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(got.len(), 3);
    assert!(started.elapsed() < Duration::from_secs(10));
    // The unread reply was dropped; its reader learns why once it reads what it was given.
    let mut read = 0usize;
    let err = loop {
        match stalled.next().await {
            Some(Ok(_)) => read += 1,
            Some(Err(e)) => break e,
            None => panic!("the cut-off reply ended normally after {read} ticks"),
        }
    };
    assert!(err.to_string().contains("was dropped"), "{err}");
    assert!(read > 0);
}

// ---------------------------------------------------------------- determinism

const SCRIPT: &str = "S,SET PROTOCOL,6.2\r\n\
    HTD,AAPL,2,,,,1,A1,100\r\n\
    HIT,SPY,60,20240611 093000,20240612 160000,,,,0,B1,100,s,0\r\n\
    HDX,MSFT,20,1,C1,100\r\n\
    CEO,QQQ,pc,,2,0,,,D1,0\r\n\
    SBF,d,INC,,,E1\r\n\
    HTX,NOPE,5,1,F1,100\r\n";

#[tokio::test]
async fn same_seed_gives_byte_identical_replies() {
    let a = spawn_sim(|_| {}).await;
    let b = spawn_sim(|c| c.faults.fragment_writes = true).await;
    let other = spawn_sim(|c| c.seed = SEED + 1).await;
    let (ra, rb, ro) = tokio::join!(
        raw(a.lookup_addr(), SCRIPT, 6),
        raw(b.lookup_addr(), SCRIPT, 6),
        raw(other.lookup_addr(), SCRIPT, 6)
    );
    assert!(ra.len() > 100_000, "{} bytes", ra.len());
    assert!(ra == rb, "replies differ");
    assert!(ra != ro, "another seed, another market");
    for id in ["A1", "B1", "C1", "D1", "E1"] {
        assert!(ra.contains(&format!("\r\n{id},!ENDMSG!,\r\n")), "{id}");
    }
    assert!(ra.ends_with("F1,E,Invalid symbol.,\r\nF1,!ENDMSG!,\r\n"));
}

// ---------------------------------------------------------------- Level 1 and admin

async fn level1(sim: &RunningSimulator, protocol: Protocol) -> Level1Client {
    Level1Client::connect(
        &sim.level1_addr().to_string(),
        protocol,
        Duration::from_secs(5),
    )
    .await
    .unwrap()
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_watch_sends_fundamentals_a_summary_then_updates() {
    // 20 simulated minutes a second: a few Q lines a second at this tick scale.
    let sim = spawn_sim(|c| c.l1_speed = 1_200.0).await;
    let m = market();
    let ticks = m.ticks("AAPL", today()).unwrap();
    let snapshot = m.fundamentals("AAPL", today()).unwrap();
    for protocol in BOTH {
        let l1 = level1(&sim, protocol).await;
        l1.timestamps(false).await.unwrap();
        l1.watch("AAPL").await.unwrap();
        let f = l1
            .wait_for(WAIT, |msg| match msg {
                Message::Fundamental(f) => Some(f.clone()),
                _ => None,
            })
            .await
            .unwrap();
        assert_eq!(f.symbol(), "AAPL");
        assert_eq!(
            f.number(f_index::DIVIDEND_AMOUNT),
            Some(snapshot.dividend_amount)
        );
        assert_eq!(f.date(f_index::EX_DATE), Some(snapshot.ex_date));
        assert_eq!(f.date(f_index::PAY_DATE), Some(snapshot.pay_date));
        assert_eq!(f.number(f_index::HIGH_52W), Some(snapshot.high_52w));
        assert_eq!(
            f.number(f_index::SHARES_OUTSTANDING),
            Some((snapshot.shares_outstanding / 1000) as f64)
        );
        assert_eq!(f.get(f_index::COMPANY_NAME), "APPLE INC");
        assert_eq!(
            f.get(f_index::EXCHANGE_ID),
            format!("{:X}", snapshot.exchange_id)
        );
        assert_eq!(
            f.raw.len(),
            f_index::COUNT + 2,
            "57 fields, the F and the trailing empty one"
        );
        let p = l1
            .wait_for(WAIT, |msg| match msg {
                Message::Summary(u) => Some(u.clone()),
                _ => None,
            })
            .await
            .unwrap();
        assert_eq!(p.symbol, "AAPL");
        assert_eq!(p.close, Some(snapshot.previous_close));
        let mut trades = 0;
        while trades < 3 {
            let q = l1
                .wait_for(WAIT, |msg| match msg {
                    Message::Update(u) => Some(u.clone()),
                    _ => None,
                })
                .await
                .unwrap();
            if !q.message_contents.starts_with('C') && !q.message_contents.starts_with('O') {
                continue;
            }
            trades += 1;
            let t = ticks
                .iter()
                .find(|t| Some(t.trade.price) == q.last && Some(t.total_volume) == q.total_volume)
                .expect("each Q trade is one of the session's trades");
            assert_eq!(q.last_size, Some(t.trade.size));
            assert_eq!(q.bid, Some(t.trade.bid));
            // No conditions is an empty field, which reads as none.
            assert_eq!(q.conditions.unwrap_or_default(), t.trade.conditions);
            let since_midnight = utc_ns_to_new_york(t.trade.time).time() - NaiveTime::MIN;
            assert_eq!(q.last_time_us, since_midnight.num_microseconds());
        }
    }
}

#[tokio::test]
async fn level1_answers_not_found_fields_stats_and_timestamps() {
    let sim = spawn_sim(|c| c.l1_speed = 50.0).await;
    let l1 = level1(&sim, Protocol::V62).await;
    l1.watch("ZZZZ").await.unwrap();
    let missing = l1
        .wait_for(WAIT, |msg| match msg {
            Message::NotFound(s) => Some(s.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(missing, "ZZZZ");
    l1.select_update_fields(&["Symbol", "Bid", "TickID", "Most Recent Trade Date"])
        .await
        .unwrap();
    let names = l1
        .wait_for(WAIT, |msg| match msg {
            Message::System { kind, fields } if kind == "CURRENT UPDATE FIELDNAMES" => {
                Some(fields.clone())
            }
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(names, ["Symbol", "Bid", "TickID", "Most Recent Trade Date"]);
    l1.watch("MSFT").await.unwrap();
    let p = l1
        .wait_for(WAIT, |msg| match msg {
            Message::Summary(u) => Some(u.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(p.symbol, "MSFT");
    assert_eq!(p.last, None, "not in the selected fields");
    assert_eq!(l1.update_fields().names().len(), 4);
    l1.request_stats().await.unwrap();
    let stats = l1
        .wait_for(WAIT, |msg| match msg {
            Message::System { kind, fields } if kind == "STATS" => Some(fields.clone()),
            _ => None,
        })
        .await
        .unwrap();
    let stats = Stats { fields: stats };
    assert_eq!(stats.get(Stats::STATUS), "Connected");
    assert_eq!(stats.get(3), "1", "one symbol watched");
    l1.timestamps(true).await.unwrap();
    let (date, seconds) = l1
        .wait_for(WAIT, |msg| match msg {
            Message::Time { date, seconds } => Some((*date, *seconds)),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(date, 20240612);
    assert!((34_200..36_000).contains(&seconds), "{seconds}");
}

#[tokio::test]
async fn admin_sends_stats_and_answers_its_commands() {
    let sim = spawn_sim(|_| {}).await;
    let _lookup = client(&sim, Protocol::V62).await;
    let mut admin = AdminClient::connect(
        &sim.admin_addr().to_string(),
        Protocol::V62,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let stats = admin.stats().await.unwrap();
    assert_eq!(stats.fields.len(), 19);
    assert_eq!(stats.get(Stats::CLIENTS_CONNECTED), "2");
    assert_eq!(stats.get(Stats::STATUS), "Connected");
    assert_eq!(stats.get(8), "Jun 12 9:30AM");
    let got = raw_lines(
        sim.admin_addr(),
        "S,SET PROTOCOL,6.2\r\nS,REGISTER CLIENT APP,XLFEED\r\nS,SET LOGINID,123456\r\n\
         S,SET PASSWORD,secret\r\nS,SET AUTOCONNECT,Off\r\nS,SET SAVE LOGIN INFO,On\r\n\
         S,DISCONNECT\r\nS,CLIENTSTATS ON\r\n",
        |l| l.starts_with("S,CLIENTSTATS,"),
    )
    .await;
    for want in [
        "S,CURRENT PROTOCOL,6.2",
        "S,REGISTER CLIENT APP COMPLETED",
        "S,CURRENT LOGINID,123456",
        "S,CURRENT PASSWORD,secret",
        "S,AUTOCONNECT OFF",
        "S,LOGIN INFO SAVED",
        "S,SERVER DISCONNECTED",
    ] {
        assert!(got.iter().any(|l| l == want), "{want} in {got:?}");
    }
    let client_stats: Vec<&String> = got
        .iter()
        .filter(|l| l.starts_with("S,CLIENTSTATS,"))
        .collect();
    assert!(
        client_stats
            .iter()
            .any(|l| l.starts_with("S,CLIENTSTATS,3,")),
        "{got:?}"
    );
    let stats = admin.stats().await.unwrap();
    assert_eq!(stats.get(Stats::STATUS), "Not Connected");
    assert_eq!(stats.get(12), "123456");
    // The typed client reads the answers to its own commands too.
    admin.client_stats(true).await.unwrap();
    let mut kinds = Vec::new();
    while !kinds.iter().any(|k: &String| k == "CLIENTSTATS") {
        match admin.next_message().await.unwrap() {
            Message::System { kind, fields } => {
                if kind == "CLIENTSTATS" {
                    assert!(fields.len() >= 9, "{fields:?}");
                }
                kinds.push(kind);
            }
            other => panic!("unexpected admin message {other:?}"),
        }
    }
    admin.command("S,REQUEST STATS").await.unwrap();
    assert_eq!(admin.stats().await.unwrap().get(12), "123456");
}

/// Sends raw lines and collects lines until `last` accepts one.
async fn raw_lines(
    addr: std::net::SocketAddr,
    script: &str,
    last: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(script.as_bytes()).await.unwrap();
    let mut split = LineSplitter::new();
    let mut lines = Vec::new();
    let mut buf = vec![0; 65536];
    let read = async {
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early: {lines:?}");
            split.push(&buf[..n]);
            while let Some(l) = split.next_line() {
                let l = String::from_utf8_lossy(l).into_owned();
                let done = last(&l);
                lines.push(l);
                if done {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("lines in time");
    lines
}

#[tokio::test]
async fn shutdown_closes_connections_and_frees_the_ports() {
    let sim = spawn_sim(|_| {}).await;
    let addr = sim.lookup_addr();
    let l1 = level1(&sim, Protocol::V62).await;
    let mut admin = AdminClient::connect(
        &sim.admin_addr().to_string(),
        Protocol::V62,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"S,SET PROTOCOL,6.2\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"S,CURRENT PROTOCOL,6.2\r\n");
    tokio::time::timeout(Duration::from_secs(5), sim.shutdown())
        .await
        .expect("shutdown in time");
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(TcpStream::connect(addr).await.is_err());
    // The typed clients say which connection went away.
    let e = l1
        .wait_for(Duration::from_secs(5), |_| None::<()>)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("127.0.0.1:") && e.contains("closed"), "{e}");
    let e = loop {
        match admin.next_message().await {
            Ok(_) => continue,
            Err(e) => break e.to_string(),
        }
    };
    assert!(e.contains("127.0.0.1:") && e.contains("closed"), "{e}");
}

// ---------------------------------------------------------------- fixtures

struct Fixture {
    protocol: Protocol,
    ids: bool,
    lines: Vec<String>,
}

fn fixture(name: &str) -> Fixture {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut f = Fixture {
        protocol: Protocol::V62,
        ids: true,
        lines: Vec::new(),
    };
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("# protocol:") {
            f.protocol = Protocol::parse(v).unwrap();
        } else if let Some(v) = line.strip_prefix("# ids:") {
            f.ids = v.trim() == "yes";
        } else if !line.starts_with('#') && !line.is_empty() {
            f.lines.push(line.to_owned());
        }
    }
    f
}

/// Every line of a lookup fixture: its data fields, or the error text, until the end line.
fn lookup_lines(f: &Fixture) -> Vec<Result<Vec<u8>, String>> {
    let mut out = Vec::new();
    let mut ended = false;
    for l in &f.lines {
        let line = parse_line(l.as_bytes(), f.ids, f.protocol).unwrap();
        match line.reply {
            Reply::Data { fields, record } => {
                assert_eq!(record.is_some(), f.protocol == Protocol::V62, "{l}");
                out.push(Ok(fields.to_vec()));
            }
            Reply::Error(text) => out.push(Err(String::from_utf8_lossy(text).into_owned())),
            Reply::End => ended = true,
        }
    }
    assert!(ended, "a reply ends with !ENDMSG!");
    out
}

#[test]
fn fixture_ticks() {
    let mut clock = Eastern::new();
    for name in ["ticks_6_2.txt", "ticks_6_1_no_id.txt"] {
        let f = fixture(name);
        let ticks: Vec<Tick> = lookup_lines(&f)
            .into_iter()
            .map(|l| parse_tick(&l.unwrap(), &mut clock).unwrap())
            .collect();
        let t = &ticks[0];
        assert_eq!(t.trade.time, 1_704_205_800_123_456_000, "{name}");
        assert_eq!(
            (t.trade.price, t.trade.size, t.total_volume),
            (190.12, 100, 15_234)
        );
        assert_eq!((t.trade.bid, t.trade.ask), (190.11, 190.13));
        assert_eq!(
            (t.trade.tick_id, t.trade.basis, t.trade.market_center),
            (4_012_345_678, 'C', 19)
        );
        assert_eq!(t.trade.conditions.to_string(), "01");
        assert_eq!((t.aggressor, t.day_code), (1, 2));
        if let Some(t) = ticks.get(1) {
            assert_eq!(t.trade.conditions.codes().collect::<Vec<_>>(), [0x14, 0x3A]);
            assert_eq!((t.trade.basis, t.aggressor), ('O', 2));
        }
    }
}

#[test]
fn fixture_bars_and_daily() {
    let mut clock = Eastern::new();
    let f = fixture("bars_6_2.txt");
    let bars: Vec<IntervalBar> = lookup_lines(&f)
        .into_iter()
        .map(|l| parse_bar(&l.unwrap(), &mut clock).unwrap())
        .collect();
    assert_eq!(
        (bars[0].high, bars[0].low, bars[0].open, bars[0].close),
        (4411.5, 4411.25, 4411.25, 4411.5)
    );
    assert_eq!(
        (bars[0].total_volume, bars[0].period_volume, bars[0].trades),
        (42_885, 55, 0)
    );
    assert_eq!(local(bars[0].time), (20230628, 0));
    let f = fixture("daily_6_1_no_id.txt");
    let days: Vec<DailyLine> = lookup_lines(&f)
        .into_iter()
        .map(|l| parse_daily(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(
        days,
        [DailyLine {
            date: 20180427,
            high: 164.33,
            low: 160.63,
            open: 164.0,
            close: 162.32,
            volume: 35_655_839,
            open_interest: 0,
        }]
    );
}

#[test]
fn fixture_chain_and_symbols() {
    let f = fixture("chain_6_2.txt");
    assert!(
        f.lines[0].ends_with(", "),
        "the chain line keeps its ', ' ending"
    );
    let lines = lookup_lines(&f);
    let chain = parse_option_chain(lines[0].as_ref().unwrap()).unwrap();
    assert_eq!(
        chain.calls,
        ["AAPL2417A190", "AAPL2417A195", "AAPL2417A197.5"]
    );
    assert_eq!(chain.puts, ["AAPL2417M190", "AAPL2417M195"]);
    let f = fixture("symbols_6_2.txt");
    let found: Vec<_> = lookup_lines(&f)
        .into_iter()
        .map(|l| parse_symbol_match(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(found.len(), 3);
    assert_eq!(
        (found[0].symbol.as_str(), found[0].listed_market),
        ("MSFT", 21)
    );
    assert_eq!(found[1].description, "EXXON MOBIL, CORP");
    assert_eq!(
        (found[2].symbol.as_str(), found[2].description.as_str()),
        ("E", "ENI")
    );
}

#[test]
fn fixture_errors() {
    let f = fixture("errors_6_2.txt");
    let mut texts = Vec::new();
    let mut ids = Vec::new();
    for l in &f.lines {
        let line = parse_line(l.as_bytes(), true, f.protocol).unwrap();
        ids.push(String::from_utf8_lossy(line.id.unwrap()).into_owned());
        match line.reply {
            Reply::Error(t) => texts.push(String::from_utf8_lossy(t).into_owned()),
            Reply::End => {}
            Reply::Data { .. } => panic!("no data in {l}"),
        }
    }
    assert_eq!(
        texts,
        [
            "!NO_DATA!",
            "Invalid symbol.",
            "!SYNTAX_ERROR!",
            "Invalid number of parameters.",
            "Too many simultaneous history requests"
        ]
    );
    // Each error is followed by the end line of the same request.
    assert!(ids.chunks(2).all(|p| p[0] == p[1]));
}

#[test]
fn fixture_level1_and_admin() {
    let f = fixture("level1_6_2.txt");
    let fields = UpdateFields::default();
    let msgs: Vec<Message> = f
        .lines
        .iter()
        .map(|l| parse_message(l.as_bytes(), &fields).unwrap())
        .collect();
    assert_eq!(
        msgs[0],
        Message::System {
            kind: "CURRENT PROTOCOL".into(),
            fields: vec!["6.2".into()]
        }
    );
    assert_eq!(
        msgs[1],
        Message::Time {
            date: 20240102,
            seconds: 34_201
        }
    );
    assert_eq!(msgs[2], Message::NotFound("ZZZZ".into()));
    let Message::Update(q) = &msgs[3] else {
        panic!("{:?}", msgs[3])
    };
    assert_eq!(
        (q.symbol.as_str(), q.last, q.last_size),
        ("AAPL", Some(190.12), Some(100))
    );
    assert_eq!(
        (q.bid, q.ask, q.close),
        (Some(190.11), Some(190.13), Some(188.9))
    );
    assert_eq!(q.message_contents, "Cba");
    assert_eq!(msgs[4], Message::Error("Disconnected from server".into()));
    let Message::System { kind, fields } = &msgs[5] else {
        panic!("{:?}", msgs[5])
    };
    assert_eq!(kind, "STATS");
    let stats = Stats {
        fields: fields.clone(),
    };
    assert_eq!(stats.get(Stats::STATUS), "Not Connected");
    assert_eq!(stats.get(Stats::VERSION), "6.0.0.4");
    assert_eq!(stats.get(Stats::CLIENTS_CONNECTED), "1");
}

#[test]
fn the_simulator_reply_shapes_match_the_fixtures() {
    // The simulator writes what the fixtures document: same field counts per line kind.
    let count = |l: &str| l.split(',').count();
    let ticks = fixture("ticks_6_2.txt");
    let bars = fixture("bars_6_2.txt");
    let m = market();
    let t = &m.ticks("AAPL", today()).unwrap()[0];
    let mut line = b"R7,LH,".to_vec();
    let (date, time) = local(t.trade.time);
    let micros = i64::from(time / 10_000 * 3600 + time / 100 % 100 * 60 + time % 100) * 1_000_000
        + (t.trade.time / 1_000) % 1_000_000;
    xlfeed_iqfeed::wire::history::write_tick(&mut line, t, date, micros, true);
    assert_eq!(
        count(std::str::from_utf8(&line).unwrap()),
        count(&ticks.lines[0])
    );
    let b = &m.interval_bars("AAPL", today(), 60, false).unwrap()[0];
    let mut line = b"I,LH,".to_vec();
    let (date, time) = local(b.time);
    xlfeed_iqfeed::wire::history::write_bar(
        &mut line,
        b,
        date,
        i64::from(time / 10_000 * 3600 + time / 100 % 100 * 60 + time % 100) * 1_000_000,
    );
    assert_eq!(
        count(std::str::from_utf8(&line).unwrap()),
        count(&bars.lines[0])
    );
    assert!(Nyse.is_trading_day(today()));
}

// ---------------------------------------------------------------- reference tables and
// ---------------------------------------------------------------- industry search
// (tests/iqfeed-compat: third-party clients load these tables when they start)

#[tokio::test]
async fn reference_tables_answer_with_and_without_request_ids_in_both_protocols() {
    let sim = spawn_sim(|_| {}).await;
    for p in BOTH {
        let ls = if p == Protocol::V62 { "LS," } else { "" };
        // pyiqfeed's TableConn sends the five table commands bare, one after the other.
        let got = raw(
            sim.lookup_addr(),
            &format!("S,SET PROTOCOL,{p}\r\nSLM\r\nSST\r\nSTC\r\nSSC\r\nSNC\r\n"),
            5,
        )
        .await;
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines[0], format!("S,CURRENT PROTOCOL,{p}"));
        assert!(
            lines.contains(&format!("{ls}2,NCM,National Capital Market,5,NASDAQ,").as_str()),
            "{got}"
        );
        assert!(
            lines.contains(&format!("{ls}6,INDEX,Index,").as_str()),
            "{got}"
        );
        assert!(
            lines.contains(&format!("{ls}61,INTRMRKT_SWEEP,Intermarket sweep order,").as_str())
        );
        assert!(lines.contains(
            &format!("{ls}7370,SERVICES-COMPUTER PROGRAMMING, DATA PROCESSING, ETC.,").as_str()
        ));
        assert!(lines.contains(&format!("{ls}334111,Electronic Computer Manufacturing,").as_str()));
        assert_eq!(lines.iter().filter(|l| **l == "!ENDMSG!,").count(), 5);
        // With a request id every line carries it, the end line too.
        let got = raw(
            sim.lookup_addr(),
            &format!("S,SET PROTOCOL,{p}\r\nSLM,T7\r\n"),
            1,
        )
        .await;
        let lines: Vec<&str> = got.lines().skip(1).collect();
        assert!(lines.iter().all(|l| l.starts_with("T7,")), "{got}");
        assert_eq!(
            lines[0],
            format!("T7,{ls}1,NMS,Nasdaq Global Market,5,NASDAQ,")
        );
        assert_eq!(*lines.last().unwrap(), "T7,!ENDMSG!,");
    }
}

#[tokio::test]
async fn sbs_finds_symbols_by_sic_prefix_and_sbn_finds_none() {
    let sim = spawn_sim(|_| {}).await;
    for p in BOTH {
        let ls = if p == Protocol::V62 { "LS," } else { "" };
        let got = raw(
            sim.lookup_addr(),
            &format!("S,SET PROTOCOL,{p}\r\nSBS,3571,A1\r\nSBS,367,A2\r\nSBN,334111,A3\r\n"),
            3,
        )
        .await;
        let lines: Vec<&str> = got.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                format!("A1,{ls}3571,AAPL,21,1,APPLE INC,").as_str(),
                "A1,!ENDMSG!,",
                format!("A2,{ls}3674,INTC,21,1,INTEL CORP,").as_str(),
                format!("A2,{ls}3674,NVDA,21,1,NVIDIA CORP,").as_str(),
                "A2,!ENDMSG!,",
                "A3,E,!NO_DATA!,",
                "A3,!ENDMSG!,",
            ]
        );
    }
}

#[tokio::test]
async fn malformed_table_requests_keep_their_request_id() {
    let sim = spawn_sim(|_| {}).await;
    let got = raw(
        sim.lookup_addr(),
        "S,SET PROTOCOL,6.2\r\nSBS,,B1\r\nSST,B2,extra\r\n",
        2,
    )
    .await;
    let lines: Vec<&str> = got.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "B1,E,!SYNTAX_ERROR!,",
            "B1,!ENDMSG!,",
            "B2,E,Invalid number of parameters.,",
            "B2,!ENDMSG!,",
        ]
    );
}
