//! gRPC end to end: FEED and POST filled by the real pipeline from the simulator (fetch, then
//! postprocess, in process), `xlfeed_server::grpc::routes` served on port 0, and a generic
//! client that first finds the service through reflection, then the health service and the
//! typed client calling it.

#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use prost::Message;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};
use xlfeed_pipeline::runs::{RunControl, Stage, run_stage};
use xlfeed_proto::v1;
use xlfeed_server::grpc::pb::query_service_client::QueryServiceClient;
use xlfeed_server::metrics::Metrics;
use xlfeed_server::query::{CacheConfig, Data, QueryService};
use xlfeed_store::Store;

const FROM: &str = "2024-06-10";
const TO: &str = "2024-06-11";

/// The address of one server for the whole test binary. It runs on a runtime of its own, so
/// that it outlives each test's runtime; its stores are filled once.
fn server() -> SocketAddr {
    static SERVER: OnceLock<Result<SocketAddr, String>> = OnceLock::new();
    let started = SERVER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = tx.send(Err(format!("no runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let dir = match tempfile::tempdir() {
                    Ok(dir) => dir,
                    Err(e) => {
                        let _ = tx.send(Err(format!("no temporary folder: {e}")));
                        return;
                    }
                };
                match start(dir.path()).await {
                    Ok((addr, serve)) => {
                        let _ = tx.send(Ok(addr));
                        if let Err(e) = serve.await {
                            eprintln!("gRPC server stopped: {e}");
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        });
        rx.recv()
            .unwrap_or_else(|_| Err("the server thread ended".to_owned()))
    });
    match started {
        Ok(addr) => *addr,
        Err(e) => panic!("failed to start the gRPC server: {e}"),
    }
}

type Serve = std::pin::Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>>;

/// Fills FEED and POST under `dir` and binds the gRPC routes on 127.0.0.1:0.
async fn start(dir: &std::path::Path) -> Result<(SocketAddr, Serve), String> {
    let feed_url = format!("embedded://{}/feed", dir.display());
    let post_url = format!("embedded://{}/post", dir.display());
    let feed = Store::open(&feed_url).await.map_err(|e| e.to_string())?;
    let post = Store::open(&post_url).await.map_err(|e| e.to_string())?;
    let report = |name: &str| dir.join(name).display().to_string();

    let fetch = [
        "--sim",
        "--symbols",
        "AAPL,SPY",
        "--kinds",
        "ticks,daily,options,dividends",
        "--from",
        FROM,
        "--to",
        TO,
        "--feed",
        &feed_url,
        "--sim-tick-scale",
        "0.2",
        "--report",
        &report("fetch.json"),
    ];
    run(Stage::Fetch, &fetch, vec![feed.clone()]).await?;
    let postprocess = [
        "--feed",
        &feed_url,
        "--post",
        &post_url,
        "--from",
        FROM,
        "--to",
        TO,
        "--report",
        &report("postprocess.json"),
    ];
    run(
        Stage::Postprocess,
        &postprocess,
        vec![feed.clone(), post.clone()],
    )
    .await?;

    let data = Data::new(feed, post, CacheConfig::default(), Arc::new(Metrics::new()));
    let routes = xlfeed_server::grpc::routes(Arc::new(QueryService::new(data)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let serve = tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming(incoming);
    Ok((addr, Box::pin(serve)))
}

/// Runs a pipeline stage in process; fails unless it exits 0.
async fn run(stage: Stage, args: &[&str], stores: Vec<Store>) -> Result<(), String> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let control = RunControl::embedded(stores, true);
    match run_stage(stage, &args, &control).await {
        Ok(0) => Ok(()),
        Ok(code) => Err(format!(
            "{} exited {code}: {:?}",
            stage.name(),
            control.report.lock().map(|r| r.clone()).ok().flatten()
        )),
        Err(e) => Err(format!("{} failed: {e:#}", stage.name())),
    }
}

async fn channel() -> Channel {
    Channel::from_shared(format!("http://{}", server()))
        .expect("a valid URI")
        .connect()
        .await
        .expect("the server accepts connections")
}

async fn client() -> QueryServiceClient<Channel> {
    QueryServiceClient::new(channel().await)
}

/// One reflection request and its answer.
async fn reflect(request: MessageRequest) -> MessageResponse {
    let mut client = ServerReflectionClient::new(channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection answers")
        .into_inner();
    let answer: ServerReflectionResponse = answers
        .next()
        .await
        .expect("one answer")
        .expect("not an error");
    answer.message_response.expect("a response")
}

fn column(table: &[String], name: &str) -> usize {
    table
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name:?} in {table:?}"))
}

fn num(cell: &v1::Cell) -> Option<f64> {
    match cell.value {
        Some(v1::cell::Value::Num(v)) => Some(v),
        _ => None,
    }
}

#[tokio::test]
async fn reflection_lists_the_services_and_describes_history() {
    let MessageResponse::ListServicesResponse(list) =
        reflect(MessageRequest::ListServices(String::new())).await
    else {
        panic!("not a service list");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in [
        "xlfeed.v1.QueryService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(names.contains(&service), "{service} not in {names:?}");
    }

    let MessageResponse::FileDescriptorResponse(files) = reflect(
        MessageRequest::FileContainingSymbol("xlfeed.v1.QueryService".to_owned()),
    )
    .await
    else {
        panic!("not a file descriptor");
    };
    let files: Vec<prost_types::FileDescriptorProto> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).expect("decodes"))
        .collect();
    let service = files
        .iter()
        .flat_map(|f| &f.service)
        .find(|s| s.name() == "QueryService")
        .expect("the file declares QueryService");
    let history = service
        .method
        .iter()
        .find(|m| m.name() == "History")
        .expect("QueryService has History");
    assert!(history.server_streaming(), "History streams");
    assert_eq!(history.input_type(), ".xlfeed.v1.HistoryRequest");
    assert_eq!(history.output_type(), ".xlfeed.v1.TablePage");
    assert_eq!(service.method.len(), 10, "one rpc per query function");
}

#[tokio::test]
async fn health_says_serving() {
    let mut health = HealthClient::new(channel().await);
    for service in ["", "xlfeed.v1.QueryService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("health answers")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
}

#[tokio::test]
async fn quote_gives_a_positive_last() {
    let table = client()
        .await
        .quote(v1::QuoteRequest {
            symbol: "AAPL".to_owned(),
            ..Default::default()
        })
        .await
        .expect("a quote")
        .into_inner();
    let last = column(&table.columns, "last");
    assert_eq!(table.rows.len(), 1, "{table:?}");
    let value = num(&table.rows[0].cells[last]).expect("last is a number");
    assert!(value > 0.0, "last {value}");
}

#[tokio::test]
async fn history_streams_daily_bars() {
    let mut pages = client()
        .await
        .history(v1::HistoryRequest {
            symbol: "AAPL".to_owned(),
            start: FROM.to_owned(),
            end: "20240611".to_owned(),
            ..Default::default()
        })
        .await
        .expect("history starts")
        .into_inner();
    let mut rows = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.expect("a page");
        assert_eq!(page.columns[0], "date");
        rows.extend(page.rows);
    }
    let dates: Vec<_> = rows.iter().map(|r| r.cells[0].value.clone()).collect();
    assert_eq!(
        dates,
        [
            Some(v1::cell::Value::Date(20240610)),
            Some(v1::cell::Value::Date(20240611))
        ]
    );
    for row in &rows {
        assert!(
            row.cells[1..5]
                .iter()
                .all(|c| num(c).is_some_and(|v| v > 0.0))
        );
    }
}

#[tokio::test]
async fn ticks_stream_pages_in_order_and_honour_the_limit() {
    let mut pages = client()
        .await
        .ticks(v1::TicksRequest {
            symbol: "SPY".to_owned(),
            start: FROM.to_owned(),
            end: TO.to_owned(),
            ..Default::default()
        })
        .await
        .expect("ticks start")
        .into_inner();
    let (mut count, mut numbers, mut last) = (0usize, Vec::new(), (i64::MIN, i64::MIN));
    while let Some(page) = pages.next().await {
        let page = page.expect("a page");
        assert!(page.rows.len() <= xlfeed_server::grpc::PAGE_ROWS);
        numbers.push(page.page);
        let (time, tick_id) = (
            column(&page.columns, "time"),
            column(&page.columns, "tick_id"),
        );
        for row in &page.rows {
            let (Some(v1::cell::Value::TimeNs(t)), Some(v1::cell::Value::Int(id))) =
                (&row.cells[time].value, &row.cells[tick_id].value)
            else {
                panic!("no time and tick id: {row:?}");
            };
            // Strictly after the previous trade: pages neither repeat nor skip back.
            assert!((*t, *id) > last, "trade {:?} after {last:?}", (t, id));
            last = (*t, *id);
        }
        count += page.rows.len();
    }
    // Two days of SPY from the simulator are several pages: the stream followed the cursor.
    assert!(
        numbers.len() > 1,
        "{count} trades in {} page(s)",
        numbers.len()
    );
    assert_eq!(numbers, (0..numbers.len() as u32).collect::<Vec<_>>());

    // A limit stops the stream and leaves a cursor to resume from.
    let mut pages = client()
        .await
        .ticks(v1::TicksRequest {
            symbol: "SPY".to_owned(),
            start: FROM.to_owned(),
            end: TO.to_owned(),
            limit: 7,
            ..Default::default()
        })
        .await
        .expect("ticks start")
        .into_inner();
    let mut limited = Vec::new();
    while let Some(page) = pages.next().await {
        limited.push(page.expect("a page"));
    }
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].rows.len(), 7.min(count));
    if count > 7 {
        assert!(!limited[0].next.is_empty(), "a cursor to resume from");
    }
}

#[tokio::test]
async fn chain_has_implied_volatilities() {
    let table = client()
        .await
        .chain(v1::ChainRequest {
            underlying: "SPY".to_owned(),
            ..Default::default()
        })
        .await
        .expect("a chain")
        .into_inner();
    assert!(!table.rows.is_empty(), "no contracts");
    let iv = column(&table.columns, "iv");
    let with_iv = table
        .rows
        .iter()
        .filter_map(|r| num(&r.cells[iv]))
        .filter(|v| (0.01..5.0).contains(v))
        .count();
    assert!(with_iv > 0, "no contract has an IV: {table:?}");
}

#[tokio::test]
async fn unknown_symbol_is_not_found_and_names_it() {
    let status = client()
        .await
        .quote(v1::QuoteRequest {
            symbol: "NOPE".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("NOPE is unknown");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains("NOPE"), "{}", status.message());
}

#[tokio::test]
async fn impossible_date_is_an_invalid_argument_naming_it() {
    let status = client()
        .await
        .history(v1::HistoryRequest {
            symbol: "AAPL".to_owned(),
            start: "2024-02-30".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("February has no 30th");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("2024-02-30"),
        "{}",
        status.message()
    );
    assert!(status.message().contains("start"), "{}", status.message());
}
