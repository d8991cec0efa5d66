//! The hot path: `PUT` and `POST /lead` answered straight from the connection, without
//! going through the router and its tower layers; every other request goes to the router.
//!
//! The router wraps each route in every layer (request id, trace, CORS, metrics, timeout,
//! JSON errors, per-IP limit, body limit), and clones that stack for each request. Here the
//! same concerns are applied in one function, with what they need computed once:
//!
//! | concern | router layer | here |
//! | --- | --- | --- |
//! | request id | `SetRequestIdLayer` + `PropagateRequestIdLayer` | kept from the request, else a new UUID v4; echoed |
//! | log line | `TraceLayer` (span `request`, `log_response`) | the same span and the same line |
//! | CORS (actual requests) | `CorsLayer` | the same `vary`, `access-control-expose-headers`, `access-control-allow-origin` |
//! | metrics | `metrics::track` | counted under the route `/lead` |
//! | request timeout | `TimeoutLayer` + `json_errors` | 408 JSON |
//! | per-IP limit | `tower_governor` layer | the same limiter, checked first: 429 + `Retry-After` |
//! | body limit | `RequestBodyLimitLayer` + `json_errors` | 413 JSON, by `Content-Length` or while reading |
//! | the handler | `put_lead` / `post_lead` | [`submit`] (the same checks and forward) |
//!
//! `tests/hot_path.rs` checks that both answer the same.

use crate::error::ApiError;
use crate::limits::{too_many, ClientIp, IpLimiter};
use crate::proxy::{
    cors_vary, is_text_or_json, log_response, new_request_id, submit, visitor_token, AppState, LeadQuery, REQUEST_ID,
};
use crate::watchdog::{deadline, within, Limit, Watched};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::BytesMut;
use governor::clock::{Clock, DefaultClock};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Body as _;
use hyper::body::Incoming;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;
use tracing::Instrument;

/// The proxy as served: the hot path for `PUT`/`POST /lead`, the router for the rest.
#[derive(Debug, Clone)]
pub struct Proxy {
    hot: Arc<Hot>,
    router: Router,
}

/// What the hot path needs, built once.
#[derive(Debug)]
pub(crate) struct Hot {
    pub(crate) state: Arc<AppState>,
    pub(crate) cors: CorsHeaders,
    pub(crate) request_timeout: Duration,
    pub(crate) header_timeout: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) ip_limit: Option<(Arc<IpLimiter>, ClientIp)>,
}

impl Proxy {
    pub(crate) fn new(hot: Hot, router: Router) -> Self {
        Self { hot: Arc::new(hot), router }
    }

    /// The answer to one request from `peer`.
    pub async fn answer(self, request: Request<Incoming>, peer: SocketAddr) -> Response {
        if is_hot(&request) {
            let lead = self.hot.prepare(request, peer);
            return self.hot.lead(lead, None).await.0;
        }
        self.route(request, peer).await
    }

