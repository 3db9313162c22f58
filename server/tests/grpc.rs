//! gRPC end to end: FEED and POST filled by the real pipeline from the simulator (the demo's
//! preparation), xlserver started by the shared harness (`common`) with its gRPC listener on
//! port 0, and a generic client that first finds the service through reflection, then the
//! health service and the typed client calling it.

#![allow(clippy::expect_used)]

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
use xlfeed_proto::v1;
use xlfeed_server::grpc::pb::query_service_client::QueryServiceClient;

mod common;

/// The two days of trades the demo data holds.
const FROM: &str = "2024-06-27";
const TO: &str = common::TODAY;

async fn channel() -> Channel {
    Channel::from_shared(format!("http://{}", common::shared().grpc))
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
            end: TO.to_owned(),
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
            Some(v1::cell::Value::Date(20240627)),
            Some(v1::cell::Value::Date(20240628))
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
