//! The proxy's routes: `PUT`/`POST /lead`, `GET /healthz`, `/readyz`, `/metrics`,
//! `/openapi.json`, `GET /demo/leads` (mock mode only) and, optionally, a folder of static
//! files as the fallback; with the layers every request goes through.

use crate::breaker::Breaker;
use crate::chaos::{Chaos, ChaosSettings};
use crate::error::{json_errors, json_response, ApiError};
use crate::forward::UpstreamClient;
use crate::hot::{CorsHeaders, Hot, Proxy};
use crate::limits::{self, ClientIp, IpLimiter, UuidLimiter};
use crate::metrics::{self, Metrics};
use crate::server::{self, ServerHandle};
use crate::visitor::{self, VisitorKey, VISITOR_HEADER};
use crate::watchdog::Watched;
use crate::Secret;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::middleware::{from_fn_with_state, map_response_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put, MethodRouter};
use axum::Router;
use reekolect_lead::{parse_lead, validate_lead, validate_lead_in_place, BotIds, FieldError, Lead};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

/// Default largest `/lead` body accepted, in bytes (64 KiB); larger ones get a 413.
pub const MAX_BODY_BYTES: usize = crate::cli::DEFAULT_MAX_BODY_BYTES;

/// Default time the proxy waits for the upstream before answering 504.
pub const UPSTREAM_TIMEOUT: Duration = crate::cli::DEFAULT_UPSTREAM_TIMEOUT;

/// How long `/readyz` waits for a TCP connection to the upstream.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Most pages `GET /demo/leads` reads per type, as a bound on one request's work.
const MAX_DEMO_PAGES: usize = 500;

/// The request id header, set when absent and echoed in every answer.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the proxy's router needs.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Base URL of the Reekolect API (or of the mock), without a trailing slash.
    pub upstream: String,
    /// Sent as `x-bp-token` (and `x-bot-token` for `/demo/leads`); never answered or logged.
    pub token: Secret,
    /// Upstream timeout (default [`UPSTREAM_TIMEOUT`]).
    pub timeout: Duration,
    /// Whole-request timeout (answers 408).
    pub request_timeout: Duration,
    /// Time allowed for a request's head, and for an idle keep-alive connection (the
    /// connection is closed).
    pub header_timeout: Duration,
    /// Whether `GET /demo/leads` exists: only when the upstream is the embedded mock,
    /// since it lists every lead to anyone who asks.
    pub demo: bool,
    /// A folder served as the fallback (its `index.html` for directories).
    pub www: Option<PathBuf>,
    /// Origins allowed by CORS; empty means any origin (never with credentials).
    pub allow_origins: Vec<HeaderValue>,
    /// The (botId, customerId) pairs the proxy writes for; `None` means any.
    pub allow_bots: Option<Vec<BotIds>>,
    /// Largest `/lead` body, in bytes.
    pub max_body_bytes: usize,
    /// Sustained `/lead` requests per minute per client IP (0: none) and burst.
    pub ip_limit: (u32, u32),
    /// Sustained `/lead` updates per minute per visitor UUID (0: none) and burst.
    pub uuid_limit: (u32, u32),
    /// Where the client IP comes from.
    pub client_ip: ClientIp,
    /// When set, updates touching name/email/phone need a signed visitor token.
    pub visitor_key: Option<VisitorKey>,
    /// Consecutive upstream failures that open the breaker (0: never), and its cool-down.
    pub breaker: (u32, Duration),
    /// The embedded mock's failure injection, driven by `PUT /demo/chaos` (mock mode).
    pub chaos: Option<Arc<Chaos>>,
    /// The certificates trusted for an `https://` upstream (`--upstream-ca`).
    pub upstream_trust: crate::trust::Trust,
}