    /// The answer from the router.
    async fn route(&self, request: Request<Incoming>, peer: SocketAddr) -> Response {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// How long a connection may take to send a request's head, and how long an idle
    /// keep-alive connection is kept: a slow or silent client cannot hold connections open.
    pub(crate) fn header_timeout(&self) -> Duration {
        self.hot.header_timeout
    }

    /// [`Self::answer`] as hyper wants it, on a connection `watched` by its watchdog (see
    /// [`crate::watchdog`]): no head is due while a request is answered, the next one is
    /// due once the answer is sent. Each serving thread has its own `Arc` of the proxy: the
    /// count this clones and drops per request is not shared with the other threads.
    ///
    /// Not an `async fn`: the request is taken apart first, so that the future (which hyper
    /// moves and keeps for the whole answer) holds what the answer needs rather than the
    /// request, and one copy of it rather than one for each `async` level it went through.
    pub(crate) fn serve(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
        watched: Arc<Watched>,
    ) -> impl Future<Output = Result<Response, Infallible>> {
        watched.busy();
        let next = if is_hot(&request) { Next::Lead(self.hot.prepare(request, peer)) } else { Next::Route(request) };
        async move {
            match next {
                Next::Lead(lead) => {
                    let (response, answered) = self.hot.lead(lead, Some(&watched)).await;
                    // A small body in memory: written as soon as this returns.
                    watched.idle(answered);
                    Ok(response)
                }
                Next::Route(request) => {
                    // Boxed: the router's future is big, and only the other routes need it.
                    let response = Box::pin(self.route(request, peer)).await;
                    // Other answers' bodies may stream (static files): sent once hyper drops them.
                    Ok(response.map(|body| Body::new(IdleOnceSent { body, watched })))
                }
            }
        }
    }
}

/// What [`Proxy::serve`] does with a request.
enum Next {
    Lead(LeadRequest),
    Route(Request<Incoming>),
}

/// `PUT`/`POST /lead`.
fn is_hot<B>(request: &Request<B>) -> bool {
    let method = request.method();
    request.uri().path() == "/lead" && (method == Method::PUT || method == Method::POST)
}

/// An answer's body that marks its connection idle when hyper is done with it.
struct IdleOnceSent {
    body: Body,
    watched: Arc<Watched>,
}

impl hyper::body::Body for IdleOnceSent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for IdleOnceSent {
    fn drop(&mut self) {
        self.watched.idle(Instant::now());
    }
}

/// A `PUT`/`POST /lead` taken apart: what answering it needs (see [`Hot::prepare`]).
pub(crate) struct LeadRequest {
    started: Instant,
    id: HeaderValue,
    span: tracing::Span,
    put: bool,
    origin: Option<HeaderValue>,
    work: Work,
}

/// What is left to do for a [`LeadRequest`] once its head is read.
enum Work {
    /// An answer already: the per-IP limit was reached.
    Answered(Response),
    /// Read the body, check it (and the content type of a `POST`, after the body as the
    /// router's order has it), forward it.
    Submit { body: Incoming, unsupported_type: bool, visitor_token: Option<String> },
}

impl Hot {
    /// What the outer layers do before the handler, from the head alone: the request id,
    /// the span, CORS's origin, the per-IP limit; and what the handler needs of the head.
    pub(crate) fn prepare(&self, request: Request<Incoming>, peer: SocketAddr) -> LeadRequest {
        let started = Instant::now();
        let id = match request.headers().get(REQUEST_ID) {
            Some(id) => id.clone(),
            None => new_request_id(),
        };
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = %id.to_str().unwrap_or("-"),
        );
        let put = request.method() == Method::PUT;
        let origin = if self.cors.any_origin { None } else { request.headers().get(header::ORIGIN).cloned() };
        let work = match self.over_ip_limit(request.headers(), peer) {
            Some(answer) => Work::Answered(answer),
            None => {
                let (parts, body) = request.into_parts();
                let unsupported_type = !put && !is_text_or_json(&parts.headers);
                // The token is only read when visitor tokens are checked.
                let visitor_token = match &self.state.visitor_key {
                    Some(_) => {
                        let query = || Query::<LeadQuery>::try_from_uri(&parts.uri).ok().and_then(|q| q.0.visitor);
                        visitor_token(&parts.headers).map(str::to_string).or_else(query)
                    }
                    None => None,
                };
                Work::Submit { body, unsupported_type, visitor_token }
            }
        };
        LeadRequest { started, id, span, put, origin, work }
    }

    /// The per-IP limit's 429, when the client is over it.
    fn over_ip_limit(&self, headers: &HeaderMap, peer: SocketAddr) -> Option<Response> {
        let (limiter, client_ip) = self.ip_limit.as_ref()?;
        let not_until = limiter.check_key(&client_ip.of(headers, Some(peer.ip()))).err()?;
        // Whole seconds, as `tower_governor` counts them for the router's limit.
        let wait = not_until.wait_time_from(DefaultClock::default().now()).as_secs();
        Some(too_many(Duration::from_secs(wait), "client IP").into_response())
    }

