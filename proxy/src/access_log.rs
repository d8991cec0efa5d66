//! One log line per request: method, path (never the query), request id, status, latency.

use crate::request_id::REQUEST_ID;
use axum::body::Body;
use axum::http::{Request, Response};
use std::time::Duration;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// The trace layer's type: our span and response callbacks, nothing else logged.
pub(crate) type RequestTrace = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&Request<Body>) -> Span,
    (),
    fn(&Response<Body>, Duration, &Span),
    (),
    (),
    (),
>;

/// The proxy's log line as a layer: the span `request` (method, path, request id) and,
/// when answered, [`log_response`].
pub(crate) fn layer() -> RequestTrace {
    TraceLayer::new_for_http()
        .make_span_with(request_span as fn(&Request<Body>) -> Span)
        .on_request(())
        .on_response(log_response as fn(&Response<Body>, Duration, &Span))
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

fn request_span(request: &Request<Body>) -> Span {
    let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %id,
    )
}

/// The one log line per request: status and latency, inside the request's span (method, path).
pub(crate) fn log_response<B>(response: &Response<B>, latency: Duration, _: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency = %format!("{:.1}ms", latency.as_secs_f64() * 1000.0),
        "answered"
    );
}
