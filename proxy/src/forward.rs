//! The HTTP client side: calls to the upstream Reekolect API (real or mock), over http or
//! https, on pooled connections ([`crate::pool`]: hyper's HTTP/1 client over rustls; see
//! [`crate::trust`] for what is trusted).
//!
//! What is sent where: only to the configured upstream's origin. A `3xx` is never followed
//! (the token and the visitor's data would go wherever it points): it is answered 502
//! `upstream redirected to <origin>`. A request is tried again only when none of it reached
//! the wire: a pooled connection found closed before writing or a failed connect (once);
//! never after its bytes went out (the API appends notes, so a repeated PUT could add one
//! twice).
//!
//! Every upstream answer has a defined relay (the table in `proxy/README.md`).

use crate::bodies::BodyError;
use crate::breaker::Breaker;
use crate::egress::Egress;
use crate::error::{json_response, ApiError};
use crate::metrics::Metrics;
use crate::pool::{CallError, Pool, MAX_UPSTREAM_BODY};
use crate::resolver::SharedResolver;
use crate::trust::{tls_failure, Trust};
use crate::watchdog::{deadline, within, Limit, Watched};
use crate::Secret;
use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER, USER_AGENT};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use reekolect_lead::Lead;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest upstream text relayed in a wrapped message, in characters.
const MAX_RELAYED_TEXT: usize = 300;

/// The header of the token for `PUT /inbox/direct/lead`.
const BP_TOKEN: HeaderName = HeaderName::from_static("x-bp-token");
/// The header of the token for `GET /inbox/direct/chats`.
const BOT_TOKEN: HeaderName = HeaderName::from_static("x-bot-token");

/// Our `User-Agent` upstream.
const AGENT: &str = concat!("reekolect-proxy/", env!("CARGO_PKG_VERSION"));

/// A client for one upstream base URL and token.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamClient {
    pool: Pool,
    /// The connector under TLS, for where a connection goes first ([`Self::reachable`]).
    egress: Egress,
    base: String,
    /// `<base>/inbox/direct/lead`.
    lead_uri: Uri,
    token: Secret,
    /// The token as a header value, marked sensitive.
    token_header: Option<HeaderValue>,
    timeout: Duration,
    breaker: Arc<Breaker>,
    metrics: Arc<Metrics>,
    /// This client's number, for [`LAST_CLEAN_JSON`].
    id: u64,
    /// Causes of failure already logged (a few at most): each is logged once.
    logged: Arc<Mutex<Vec<String>>>,
}

/// A client's number, different for every client made.
static NEXT_CLIENT: AtomicU64 = AtomicU64::new(0);

thread_local! {    /// The last upstream answer this thread found to be JSON without the token, with the
    /// number of the client (whose token) it was checked for: an answer with the same bytes
    /// (the upstream answers most updates alike) is relayed without checking it again.
    static LAST_CLEAN_JSON: RefCell<Option<(u64, Bytes)>> = const { RefCell::new(None) };
}

/// An upstream's answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Its status (never 1xx or 3xx).
    pub(crate) status: StatusCode,
    content_type: Option<HeaderValue>,
    retry_after: Option<HeaderValue>,
    /// Its body, at most [`MAX_UPSTREAM_BODY`] bytes.
    pub(crate) body: Bytes,
}

/// Why an upstream call got no usable answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No connection, the request could not be sent, or no answer head came.
    Unreachable(CallError),
    /// A `3xx`, not followed, with its `Location` if any.
    Redirected(Option<String>),
    /// A `1xx` as the final answer (`101 Switching Protocols` to a plain request).
    Interim(StatusCode),
    /// The answer's body is larger than [`MAX_UPSTREAM_BODY`].
    TooLarge,
    /// The body did not come whole (closed, reset, broken chunked framing).
    Body,
    /// No answer (head) within the timeout.
    TimedOut,
    /// The head came, the body did not within the timeout.
    ReadTimedOut,
}

