//! CORS: which origins may call the proxy from a page, what they may send and read.

use crate::request_id::REQUEST_ID;
use crate::visitor::VISITOR_HEADER;
use axum::http::{header, HeaderName, HeaderValue, Method};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The headers answers expose to scripts.
const EXPOSED: [HeaderName; 2] = [REQUEST_ID, header::RETRY_AFTER];

/// CORS for `origins` (any when empty), preflights and actual requests alike. Credentials
/// are never allowed, so a wildcard cannot expose a cookie-authenticated answer.
pub(crate) fn layer(origins: &[HeaderValue]) -> CorsLayer {
    let allowed = if origins.is_empty() { AllowOrigin::any() } else { AllowOrigin::list(origins.iter().cloned()) };
    CorsLayer::new()
        .vary(vary(origins))
        .allow_methods([Method::PUT, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, HeaderName::from_static(VISITOR_HEADER)])
        .expose_headers(EXPOSED)
        .allow_origin(allowed)
        .max_age(Duration::from_secs(600))
}

/// What CORS answers vary by, for caches: the request's `Origin` when only some origins
/// are allowed (`Access-Control-Allow-Origin` is then sent to those only), else nothing, as
/// `*` is sent to every request (the Fetch standard's "CORS protocol and HTTP caches").
/// The allowed methods and headers are fixed lists, not copied from a preflight's
/// request, so answers do not vary by those (`tower_http`'s default `Vary` names them).
fn vary(origins: &[HeaderValue]) -> Vec<HeaderName> {
    if origins.is_empty() {
        Vec::new()
    } else {
        vec![header::ORIGIN]
    }
}
