//! The HTTP client side: calls to the upstream Reekolect API (real or mock).

use crate::breaker::Breaker;
use crate::direct::{DirectPut, Failure, Progress, PutRequest};
use crate::error::{json_response, ApiError};
use crate::metrics::Metrics;
use crate::watchdog::{deadline, within, Limit, Watched};
use crate::Secret;
use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use reekolect_lead::Lead;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest upstream answer read, in bytes.
const MAX_UPSTREAM_BODY: usize = 1024 * 1024;
/// Longest upstream text relayed in a wrapped message, in characters.
const MAX_RELAYED_TEXT: usize = 300;

/// Our `User-Agent` upstream.
const AGENT: &str = concat!("reekolect-proxy/", env!("CARGO_PKG_VERSION"));

/// A client for one upstream base URL and token.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamClient {
    http: reqwest::Client,
    /// The lead PUT over [`DirectPut`] (our own HTTP/1.1 client), for a plain-http upstream reached without
    /// a proxy (the mock, a sidecar); `None` sends it with reqwest (https, proxies).
    direct: Option<Arc<DirectPut>>,
    base: String,
    token: Secret,
    timeout: Duration,
    breaker: Arc<Breaker>,
    metrics: Arc<Metrics>,
    /// This client's number, for [`LAST_CLEAN_JSON`].
    id: u64,
    /// Causes of failure already logged (a few at most): each is logged once.
    logged: Arc<std::sync::Mutex<Vec<String>>>,
}

/// A client's number, different for every client made.
static NEXT_CLIENT: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The last upstream answer this thread found to be JSON without the token, with the
    /// number of the client (whose token) it was checked for: an answer with the same bytes
    /// (the upstream answers most updates alike) is relayed without checking it again.
    static LAST_CLEAN_JSON: RefCell<Option<(u64, Bytes)>> = const { RefCell::new(None) };
}

