//! The "About" sheet every workbook ends with: what was asked (the function and its
//! arguments), from which stores (passwords removed), as of when (UTC), how many rows each
//! sheet holds, the errors of the calls that failed with their Excel error codes, and the
//! xlfeed version. The document properties say the same in brief.

use crate::error::ApiError;
use crate::query::Args;
use crate::table::{Cell, Table};

use super::book::Book;
use crate::error::ApiResult;

/// What a workbook says about itself.
#[derive(Debug, Clone)]
pub(crate) struct About {
    title: String,
    feed: String,
    post: String,
    /// When the answer was read, UTC nanoseconds.
    pub(crate) as_of_ns: i64,
    calls: Vec<(String, Args)>,
    rows: Vec<(String, u64, Option<String>)>,
    errors: Table,
    notes: Vec<String>,
}

impl About {
    /// About a workbook titled `title`, read now from the stores at `feed` and `post`.
    pub(crate) fn new(title: String, feed: &str, post: &str) -> About {
        let now = chrono::Utc::now();
        About {
            title,
            feed: xlfeed_store::url::redact(feed),
            post: xlfeed_store::url::redact(post),
            as_of_ns: now.timestamp_nanos_opt().unwrap_or(0),
            calls: Vec::new(),
            rows: Vec::new(),
            errors: Table::new(["call", "function", "arguments", "code", "excel", "message"]),
            notes: Vec::new(),
        }
    }

    /// Records the call the workbook answers.
    pub(crate) fn call(&mut self, function: &str, args: &Args) {
        self.calls.push((function.to_owned(), args.clone()));
    }

    /// Records that sheet `name` holds `rows` data rows (and, for a page, the next cursor).
    pub(crate) fn rows(&mut self, name: &str, rows: u64, next: Option<&str>) {
        self.rows
            .push((name.to_owned(), rows, next.map(str::to_owned)));
    }

    /// Records that call `index` (of `function` with `args`) failed with `e`.
    pub(crate) fn error(&mut self, index: usize, function: &str, args: &Args, e: &ApiError) {
        self.errors.rows.push(vec![
            Cell::Int(index as i64 + 1),
            Cell::Text(function.to_owned()),
            Cell::Text(args.to_json().to_string()),
            Cell::Text(e.code().to_owned()),
            Cell::Text(e.excel().to_owned()),
            Cell::Text(e.message.clone()),
        ]);
    }

    /// Adds a line of explanation.
    pub(crate) fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// The as-of time as text, UTC to the millisecond.
    fn as_of(&self) -> String {
        chrono::DateTime::from_timestamp_nanos(self.as_of_ns)
            .format("%Y-%m-%d %H:%M:%S%.3f UTC")
            .to_string()
    }

    /// Writes the About sheet and the document properties.
    pub(crate) fn write(&self, book: &mut Book) -> ApiResult<()> {
        let mut pairs: Vec<(String, Cell)> =
            vec![("report".into(), Cell::Text(self.title.clone()))];
        for (f, args) in &self.calls {
            pairs.push(("function".into(), Cell::Text(f.clone())));
            if let Some(m) = args.to_json().as_object() {
                for (k, v) in m {
                    let shown = match v {
                        serde_json::Value::String(s) => s.clone(),
                        v => v.to_string(),
                    };
                    pairs.push((format!("  {k}"), Cell::Text(shown)));
                }
            }
        }
        pairs.push(("FEED store".into(), Cell::Text(self.feed.clone())));
        pairs.push(("POST store".into(), Cell::Text(self.post.clone())));
        pairs.push(("as of".into(), Cell::Text(self.as_of())));
        pairs.push((
            "times".into(),
            Cell::Text("New York (America/New_York), to the millisecond".into()),
        ));
        let total: u64 = self.rows.iter().map(|r| r.1).sum();
        pairs.push(("rows".into(), Cell::Int(total as i64)));
        for (name, n, next) in &self.rows {
            pairs.push((format!("  {name}"), Cell::Int(*n as i64)));
            if let Some(c) = next {
                pairs.push((
                    format!("  {name}: next page"),
                    Cell::Text(format!("cursor={c}")),
                ));
            }
        }
        pairs.push(("errors".into(), Cell::Int(self.errors.rows.len() as i64)));
        for n in &self.notes {
            pairs.push(("note".into(), Cell::Text(n.clone())));
        }
        pairs.push((
            "xlfeed version".into(),
            Cell::Text(env!("CARGO_PKG_VERSION").into()),
        ));
        book.about(&pairs, &self.errors)?;
        let comment = self
            .calls
            .iter()
            .map(|(f, a)| format!("{f} {}", a.to_json()))
            .collect::<Vec<_>>()
            .join("; ");
        book.properties(
            &self.title,
            &format!(
                "{comment} (as of {}, stores {} and {})",
                self.as_of(),
                self.feed,
                self.post
            ),
            self.as_of_ns,
        );
        Ok(())
    }
}