impl ProxyConfig {
    /// A configuration forwarding to `upstream` with `token` and the `serve` defaults:
    /// no demo route, no static files, any origin, any bot, no visitor secret.
    pub fn new(upstream: impl Into<String>, token: Secret) -> Self {
        use crate::cli::*;
        Self {
            upstream: upstream.into(),
            token,
            timeout: UPSTREAM_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            demo: false,
            www: None,
            allow_origins: Vec::new(),
            allow_bots: None,
            max_body_bytes: MAX_BODY_BYTES,
            ip_limit: (DEFAULT_IP_PER_MINUTE, DEFAULT_IP_BURST),
            uuid_limit: (DEFAULT_UUID_PER_MINUTE, DEFAULT_UUID_BURST),
            client_ip: ClientIp::Peer,
            visitor_key: None,
            breaker: (DEFAULT_BREAKER_FAILURES, DEFAULT_BREAKER_COOLDOWN),
            chaos: None,
            upstream_trust: crate::trust::Trust::default(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct AppState {
    upstream: UpstreamClient,
    allow_bots: Option<Vec<BotIds>>,
    pub(crate) visitor_key: Option<VisitorKey>,
    uuids: UuidLimiter,
    breaker: Arc<Breaker>,
    pub(crate) metrics: Arc<Metrics>,
    demo: bool,
    chaos: Option<Arc<Chaos>>,
}

/// The paths the router serves, in order; `/demo/leads` only with `demo`. The router is
/// built from this list, and the OpenAPI document is tested against it.
pub fn routed_paths(demo: bool) -> Vec<&'static str> {
    let mut paths = vec!["/lead", "/healthz", "/readyz", "/metrics", "/openapi.json"];
    if demo {
        paths.push("/demo/leads");
        paths.push("/demo/chaos");
    }
    paths
}

/// The handlers (and route layers) of one path of [`routed_paths`]; `ip_limiter` is the
/// per-IP limiter of `/lead`, when there is one.
fn route(path: &str, config: &ProxyConfig, ip_limiter: &mut Option<Arc<IpLimiter>>) -> MethodRouter<Arc<AppState>> {
    match path {
        "/lead" => {
            let lead = put(put_lead).post(post_lead).layer(RequestBodyLimitLayer::new(config.max_body_bytes));
            let (per_minute, burst) = config.ip_limit;
            match limits::ip_layer(per_minute, burst, config.client_ip.clone()) {
                Some((layer, limiter)) => {
                    *ip_limiter = Some(limiter);
                    lead.layer(layer)
                }
                None => lead,
            }
        }
        "/healthz" => get(healthz),
        "/readyz" => get(readyz),
        "/metrics" => get(metrics_text),
        "/openapi.json" => get(openapi),
        "/demo/leads" => get(demo_leads),
        "/demo/chaos" => get(get_chaos).put(put_chaos),
        other => unreachable!("no handler for {other}"),
    }
}

/// The proxy as an axum router, with its layers (outermost first): request id, one log
/// line per request, CORS, metrics, request timeout, JSON errors; on `/lead` also the
/// per-IP rate limit and the body limit. [`service`] (what [`spawn`] and `serve` run)
/// answers `PUT`/`POST /lead` on a hot path doing the same, and hands the rest to this.
pub fn router(config: ProxyConfig) -> Router {
    build(config).0
}

/// The proxy as served: `PUT`/`POST /lead` on the hot path ([`crate::hot`]), the rest
/// through [`router`]. Both share their state (limiters, breaker, metrics).
pub fn service(config: ProxyConfig) -> Proxy {
    let (router, hot) = build(config);
    Proxy::new(hot, router)
}

/// The router and what the hot path needs, sharing one state.
fn build(config: ProxyConfig) -> (Router, Hot) {
    let breaker = Arc::new(Breaker::new(config.breaker.0, config.breaker.1));
    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(AppState {
        upstream: UpstreamClient::new(
            &config.upstream,
            config.token.clone(),
            config.timeout,
            breaker.clone(),
            metrics.clone(),
            &config.upstream_trust,
        ),
        allow_bots: config.allow_bots.clone(),
        visitor_key: config.visitor_key.clone(),
        uuids: UuidLimiter::new(config.uuid_limit.0, config.uuid_limit.1),
        breaker,
        metrics: metrics.clone(),
        demo: config.demo,
        chaos: config.chaos.clone(),
    });

    let mut api = Router::new();
    let mut ip_limiter = None;
    for path in routed_paths(config.demo) {
        api = api.route(path, route(path, &config, &mut ip_limiter));
    }
    let hot = Hot {
        state: state.clone(),
        cors: CorsHeaders::new(&config.allow_origins, &EXPOSED),
        request_timeout: config.request_timeout,
        header_timeout: config.header_timeout,
        max_body_bytes: config.max_body_bytes,
        ip_limit: ip_limiter.map(|limiter| (limiter, config.client_ip.clone())),
    };
    let mut app = api
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, config.request_timeout))
        .layer(map_response_with_state(config.max_body_bytes, json_errors));
    app = match &config.www {
        Some(dir) => app.fallback_service(crate::www::files(dir)),
        None => app.fallback(not_found),
    };
    let app = app
        .layer(from_fn_with_state(metrics, metrics::track))
        .layer(cors(&config.allow_origins))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace_layer())
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRandomId));
    (app, hot)
}