impl UpstreamClient {
    /// A client for `base` (no trailing slash), sending `token`, giving up after `timeout`,
    /// reporting to `breaker` and `metrics`. Connections are pooled and kept alive.
    pub(crate) fn new(
        base: &str,
        token: Secret,
        timeout: Duration,
        breaker: Arc<Breaker>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let base = base.trim_end_matches('/').to_string();
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_nodelay(true)
            // Never follow a redirect: the token and the visitor's data would go to
            // wherever it points (reqwest only strips the headers it knows, not ours).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(AGENT);
        if is_loopback(&base) {
            // The embedded mock and test upstreams must not go through a system proxy.
            builder = builder.no_proxy();
        }
        let http = builder.build().expect("the HTTP client's TLS backend is built in");
        let direct = direct_put(&base, &token, timeout).map(Arc::new);
        let id = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed);
        Self { http, direct, base, token, timeout, breaker, metrics, id, logged: Arc::default() }
    }

    /// `PUT <base>/inbox/direct/lead` with `x-bp-token`; the upstream's status and JSON
    /// body relayed (a non-JSON body wrapped as an [`ApiError`] body). A connection error
    /// is retried once (the PUT is idempotent and nothing was sent); while the circuit
    /// breaker is open the answer is a 503 without calling the upstream.
    /// `plain`: the lead's strings need no escaping as JSON (see [`crate::wire::write_lead`]).
    ///
    /// The lead is written out before this returns: the future holds the request's bytes,
    /// not the lead, which the caller may drop (a future is moved and copied whole, and
    /// every field it holds across an `await` makes it bigger).
    pub(crate) fn put_lead<'a>(
        &'a self,
        lead: &Lead,
        plain: bool,
        watched: Option<&'a Watched>,
    ) -> impl Future<Output = Response> + 'a {
        enum Put<'a> {
            Unavailable(Duration),
            Direct(&'a DirectPut, PutRequest),
            Reqwest(Bytes),
        }
        let put = match (self.breaker.check(), &self.direct) {
            (Err(wait), _) => Put::Unavailable(wait),
            (Ok(()), Some(direct)) => {
                Put::Direct(direct, direct.request(|out| crate::wire::write_lead(out, lead, plain)))
            }
            (Ok(()), None) => {
                let mut body = Vec::with_capacity(512);
                crate::wire::write_lead(&mut body, lead, plain);
                Put::Reqwest(Bytes::from(body))
            }
        };
        async move {
            let started = Instant::now();
            match put {
                Put::Unavailable(wait) => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "upstream unavailable: too many recent failures, not calling it for a while",
                )
                .with_retry_after(wait.as_secs().max(1))
                .into_response(),
                Put::Direct(direct, request) => self.put_direct(direct, &request, started, watched).await,
                // Boxed: reqwest's future is the bigger one and only serves https upstreams.
                Put::Reqwest(body) => Box::pin(self.put_with_reqwest(body, started)).await,
            }
        }
    }

    /// Counts one upstream call in the metrics and the breaker.
    fn record(&self, started: Instant, failed: bool) {
        self.record_latency(started.elapsed(), failed);
    }

    /// Counts one upstream call that took `latency`.
    fn record_latency(&self, latency: Duration, failed: bool) {
        self.metrics.upstream(latency, failed);
        if failed {
            self.breaker.failure();
        } else {
            self.breaker.success();
        }
    }

    /// [`Self::put_lead`] over [`DirectPut`]: the whole exchange (both tries, the answer's
    /// body) within the upstream timeout. The metrics and the breaker count the call once its
    /// head came (or it failed before): a 5xx or no answer is a failure.
    async fn put_direct(
        &self,
        direct: &DirectPut,
        request: &PutRequest,
        started: Instant,
        watched: Option<&Watched>,
    ) -> Response {
        let mut progress = Progress::default();
        let exchange = direct.put(request, MAX_UPSTREAM_BODY, &mut progress, started);
        let outcome = within(watched, Limit::Upstream, deadline(started, self.timeout), exchange).await;
        match progress.head {
            Some((status, at)) => self.record_latency(at - started, status.is_server_error()),
            None => self.record(started, true),
        }
        match outcome {
            Ok(Ok((status, answer))) => self.relay_body(status, answer),
            Ok(Err(Failure::TooLarge)) => too_large().into_response(),
            Ok(Err(Failure::Redirected(location))) => self.redirected(location.as_deref()).into_response(),
            Ok(Err(Failure::Body)) => closed_while_answering().into_response(),
            Ok(Err(failure)) => {
                let cause = self.scrub(failure.cause());
                ApiError::new(StatusCode::BAD_GATEWAY, format!("upstream unreachable: {cause}")).into_response()
            }
            Err(_) if progress.head.is_some() => read_timed_out().into_response(),
            Err(_) => self.timed_out().into_response(),
        }
    }

    /// [`Self::put_lead`] with reqwest. A connection error is retried once.
    async fn put_with_reqwest(&self, body: Bytes, started: Instant) -> Response {
        let mut sent = self.send_put(body.clone()).await;
        if matches!(&sent, Err(err) if err.is_connect()) {
            sent = self.send_put(body).await;
        }
        let failed = sent.as_ref().map_or(true, |upstream| upstream.status().is_server_error());
        self.record(started, failed);
        match sent {
            Ok(upstream) => self.relay(upstream).await,
            Err(err) => self.failure(&err).into_response(),
        }
    }

    async fn send_put(&self, body: Bytes) -> reqwest::Result<reqwest::Response> {
        self.http
            .put(format!("{}/inbox/direct/lead", self.base))
            .header("x-bp-token", self.token.expose())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await
    }

    /// The upstream's answer as ours.
    async fn relay(&self, upstream: reqwest::Response) -> Response {
        if upstream.status().is_redirection() {
            let location = upstream.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
            return self.redirected(location).into_response();
        }
        let status = StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        match read_capped(upstream).await {
            Ok(text) => self.relay_text(status, self.scrub(text)),
            Err(err) => err.into_response(),
        }
    }

    /// The upstream's answer as ours: JSON without the token relayed as it came (no copy,
    /// no re-serialisation), anything else through [`Self::relay_text`].
    fn relay_body(&self, status: StatusCode, body: Bytes) -> Response {
        let known =
            LAST_CLEAN_JSON.with_borrow(|last| last.as_ref().is_some_and(|(id, last)| *id == self.id && *last == body));
        if known {
            return raw_json_response(status, Body::from(body));
        }
        let token = self.token.expose();
        let clean = std::str::from_utf8(&body).is_ok_and(|text| token.is_empty() || !text.contains(token));
        if clean && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok() {
            LAST_CLEAN_JSON.set(Some((self.id, body.clone())));
            return raw_json_response(status, Body::from(body));
        }
        self.relay_text(status, self.scrub(String::from_utf8_lossy(&body).into_owned()))
    }

    /// A scrubbed upstream answer as ours: JSON relayed, other text wrapped in our error body.
    fn relay_text(&self, status: StatusCode, text: String) -> Response {
        match serde_json::from_str::<serde::de::IgnoredAny>(&text) {
            // Valid JSON is relayed as it came (no re-serialisation).
            Ok(_) => raw_json_response(status, Body::from(text)),
            Err(_) => {
                let message = if text.trim().is_empty() {
                    status.canonical_reason().unwrap_or("no message").to_string()
                } else {
                    truncate(text.trim(), MAX_RELAYED_TEXT)
                };
                json_response(status, &json!({"success": false, "code": status.as_u16(), "message": message}))
            }
        }
    }

    /// Whether the upstream accepts a TCP connection within `within`.
    pub(crate) async fn reachable(&self, within: Duration) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.base).map_err(|err| err.to_string())?;
        let host = url.host_str().ok_or("no host")?.trim_matches(['[', ']']).to_string();
        let port = url.port_or_known_default().ok_or("no port")?;
        match tokio::time::timeout(within, tokio::net::TcpStream::connect((host, port))).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(format!("upstream unreachable: {err}")),
            Err(_) => Err(format!("upstream unreachable: no connection within {}", humantime::format_duration(within))),
        }
    }

    /// One page of `GET <base>/inbox/direct/chats` with `x-bot-token`: its `data` records.
    pub(crate) async fn list_chats(
        &self,
        bot_id: &str,
        customer_id: &str,
        page: u64,
        kind: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let page = page.to_string();
        let upstream = self
            .http
            .get(format!("{}/inbox/direct/chats", self.base))
            .query(&[("botId", bot_id), ("customerId", customer_id), ("page", &page), ("type", kind)])
            .header("x-bot-token", self.token.expose())
            .send()
            .await
            .map_err(|err| self.failure(&err))?;
        let status = upstream.status();
        if status.is_redirection() {
            let location = upstream.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
            return Err(self.redirected(location));
        }
        let text = self.scrub(read_capped(upstream).await?);
        let body: Value = serde_json::from_str(&text).map_err(|_| {
            ApiError::new(StatusCode::BAD_GATEWAY, format!("upstream answered {status} with a body that is not JSON"))
        })?;
        if !status.is_success() {
            let message = body["message"].as_str().unwrap_or("no message");
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("upstream answered {status}: {}", truncate(message, MAX_RELAYED_TEXT)),
            ));
        }
        match body.get("data") {
            Some(Value::Array(records)) => Ok(records.clone()),
            _ => Err(ApiError::new(StatusCode::BAD_GATEWAY, "upstream answer has no data list")),
        }
    }

    /// 504 on a timeout, else 502, naming the root cause (never the token, never the URL's query).
    fn failure(&self, err: &reqwest::Error) -> ApiError {
        if err.is_timeout() {
            return self.timed_out();
        }
        self.unreachable(err)
    }

    /// The 502 for a `3xx`, which is never followed: it names the origin of its `Location`
    /// (resolved against the upstream's URL), never the whole URL. Logged once per origin.
    fn redirected(&self, location: Option<&str>) -> ApiError {
        let message = match redirect_origin(&self.base, location) {
            Some(origin) => format!("upstream redirected to {origin}"),
            None => "upstream redirected without a valid location".to_string(),
        };
        let message = self.scrub(message);
        self.log_once(&format!("{message} (not followed; nothing was sent there)"));
        ApiError::new(StatusCode::BAD_GATEWAY, message)
    }

    /// Logs `cause` as a warning the first time this client meets it.
    fn log_once(&self, cause: &str) {
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        if logged.len() < 64 && !logged.iter().any(|seen| seen == cause) {
            logged.push(cause.to_string());
            drop(logged);
            tracing::warn!("{cause}");
        }
    }

    /// The 504 when the upstream did not answer within the timeout.
    fn timed_out(&self) -> ApiError {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("upstream timeout: no answer within {}", humantime::format_duration(self.timeout)),
        )
    }

    /// The 502 naming the innermost cause ("Connection refused"): the clients' own
    /// messages only say that sending failed.
    fn unreachable(&self, err: &(dyn std::error::Error + 'static)) -> ApiError {
        let mut cause = err;
        while let Some(source) = cause.source() {
            cause = source;
        }
        let cause = cause.to_string();
        ApiError::new(StatusCode::BAD_GATEWAY, format!("upstream unreachable: {}", self.scrub(cause)))
    }

    /// Removes the token from text that came back from the upstream.
    fn scrub(&self, text: String) -> String {
        let token = self.token.expose();
        if token.is_empty() || !text.contains(token) {
            text
        } else {
            text.replace(token, "[redacted]")
        }
    }
}

