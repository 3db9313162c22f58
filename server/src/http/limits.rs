//! The limits on what one request may ask (the `[limits]` section of the configuration).

/// Limits on what one request may ask.
#[derive(Debug, Clone, Copy, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Calls in one batch at most.
    pub max_batch_calls: usize,
    /// Request body bytes at most.
    pub max_body_bytes: usize,
    /// Answer bytes of one batch at most (Excel on the web caps a payload at 5 MB): calls
    /// past it get a `resource_exhausted` error saying how to page instead.
    pub max_response_bytes: usize,
    /// Seconds a request may take; past it, 503 and its work stops.
    pub request_timeout_secs: u64,
    /// Calls of one batch run at once.
    pub batch_concurrency: usize,
    /// Answer bytes held in memory at once by all the calls being answered and the answers
    /// not yet sent; a call that would pass it stops with 503 (`"resend": true` in a batch).
    pub max_answers_in_flight_bytes: usize,
    /// Threads that compute answers (0: one per core), apart from those serving connections.
    pub query_threads: usize,
    /// Seconds a client has to send a request's header, from its first byte (or from
    /// connecting, for a new connection).
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may stay open with nothing in flight.
    pub idle_timeout_secs: u64,
    /// Connections at once (0: most of the open-file limit, at most 10,000). Over it the
    /// connection idle the longest is closed, or, when all are busy, the new one gets 503.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_batch_calls: 1000,
            max_body_bytes: 1 << 20,
            max_response_bytes: 5_000_000,
            request_timeout_secs: 30,
            batch_concurrency: 32,
            max_answers_in_flight_bytes: crate::query::DEFAULT_ANSWER_BUDGET,
            query_threads: 0,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 0,
        }
    }
}