/// The headers answers expose to scripts (CORS).
const EXPOSED: [HeaderName; 2] = [REQUEST_ID, header::RETRY_AFTER];

/// CORS for `origins` (any when empty). Credentials are never allowed, so a wildcard
/// cannot expose a cookie-authenticated answer.
fn cors(origins: &[HeaderValue]) -> CorsLayer {
    let allowed = if origins.is_empty() { AllowOrigin::any() } else { AllowOrigin::list(origins.iter().cloned()) };
    CorsLayer::new()
        .vary(cors_vary(origins))
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
pub(crate) fn cors_vary(origins: &[HeaderValue]) -> Vec<HeaderName> {
    if origins.is_empty() {
        Vec::new()
    } else {
        vec![header::ORIGIN]
    }
}

/// The trace layer's type: our span and response callbacks, nothing else logged.
type RequestTrace = TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    fn(&Request<Body>) -> Span,
    (),
    fn(&axum::http::Response<Body>, Duration, &Span),
    (),
    (),
    (),
>;

/// One log line per request: method, path (never the query), request id, status, latency.
fn trace_layer() -> RequestTrace {
    TraceLayer::new_for_http()
        .make_span_with(request_span as fn(&Request<Body>) -> Span)
        .on_request(())
        .on_response(log_response as fn(&axum::http::Response<Body>, Duration, &Span))
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

/// Makes request ids shaped like UUID v4 from the thread's CSPRNG: `tower_http`'s
/// `MakeRequestUuid` asks the kernel (`getrandom`) once per request, a syscall on the hot path.
#[derive(Debug, Clone, Copy)]
struct MakeRandomId;

impl MakeRequestId for MakeRandomId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        Some(RequestId::new(new_request_id()))
    }
}

/// A new request id (UUID v4 shaped, from the thread's CSPRNG).
pub(crate) fn new_request_id() -> HeaderValue {
    HeaderValue::from_bytes(&uuid_v4_bytes(rand::random::<u128>()))
        .expect("hex digits and dashes are a valid header value")
}

/// `bits` as a UUID v4 (version and variant bits set), `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
#[cfg(test)]
fn uuid_v4(bits: u128) -> String {
    String::from_utf8(uuid_v4_bytes(bits).to_vec()).expect("hex digits and dashes are ASCII")
}

/// [`uuid_v4`]'s bytes.
fn uuid_v4_bytes(bits: u128) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    /// Where each byte's two digits go, around the dashes at 8, 13, 18 and 23.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    // A byte at a time (two digits), from the big-endian bytes, at positions known at
    // compile time (the loop unrolls): u128 shifts per digit cost a tenth of a proxied
    // request's instructions.
    let mut out = [b'-'; 36];
    for (byte, at) in bits.to_be_bytes().into_iter().zip(AT) {
        out[at] = HEX[usize::from(byte >> 4)];
        out[at + 1] = HEX[usize::from(byte & 0xf)];
    }
    out
}

