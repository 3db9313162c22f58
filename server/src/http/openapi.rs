//! `GET /openapi.json`: the OpenAPI 3.1 document of the HTTP side, part of the contract. The
//! query functions and their parameters come from the function table
//! ([`crate::query::FUNCTIONS`]): types, ranges, enums and required flags as the server checks
//! them. Every response a route can give is listed with its schema (tables, the error body,
//! the batch, admin answers), and the key schemes with it. The test suites check every
//! response they see against this document.

use axum::Json;
use serde_json::{Map, Value, json};

use crate::query::{FUNCTIONS, Param, ParamType};

/// A `$ref` to a component.
fn r(kind: &str, name: &str) -> Value {
    json!({ "$ref": format!("#/components/{kind}/{name}") })
}

/// The JSON Schema of a parameter's value (in a query string every value is text; numbers
/// are given as numbers where they are).
fn param_schema(p: &Param) -> Value {
    match p.ty {
        ParamType::Symbol => json!({"type": "string", "maxLength": 100, "examples": ["AAPL"]}),
        ParamType::Symbols => json!({"type": "array", "items": {"type": "string"}, "minItems": 1}),
        ParamType::OptionSymbol => json!({"type": "string", "examples": ["AAPL2417A190"]}),
        ParamType::Date => json!({"anyOf": [
            {"type": "string", "format": "date"},
            {"type": "string", "pattern": "^[0-9]{8}$"},
            {"type": "number", "minimum": 1, "maximum": 2958465, "description": "an Excel serial (1900 date system)"},
            {"type": "string", "enum": ["today"], "description": "the date in New York (the exchange's)"}
        ], "examples": ["2024-06-28"]}),
        ParamType::Time => json!({"anyOf": [
            {"type": "string", "format": "date-time"},
            {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?)?$", "description": "New York time"},
            {"type": "number", "description": "an Excel serial with a fraction (New York time)"},
            {"type": "string", "enum": ["today"], "description": "the date in New York (the exchange's)"}
        ], "examples": ["2024-06-28T09:30"]}),
        ParamType::Int(lo, hi) => json!({"type": "integer", "minimum": lo, "maximum": hi}),
        ParamType::OneOf(words) => json!({"type": "string", "enum": words}),
        ParamType::SomeOf(lists) => json!({
            "type": "array",
            "items": {"type": "string", "enum": crate::query::functions::words_of(lists)},
            "uniqueItems": true
        }),
        ParamType::Interval => json!({
            "type": "string",
            "pattern": "^([0-9]+(s|sec|m|min|h|hr)|d|1d|day|daily|w|1w|week|weekly|mo|1mo|month|monthly)$",
            "examples": ["1m", "5m", "15m", "30m", "1h", "daily", "weekly", "monthly"]
        }),
        ParamType::Tenor => json!({
            "type": "string",
            "pattern": "^([0-9]+(\\.[0-9]+)?[DWMYdwmy]?|ON|O/N|on|o/n)$",
            "examples": ["30", "ON", "1W", "3M", "1Y"]
        }),
        ParamType::Cursor => json!({"type": "string", "pattern": "^[0-9]+:[0-9]+$"}),
        ParamType::Text => json!({"type": "string", "maxLength": 200}),
    }
}

fn parameter(p: &Param) -> Value {
    let mut v = json!({
        "name": p.name,
        "in": "query",
        "required": p.required,
        "description": p.doc,
        "schema": param_schema(p),
    });
    if matches!(p.ty, ParamType::Symbols | ParamType::SomeOf(_)) {
        v["style"] = json!("form");
        v["explode"] = json!(false);
    }
    v
}

/// The responses `codes` (besides the success ones), from the shared components.
fn errors(codes: &[u16]) -> Map<String, Value> {
    codes
        .iter()
        .map(|c| (c.to_string(), r("responses", &c.to_string())))
        .collect()
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn operation(
    id: &str,
    summary: &str,
    ok: Map<String, Value>,
    codes: &[u16],
    open: bool,
) -> Map<String, Value> {
    let mut responses = ok;
    responses.extend(errors(codes));
    let mut op = Map::new();
    op.insert("operationId".into(), json!(id));
    op.insert("summary".into(), json!(summary));
    op.insert("responses".into(), Value::Object(responses));
    if open {
        op.insert("security".into(), json!([]));
    }
    op
}

fn ok(code: &str, description: &str, content: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        code.into(),
        json!({"description": description, "content": content}),
    );
    m
}