impl UpstreamClient {
    /// A client for `base` (no trailing slash), sending `token`, trusting `trust`, giving up
    /// after `timeout`, reporting to `breaker` and `metrics`. Connections are pooled and kept alive.
    pub(crate) fn new(
        base: &str,
        token: Secret,
        timeout: Duration,
        breaker: Arc<Breaker>,
        metrics: Arc<Metrics>,
        trust: &Trust,
    ) -> Self {
        let base = base.trim_end_matches('/').to_string();
        let mut connector = HttpConnector::new_with_resolver(SharedResolver::default());
        connector.enforce_http(false);
        connector.set_nodelay(true);
        connector.set_keepalive(Some(Duration::from_secs(30)));
        connector.set_connect_timeout(Some(timeout.min(Duration::from_secs(3))));
        let egress = Egress::new(connector);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(trust.client_config())
            .https_or_http()
            .enable_http1()
            .wrap_connector(egress.clone());
        let lead_uri = format!("{base}/inbox/direct/lead").parse().unwrap_or_else(|_| Uri::from_static("/"));
        let token_header = HeaderValue::from_str(token.expose()).ok().map(|mut value| {
            value.set_sensitive(true);
            value
        });
        let id = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed);
        Self {
            pool: Pool::new(https, &lead_uri),
            egress,
            base,
            lead_uri,
            token,
            token_header,
            timeout,
            breaker,
            metrics,
            id,
            logged: Arc::default(),
        }
    }

    /// `PUT <base>/inbox/direct/lead` with `x-bp-token`; the upstream's answer relayed as the
    /// table in `proxy/README.md` says. While the circuit breaker is open the answer is a 503
    /// without calling the upstream.
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
        let body = match self.breaker.check() {
            Err(wait) => Err(wait),
            Ok(()) => {
                let mut body = Vec::with_capacity(512);
                crate::wire::write_lead(&mut body, lead, plain);
                Ok(Bytes::from(body))
            }
        };
        async move {
            match body {
                Err(wait) => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "upstream unavailable: too many recent failures, not calling it for a while",
                )
                .with_retry_after(wait.as_secs().max(1))
                .into_response(),
                Ok(body) => Box::pin(self.put(body, watched)).await,
            }
        }
    }

    /// The PUT itself: the whole exchange (the answer's body too) within the upstream timeout.
    /// The metrics and the breaker count the call once its head came (or it failed before):
    /// a 5xx or no answer is a failure.
    async fn put(&self, body: Bytes, watched: Option<&Watched>) -> Response {
        let started = Instant::now();
        let mut head = None;
        let request = self.request(Method::PUT, self.lead_uri.clone(), BP_TOKEN, Some(body));
        let exchange = self.exchange(request, &mut head);
        let outcome = within(watched, Limit::Upstream, deadline(started, self.timeout), exchange).await;
        match head {
            Some((status, at)) => self.record_latency(at - started, status.is_server_error()),
            None => self.record_latency(started.elapsed(), true),
        }
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(_) if head.is_some() => Err(Failure::ReadTimedOut),
            Err(_) => Err(Failure::TimedOut),
        };
        match outcome {
            Ok(answer) => self.relay(answer),
            Err(failure) => self.failure(failure).into_response(),
        }
    }

    /// A request to the upstream with the token in `token_header`, and `json` as its body.
    fn request(&self, method: Method, uri: Uri, token_header: HeaderName, json: Option<Bytes>) -> Request<Full<Bytes>> {
        // Room for these and the `Host` and `content-length` added on the way: never grown.
        let mut headers = HeaderMap::with_capacity(8);
        if let Some(token) = &self.token_header {
            headers.insert(token_header, token.clone());
        }
        if json.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        headers.insert(USER_AGENT, HeaderValue::from_static(AGENT));
        let mut request = Request::new(Full::new(json.unwrap_or_default()));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        request
    }

    /// Sends `request` and reads the answer; `head` is set to its status and time once its
    /// head came.
    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
        head: &mut Option<(StatusCode, Instant)>,
    ) -> Result<Answer, Failure> {
        let (answer_head, body) = self.pool.send(request, self.timeout).await.map_err(Failure::Unreachable)?;
        let status = answer_head.status;
        *head = Some((status, Instant::now()));
        if status.is_redirection() {
            let location = answer_head.headers.get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
            return Err(Failure::Redirected(location));
        }
        if status.is_informational() {
            return Err(Failure::Interim(status));
        }
        let body = match body.read_whole(MAX_UPSTREAM_BODY).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => return Err(Failure::TooLarge),
            Err(BodyError::Broken) => return Err(Failure::Body),
        };
        Ok(Answer {
            status,
            content_type: answer_head.headers.get(CONTENT_TYPE).cloned(),
            retry_after: answer_head.headers.get(RETRY_AFTER).cloned(),
            body,
        })
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

    /// The upstream's answer as ours (the table in `proxy/README.md`): JSON relayed as it
    /// came (the token scrubbed); a 2xx without JSON as a success saying so; an error without
    /// JSON as our error body naming its status, type and size, never its text. `Retry-After`
    /// of a 429 or 503 is relayed.
    pub(crate) fn relay(&self, answer: Answer) -> Response {
        let Answer { status, content_type, retry_after, body } = answer;
        let mut response = match self.json_without_token(body.clone()) {
            Some(json) => raw_json_response(status, Body::from(json)),
            None => {
                let what = describe_body(content_type.as_ref(), body.len());
                let code = status.as_u16();
                if status.is_success() {
                    // 204 and 205 cannot carry a body: answered 200, the upstream's status in it.
                    let relayed = if matches!(code, 204 | 205) { StatusCode::OK } else { status };
                    let message = format!("upstream sent no JSON: answered {code} ({what})");
                    json_response(relayed, &json!({"success": true, "code": code, "message": message}))
                } else {
                    let message = format!("upstream answered {code} ({what})");
                    json_response(status, &json!({"success": false, "code": code, "message": message}))
                }
            }
        };
        if matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
            if let Some(value) = retry_after.filter(valid_retry_after) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
        }
        response
    }

    /// `body` when it is JSON, the token replaced by `[redacted]` if it holds it.
    fn json_without_token(&self, body: Bytes) -> Option<Bytes> {
        let known =
            LAST_CLEAN_JSON.with_borrow(|last| last.as_ref().is_some_and(|(id, last)| *id == self.id && *last == body));
        if known {
            return Some(body);
        }
        serde_json::from_slice::<serde::de::IgnoredAny>(&body).ok()?;
        let token = self.token.expose();
        let text = std::str::from_utf8(&body).ok()?;
        if token.is_empty() || !text.contains(token) {
            LAST_CLEAN_JSON.set(Some((self.id, body.clone())));
            return Some(body);
        }
        Some(Bytes::from(self.scrub(text.to_string())))
    }

    /// Whether the upstream (or the egress proxy in front of it) accepts a TCP connection
    /// within `within`.
    pub(crate) async fn reachable(&self, within: Duration) -> Result<(), String> {
        let first_hop = match self.egress.proxy_for(&self.lead_uri) {
            Some(proxy) => proxy.to_string(),
            None => self.base.clone(),
        };
        let url = url::Url::parse(&first_hop).map_err(|err| err.to_string())?;
        let host = url.host_str().ok_or("no host")?.trim_matches(['[', ']']).to_string();
        let port = url.port_or_known_default().ok_or("no port")?;
        match tokio::time::timeout(within, tokio::net::TcpStream::connect((host, port))).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(format!("upstream unreachable: {err}")),
            Err(_) => Err(format!("upstream unreachable: no connection within {}", humantime::format_duration(within))),
        }
    }

    /// One page of `GET <base>/inbox/direct/chats` with `x-bot-token`, within the timeout.
    pub(crate) async fn chats_page(
        &self,
        bot_id: &str,
        customer_id: &str,
        page: u64,
        kind: &str,
    ) -> Result<Answer, Failure> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("botId", bot_id)
            .append_pair("customerId", customer_id)
            .append_pair("page", &page.to_string())
            .append_pair("type", kind)
            .finish();
        let uri: Uri = format!("{}/inbox/direct/chats?{query}", self.base).parse().map_err(|_| Failure::Body)?;
        let request = self.request(Method::GET, uri, BOT_TOKEN, None);
        let mut head = None;
        let outcome = tokio::time::timeout(self.timeout, self.exchange(request, &mut head)).await;
        match outcome {
            Ok(outcome) => outcome,
            Err(_) if head.is_some() => Err(Failure::ReadTimedOut),
            Err(_) => Err(Failure::TimedOut),
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
        let answer = self.chats_page(bot_id, customer_id, page, kind).await.map_err(|err| self.failure(err))?;
        let status = answer.status;
        let text = self.scrub(String::from_utf8_lossy(&answer.body).into_owned());
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

    /// Our answer to a failed call (502 or 504), naming its cause (never the token, never
    /// the URL beyond its origin); a redirect or a TLS failure is logged once per cause.
    pub(crate) fn failure(&self, failure: Failure) -> ApiError {
        ApiError::new(failure.status(), self.describe(failure))
    }

    /// The message of [`Self::failure`].
    pub(crate) fn describe(&self, failure: Failure) -> String {
        match failure {
            Failure::Unreachable(err) => match tls_failure(&err) {
                Some(reason) => {
                    self.log_once(&reason);
                    format!("upstream unreachable: {reason}")
                }
                None => format!("upstream unreachable: {}", self.scrub(root_cause(&err))),
            },
            Failure::Redirected(location) => {
                let message = match redirect_origin(&self.base, location.as_deref()) {
                    Some(origin) => format!("upstream redirected to {origin}"),
                    None => "upstream redirected without a valid location".to_string(),
                };
                let message = self.scrub(message);
                self.log_once(&format!("{message} (not followed; nothing was sent there)"));
                message
            }
            Failure::Interim(status) => {
                format!("upstream answered {} ({}), which is not a final answer", status.as_u16(), reason(status))
            }
            Failure::TooLarge => format!("upstream answer is larger than {MAX_UPSTREAM_BODY} bytes"),
            Failure::Body => "upstream closed the connection while answering".to_string(),
            Failure::TimedOut => {
                format!("upstream timeout: no answer within {}", humantime::format_duration(self.timeout))
            }
            Failure::ReadTimedOut => "upstream timeout while reading its answer".to_string(),
        }
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

impl Failure {
    /// 504 for the timeouts, else 502.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Failure::TimedOut | Failure::ReadTimedOut => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    /// Whether trying again later may help (no answer, cut off, too slow); a redirect, an
    /// interim or oversized answer would come again.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Failure::Unreachable(err) => tls_failure(err).is_none(),
            Failure::Body | Failure::TimedOut | Failure::ReadTimedOut => true,
            Failure::Redirected(_) | Failure::Interim(_) | Failure::TooLarge => false,
        }
    }
}