#[cfg(test)]
mod tests {
    /// A validated lead read from a body without escapes is written as serde_json writes it
    /// without scanning its strings: validation only trims, re-cases ASCII letters, keeps
    /// digits and adds `+`.
    #[test]
    fn validated_plain_leads_stay_plain() {
        let uuid = "7E88D192-9b20-4035-9b68-d4ac3d58a34f";
        for extra in [
            r#""name":"  Ada Lovelace  ","email":" Ann.Lee+x@Example.CO.uk ","status":" inProgress ""#,
            r#""phone":"+44 (20) 7946-0958","tags":[" a ","b","a"],"agentId":" agent_1 ""#,
            r#""dialCode":" 44 ","phone":"2079 460958","picture":" https://img.example/a.png ""#,
            r#""notes":[{"title":" t ","description":" line one  "}],"attributes":{"k":" v ","flag":true}"#,
            r#""name":"ünï 🎉 é","tags":["x\"y"]"#,
        ] {
            let body = format!(r#"{{"uuid":"{uuid}","botId":" b1 ","customerId":"c1",{extra}}}"#);
            let (lead, plain) =
                super::read_marked_lead(body.as_bytes()).unwrap_or_else(|err| panic!("{body}: {err:?}"));
            assert_eq!(plain, !extra.contains('\\'), "{body}");
            let mut written = Vec::new();
            crate::wire::write_lead(&mut written, &lead, plain);
            assert_eq!(String::from_utf8(written).unwrap(), serde_json::to_string(&lead).unwrap());
        }
    }

    #[test]
    fn request_ids_are_uuid_v4_shaped() {
        assert_eq!(super::uuid_v4(0), "00000000-0000-4000-8000-000000000000");
        assert_eq!(super::uuid_v4(u128::MAX), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(super::uuid_v4(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef), "01234567-89ab-4def-8123-456789abcdef");
    }
}

/// Serves the proxy ([`service`]) on `listener`, on a new tokio task.
pub fn spawn(listener: TcpListener, config: ProxyConfig) -> io::Result<ServerHandle> {
    server::spawn_proxy_on(listener, service(config), 1)
}

/// The one log line per request: status and latency, inside the request's span (method, path).
pub(crate) fn log_response<B>(response: &axum::http::Response<B>, latency: Duration, _: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency = %format!("{:.1}ms", latency.as_secs_f64() * 1000.0),
        "answered"
    );
}

/// Reads a lead update from a request body: it must be a JSON object that parses as a
/// [`Lead`] and passes [`validate_lead`]. Returns the normalised lead, or the fields at
/// fault (`body` when the body itself is not a JSON object).
pub fn read_lead(body: &[u8]) -> Result<Lead, Vec<FieldError>> {
    read_marked_lead(body).map(|(lead, _)| lead)
}

/// [`read_lead`], with whether the lead's strings are known to need no escaping as JSON
/// (see [`crate::lead_json::read`]).
fn read_marked_lead(body: &[u8]) -> Result<(Lead, bool), Vec<FieldError>> {
    // The usual body, read by hand (`lead_json`: the same lead serde reads, or none) and
    // validated where it lies: the lead (over 300 bytes) is copied once, into the answer.
    let mut lead = Lead::default();
    if let Some(plain) = crate::lead_json::read(body, &mut lead) {
        validate_lead_in_place(&mut lead)?;
        return Ok((lead, plain));
    }
    // One pass when the body is a well-formed object that parses as a lead;
    // otherwise the checks below say what is wrong, in this order.
    // `Lead`'s own `Deserialize` is what `parse_lead` runs, without tracking the path of
    // every field (only needed to name the field at fault, so only on the error path).
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        let mut source = serde_json::Deserializer::from_slice(body);
        if let Ok(lead) = <Lead as serde::Deserialize>::deserialize(&mut source) {
            if source.end().is_ok() {
                return validate_lead(lead).map(|lead| (lead, false));
            }
        }
    }
    if let Err(err) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        let rule = if body.iter().all(u8::is_ascii_whitespace) {
            "must be a JSON object (the body is empty)".to_string()
        } else {
            format!("is not valid JSON ({err})")
        };
        return Err(vec![FieldError::new("body", rule)]);
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    }
    let lead = parse_lead(&mut serde_json::Deserializer::from_slice(body)).map_err(|err| vec![err])?;
    validate_lead(lead).map(|lead| (lead, false))
}

