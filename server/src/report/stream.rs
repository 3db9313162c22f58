//! `ticks` as a workbook, streamed: months of a symbol's trades (millions of rows) in
//! constant memory. Two passes over the range, a day at a time, neither filling the chunk
//! cache: the first counts the rows (so the row cap is checked before anything is written,
//! and each sheet's Excel Table is sized when it starts), the second hands each day's
//! decoded chunk to the writer thread, which writes its rows, drops it and says so; only
//! then is the next day decoded. One decoded day is held at a time, whatever the range:
//! decoding a day takes a few percent of the time writing it does, so overlapping them (a
//! channel of two, before) bought little and held up to four days (docs/BENCHMARKS.md).

use tokio::sync::mpsc;

use super::book::{Book, SHEET_DATA_ROWS};
use super::columns::Look;
use super::{About, Built, Reports, finish, run_blocking};
use crate::error::{ApiError, ApiResult};
use crate::query::Args;
use crate::query::ticks::{COLUMNS, DayTrades, Scan, row};

/// What the reader sends the writer.
enum Msg {
    Day(DayTrades),
    Done,
}

/// Writes the trades `args` names (every one of the range; `limit` caps them when given)
/// as a workbook.
pub(super) async fn ticks(
    reports: &Reports,
    args: &Args,
    mut about: About,
    file_name: String,
) -> ApiResult<Built> {
    let query = reports.query.clone();
    let (data, a) = (query.data().clone(), args.clone());
    let (scan, count) = query
        .on_pool(async move {
            let scan = Scan::plan(&data, &a).await?;
            let mut n = 0u64;
            for d in scan.days() {
                if let Some(day) = scan.day(&data, *d, false).await? {
                    n += day.trades().iter().filter(|x| scan.wanted(x)).count() as u64;
                }
            }
            Ok((scan, n))
        })
        .await?;
    let rows = match args.int("limit")? {
        Some(l) => count.min(u64::try_from(l).unwrap_or(0)),
        None => count,
    };
    reports.check_rows(rows, &format!("ticks of {} in that range are", scan.symbol))?;
    if rows > SHEET_DATA_ROWS {
        about.note(format!(
            "{rows} trades: more than a sheet holds ({SHEET_DATA_ROWS}); they continue on the next sheets"
        ));
    }
    let (tx, mut rx) = mpsc::channel::<Msg>(1);
    // The writer's word that it has written and dropped a day.
    let (written_tx, mut written_rx) = mpsc::channel::<()>(1);
    let tempdir = reports.limits.tempdir.clone();
    let title = format!("ticks {}", scan.symbol);
    let wanted = scan.clone();
    let writer = run_blocking(move || {
        let mut book = Book::new(tempdir.as_deref())?;
        let columns: Vec<String> = COLUMNS.iter().map(|c| (*c).to_owned()).collect();
        let looks = [
            Look::Time,
            Look::Price,
            Look::Count,
            Look::Price,
            Look::Price,
            Look::Id,
            Look::Text,
            Look::Id,
            Look::Text,
        ];
        let longest = [0, 0, 0, 0, 0, 0, 5, 0, 12];
        let mut sheet = book.sheet(&title, &columns, &looks, &longest, rows)?;
        let mut written = 0u64;
        let mut done = false;
        while let Some(m) = rx.blocking_recv() {
            match m {
                Msg::Day(day) => {
                    for x in day.trades().iter().filter(|x| wanted.wanted(x)) {
                        if written == rows {
                            break;
                        }
                        sheet.row(&mut book, &row(x))?;
                        written += 1;
                    }
                    drop(day);
                    if written_tx.blocking_send(()).is_err() {
                        break;
                    }
                }
                Msg::Done => {
                    done = true;
                    break;
                }
            }
        }
        if !done {
            // The reader stopped with an error (its own is the answer) or was cancelled.
            return Err(crate::meter::cancelled());
        }
        for (name, n) in book.sheets.clone() {
            about.rows(&name, n, None);
        }
        if written < rows {
            about.note(format!(
                "{} fewer trades than counted when the export began: the store changed while it was read",
                rows - written
            ));
        }
        finish(book, about, file_name, tempdir.as_deref())
    });
    let data = query.data().clone();
    let reader = query.on_pool(async move {
        for d in scan.days() {
            if let Some(day) = scan.day(&data, *d, false).await? {
                // Sent, then written and dropped before the next is decoded; either channel
                // closed means the writer stopped, and its error is the answer.
                if tx.send(Msg::Day(day)).await.is_err() || written_rx.recv().await.is_none() {
                    return Ok(());
                }
            }
        }
        let _ = tx.send(Msg::Done).await;
        Ok::<_, ApiError>(())
    });
    let (read, written) = tokio::join!(reader, writer);
    read?;
    written
}