/// Statuses every API route can answer besides its own: a bad or missing key, a host or
/// role refused, a rate limit, an internal error, a server that is busy or timed out.
const API_ERRORS: &[u16] = &[400, 401, 403, 404, 405, 422, 429, 500, 503];
const ADMIN_ERRORS: &[u16] = &[400, 401, 403, 404, 405, 413, 415, 429, 500, 503];
const OPEN_ERRORS: &[u16] = &[403, 405, 500, 503];

/// The document.
pub(super) fn build() -> Value {
    let mut paths = Map::new();
    let table_ok = || {
        let mut m = ok(
            "200",
            "The answer, a table.",
            json_content(r("schemas", "Table")),
        );
        m["200"]["headers"] = json!({
            "ETag": {"schema": {"type": "string"}},
            "Cache-Control": {"schema": {"type": "string"}}
        });
        m.insert(
            "304".into(),
            json!({"description": "The client's copy (If-None-Match) is current."}),
        );
        m
    };
    for f in FUNCTIONS {
        let mut op = operation(f.name, f.doc, table_ok(), API_ERRORS, false);
        op.insert("tags".into(), json!(["query"]));
        op.insert(
            "parameters".into(),
            Value::Array(f.all_params().map(parameter).collect()),
        );
        paths.insert(
            format!("/api/v1/{}", f.name),
            json!({"get": Value::Object(op)}),
        );
    }
    let mut batch = operation(
        "batch",
        "Many calls in one request, answered in order; identical calls run once",
        table_ok(),
        &[400, 401, 403, 405, 413, 415, 429, 500, 503],
        false,
    );
    batch["responses"]["200"]["content"] = json_content(r("schemas", "BatchResponse"));
    batch["responses"]["200"]["description"] = json!(
        "One result per call: a table, or an error (marked resend when it may succeed later)."
    );
    batch.insert(
        "requestBody".into(),
        json!({"required": true, "content": json_content(r("schemas", "BatchRequest"))}),
    );
    batch.insert("tags".into(), json!(["query"]));
    paths.insert(
        "/api/v1/batch".into(),
        json!({"post": Value::Object(batch)}),
    );
    // Workbooks: the same functions, the batch and the named reports as xlsx.
    let xlsx_ok = |what: &str| {
        let mut m = ok(
            "200",
            what,
            json!({crate::report::XLSX: {"schema": {"type": "string", "format": "binary"}}}),
        );
        m["200"]["headers"] = json!({
            "Content-Disposition": {"schema": {"type": "string"}},
            "Content-Length": {"schema": {"type": "integer"}}
        });
        m
    };
    for f in FUNCTIONS {
        let mut op = operation(
            &format!("{}_xlsx", f.name),
            &format!(
                "{} As an xlsx workbook: one sheet holding an Excel Table, and an About sheet{}.",
                f.doc,
                if f.name == "ticks" {
                    "; not paged: every trade of the range (limit caps them)"
                } else {
                    ""
                }
            ),
            xlsx_ok("The answer as a workbook."),
            API_ERRORS,
            false,
        );
        op.insert("tags".into(), json!(["reports"]));
        op.insert(
            "parameters".into(),
            Value::Array(f.all_params().map(parameter).collect()),
        );
        paths.insert(
            format!("/api/v1/{}.xlsx", f.name),
            json!({"get": Value::Object(op)}),
        );
    }
    let mut batch_xlsx = operation(
        "batch_xlsx",
        "A batch as one workbook: a sheet per call that answered, the errors on the About sheet",
        xlsx_ok("The answers as a workbook."),
        &[400, 401, 403, 405, 413, 415, 429, 500, 503],
        false,
    );
    batch_xlsx.insert(
        "requestBody".into(),
        json!({"required": true, "content": json_content(r("schemas", "BatchRequest"))}),
    );
    batch_xlsx.insert("tags".into(), json!(["reports"]));
    paths.insert(
        "/api/v1/batch.xlsx".into(),
        json!({"post": Value::Object(batch_xlsx)}),
    );
    for rep in crate::report::named::REPORTS {
        let Some(f) = crate::query::function(rep.takes) else {
            continue;
        };
        let mut op = operation(
            &format!("report_{}", rep.name),
            rep.doc,
            xlsx_ok("The report as a workbook."),
            API_ERRORS,
            false,
        );
        op.insert("tags".into(), json!(["reports"]));
        op.insert(
            "parameters".into(),
            Value::Array(f.all_params().map(parameter).collect()),
        );
        paths.insert(
            format!("/api/v1/report/{}.xlsx", rep.name),
            json!({"get": Value::Object(op)}),
        );
    }
    let index = operation(
        "index",
        "The server's version and its functions with their parameters",
        ok("200", "The functions.", json_content(r("schemas", "Index"))),
        &[401, 403, 405, 429, 500, 503],
        false,
    );
    paths.insert("/api/v1".into(), json!({"get": Value::Object(index)}));

    // Admin.
    let admin = |id: &str, summary: &str, code: &str, schema: &str| {
        let mut op = operation(
            id,
            summary,
            ok(code, summary, json_content(r("schemas", schema))),
            ADMIN_ERRORS,
            false,
        );
        op.insert("tags".into(), json!(["admin"]));
        Value::Object(op)
    };
    paths.insert(
        "/admin/v1/stats".into(),
        json!({"get": admin("stats", "What each store holds, per kind", "200", "Stats")}),
    );
    let mut coverage = admin(
        "coverage",
        "Per symbol: days present, first and last day, bytes",
        "200",
        "Coverage",
    );
    coverage["parameters"] = json!([
        {"name": "dataset", "in": "query", "schema": {"type": "string", "enum": ["feed", "post"]}},
        {"name": "kind", "in": "query", "required": true, "schema": {"type": "string"}},
        {"name": "symbol", "in": "query", "schema": {"type": "string"}}
    ]);
    paths.insert("/admin/v1/coverage".into(), json!({ "get": coverage }));
    let mut start = admin(
        "start_run",
        "Starts a fetch or postprocess run with the command line's options",
        "202",
        "RunStarted",
    );
    start["requestBody"] =
        json!({"required": true, "content": json_content(r("schemas", "RunRequest"))});
    paths.insert(
        "/admin/v1/runs".into(),
        json!({
            "get": admin("list_runs", "The newest runs (200 at most)", "200", "Runs"),
            "post": start,
        }),
    );
    let id_param = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}]);
    let mut get_run = admin("get_run", "One run", "200", "Run");
    get_run["parameters"] = id_param.clone();
    let mut cancel = admin(
        "cancel_run",
        "Cancels a run (the units in flight finish)",
        "200",
        "Run",
    );
    cancel["parameters"] = id_param;
    paths.insert(
        "/admin/v1/runs/{id}".into(),
        json!({"get": get_run, "delete": cancel}),
    );
    paths.insert(
        "/admin/v1/config".into(),
        json!({"get": admin("config", "The effective configuration, secrets redacted", "200", "Config")}),
    );

    // Open routes.
    let text = |schema: Value| json!({"text/plain": {"schema": schema}});
    let open = |id: &str, summary: &str, content: Value, codes: &[u16]| {
        let mut op = operation(id, summary, ok("200", summary, content), codes, true);
        op.insert("tags".into(), json!(["operations"]));
        Value::Object(op)
    };
    paths.insert(
        "/healthz".into(),
        json!({"get": open("healthz", "Alive", text(json!({"type": "string"})), OPEN_ERRORS)}),
    );
    let mut ready = open(
        "readyz",
        "Both stores answer within 2 s",
        json_content(r("schemas", "Ready")),
        &[403, 405, 500],
    );
    ready["responses"]["503"] = json!({
        "description": "A store does not answer",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": json_content(r("schemas", "Ready")),
    });
    paths.insert("/readyz".into(), json!({ "get": ready }));
    paths.insert(
        "/metrics".into(),
        json!({"get": open(
            "metrics",
            "Prometheus metrics (behind an admin key when security.metrics_need_key; a 404 here when server.metrics gives them a listener of their own)",
            text(json!({"type": "string"})),
            &[401, 403, 404, 405, 429, 500, 503]
        )}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({"get": open("openapi", "This document", json_content(json!({"type": "object"})), OPEN_ERRORS)}),
    );
    paths.insert(
        "/addin/manifest.xml".into(),
        json!({"get": open(
            "addin_manifest",
            "The Excel add-in's manifest for this server's origin (when the add-in is built)",
            json!({"application/xml": {"schema": {"type": "string"}}}),
            &[403, 404, 405, 500, 503]
        )}),
    );
    let mut file = open(
        "addin_file",
        "A file of the built Excel add-in (task pane, functions, icons)",
        json!({"*/*": {}}),
        &[403, 404, 405, 500, 503],
    );
    file["parameters"] =
        json!([{"name": "file", "in": "path", "required": true, "schema": {"type": "string"}}]);
    paths.insert("/addin/{file}".into(), json!({ "get": file }));

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "xlserver",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "xlfeed's query API for Excel: market data, option analytics and comparisons. Dates are Excel serials unless dates=iso. Parameter names are matched without regard to case; a name given twice is a 400. Without API keys the API is open on loopback and the admin routes need the token xlserver prints at start-up (send it as a bearer key).",
        },
        "security": [{"bearer": []}, {"apiKey": []}],
        "tags": [
            {"name": "query", "description": "The functions Excel calls"},
            {"name": "reports", "description": "Answers, batches and named reports as xlsx workbooks: a path ending in .xlsx answers a workbook"},
            {"name": "admin", "description": "Administration (an admin key, or the admin token without keys)"},
            {"name": "operations", "description": "Health, readiness, metrics, this document"}
        ],
        "paths": paths,
        "components": components(),
    })
}