/// Where a visitor token may travel besides its header.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LeadQuery {
    /// `?visitor=`, for `navigator.sendBeacon`, which cannot set headers.
    pub(crate) visitor: Option<String>,
}

/// `PUT /lead`: validate, check, forward with the token, relay the answer.
async fn put_lead(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<LeadQuery>, QueryRejection>,
    body: Bytes,
) -> Response {
    let query = query.map(|q| q.0).unwrap_or_default();
    submit(&state, visitor_token(&headers).or(query.visitor.as_deref()), &body, None).await
}

/// `POST /lead`: the same as `PUT`, for `text/plain` (a CORS simple request, as
/// `navigator.sendBeacon` sends) or `application/json` bodies.
async fn post_lead(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<LeadQuery>, QueryRejection>,
    body: Bytes,
) -> Response {
    if !is_text_or_json(&headers) {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type: must be text/plain or application/json",
        )
        .into_response();
    }
    let query = query.map(|q| q.0).unwrap_or_default();
    submit(&state, visitor_token(&headers).or(query.visitor.as_deref()), &body, None).await
}

/// Whether the content type is `text/plain` or `application/json` (any parameters).
pub(crate) fn is_text_or_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/plain") || essence.eq_ignore_ascii_case("application/json")
}

/// Admits the update ([`admit`]) and forwards it (the upstream timeout kept by the
/// connection's watchdog when `watched`, else by a tokio timer). `visitor_token`: the
/// request's visitor token ([`visitor_token`], else `?visitor=`), if any.
pub(crate) async fn submit(
    state: &AppState,
    visitor_token: Option<&str>,
    body: &[u8],
    watched: Option<&Watched>,
) -> Response {
    // The lead is dropped before the `await`: the future keeps only the request's bytes.
    let put = match admit(state, visitor_token, body) {
        Ok((lead, plain)) => state.upstream.put_lead(&lead, plain, watched),
        Err(error) => return error.into_response(),
    };
    put.await
}

/// The visitor token in a request's header.
pub(crate) fn visitor_token(headers: &HeaderMap) -> Option<&str> {
    headers.get(VISITOR_HEADER).and_then(|v| v.to_str().ok())
}

/// Every check before forwarding: a valid lead (400), an allowed bot (403), a visitor
/// token when one is needed (401), the visitor's rate (429).
fn admit(state: &AppState, visitor_token: Option<&str>, body: &[u8]) -> Result<(Lead, bool), ApiError> {
    let (lead, plain) = read_marked_lead(body).map_err(ApiError::fields)?;
    check_bot(state.allow_bots.as_deref(), &lead)?;
    if let Some(key) = &state.visitor_key {
        check_visitor(key, visitor_token, &lead)?;
    }
    match &lead.uuid {
        Some(uuid) => state.uuids.check(uuid)?,
        None => state.uuids.check("")?,
    }
    Ok((lead, plain))
}

/// 403 unless the lead's (botId, customerId) is allowed.
fn check_bot(allowed: Option<&[BotIds]>, lead: &Lead) -> Result<(), ApiError> {
    let (bot_id, customer_id) =
        (lead.bot_id.as_deref().unwrap_or_default(), lead.customer_id.as_deref().unwrap_or_default());
    match allowed {
        Some(allowed) if !allowed.iter().any(|ids| ids.bot_id == bot_id && ids.customer_id == customer_id) => {
            let rule = format!("this proxy does not write leads for botId {bot_id:?} with customerId {customer_id:?}");
            let mut error = ApiError::fields(vec![
                FieldError::new("botId", rule.clone()),
                FieldError::new("customerId", rule.clone()),
            ]);
            error.status = StatusCode::FORBIDDEN;
            error.message = format!("botId/customerId: {rule}");
            Err(error)
        }
        _ => Ok(()),
    }
}

/// 401 when the update sets name, email or phone without a valid visitor token.
fn check_visitor(key: &VisitorKey, token: Option<&str>, lead: &Lead) -> Result<(), ApiError> {
    if !visitor::touches_identity(lead) {
        return Ok(());
    }
    let uuid = lead.uuid.as_deref().unwrap_or_default();
    key.verify(token, uuid, visitor::unix_now()).map_err(|err| {
        let mut error = ApiError::field(StatusCode::UNAUTHORIZED, "visitorToken", err.to_string());
        error.message = format!("visitorToken: {} ({err})", err.reason());
        error
    })
}