/// The innermost cause of `err` ("Connection refused"): the clients' own messages only say
/// that sending failed.
pub(crate) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// `<type>, <n> bytes` of an answer's body, its type reduced to the media type.
fn describe_body(content_type: Option<&HeaderValue>, len: usize) -> String {
    let media = content_type
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or("").trim())
        .filter(|media| !media.is_empty() && media.len() <= 100 && media.bytes().all(|b| b.is_ascii_graphic()));
    let unit = if len == 1 { "byte" } else { "bytes" };
    match media {
        Some(media) => format!("{media}, {len} {unit}"),
        None => format!("no content type, {len} {unit}"),
    }
}

/// The status's reason phrase, lower case.
fn reason(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("unknown").to_ascii_lowercase()
}

/// A `Retry-After` worth relaying: delay seconds or an HTTP date, short and printable.
fn valid_retry_after(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= 64 && bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
}

/// The origin (`scheme://host[:port]`) a redirect's `location` points to, resolved against
/// `base`; `None` without a location or when it is not a URL with a host.
pub(crate) fn redirect_origin(base: &str, location: Option<&str>) -> Option<String> {
    let base = url::Url::parse(base).ok()?;
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
    use super::{Answer, UpstreamClient};
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
            &crate::trust::Trust::default(),
        )
    }

    async fn relayed(client: &UpstreamClient, body: &'static str) -> String {
        let answer = Answer {
            status: StatusCode::OK,
            content_type: None,
            retry_after: None,
            body: Bytes::from_static(body.as_bytes()),
        };
        let response = client.relay(answer);
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
        // Not JSON: never remembered, described each time (never echoed).
        let described = r#""message":"upstream sent no JSON: answered 200 (no content type, 8 bytes)""#;
        assert!(relayed(&first, "not json").await.contains(described));
        assert!(relayed(&first, "not json").await.contains(described));
    }
}
