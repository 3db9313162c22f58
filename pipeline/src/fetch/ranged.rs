//! One instrument's history over a run of trading days, asked of IQFeed in as few requests
//! as it allows and handed back day by day (issue 17).
//!
//! IQFeed's history servers allow about 50 requests a second, so a backfill's wall time is
//! its request count: asking for each day alone costs a request per instrument-day, asking
//! for the run of days in one `HTT`/`HIT` costs one per instrument. The store still keeps
//! one chunk per symbol-day: the reply (oldest first) is cut at each day's first line, and
//! each day is handed back as soon as the next one starts, with its rows exactly those a
//! request for that day alone brings (the lines dated that day, in the order sent). The
//! archive, too, keeps one file per day (`<yyyy>/<mm>/<dd>/<kind>/<symbol>.txt.gz`, headed by
//! the request that brought it), so a replay reads day by day however the days were asked.
//!
//! A gateway may cut a long reply: `--max-points N` sends `MaxDatapoints` N, and a reply of
//! N points is taken as cut. IQFeed keeps the **newest** points (the simulator's reading of
//! the reference, `lookup_port`), so the days after the reply's first are whole and handed
//! back; that first day and the ones before it are asked again; a day that is itself past
//! the limit is asked alone, without a limit, as a day-at-a-time fetch asks it.
//! A retry after a lost connection asks only for the days not yet handed back, and for half
//! as many at once when the failed attempt handed back none.

use std::fmt;

use anyhow::Result;
use tokio::sync::mpsc;
use xlfeed_core::TradingDay;
use xlfeed_iqfeed::IqError;
use xlfeed_iqfeed::wire::request::{BarSpec, DateTime, Request};

use super::source::{ArchiveFile, Opened, Reply, SourceError, path_part};
use super::{Ctx, REQUEST_BACKOFF, day_path, oldest_first, request};
use crate::stage::UnitError;

/// Bytes of a day's lines gathered before they are parsed.
const BLOCK: usize = 1 << 20;

/// What is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum What {
    /// Every trade (`HTT`).
    Ticks,
    /// Interval bars (`HIT`).
    Bars(BarSpec),
}

/// One instrument's history of one kind: how to ask for a run of its days and where each
/// day's reply goes in the archive.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// The instrument (a stock, or an option contract).
    pub(crate) symbol: String,
    /// Ticks or bars.
    pub(crate) what: What,
    /// The archive folder under a day (`ticks`, `bars60`, `options/AAPL`).
    pub(crate) folder: String,
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.folder, self.symbol)
    }
}

impl Series {
    /// The request for the whole of the days `first` to `last`, at most `max_points` points.
    pub(crate) fn request(
        &self,
        first: TradingDay,
        last: TradingDay,
        max_points: Option<u32>,
    ) -> Request {
        let begin = Some(DateTime {
            date: first.yyyymmdd(),
            time: 0,
        });
        let end = Some(DateTime {
            date: last.yyyymmdd(),
            time: 235_959,
        });
        let mut window = oldest_first();
        window.max_points = max_points;
        match self.what {
            What::Ticks => Request::TicksRange {
                symbol: self.symbol.clone(),
                begin,
                end,
                window,
            },
            What::Bars(spec) => Request::BarsRange {
                symbol: self.symbol.clone(),
                spec,
                begin,
                end,
                window,
            },
        }
    }

    /// The archive path of one day's reply.
    pub(crate) fn path(&self, day: TradingDay) -> String {
        format!(
            "{}/{}/{}.txt.gz",
            day_path(day),
            self.folder,
            path_part(&self.symbol)
        )
    }
}

/// How a series ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Every day was handed back.
    Complete,
    /// IQFeed does not know the symbol; the days not handed back never will be.
    UnknownSymbol,
}

/// A parser of a day's data lines into rows.
pub(crate) type Parse<T> = dyn Fn(&[u8], &mut Vec<T>) -> Result<()> + Send + Sync;