/// `GET /healthz`: the process answers.
async fn healthz() -> Response {
    json_response(StatusCode::OK, &json!({"ok": true}))
}

/// `GET /readyz`: 200 when the upstream accepts a TCP connection, else 503.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let breaker_open = state.breaker.is_open();
    match state.upstream.reachable(READY_TIMEOUT).await {
        Ok(()) => {
            json_response(StatusCode::OK, &json!({"ok": true, "upstream": "reachable", "breakerOpen": breaker_open}))
        }
        Err(reason) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, reason).into_response(),
    }
}

/// `GET /metrics`: Prometheus text format.
async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    let text = state.metrics.render(state.breaker.is_open());
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], text)
        .into_response()
}

/// `GET /openapi.json`: the OpenAPI 3 document of these routes.
async fn openapi(State(state): State<Arc<AppState>>) -> Response {
    json_response(StatusCode::OK, &crate::openapi::document(state.demo))
}

/// The fallback without a `--www` folder.
async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not found")
}

/// `GET /demo/chaos`: the embedded mock's failure injection now.
async fn get_chaos(State(state): State<Arc<AppState>>) -> Response {
    match &state.chaos {
        Some(chaos) => json_response(StatusCode::OK, &json!({"chaos": chaos.get()})),
        None => ApiError::new(StatusCode::NOT_FOUND, "no embedded mock to inject failures into").into_response(),
    }
}

/// `PUT /demo/chaos` with `{failRate, hangRate, maxDelayMs}`: changes it.
async fn put_chaos(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let Some(chaos) = &state.chaos else {
        return ApiError::new(StatusCode::NOT_FOUND, "no embedded mock to inject failures into").into_response();
    };
    // An object only: serde's derive would also take an array of the fields in order.
    let settings = serde_json::from_slice::<Value>(&body)
        .map_err(|err| format!("body: {err}"))
        .and_then(|value| if value.is_object() { Ok(value) } else { Err("body: must be a JSON object".to_string()) })
        .and_then(|value| serde_json::from_value::<ChaosSettings>(value).map_err(|err| format!("body: {err}")))
        .and_then(|settings| settings.check().map(|()| settings));
    match settings {
        Ok(settings) => {
            chaos.set(settings);
            json_response(StatusCode::OK, &json!({"chaos": settings}))
        }
        Err(message) => ApiError::new(StatusCode::BAD_REQUEST, message).into_response(),
    }
}

/// `GET /demo/leads?botId&customerId&type=lead|non-lead|all`: every page of the
/// upstream's chats list, as `{"leads":[…]}` sorted by `createdAt` then `_id`.
async fn demo_leads(
    State(state): State<Arc<AppState>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "query: is not valid"))?;
    let required = |name: &str| {
        query
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::fields(vec![FieldError::new(name, "is required")]))
    };
    let bot_id = required("botId")?;
    let customer_id = required("customerId")?;
    let kinds: &[&str] = match query.get("type").map(String::as_str).unwrap_or("all") {
        "all" => &["lead", "non-lead"],
        "lead" => &["lead"],
        "non-lead" => &["non-lead"],
        _ => return Err(ApiError::fields(vec![FieldError::new("type", "must be \"lead\", \"non-lead\" or \"all\"")])),
    };
    let mut leads: Vec<Value> = Vec::new();
    for kind in kinds {
        for page in 1..=MAX_DEMO_PAGES {
            let records = state.upstream.list_chats(bot_id, customer_id, page as u64, kind).await?;
            let full = records.len() >= crate::mock::PAGE_SIZE;
            leads.extend(records);
            if !full {
                break;
            }
        }
    }
    let sort_key = |record: &Value| {
        (record["createdAt"].as_str().unwrap_or("").to_string(), record["_id"].as_str().unwrap_or("").to_string())
    };
    leads.sort_by_key(sort_key);
    Ok(json_response(StatusCode::OK, &json!({"leads": leads})))
}