fn components() -> Value {
    let error_body = json!({
        "type": "object",
        "required": ["code", "excel", "message"],
        "additionalProperties": false,
        "properties": {
            "code": {"type": "string", "enum": [
                "invalid_argument", "not_found", "no_number", "unavailable", "unauthenticated",
                "permission_denied", "resource_exhausted", "internal", "corrupt"
            ]},
            "excel": {"type": "string", "enum": ["#VALUE!", "#N/A", "#NUM!", "#BUSY!"]},
            "message": {"type": "string", "maxLength": 1600},
            "resend": {"type": "boolean", "const": true, "description": "The call itself is fine; sent again later it can succeed."}
        }
    });
    let retry = json!({"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 0}}});
    let err = |description: &str| json!({"description": description, "content": json_content(r("schemas", "Error"))});
    let mut responses = Map::new();
    for (code, description) in [
        (400, "A bad argument (#VALUE!), named and quoted"),
        (
            401,
            "No key, an unknown key, or (without keys) no admin token",
        ),
        (
            403,
            "A key whose role is too low, a host this server does not answer to, or a cross-site change",
        ),
        (
            404,
            "Nothing there (#N/A): an unknown symbol, function, run or route",
        ),
        (405, "The method is not allowed on this route"),
        (413, "The request body, or a batch's calls, over the limit"),
        (415, "A body that is not application/json"),
        (422, "An answer without a number (#NUM!)"),
        (500, "An internal error (details in the server's log)"),
    ] {
        responses.insert(code.to_string(), err(description));
    }
    for (code, description) in [
        (
            429,
            "Too many requests with this key, or too many failed authentications from this address",
        ),
        (
            503,
            "A store down or loading, the server out of room for answers, or the request timed out",
        ),
    ] {
        let mut v = err(description);
        v["headers"] = retry.clone();
        responses.insert(code.to_string(), v);
    }
    let cell = json!({"type": ["number", "string", "null"]});
    json!({
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API key (xlserver keys add), or the admin token printed at start-up when no keys are configured"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        },
        "responses": responses,
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "additionalProperties": false,
                "properties": {"error": error_body}
            },
            "ErrorBody": error_body,
            "Table": {
                "type": "object",
                "required": ["columns", "types", "rows"],
                "additionalProperties": false,
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "types": {"type": "array", "items": {"type": "string", "enum": ["date", "time", "number", "text", "empty"]}},
                    "rows": {"type": "array", "items": {"type": "array", "items": cell}},
                    "next": {"type": "string", "description": "The cursor (ticks) or the start (history) of the following page"}
                }
            },
            "BatchRequest": {
                "type": "object",
                "required": ["calls"],
                "additionalProperties": false,
                "properties": {
                    "calls": {"type": "array", "maxItems": 1000, "items": {
                        "type": "object",
                        "required": ["fn"],
                        "properties": {
                            "fn": {"type": "string", "enum": FUNCTIONS.iter().map(|f| f.name).collect::<Vec<_>>()},
                            "args": {"type": "object", "description": "The function's parameters by name; values as text, numbers, or lists"}
                        }
                    }},
                    "dates": {"type": "string", "enum": ["serial", "serial1904", "iso"]}
                }
            },
            "BatchResponse": {
                "type": "object",
                "required": ["results"],
                "additionalProperties": false,
                "properties": {"results": {"type": "array", "items": {"oneOf": [
                    {"type": "object", "required": ["value"], "additionalProperties": false, "properties": {"value": r("schemas", "Table")}},
                    {"type": "object", "required": ["error"], "additionalProperties": false, "properties": {"error": r("schemas", "ErrorBody")}}
                ]}}}
            },
            "Index": {
                "type": "object",
                "required": ["server", "version", "functions"],
                "properties": {
                    "server": {"type": "string"},
                    "version": {"type": "string"},
                    "functions": {"type": "array", "items": {
                        "type": "object",
                        "required": ["name", "description", "parameters"],
                        "properties": {
                            "name": {"type": "string"},
                            "description": {"type": "string"},
                            "parameters": {"type": "array", "items": {
                                "type": "object",
                                "required": ["name", "required", "type", "description"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "required": {"type": "boolean"},
                                    "type": {"type": "string"},
                                    "description": {"type": "string"}
                                }
                            }}
                        }
                    }}
                }
            },
            "Ready": {
                "type": "object",
                "required": ["ready", "stores"],
                "properties": {
                    "ready": {"type": "boolean"},
                    "stores": {"type": "object", "additionalProperties": {"type": "string", "enum": ["ok", "unreachable"]}}
                }
            },
            "Stats": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["store", "kinds"],
                    "properties": {
                        "store": {"type": "string"},
                        "kinds": {"type": "object", "additionalProperties": {
                            "type": "object",
                            "required": ["symbols", "chunks", "bytes"],
                            "properties": {"symbols": {"type": "integer"}, "chunks": {"type": "integer"}, "bytes": {"type": "integer"}}
                        }},
                        "disk_bytes": {"type": ["integer", "null"]}
                    }
                }
            },
            "Coverage": {
                "type": "object",
                "required": ["dataset", "kind", "symbols"],
                "properties": {
                    "dataset": {"type": "string", "enum": ["feed", "post"]},
                    "kind": {"type": "string"},
                    "symbols": {"type": "array", "items": {
                        "type": "object",
                        "required": ["symbol", "days", "bytes"],
                        "properties": {
                            "symbol": {"type": "string"},
                            "days": {"type": "integer"},
                            "bytes": {"type": "integer"},
                            "first_day": {"type": ["string", "null"]},
                            "last_day": {"type": ["string", "null"]}
                        }
                    }}
                }
            },
            "RunRequest": {
                "type": "object",
                "required": ["stage"],
                "additionalProperties": false,
                "properties": {
                    "stage": {"type": "string", "enum": ["fetch", "postprocess"]},
                    "args": {"type": "array", "items": {"type": "string"}, "description": "xlpipeline fetch|postprocess options; files only inside runs.allowed_dirs, this server's stores, listed IQFeed gateways, no --report"}
                }
            },
            "RunStarted": {
                "type": "object",
                "required": ["id", "status"],
                "properties": {"id": {"type": "integer"}, "status": {"type": "string", "enum": ["running"]}}
            },
            "Run": {
                "type": "object",
                "required": ["id", "stage", "args", "started", "status"],
                "properties": {
                    "id": {"type": "integer"},
                    "stage": {"type": "string", "enum": ["fetch", "postprocess"]},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "started": {"type": "string", "format": "date-time"},
                    "ended": {"type": "string", "format": "date-time"},
                    "server": {"type": "string"},
                    "pid": {"type": "integer"},
                    "status": {"type": "string", "enum": ["running", "cancelling", "complete", "cancelled", "ended with errors", "failed", "interrupted"]},
                    "exit_code": {"type": ["integer", "null"]},
                    "error": {"type": ["string", "null"]},
                    "progress": {"type": ["object", "null"]},
                    "report": {"type": ["object", "null"]}
                }
            },
            "Runs": {
                "type": "object",
                "required": ["runs"],
                "properties": {"runs": {"type": "array", "items": r("schemas", "Run")}}
            },
            "Config": {"type": "object", "description": "The effective configuration (see server/src/config.rs); secrets shown as ***"}
        }
    })
}

pub(super) async fn document() -> Json<Value> {
    Json(build())
}