/// Reads at most [`MAX_UPSTREAM_BODY`] bytes of the upstream's body as text.
async fn read_capped(mut upstream: reqwest::Response) -> Result<String, ApiError> {
    let mut body = Vec::new();
    loop {
        match upstream.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_UPSTREAM_BODY {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(err) if err.is_timeout() => return Err(read_timed_out()),
            Err(_) => return Err(closed_while_answering()),
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn too_large() -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, format!("upstream answer is larger than {MAX_UPSTREAM_BODY} bytes"))
}

fn read_timed_out() -> ApiError {
    ApiError::new(StatusCode::GATEWAY_TIMEOUT, "upstream timeout while reading its answer")
}

fn closed_while_answering() -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "upstream closed the connection while answering")
}

/// The lead PUT without reqwest, for an `http://` `base` when no proxy applies: loopback,
/// or no proxy variable set (reqwest honours `HTTP_PROXY`/`ALL_PROXY`; this client does
/// not). `None` otherwise, or when the token is not a valid header value.
fn direct_put(base: &str, token: &Secret, timeout: Duration) -> Option<DirectPut> {
    let proxied = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
    if !base.starts_with("http://") || (proxied && !is_loopback(base)) {
        return None;
    }
    let uri: Uri = format!("{base}/inbox/direct/lead").parse().ok()?;
    HeaderValue::from_str(token.expose()).ok()?;
    let headers = [("x-bp-token", token.expose()), ("content-type", "application/json"), ("user-agent", AGENT)];
    DirectPut::new(&uri, &headers, timeout.min(Duration::from_secs(3)))
}

