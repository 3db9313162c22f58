//! gRPC: the query functions as `xlfeed.v1.QueryService` (`proto/xlfeed/v1/query.proto`),
//! next to the standard health service (`grpc.health.v1.Health`) and reflection (v1 and
//! v1alpha), so that generic tools (grpcurl, grpcui, Postman) can discover and call them.
//!
//! Each rpc turns its typed request into the [`Args`] of the function of the same name (the
//! parameter names of [`FUNCTIONS`](crate::query::FUNCTIONS), empty values left out so the
//! defaults apply), calls [`QueryService::call`] and sends the [`Table`] back as
//! `xlfeed.v1.Table`. History and Ticks stream `TablePage`s of at most [`PAGE_ROWS`] rows:
//! History cuts its one answer into pages; Ticks reads page after page, following each
//! page's cursor, until the range is exhausted, its limit is reached or the client goes
//! away. An [`ApiError`] becomes a [`Status`] with the same one-line message.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Waker};

use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::CompressionEncoding;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use xlfeed_proto::v1;

use crate::query::{Args, QueryService};
use crate::table::{Cell, Table};

/// The service code generated from `query.proto` by `build.rs`; its messages are
/// [`xlfeed_proto::v1`]'s.
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/xlfeed.v1.rs"));
}

use pb::query_service_server::{QueryService as QueryRpc, QueryServiceServer};

/// Rows of one streamed page at most: a page stays far below gRPC's usual 4 MiB message
/// limit whatever its columns.
pub const PAGE_ROWS: usize = 5_000;

/// Pages a Ticks stream keeps ready ahead of a slow client.
const PAGES_AHEAD: usize = 2;

/// The gRPC services (xlfeed.v1.QueryService, grpc.health.v1.Health, reflection v1 and
/// v1alpha) as tonic Routes, ready to serve.
pub fn routes(query: Arc<QueryService>) -> tonic::service::Routes {
    // auth: applied by the caller (an interceptor or a layer around these routes).
    let query = QueryServiceServer::new(GrpcQuery::new(query))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);

    let (reporter, health) = tonic_health::server::health_reporter();
    // The reporter starts with "" (the whole server) serving.
    set_serving(
        &reporter,
        <QueryServiceServer<GrpcQuery> as NamedService>::NAME,
    );

    let mut routes = tonic::service::Routes::new(health).add_service(query);
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(xlfeed_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    // The descriptor sets are compiled in, so these fail only on a broken build; the query
    // service is still worth serving then.
    match reflection().build_v1() {
        Ok(service) => routes = routes.add_service(service),
        Err(e) => tracing::error!(error = %e, "gRPC reflection v1 is off"),
    }
    match reflection().build_v1alpha() {
        Ok(service) => routes = routes.add_service(service),
        Err(e) => tracing::error!(error = %e, "gRPC reflection v1alpha is off"),
    }
    routes
}

/// Marks `service` as serving. The reporter's lock is new and free, so the update is done at
/// the first poll; were it not (a runtime task out of its cooperative budget), the runtime
/// finishes it.
fn set_serving(reporter: &HealthReporter, service: &'static str) {
    let reporter = reporter.clone();
    let mut update = Box::pin(async move {
        reporter
            .set_service_status(service, ServingStatus::Serving)
            .await;
    });
    let mut cx = Context::from_waker(Waker::noop());
    if update.as_mut().poll(&mut cx).is_pending() {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(update);
            }
            Err(_) => tracing::warn!(service, "gRPC health status not set"),
        }
    }
}

/// [`QueryService`] behind the generated `xlfeed.v1.QueryService` trait.
#[derive(Debug, Clone)]
pub struct GrpcQuery {
    query: Arc<QueryService>,
}

impl GrpcQuery {
    /// The gRPC face of `query`.
    pub fn new(query: Arc<QueryService>) -> GrpcQuery {
        GrpcQuery { query }
    }

    /// Calls the function that `R` is the request of.
    async fn call<R: Call>(&self, request: R) -> Result<Table, Status> {
        let args = request.params().into_args()?;
        Ok(self.query.call(R::FUNCTION, &args).await?)
    }

    /// A unary rpc.
    async fn unary<R: Call>(&self, request: Request<R>) -> Result<Response<v1::Table>, Status> {
        let table = self.call(request.into_inner()).await?;
        Ok(Response::new(to_proto(table)))
    }
}

/// The `xlfeed.v1.QueryService` impl: the streamed rpcs written out, each unary rpc a line
/// (its function is named by its request's [`Call::FUNCTION`]).
macro_rules! query_rpc {
    (unary { $($method:ident($request:ident)),* $(,)? } $($streamed:tt)*) => {
        #[tonic::async_trait]
        impl QueryRpc for GrpcQuery {
            $($streamed)*

            $(async fn $method(
                &self,
                request: Request<v1::$request>,
            ) -> Result<Response<v1::Table>, Status> {
                self.unary(request).await
            })*
        }
    };
}

