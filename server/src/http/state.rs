//! What every HTTP handler shares: [`AppState`].

use std::sync::Arc;

use serde_json::Value;

use super::limits::Limits;
use crate::metrics::Metrics;
use crate::query::QueryService;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The queries.
    pub query: Arc<QueryService>,
    /// Metrics, rendered at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Request limits.
    pub limits: Limits,
    /// In-process pipeline runs (admin).
    pub runs: Arc<crate::runs::Runs>,
    /// The effective configuration, redacted, for `/admin/v1/config`.
    pub config_view: Arc<Value>,
    /// Keys and rate limits (a batch counts each of its calls).
    pub auth: crate::auth::Auth,
    /// Workbooks: reports and reconciliation.
    pub reports: crate::report::Reports,
}

impl axum::extract::FromRef<AppState> for Arc<Metrics> {
    fn from_ref(s: &AppState) -> Arc<Metrics> {
        s.metrics.clone()
    }
}