/// The origin (`scheme://host[:port]`) a redirect's `location` points to, resolved against
/// `base`; `None` without a location or when it is not a URL with a host.
pub(crate) fn redirect_origin(base: &str, location: Option<&str>) -> Option<String> {
    let base = reqwest::Url::parse(base).ok()?;
    let target = base.join(location?.trim()).ok()?;
    target.host_str()?;
    Some(target.origin().ascii_serialization())
}

/// The first `max` characters of `text`, with "…" when cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_string() + "…",
        None => text.to_string(),
    }
}

/// Whether the URL's host is 127.0.0.1, ::1 or localhost.
fn is_loopback(base: &str) -> bool {
    reqwest::Url::parse(base).ok().and_then(|url| url.host_str().map(str::to_string)).is_some_and(|host| {
        host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

/// A response with `status` and `body` (already JSON).
fn raw_json_response(status: StatusCode, body: Body) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::UpstreamClient;
    use crate::breaker::Breaker;
    use crate::metrics::Metrics;
    use crate::Secret;
    use axum::body::Bytes;
    use axum::http::StatusCode;
    use std::sync::Arc;
    use std::time::Duration;

    fn client(token: &str) -> UpstreamClient {
        let breaker = Arc::new(Breaker::new(0, Duration::from_secs(1)));
        UpstreamClient::new(
            "http://127.0.0.1:9",
            Secret::new(token),
            Duration::from_secs(1),
            breaker,
            Arc::new(Metrics::default()),
        )
    }

    async fn relayed(client: &UpstreamClient, body: &'static str) -> String {
        let response = client.relay_body(StatusCode::OK, Bytes::from_static(body.as_bytes()));
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    /// An answer found clean for one client's token is not taken as clean for another's.
    #[tokio::test]
    async fn answers_known_clean_are_known_per_client() {
        let (first, second) = (client("first-token"), client("second-token"));
        let answer = r#"{"echo":"second-token"}"#;
        assert_eq!(relayed(&first, answer).await, answer);
        assert_eq!(relayed(&first, answer).await, answer);
        let scrubbed = relayed(&second, answer).await;
        assert!(!scrubbed.contains("second-token") && scrubbed.contains("[redacted]"), "{scrubbed}");
        // Not JSON: never remembered, wrapped each time.
        assert!(relayed(&first, "not json").await.contains(r#""message":"not json""#));
        assert!(relayed(&first, "not json").await.contains(r#""message":"not json""#));
    }
}
