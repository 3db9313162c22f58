//! `GET /openapi.json`: the OpenAPI 3.1 document of the JSON API, generated from the query
//! functions' table ([`crate::query::FUNCTIONS`]) with utoipa's builders, so it lists exactly
//! the functions and parameters the server takes.

use axum::Json;
use serde_json::Value;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApiBuilder, PathItem, PathsBuilder, Required, ResponseBuilder,
};

fn table_response() -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description("A table: {\"columns\": [...], \"types\": [date|time|number|text|empty, ...], \"rows\": [[...]], \"next\"?}")
        .content("application/json", ContentBuilder::new().build())
        .build()
}

fn error_response(what: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(format!(
            "{what}: {{\"error\": {{\"code\", \"excel\", \"message\"}}}}"
        ))
        .content("application/json", ContentBuilder::new().build())
        .build()
}

/// The document.
pub(super) fn build() -> utoipa::openapi::OpenApi {
    let mut paths = PathsBuilder::new();
    for (name, params, description) in crate::query::FUNCTIONS {
        let mut op = OperationBuilder::new()
            .operation_id(Some(*name))
            .summary(Some(*description))
            .tag(*name)
            .response("200", table_response())
            .response("400", error_response("A bad argument (#VALUE!), named"))
            .response("404", error_response("Not found (#N/A)"))
            .response("401", error_response("No or unknown API key"));
        for p in params.iter().copied().chain(["dates"]) {
            let required = matches!(
                (*name, p),
                (
                    "history" | "ticks" | "quote" | "option" | "dividends" | "fundamentals",
                    "symbol"
                ) | ("history" | "ticks" | "compare", "start")
                    | ("chain", "underlying")
                    | ("rate", "tenor")
                    | ("search", "text")
                    | ("compare", "symbols")
            );
            op = op.parameter(
                ParameterBuilder::new()
                    .name(p)
                    .parameter_in(ParameterIn::Query)
                    .required(if required {
                        Required::True
                    } else {
                        Required::False
                    })
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::schema::Type::String),
                    )),
            );
        }
        paths = paths.path(
            format!("/api/v1/{name}"),
            PathItem::new(HttpMethod::Get, op.build()),
        );
    }
    let batch = OperationBuilder::new()
        .operation_id(Some("batch"))
        .summary(Some(
            "Many calls in one request: {\"calls\": [{\"fn\", \"args\"}], \"dates\"?} → {\"results\": [{\"value\"} | {\"error\"}]} in order",
        ))
        .request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", ContentBuilder::new().build())
                .required(Some(Required::True))
                .build(),
        ))
        .response("200", table_response())
        .response("413", error_response("Too many calls"));
    paths = paths.path(
        "/api/v1/batch",
        PathItem::new(HttpMethod::Post, batch.build()),
    );
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("xlserver")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "xlfeed's query API for Excel: market data, option analytics and comparisons. Dates are Excel serials unless dates=iso.",
                ))
                .build(),
        )
        .paths(paths.build())
        .build()
}

pub(super) async fn document() -> Json<Value> {
    Json(serde_json::to_value(build()).unwrap_or(Value::Null))
}
