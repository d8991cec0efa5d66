//! The proxy's routes: `PUT`/`POST /lead`, `GET /healthz`, `/readyz`, `/metrics`,
//! `/openapi.json`, `GET /demo/leads` and `/demo/chaos` (mock mode only) and, optionally, a
//! folder of static files as the fallback; with the layers every request goes through.
//! Each cross-cutting concern is one layer, in one place: request id ([`crate::request_id`]),
//! log line ([`crate::access_log`]), CORS ([`crate::cors`]), metrics ([`crate::metrics`]),
//! request timeout, JSON errors ([`crate::error`]); on `/lead` the per-IP limit
//! ([`crate::limits`]) and the body limit.
//!
//! The layers are composed by two functions ([`every_request`], [`answered`]), each applied
//! to the router once as a whole (one boxed service per group rather than per layer) and
//! to the `/lead` route's handlers for [`Routes::lead`], which `serve` answers `PUT`/`POST
//! /lead` with: the same layers, state and limiters, without the router's path matching.

use crate::chaos::ChaosSettings;
use crate::config::ProxyConfig;
use crate::error::{json_errors, json_response, ApiError};
use crate::lead_handler;
use crate::limits;
use crate::metrics::{self, Metrics};
use crate::server::{LeadService, Routes};
use crate::state::AppState;
use crate::timeout::RequestTimeoutLayer;
use crate::{access_log, cors, request_id};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter, Route};
use axum::Router;
use reekolect_lead::FieldError;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tower::layer::layer_fn;
use tower::{Service, ServiceBuilder};
use tower_http::limit::RequestBodyLimitLayer;

/// How long `/readyz` waits for a TCP connection to the upstream.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Most pages `GET /demo/leads` reads per type, as a bound on one request's work.
const MAX_DEMO_PAGES: usize = 500;

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

/// The handlers of one path of [`routed_paths`] but `/lead` ([`lead_route`]).
fn route(path: &str) -> MethodRouter<Arc<AppState>> {
    match path {
        "/healthz" => get(healthz),
        "/readyz" => get(readyz),
        "/metrics" => get(metrics_text),
        "/openapi.json" => get(openapi),
        "/demo/leads" => get(demo_leads),
        "/demo/chaos" => get(get_chaos).put(put_chaos),
        other => unreachable!("no handler for {other}"),
    }
}

/// `PUT`/`POST /lead` with its route layers: the per-IP limit and the body limit (outermost
/// first), around each handler and the route's `405` for other methods. Built once per
/// proxy: the router and [`Routes::lead`] share it, and so its per-IP limiter.
///
/// The layers wrap the handlers before they become the route's services, rather than
/// being laid on the finished route (`MethodRouter::layer`): that way boxes each layer's
/// service again, a boxed service (and boxed future) per layer on every request.
fn lead_route(config: &ProxyConfig, state: &Arc<AppState>) -> MethodRouter<Arc<AppState>> {
    let (per_minute, burst) = config.ip_limit;
    let layers = ServiceBuilder::new()
        .option_layer(limits::ip_layer(per_minute, burst, config.client_ip.clone()))
        .map_response(IntoResponse::into_response)
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes));
    MethodRouter::<Arc<AppState>, Infallible>::new()
        .layer(layers.clone())
        .put_service(layers.service(lead_handler::put_lead.with_state(state.clone())))
        .post_service(layers.service(lead_handler::post_lead.with_state(state.clone())))
}

/// The proxy as an axum router, with its layers (outermost first): request id, one log
/// line per request, CORS, metrics ([`every_request`]); request timeout, JSON errors
/// ([`answered`]); on `/lead` also the per-IP rate limit and the body limit. Every request,
/// `/lead` included, goes through it.
pub fn router(config: ProxyConfig) -> Router {
    routes(config).router
}

/// [`router`] and, sharing its state and layers, [`Routes::lead`].
pub(crate) fn routes(config: ProxyConfig) -> Routes<impl LeadService> {
    let state = Arc::new(AppState::new(&config));
    let metrics = state.metrics.clone();
    let lead = lead_route(&config, &state);
    let mut api = Router::new();
    for path in routed_paths(config.demo) {
        let handlers = if path == "/lead" { lead.clone() } else { route(path) };
        api = api.route(path, handlers);
    }
    let answering = {
        let config = config.clone();
        layer_fn(move |route: Route| answered(route, &config))
    };
    let mut app = api.with_state(state.clone()).layer(answering);
    app = match &config.www {
        Some(dir) => app.fallback_service(crate::www::files(dir)),
        None => app.fallback(not_found),
    };
    let outer = {
        let (config, metrics) = (config.clone(), metrics.clone());
        layer_fn(move |route: Route| every_request(route, &config, metrics.clone(), None))
    };
    let router = app.layer(outer);
    let lead = every_request(answered(lead.with_state(state), &config), &config, metrics, Some("/lead"));
    Routes { router, lead }
}

/// What every request goes through, outermost first: its id set and echoed ([`request_id`]),
/// its log line ([`access_log`]), CORS ([`cors`]), metrics ([`metrics::TrackLayer`], counted
/// under `route` for a service of that one route, else under the router's matched route).
fn every_request<S>(
    inner: S,
    config: &ProxyConfig,
    metrics: Arc<Metrics>,
    route: Option<&'static str>,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send + 'static> + Clone + Send + Sync + 'static
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .layer(request_id::RequestIdLayer)
        .layer(access_log::AccessLogLayer::default())
        .layer(cors::layer(&config.allow_origins))
        .layer(metrics::TrackLayer { metrics, route })
        .service(inner)
}

/// What every routed request goes through inside [`every_request`] (not the fallback),
/// outermost first: JSON errors ([`json_errors`]), the request timeout (408, [`crate::timeout`]).
fn answered<S>(
    inner: S,
    config: &ProxyConfig,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send + 'static> + Clone + Send + Sync + 'static
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let max_body = config.max_body_bytes;
    ServiceBuilder::new()
        .map_response(move |response| json_errors(max_body, response))
        .layer(RequestTimeoutLayer(config.request_timeout))
        .service(inner)
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