/// Fetches `days` (ascending, consecutive trading days) of `series`, sending each day's rows
/// to `out` as soon as the day is whole (an empty day as no rows), in no set order. One
/// request for all of them unless the gateway cuts the reply or `days` is one day.
pub(crate) async fn fetch<T: Send>(
    ctx: &Ctx,
    series: &Series,
    days: &[TradingDay],
    parse: &Parse<T>,
    out: &mpsc::Sender<(TradingDay, Vec<T>)>,
) -> Result<End, UnitError> {
    if ctx.source.is_replay() {
        return replay(ctx, series, days, parse, out).await;
    }
    let mut remaining = days.to_vec();
    // A day a cut reply began with, that alone passes the limit: asked next, alone.
    let mut alone: Option<TradingDay> = None;
    // Days asked for at once: halved after each attempt that failed before handing back a
    // day (a connection that drops mid-reply), so that a retry asks for less.
    let mut at_once = days.len().max(1);
    let mut pauses = REQUEST_BACKOFF.with_attempts(ctx.retries).pauses();
    let mut attempts = 0u32;
    while !remaining.is_empty() {
        let span: Vec<TradingDay> = match alone {
            Some(d) => vec![d],
            None => remaining[..at_once.min(remaining.len())].to_vec(),
        };
        let (first, last) = (span[0], span[span.len() - 1]);
        // One day is asked for as a day-at-a-time fetch asks for it: whole, without a limit.
        let max = (span.len() > 1).then_some(ctx.max_points).flatten();
        let req = series.request(first, last, max);
        attempts += 1;
        let mut handed = Vec::new();
        let got = one_reply(ctx, series, &req, &span, max, parse, out, &mut handed).await;
        remaining.retain(|d| !handed.contains(d));
        match got {
            Ok(Step::Complete) => alone = None,
            Ok(Step::UnknownSymbol) => return Ok(End::UnknownSymbol),
            // The reply's first day and those before it were not handed back and are asked
            // again; when that day is the last asked for, it goes alone.
            Ok(Step::CutAt(cut)) => alone = (cut == last).then_some(cut),
            Err(SourceError::Retryable(e)) => match pauses.next() {
                Some(pause) => {
                    if handed.is_empty() {
                        at_once = (span.len() / 2).max(1);
                    }
                    tracing::warn!(
                        attempt = attempts,
                        series = %series,
                        error = %e,
                        pause_ms = pause.as_millis() as u64,
                        "iqfeed request failed; retrying the days not yet fetched"
                    );
                    tokio::time::sleep(pause).await;
                }
                None => {
                    return Err(UnitError::Failed(format!(
                        "{e} (after {attempts} attempts)"
                    )));
                }
            },
            Err(SourceError::Failed(e)) => return Err(UnitError::Failed(e)),
        }
    }
    Ok(End::Complete)
}

/// Reads `days` from the archive, day by day.
async fn replay<T: Send>(
    ctx: &Ctx,
    series: &Series,
    days: &[TradingDay],
    parse: &Parse<T>,
    out: &mpsc::Sender<(TradingDay, Vec<T>)>,
) -> Result<End, UnitError> {
    for &day in days {
        let req = series.request(day, day, None);
        match request(ctx, &req, &series.path(day), parse).await? {
            (Reply::InvalidSymbol(_), _) => return Ok(End::UnknownSymbol),
            (_, rows) => send(out, day, rows).await?,
        }
    }
    Ok(End::Complete)
}

async fn send<T>(
    out: &mpsc::Sender<(TradingDay, Vec<T>)>,
    day: TradingDay,
    rows: Vec<T>,
) -> Result<(), UnitError> {
    out.send((day, rows))
        .await
        .map_err(|_| UnitError::Failed(format!("the rows of {day} found no one to commit them")))
}

/// How one reply ended.
enum Step {
    /// Every day asked for was handed back.
    Complete,
    /// The reply reached its `MaxDatapoints`: the days after this one were handed back.
    CutAt(TradingDay),
    /// The symbol is unknown.
    UnknownSymbol,
}

/// One day of a reply being read: its lines, parsed block by block, and its archive file.
struct Day<T> {
    day: TradingDay,
    rows: Vec<T>,
    lines: Vec<u8>,
    any: bool,
    file: Option<ArchiveFile>,
}

impl<T> Day<T> {
    fn new(
        ctx: &Ctx,
        series: &Series,
        req: &Request,
        day: TradingDay,
    ) -> Result<Day<T>, SourceError> {
        Ok(Day {
            day,
            rows: Vec::new(),
            lines: Vec::with_capacity(64 * 1024),
            any: false,
            file: ctx.source.archive_file(&series.path(day), req)?,
        })
    }

    fn push(&mut self, line: &[u8], parse: &Parse<T>) -> Result<(), SourceError> {
        self.any = true;
        self.lines.extend_from_slice(line);
        self.lines.push(b'\n');
        if self.lines.len() >= BLOCK {
            self.flush(parse)?;
        }
        Ok(())
    }

    fn flush(&mut self, parse: &Parse<T>) -> Result<(), SourceError> {
        let failed = |e: anyhow::Error| SourceError::Failed(format!("{e:#}"));
        if let Some(f) = self.file.as_mut() {
            f.write(&self.lines).map_err(failed)?;
        }
        parse(&self.lines, &mut self.rows).map_err(failed)?;
        self.lines.clear();
        Ok(())
    }

    /// The day is whole: its archive file goes into place and its rows to `out`.
    async fn hand_out(
        mut self,
        parse: &Parse<T>,
        out: &mpsc::Sender<(TradingDay, Vec<T>)>,
        handed: &mut Vec<TradingDay>,
    ) -> Result<(), SourceError> {
        self.flush(parse)?;
        if let Some(f) = self.file.take() {
            let reply = if self.any { Reply::Data } else { Reply::NoData };
            f.finish(&reply)
                .map_err(|e| SourceError::Failed(format!("{e:#}")))?;
        }
        send(out, self.day, self.rows)
            .await
            .map_err(|e| SourceError::Failed(e.to_string()))?;
        handed.push(self.day);
        Ok(())
    }
}

