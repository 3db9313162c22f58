//! The OpenAPI contract every response the suites see is checked against.

use reqwest::StatusCode;
use serde_json::{Value, json};

/// The OpenAPI document, checking responses against it.
pub(crate) struct Contract {
    doc: Value,
}

impl Contract {
    /// The document the server serves.
    pub(crate) fn new() -> Contract {
        Contract {
            doc: xlfeed_server::http::openapi_document(),
        }
    }

    /// The path template of the document that `path` is, if any.
    fn template(&self, path: &str) -> Option<String> {
        let paths = self.doc["paths"].as_object()?;
        if paths.contains_key(path) {
            return Some(path.to_owned());
        }
        let parts: Vec<&str> = path.split('/').collect();
        paths
            .keys()
            .find(|t| {
                let tp: Vec<&str> = t.split('/').collect();
                tp.len() == parts.len()
                    && tp
                        .iter()
                        .zip(&parts)
                        .all(|(a, b)| a == b || (a.starts_with('{') && !b.is_empty()))
            })
            .cloned()
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => self
                .doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or(&Value::Null),
            None => v,
        }
    }

    /// Panics unless the response (`status`, `content_type`, `body`) to `method` `path` is one
    /// the document lists for that route, its body valid against the schema given there.
    pub(crate) fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) {
        let path = path.split('?').next().unwrap_or(path);
        let what = format!("{method} {path} → {status}");
        let response = match self.template(path) {
            None => {
                assert!(
                    [403, 404, 405, 413, 415, 500, 503].contains(&status),
                    "{what}: a path the document does not list answered {status}"
                );
                self.doc["components"]["responses"][status.to_string()].clone()
            }
            Some(t) => {
                let op = &self.doc["paths"][&t][method.to_ascii_lowercase()];
                if op.is_null() {
                    assert!(
                        [403, 405, 413, 415, 503].contains(&status),
                        "{what}: {method} is not documented on {t}"
                    );
                    self.doc["components"]["responses"][status.to_string()].clone()
                } else {
                    let r = &op["responses"][status.to_string()];
                    assert!(
                        !r.is_null(),
                        "{what}: status {status} is not documented for {method} {t}: {}",
                        String::from_utf8_lossy(body)
                    );
                    self.resolve(r).clone()
                }
            }
        };
        let content = &response["content"];
        if content.is_null() {
            assert!(body.is_empty(), "{what}: the document lists no body");
            return;
        }
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        let Some(media) = content.get(essence).or_else(|| content.get("*/*")) else {
            panic!(
                "{what}: content type {content_type:?} is not one of {:?}",
                content.as_object().map(|o| o.keys().collect::<Vec<_>>())
            );
        };
        if essence != "application/json" || media.get("schema").is_none() {
            return;
        }
        let value: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
            panic!("{what}: not JSON ({e}): {}", String::from_utf8_lossy(body))
        });
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [media["schema"].clone()],
            "components": self.doc["components"].clone(),
        });
        let validator = jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{what}: the document's schema does not build: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .take(5)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: the body does not match the document: {errors:?}\n{}",
            value.to_string().chars().take(2000).collect::<String>()
        );
    }

    /// Sends `req` (a `method` to `path`) and checks the response; its status, headers and body.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        req: reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let r = req.send().await.expect("the server answers");
        let status = r.status();
        let headers = r.headers().clone();
        let body = r.bytes().await.expect("a whole body").to_vec();
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.check(method, path, status.as_u16(), &ct, &body);
        (status, headers, body)
    }
}

/// A response whose status and body were checked against the OpenAPI document.
pub(crate) struct Checked {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Checked {
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn headers(&self) -> &reqwest::header::HeaderMap {
        &self.headers
    }

    pub(crate) async fn json<T: serde::de::DeserializeOwned>(self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.body)
    }

    pub(crate) async fn text(self) -> Result<String, std::string::FromUtf8Error> {
        String::from_utf8(self.body)
    }
}

impl Contract {
    /// [`Contract::send`], as a response.
    pub(crate) fn respond<'s>(
        &'s self,
        method: &'static str,
        path: &str,
        req: reqwest::RequestBuilder,
    ) -> impl Future<Output = Result<Checked, std::convert::Infallible>> + use<'s> {
        let path = path.to_owned();
        async move {
            let (status, headers, body) = self.send(method, &path, req).await;
            Ok(Checked {
                status,
                headers,
                body,
            })
        }
    }
}