query_rpc! {
    unary {
        quote(QuoteRequest),
        chain(ChainRequest),
        option(OptionRequest),
        dividends(DividendsRequest),
        rate(RateRequest),
        fundamentals(FundamentalsRequest),
        search(SearchRequest),
        compare(CompareRequest),
    }

    type HistoryStream = tokio_stream::Iter<std::vec::IntoIter<Result<v1::TablePage, Status>>>;
    type TicksStream = ReceiverStream<Result<v1::TablePage, Status>>;

    async fn history(
        &self,
        request: Request<v1::HistoryRequest>,
    ) -> Result<Response<Self::HistoryStream>, Status> {
        let table = self.call(request.into_inner()).await?;
        let mut page = 0;
        let pages: Vec<_> = to_pages(table, &mut page).into_iter().map(Ok).collect();
        Ok(Response::new(tokio_stream::iter(pages)))
    }

    async fn ticks(
        &self,
        request: Request<v1::TicksRequest>,
    ) -> Result<Response<Self::TicksStream>, Status> {
        let mut read = TicksRead::new(request.into_inner())?;
        // The first page is read before answering, so that a bad argument or an unknown
        // symbol is the call's status rather than a failure inside the stream.
        let (first, mut cursor) = read.next_pages(self).await?;

        let (tx, rx) = mpsc::channel(PAGES_AHEAD);
        let query = self.clone();
        tokio::spawn(async move {
            let mut pages = first;
            loop {
                for page in pages {
                    if tx.send(Ok(page)).await.is_err() {
                        return;
                    }
                }
                let Some(after) = cursor.take() else {
                    return;
                };
                read.request.cursor = after;
                // A client that goes away cancels the read in flight.
                let next = tokio::select! {
                    next = read.next_pages(&query) => next,
                    () = tx.closed() => return,
                };
                match next {
                    Ok((more, c)) => (pages, cursor) = (more, c),
                    Err(status) => {
                        // The client may be gone too; nothing is left to tell then.
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A Ticks stream's progress: each read asks the store for the trades after the request's
/// cursor, at most a page's worth and at most what the stream's limit leaves.
struct TicksRead {
    request: v1::TicksRequest,
    /// Number of the next page sent.
    page: u32,
    /// Trades the stream may still send (`None`: no limit).
    remaining: Option<usize>,
}

impl TicksRead {
    fn new(request: v1::TicksRequest) -> Result<TicksRead, Status> {
        let remaining = match request.limit {
            0 => None,
            n => Some(usize::try_from(n).map_err(|_| {
                Status::invalid_argument(format!(
                    "limit {n} is not 0 (every trade in the range) or more"
                ))
            })?),
        };
        Ok(TicksRead {
            request,
            page: 0,
            remaining,
        })
    }

    /// The pages of the next read and the cursor after them, `None` when the stream is done.
    async fn next_pages(
        &mut self,
        query: &GrpcQuery,
    ) -> Result<(Vec<v1::TablePage>, Option<String>), Status> {
        let want = self.remaining.map_or(PAGE_ROWS, |r| r.min(PAGE_ROWS));
        let params = self.request.params().int("limit", &(want as i64));
        let table = query
            .query
            .call(v1::TicksRequest::FUNCTION, &params.into_args()?)
            .await?;
        if let Some(r) = self.remaining.as_mut() {
            *r = r.saturating_sub(table.rows.len());
        }
        let done = table.rows.is_empty() || self.remaining == Some(0);
        let cursor = table.next.clone().filter(|_| !done);
        Ok((to_pages(table, &mut self.page), cursor))
    }
}

/// A request message of one query function.
trait Call {
    /// The function's name in [`FUNCTIONS`](crate::query::FUNCTIONS).
    const FUNCTION: &'static str;

    /// The request's fields under the function's parameter names.
    fn params(&self) -> Params;
}

/// Named arguments being collected; empty values are left out, so the function's default
/// applies as when an HTTP query string omits them.
#[derive(Debug, Default)]
struct Params(Map<String, Value>);

impl Params {
    fn text(mut self, name: &str, value: &str) -> Params {
        if !value.trim().is_empty() {
            self.0.insert(name.to_owned(), Value::from(value));
        }
        self
    }

    fn list(mut self, name: &str, values: &[String]) -> Params {
        if !values.is_empty() {
            self.0.insert(name.to_owned(), Value::from(values.to_vec()));
        }
        self
    }

    fn int(mut self, name: &str, value: &(impl Copy + Into<i64>)) -> Params {
        let value: i64 = (*value).into();
        if value != 0 {
            self.0.insert(name.to_owned(), Value::from(value));
        }
        self
    }

    fn into_args(self) -> Result<Args, Status> {
        Ok(Args::from_json(&Value::Object(self.0))?)
    }
}

/// The request messages: each field is named as the parameter it carries, and is a text, a
/// list or a number. Ticks' `limit` is not here: the stream's limit is its own, and each
/// read sets the `limit` of its page ([`TicksRead`]).
macro_rules! calls {
    ($($request:ident => $function:literal { $($kind:ident $field:ident),* $(,)? })*) => {$(
        impl Call for v1::$request {
            const FUNCTION: &'static str = $function;

            fn params(&self) -> Params {
                Params::default()$(.$kind(stringify!($field), &self.$field))*
            }
        }
    )*};
}

calls! {
    HistoryRequest => "history" { text symbol, text start, text end, text interval, list fields }
    TicksRequest => "ticks" { text symbol, text start, text end, text cursor }
    QuoteRequest => "quote" { text symbol, text field, text at }
    ChainRequest => "chain" {
        text underlying, text date, text at, text expiry, list fields, text right,
    }
    OptionRequest => "option" { text symbol, text start, text end, text per, list fields }
    DividendsRequest => "dividends" { text symbol, text start, text end }
    RateRequest => "rate" { text tenor, text date, text curve }
    FundamentalsRequest => "fundamentals" { text symbol, text field }
    SearchRequest => "search" { text text, int limit }
    CompareRequest => "compare" {
        list symbols, text start, text end, text metric, int window, text date,
    }
}

/// A table as `xlfeed.v1.Table`.
pub fn to_proto(table: Table) -> v1::Table {
    v1::Table {
        columns: table.columns,
        rows: table.rows.into_iter().map(to_row).collect(),
        next: table.next.unwrap_or_default(),
    }
}

/// A table cut into pages of at most [`PAGE_ROWS`] rows, numbered from `*page` on (which is
/// left at the number after the last). An empty table is one empty page, carrying the
/// columns. The table's `next` goes on its last page.
fn to_pages(table: Table, page: &mut u32) -> Vec<v1::TablePage> {
    let Table {
        columns,
        rows,
        next,
    } = table;
    let mut pages = Vec::with_capacity(rows.len().div_ceil(PAGE_ROWS).max(1));
    let mut rows = rows.into_iter().peekable();
    loop {
        let chunk: Vec<v1::Row> = rows.by_ref().take(PAGE_ROWS).map(to_row).collect();
        pages.push(v1::TablePage {
            columns: columns.clone(),
            rows: chunk,
            page: *page,
            next: String::new(),
        });
        *page += 1;
        if rows.peek().is_none() {
            break;
        }
    }
    if let Some(last) = pages.last_mut() {
        last.next = next.unwrap_or_default();
    }
    pages
}

fn to_row(cells: Vec<Cell>) -> v1::Row {
    v1::Row {
        cells: cells.into_iter().map(to_cell).collect(),
    }
}

/// One cell; a number that is not finite is empty, as in the JSON answers.
fn to_cell(cell: Cell) -> v1::Cell {
    use v1::cell::Value;
    let value = match cell {
        Cell::Empty => None,
        Cell::Num(v) => v.is_finite().then_some(Value::Num(v)),
        Cell::Int(v) => Some(Value::Int(v)),
        Cell::Text(s) => Some(Value::Text(s)),
        Cell::Date(d) => i32::try_from(d).ok().map(Value::Date),
        Cell::Time(ns) => Some(Value::TimeNs(ns)),
    };
    v1::Cell { value }
}

#[cfg(test)]
mod tests {
    use crate::error::ApiError;
    use std::collections::BTreeSet;
    use xlfeed_core::ErrorKind;

    use super::*;
    use crate::query::FUNCTIONS;

    fn every_field<R: Call>(request: R) -> (&'static str, BTreeSet<String>) {
        let args = request.params().into_args().unwrap_or_default();
        let keys = match args.to_json() {
            Value::Object(map) => map.keys().cloned().collect(),
            _ => BTreeSet::new(),
        };
        (R::FUNCTION, keys)
    }

    /// Every request field reaches the function under one of its parameter names, and every
    /// parameter has a field (Ticks' limit is set per page).
    #[test]
    fn requests_mirror_the_functions() {
        let s = || "x".to_owned();
        let l = || vec!["x".to_owned()];
        let calls = [
            every_field(v1::HistoryRequest {
                symbol: s(),
                start: s(),
                end: s(),
                interval: s(),
                fields: l(),
            }),
            every_field(v1::TicksRequest {
                symbol: s(),
                start: s(),
                end: s(),
                limit: 7,
                cursor: s(),
            }),
            every_field(v1::QuoteRequest {
                symbol: s(),
                field: s(),
                at: s(),
            }),
            every_field(v1::ChainRequest {
                underlying: s(),
                date: s(),
                at: s(),
                expiry: s(),
                fields: l(),
                right: s(),
            }),
            every_field(v1::OptionRequest {
                symbol: s(),
                start: s(),
                end: s(),
                per: s(),
                fields: l(),
            }),
            every_field(v1::DividendsRequest {
                symbol: s(),
                start: s(),
                end: s(),
            }),
            every_field(v1::RateRequest {
                tenor: s(),
                date: s(),
                curve: s(),
            }),
            every_field(v1::FundamentalsRequest {
                symbol: s(),
                field: s(),
            }),
            every_field(v1::SearchRequest {
                text: s(),
                limit: 3,
            }),
            every_field(v1::CompareRequest {
                symbols: l(),
                start: s(),
                end: s(),
                metric: s(),
                window: 5,
                date: s(),
            }),
        ];
        let names: BTreeSet<&str> = calls.iter().map(|(name, _)| *name).collect();
        let functions: BTreeSet<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        assert_eq!(names, functions, "one rpc per function");
        for (name, mut keys) in calls {
            if name == "ticks" {
                keys.insert("limit".to_owned());
            }
            let params: BTreeSet<String> = FUNCTIONS
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.params.iter().map(|p| p.name.to_owned()).collect())
                .unwrap_or_default();
            assert_eq!(keys, params, "{name}");
        }
    }

    #[test]
    fn empty_fields_are_left_out() {
        let request = v1::HistoryRequest {
            symbol: "AAPL".to_owned(),
            start: " ".to_owned(),
            ..v1::HistoryRequest::default()
        };
        let args = request.params().into_args().unwrap_or_default();
        assert_eq!(args.to_json(), serde_json::json!({"symbol": "AAPL"}));
    }

    #[test]
    fn errors_keep_their_message_and_get_their_code() {
        let cases = [
            (
                ApiError::bad("start 2024-02-30: no"),
                tonic::Code::InvalidArgument,
            ),
            (
                ApiError::not_found("unknown symbol NOPE"),
                tonic::Code::NotFound,
            ),
            (
                ApiError::no_number("constant series"),
                tonic::Code::FailedPrecondition,
            ),
            (
                ApiError::exhausted("too many"),
                tonic::Code::ResourceExhausted,
            ),
            (ApiError::denied("no key"), tonic::Code::PermissionDenied),
            (
                ApiError::new(ErrorKind::Unavailable, "retry"),
                tonic::Code::Unavailable,
            ),
        ];
        for (error, code) in cases {
            let message = error.message.clone();
            let status = Status::from(error);
            assert_eq!(status.code(), code, "{message}");
            assert_eq!(status.message(), message);
        }
        let status = Status::from(ApiError::new(ErrorKind::Internal, "key feed:x:y is bad"));
        assert_eq!(status.code(), tonic::Code::Internal);
        assert!(!status.message().contains("feed:x"), "{}", status.message());
    }

    #[test]
    fn tables_become_pages_with_the_columns_on_each() {
        let mut table = Table::new(["date", "close"]);
        for i in 0..(PAGE_ROWS * 2 + 1) {
            table
                .rows
                .push(vec![Cell::Date(20240610), Cell::Num(i as f64)]);
        }
        table.next = Some("more".to_owned());
        let mut page = 3;
        let pages = to_pages(table, &mut page);
        assert_eq!(page, 6);
        let sizes: Vec<usize> = pages.iter().map(|p| p.rows.len()).collect();
        assert_eq!(sizes, [PAGE_ROWS, PAGE_ROWS, 1]);
        assert!(pages.iter().all(|p| p.columns == ["date", "close"]));
        let nexts: Vec<&str> = pages.iter().map(|p| p.next.as_str()).collect();
        assert_eq!(nexts, ["", "", "more"]);

        let mut page = 0;
        let empty = to_pages(Table::new(["time"]), &mut page);
        assert_eq!(empty.len(), 1);
        assert!(empty[0].rows.is_empty());
        assert_eq!(empty[0].columns, ["time"]);
    }

    #[test]
    fn cells_keep_their_type() {
        use v1::cell::Value as V;
        let row = to_row(vec![
            Cell::Empty,
            Cell::Num(1.5),
            Cell::Num(f64::NAN),
            Cell::Int(7),
            Cell::Text("C".to_owned()),
            Cell::Date(20240612),
            Cell::Time(1_718_199_000_000_000_000),
        ]);
        let values: Vec<Option<V>> = row.cells.into_iter().map(|c| c.value).collect();
        assert_eq!(
            values,
            [
                None,
                Some(V::Num(1.5)),
                None,
                Some(V::Int(7)),
                Some(V::Text("C".to_owned())),
                Some(V::Date(20240612)),
                Some(V::TimeNs(1_718_199_000_000_000_000)),
            ]
        );
    }
}