/// The date a history data line starts with (`YYYY-MM-DD…`), as `yyyymmdd`.
fn line_date(line: &[u8]) -> Option<u32> {
    let d = line.get(..10)?;
    let digits = |r: std::ops::Range<usize>| {
        d[r].iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    if d[4] != b'-' || d[7] != b'-' {
        return None;
    }
    Some(digits(0..4)? * 10_000 + digits(5..7)? * 100 + digits(8..10)?)
}

/// Sends `req` for `span` and reads its reply, handing back each whole day (and recording it
/// in `handed`).
#[allow(clippy::too_many_arguments)]
async fn one_reply<T: Send>(
    ctx: &Ctx,
    series: &Series,
    req: &Request,
    span: &[TradingDay],
    max: Option<u32>,
    parse: &Parse<T>,
    out: &mpsc::Sender<(TradingDay, Vec<T>)>,
    handed: &mut Vec<TradingDay>,
) -> Result<Step, SourceError> {
    let mut lines = match ctx.source.open(req).await? {
        Opened::Lines(l) => l,
        Opened::InvalidSymbol => return Ok(Step::UnknownSymbol),
    };
    let empty = |day: TradingDay| Day::<T>::new(ctx, series, req, day);
    // The reply's first day (it may be cut), where it sits in `span`, and the day being read
    // after it.
    let mut first: Option<(Day<T>, usize)> = None;
    let mut current: Option<Day<T>> = None;
    let mut next = 0usize;
    let mut count = 0u64;
    let mut line = Vec::new();
    loop {
        match lines.next_into(&mut line).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(IqError::InvalidSymbol { .. }) => return Ok(Step::UnknownSymbol),
            Err(e) => return Err(e.into()),
        }
        count += 1;
        let date = line_date(&line).ok_or_else(|| {
            SourceError::Failed(format!(
                "a reply line for {} does not start with a date: {}",
                series.symbol,
                xlfeed_core::quoted(&String::from_utf8_lossy(&line[..line.len().min(60)]))
            ))
        })?;
        let reading = current.as_ref().or(first.as_ref().map(|(d, _)| d));
        if reading.is_none_or(|d| d.day.yyyymmdd() != date) {
            let Some(pos) = span[next..].iter().position(|d| d.yyyymmdd() == date) else {
                // After a retry the days asked for may have gaps: the days an earlier attempt
                // handed back, whose lines are passed over.
                let inside = (span[0].yyyymmdd()..=span[span.len() - 1].yyyymmdd()).contains(&date)
                    && !span[..next].iter().any(|d| d.yyyymmdd() == date);
                if inside {
                    continue;
                }
                return Err(SourceError::Failed(format!(
                    "the reply to {} has a line of {date} outside the days asked for ({} to {}) \
                     or out of order",
                    req.format("").trim_end(),
                    span[0],
                    span[span.len() - 1]
                )));
            };
            let pos = next + pos;
            if let Some(done) = current.take() {
                done.hand_out(parse, out, handed).await?;
            }
            // Days between two days of the reply had no data.
            if first.is_some() {
                for &d in &span[next..pos] {
                    empty(d)?.hand_out(parse, out, handed).await?;
                }
            }
            let day = Day::new(ctx, series, req, span[pos])?;
            if first.is_none() {
                first = Some((day, pos));
            } else {
                current = Some(day);
            }
            next = pos + 1;
        }
        match (current.as_mut(), first.as_mut()) {
            (Some(d), _) | (None, Some((d, _))) => d.push(&line, parse)?,
            (None, None) => {}
        }
    }
    // The newest points are kept: the last day read and the days after it are whole.
    if let Some(done) = current.take() {
        done.hand_out(parse, out, handed).await?;
    }
    for &d in &span[next..] {
        empty(d)?.hand_out(parse, out, handed).await?;
    }
    let cut = max.is_some_and(|m| count >= u64::from(m));
    match first {
        // Dropped: its archive file is removed; it is asked again.
        Some((day, _)) if cut => Ok(Step::CutAt(day.day)),
        Some((day, pos)) => {
            day.hand_out(parse, out, handed).await?;
            for &d in &span[..pos] {
                empty(d)?.hand_out(parse, out, handed).await?;
            }
            Ok(Step::Complete)
        }
        // `!NO_DATA!`: every day was empty (handed back above).
        None => Ok(Step::Complete),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_date_is_checked_not_trusted() {
        assert_eq!(line_date(b"2024-06-12 09:30:00.1,1,"), Some(20240612));
        assert_eq!(line_date(b"2024-06-12"), Some(20240612));
        for bad in [
            &b""[..],
            b"2024-06-1",
            b"2024/06/12 x",
            b"20x4-06-12 ",
            b"E,!NO_DATA!,",
        ] {
            assert_eq!(line_date(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