    /// `PUT`/`POST /lead` with what the outer layers do: request id, log line, metrics,
    /// CORS headers, the request timeout.
    /// Also when the answer was ready.
    pub(crate) async fn lead(&self, lead: LeadRequest, watched: Option<&Watched>) -> (Response, Instant) {
        let LeadRequest { started, id, span, put, origin, work } = lead;
        let answer =
            within(watched, Limit::Request, deadline(started, self.request_timeout), self.handle(work, watched));
        let mut response = match answer.instrument(span.clone()).await {
            Ok(response) => response,
            Err(_) => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "request timeout: not answered in time").into_response()
            }
        };
        self.state.metrics.request("/lead", if put { "PUT" } else { "POST" }, response.status().as_u16());
        self.cors.apply(origin.as_ref(), response.headers_mut());
        response.headers_mut().insert(REQUEST_ID, id);
        let answered = Instant::now();
        span.in_scope(|| log_response(&response, answered - started, &span));
        (response, answered)
    }

    /// The body limit, then the handler.
    async fn handle(&self, work: Work, watched: Option<&Watched>) -> Response {
        let (body, unsupported_type, visitor_token) = match work {
            Work::Answered(answer) => return answer,
            Work::Submit { body, unsupported_type, visitor_token } => (body, unsupported_type, visitor_token),
        };
        let body = match self.read_body(body).await {
            Ok(body) => body,
            Err(error) => return error.into_response(),
        };
        if unsupported_type {
            return ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content-type: must be text/plain or application/json",
            )
            .into_response();
        }
        submit(&self.state, visitor_token.as_deref(), &body, watched).await
    }

    /// The body, at most `max_body_bytes` (413 beyond, by its `Content-Length` or while reading).
    async fn read_body(&self, body: Incoming) -> Result<Bytes, ApiError> {
        let too_large = || {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("body: must be at most {} bytes", self.max_body_bytes))
        };
        // hyper's size hint is the `Content-Length` (exact), when there is one.
        if body.size_hint().exact().is_some_and(|length| length > self.max_body_bytes as u64) {
            return Err(too_large());
        }
        // Frame by frame rather than `collect`: a body that comes in one frame (the usual
        // case) is used as it is, without a list of frames.
        let mut body = std::pin::pin!(Limited::new(body, self.max_body_bytes));
        let (mut first, mut joined): (Option<Bytes>, Option<BytesMut>) = (None, None);
        while let Some(frame) = body.as_mut().frame().await {
            let data = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_trailers) => continue,
                },
                Err(err) if err.is::<LengthLimitError>() => return Err(too_large()),
                Err(_) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad request")),
            };
            match (&mut first, &mut joined) {
                (None, _) => first = Some(data),
                (Some(_), Some(joined)) => joined.extend_from_slice(&data),
                (Some(first), None) => {
                    let mut both = BytesMut::with_capacity(first.len() + data.len());
                    both.extend_from_slice(first);
                    both.extend_from_slice(&data);
                    joined = Some(both);
                }
            }
        }
        Ok(joined.map(BytesMut::freeze).or(first).unwrap_or_default())
    }
}

/// The headers `CorsLayer` adds to an actual (non-preflight) answer, computed once.
#[derive(Debug)]
pub(crate) struct CorsHeaders {
    any_origin: bool,
    origins: Vec<HeaderValue>,
    vary: Option<HeaderValue>,
    expose: HeaderValue,
}

impl CorsHeaders {
    /// For `origins` (any when empty) and the exposed `expose` headers, as [`crate::proxy`]'s
    /// `cors` configures the layer ([`crate::proxy::cors_vary`]'s `vary`, credentials never allowed).
    pub(crate) fn new(origins: &[HeaderValue], expose: &[header::HeaderName]) -> Self {
        let expose = expose.iter().map(header::HeaderName::as_str).collect::<Vec<_>>().join(",");
        Self {
            any_origin: origins.is_empty(),
            origins: origins.to_vec(),
            vary: (!cors_vary(origins).is_empty()).then(|| HeaderValue::from_static("origin")),
            expose: HeaderValue::from_str(&expose).expect("header names are valid header values"),
        }
    }

    fn apply(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        if let Some(vary) = &self.vary {
            headers.append(header::VARY, vary.clone());
        }
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, self.expose.clone());
        if self.any_origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        } else if let Some(origin) = origin.filter(|origin| self.origins.contains(origin)) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
    }
}
