//! The proxy's routes: `PUT /lead`, `GET /healthz`, `GET /demo/leads` (mock mode only)
//! and, optionally, a folder of static files as the fallback.

use crate::error::{json_errors, json_response, ApiError};
use crate::forward::UpstreamClient;
use crate::server::{self, ServerHandle};
use crate::Secret;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use reekolect_lead::{parse_lead, validate_lead, FieldError, Lead};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;
use tracing::Span;

/// Largest `PUT /lead` body accepted, in bytes (64 KiB); larger ones get a 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long the proxy waits for the upstream before answering 504.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// Most pages `GET /demo/leads` reads per type, as a bound on one request's work.
const MAX_DEMO_PAGES: usize = 500;

/// What the proxy's router needs.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Base URL of the Reekolect API (or of the mock), without a trailing slash.
    pub upstream: String,
    /// Sent as `x-bp-token` (and `x-bot-token` for `/demo/leads`); never answered or logged.
    pub token: Secret,
    /// Upstream timeout (default [`UPSTREAM_TIMEOUT`]).
    pub timeout: Duration,
    /// Whether `GET /demo/leads` exists: only when the upstream is the embedded mock,
    /// since it lists every lead to anyone who asks.
    pub demo: bool,
    /// A folder served as the fallback (its `index.html` for directories).
    pub www: Option<PathBuf>,
    /// Origins allowed by CORS; empty means any origin.
    pub allow_origins: Vec<HeaderValue>,
}

impl ProxyConfig {
    /// A configuration forwarding to `upstream` with `token`; default timeout, no demo
    /// route, no static files, any origin.
    pub fn new(upstream: impl Into<String>, token: Secret) -> Self {
        Self {
            upstream: upstream.into(),
            token,
            timeout: UPSTREAM_TIMEOUT,
            demo: false,
            www: None,
            allow_origins: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct AppState {
    upstream: UpstreamClient,
}

/// The proxy as an axum router (CORS and one log line per request included).
pub fn router(config: ProxyConfig) -> Router {
    let state = Arc::new(AppState {
        upstream: UpstreamClient::new(&config.upstream, config.token.clone(), config.timeout),
    });

    let mut api = Router::new()
        .route(
            "/lead",
            put(put_lead).layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES)),
        )
        .route("/healthz", get(healthz));
    if config.demo {
        api = api.route("/demo/leads", get(demo_leads));
    }
    let mut app = api.with_state(state).layer(map_response(json_errors));
    app = match config.www {
        Some(dir) => app.fallback_service(ServeDir::new(dir)),
        None => app.fallback(not_found),
    };

    let origins = if config.allow_origins.is_empty() {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(config.allow_origins)
    };
    let cors = CorsLayer::new()
        .allow_methods([Method::PUT, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE])
        .allow_origin(origins)
        .max_age(Duration::from_secs(600));

    app.layer(cors).layer(
        TraceLayer::new_for_http()
            .make_span_with(|request: &Request<Body>| {
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                )
            })
            .on_request(())
            .on_response(log_response)
            .on_failure(()),
    )
}

/// Serves the proxy ([`router`]) on `listener`, on a new tokio task.
pub fn spawn(listener: TcpListener, config: ProxyConfig) -> io::Result<ServerHandle> {
    server::spawn_router(listener, router(config))
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
    let lead =
        parse_lead(&mut serde_json::Deserializer::from_slice(body)).map_err(|err| vec![err])?;
    validate_lead(lead)
}

/// `PUT /lead`: validate, normalise, forward with the token, relay the answer.
async fn put_lead(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    match read_lead(&body) {
        Ok(lead) => state.upstream.put_lead(&lead).await,
        Err(errors) => ApiError::fields(errors).into_response(),
    }
}

/// `GET /healthz`.
async fn healthz() -> Response {
    json_response(StatusCode::OK, &json!({"ok": true}))
}

/// The fallback without a `--www` folder.
async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not found")
}

/// `GET /demo/leads?botId&customerId&type=lead|non-lead|all`: every page of the
/// upstream's chats list, as `{"leads":[…]}` sorted by `createdAt` then `_id`.
async fn demo_leads(
    State(state): State<Arc<AppState>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "query: is not valid"))?;
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
        _ => {
            return Err(ApiError::fields(vec![FieldError::new(
                "type",
                "must be \"lead\", \"non-lead\" or \"all\"",
            )]))
        }
    };
    let mut leads: Vec<Value> = Vec::new();
    for kind in kinds {
        for page in 1..=MAX_DEMO_PAGES {
            let records = state
                .upstream
                .list_chats(bot_id, customer_id, page as u64, kind)
                .await?;
            let full = records.len() >= crate::mock::PAGE_SIZE;
            leads.extend(records);
            if !full {
                break;
            }
        }
    }
    let sort_key = |record: &Value| {
        (
            record["createdAt"].as_str().unwrap_or("").to_string(),
            record["_id"].as_str().unwrap_or("").to_string(),
        )
    };
    leads.sort_by_key(sort_key);
    Ok(json_response(StatusCode::OK, &json!({"leads": leads})))
}
