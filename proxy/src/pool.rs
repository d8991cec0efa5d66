//! Upstream connections kept open for the next call: hyper's HTTP/1 connections
//! (`hyper::client::conn::http1`, over [`crate::egress`] and rustls) in a pool of each
//! worker thread's own.
//!
//! It stands in for hyper-util's legacy pooled client, which did the same with more: a pool
//! shared by every thread behind a lock, found by hashing the upstream's scheme and host
//! (SipHash) twice a call, a `Host` header formatted per call, and a race between waiting
//! for an idle connection and opening a new one, the loser kept, so a burst opened more
//! connections than it had requests in flight. Here a call takes the connection used last
//! on its thread (the warmest), or opens one when none is idle, so a thread never holds
//! more connections than it had calls at once. On the production-shape benchmark this cut
//! the proxy's instructions per request by about 8,400 (`docs/proxy-performance.md`).
//!
//! What is sent again: only a request none of which reached the wire. A connection taken
//! from the pool that turns out closed before the request was written gives the request
//! back, and it goes on another; a failed connect (not a TLS refusal) is tried once more.
//! Never a request whose bytes went out: the API appends notes.

use crate::bodies::{read_whole, BodyError};
use crate::egress::Egress;
use crate::trust::tls_failure;
use axum::body::Bytes;
use axum::http::header::HOST;
use axum::http::response::Parts;
use axum::http::uri::{PathAndQuery, Uri};
use axum::http::{HeaderValue, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// How upstream connections are made: TCP (directly or through the egress proxy), then
/// TLS for an https upstream.
pub(crate) type Connector = hyper_rustls::HttpsConnector<Egress>;

/// A connection's sending half; its other half is a task on the thread that opened it.
type Sender = SendRequest<Full<Bytes>>;

/// Largest upstream answer read, in bytes.
pub(crate) const MAX_UPSTREAM_BODY: usize = 1024 * 1024;

/// How long an idle connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Most idle connections a thread keeps to one upstream; more are closed as they come back.
const MAX_IDLE_PER_THREAD: usize = 256;

/// A pool's number, different for every pool made.
static NEXT_POOL: AtomicU64 = AtomicU64::new(0);

/// A thread's idle connections of one pool (its number, alive while a clone of it is), each
/// with the time it was given back, the one used last at the back.
type Idle = (u64, Weak<()>, VecDeque<(Instant, Sender)>);

thread_local! {
    /// This thread's idle connections of each live pool.
    static IDLE: RefCell<Vec<Idle>> = const { RefCell::new(Vec::new()) };
}

/// Connections to one upstream origin. Clones share the pool; each thread keeps its own
/// idle connections (a connection's task runs on the thread that opened it, so a shared
/// pool would pass calls from thread to thread). The idle connections of a pool whose last
/// clone is dropped are closed.
#[derive(Clone)]
pub(crate) struct Pool {
    connector: Connector,
    /// The upstream's origin, where connections go.
    origin: Uri,
    /// `Host` of every request: the origin's host, and its port when not the scheme's.
    host: HeaderValue,
    id: u64,
    alive: Arc<()>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("origin", &self.origin).finish_non_exhaustive()
    }
}

/// Why a call got no answer head.
#[derive(Debug)]
pub(crate) enum CallError {
    /// No connection could be made (TCP, the egress proxy's tunnel, or TLS).
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The request could not be sent, or no answer head came.
    Send(hyper::Error),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Connect(_) => f.write_str("upstream connection failed"),
            CallError::Send(_) => f.write_str("upstream request failed"),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Connect(err) => Some(&**err),
            CallError::Send(err) => Some(err),
        }
    }
}

/// An answer's body on its way, on the connection it came on. Read whole with
/// [`Body::read_whole`], the connection is given back for the next call. Dropped before (the
/// caller went away, or did not want the body: a redirect), the body is read and let go in a
/// task of its own, so the connection is not lost; a body too large or broken closes it.
pub(crate) struct Body<'a> {
    body: Option<Incoming>,
    sender: Option<Sender>,
    pool: &'a Pool,
    within: Duration,
}

impl Body<'_> {
    /// The whole body, at most `limit` bytes.
    pub(crate) async fn read_whole(mut self, limit: usize) -> Result<Bytes, BodyError> {
        let body = self.body.as_mut().expect("a body is read once");
        let read = read_whole(body, limit).await;
        let sender = self.sender.take();
        if read.is_ok() {
            if let Some(sender) = sender {
                self.pool.check_in(sender);
            }
        }
        read
    }
}

impl Drop for Body<'_> {
    fn drop(&mut self) {
        let (Some(body), Some(sender), Ok(runtime)) =
            (self.body.take(), self.sender.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(tokio::time::timeout(self.within, self.pool.clone().keep_after(body, sender)));
    }
}

impl Pool {
    /// A pool of connections to `upstream`'s origin (an http or https URL), made by `connector`.
    pub(crate) fn new(connector: Connector, upstream: &Uri) -> Self {
        let host = match (upstream.host(), upstream.port_u16()) {
            (Some(host), Some(port)) if Some(port) != default_port(upstream) => format!("{host}:{port}"),
            (Some(host), _) => host.to_string(),
            (None, _) => String::new(),
        };
        let origin = Uri::builder()
            .scheme(upstream.scheme_str().unwrap_or("http"))
            .authority(upstream.authority().map(|a| a.as_str()).unwrap_or(""))
            .path_and_query("/")
            .build()
            .unwrap_or_else(|_| Uri::from_static("http://invalid/"));
        Self {
            connector,
            origin,
            host: HeaderValue::from_str(&host).unwrap_or_else(|_| HeaderValue::from_static("invalid")),
            id: NEXT_POOL.fetch_add(1, Ordering::Relaxed),
            alive: Arc::new(()),
        }
    }

    /// Sends `request` (its URI absolute, to this pool's origin) on an idle connection or a
    /// new one, and gives its answer's head and its body to read. Gone before the answer was
    /// read (the caller's future dropped), the call is finished in a task of its own within
    /// `finish_within`, so its connection is not lost.
    pub(crate) async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
        finish_within: Duration,
    ) -> Result<(Parts, Body<'_>), CallError> {
        let path = request.uri().path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
        *request.uri_mut() = Uri::from(path);
        request.headers_mut().insert(HOST, self.host.clone());
        let mut connects_failed = 0;
        loop {
            let (mut sender, reused) = match self.check_out() {
                Some(sender) => (sender, true),
                // Boxed: a connect is rare, and its future inline would make every call's
                // future (moved as it is built) several times larger.
                None => match Box::pin(self.connect()).await {
                    Ok(sender) => (sender, false),
                    // Nothing was sent on a connection that could not be made; a TLS
                    // refusal would only be refused again.
                    Err(err) if connects_failed == 0 && tls_failure(&*err).is_none() => {
                        connects_failed += 1;
                        continue;
                    }
                    Err(err) => return Err(CallError::Connect(err)),
                },
            };
            let call = sender.try_send_request(request);
            match (Finishing { call: Some((Box::pin(call), sender)), pool: self, within: finish_within }).await {
                Ok((response, sender)) => {
                    let (head, body) = response.into_parts();
                    let body = Body { body: Some(body), sender: Some(sender), pool: self, within: finish_within };
                    return Ok((head, body));
                }
                Err(mut err) => match err.take_message() {
                    // Not written: the pooled connection had closed. A new connection that
                    // fails so is not tried again.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(CallError::Send(err.into_error())),
                },
            }
        }
    }

    /// The idle connection of this thread used last; the ones closed, idle too long or not
    /// ready for a request are let go.
    fn check_out(&self) -> Option<Sender> {
        let now = Instant::now();
        IDLE.with_borrow_mut(|pools| {
            let (_, _, idle) = pools.iter_mut().find(|(id, _, _)| *id == self.id)?;
            while let Some((since, sender)) = idle.pop_back() {
                if now.duration_since(since) < IDLE_TIMEOUT && sender.is_ready() {
                    return Some(sender);
                }
            }
            None
        })
    }

    /// Keeps `sender` for the next call once its connection is ready for one (at once,
    /// mostly: its task has seen the answer's end by the time the caller read it), unless it
    /// closed first or this thread keeps enough.
    fn check_in(&self, mut sender: Sender) {
        if sender.is_ready() {
            self.keep(sender);
        } else if !sender.is_closed() {
            let pool = self.clone();
            tokio::spawn(tokio::time::timeout(IDLE_TIMEOUT, async move {
                if sender.ready().await.is_ok() {
                    pool.keep(sender);
                }
            }));
        }
    }

    /// Adds `sender`, ready for a request, to this thread's idle connections.
    fn keep(&self, sender: Sender) {
        let now = Instant::now();
        IDLE.with_borrow_mut(|pools| {
            let at = match pools.iter().position(|(id, _, _)| *id == self.id) {
                Some(at) => at,
                None => {
                    pools.retain(|(_, alive, _)| alive.strong_count() > 0);
                    pools.push((self.id, Arc::downgrade(&self.alive), VecDeque::new()));
                    pools.len() - 1
                }
            };
            let idle = &mut pools[at].2;
            // The least used are at the front: those idle too long go first.
            while idle.front().is_some_and(|(since, _)| now.duration_since(*since) >= IDLE_TIMEOUT) {
                idle.pop_front();
            }
            if idle.len() < MAX_IDLE_PER_THREAD {
                idle.push_back((now, sender));
            }
        });
    }

    /// Reads `body`, an answer no caller waits for, and keeps its connection for the next
    /// call (a body too large or broken closes it).
    async fn keep_after(self, mut body: Incoming, sender: Sender) {
        if read_whole(&mut body, MAX_UPSTREAM_BODY).await.is_ok() {
            self.check_in(sender);
        }
    }

    /// A new connection, its task spawned on this thread.
    async fn connect(&self) -> Result<Sender, Box<dyn std::error::Error + Send + Sync>> {
        let io = self.connector.clone().oneshot(self.origin.clone()).await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(async move {
            // Its errors reach the call on it; an idle connection closed is not news.
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// The port a URL's scheme implies.
fn default_port(uri: &Uri) -> Option<u16> {
    match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    }
}

/// The boxed future of a request on its way.
type Call = Pin<
    Box<
        dyn Future<Output = Result<Response<Incoming>, hyper::client::conn::TrySendError<Request<Full<Bytes>>>>> + Send,
    >,
>;

/// A call waiting for its answer's head. Dropped before it came (the visitor's connection
/// closed, a timeout), it is finished in a task of its own: hyper closes a connection whose
/// call is dropped while its answer is due, so the next call would open (and handshake) a
/// new one. Nothing is sent twice: it is the same call, its answer read and let go, its
/// connection given back.
struct Finishing<'a> {
    call: Option<(Call, Sender)>,
    pool: &'a Pool,
    within: Duration,
}

impl Future for Finishing<'_> {
    type Output = Result<(Response<Incoming>, Sender), hyper::client::conn::TrySendError<Request<Full<Bytes>>>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some((call, _)) = self.call.as_mut() else { return Poll::Pending };
        let answer = std::task::ready!(call.as_mut().poll(cx));
        let (_, sender) = self.call.take().expect("a call is polled until its answer came");
        Poll::Ready(answer.map(|response| (response, sender)))
    }
}

impl Drop for Finishing<'_> {
    fn drop(&mut self) {
        let (Some((call, sender)), Ok(runtime)) = (self.call.take(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        let pool = self.pool.clone();
        runtime.spawn(tokio::time::timeout(self.within, async move {
            if let Ok(response) = call.await {
                pool.keep_after(response.into_body(), sender).await;
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    //! The pool against the client it stands in for: hyper-util's legacy pooled client, over
    //! the same connector, sends the same bytes and reads the same answers.

    use super::{Connector, Pool, MAX_UPSTREAM_BODY};
    use crate::egress::Egress;
    use crate::resolver::SharedResolver;
    use axum::body::Bytes;
    use axum::http::{Method, Request, Uri};
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::connect::HttpConnector;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn connector() -> Connector {
        let mut direct = HttpConnector::new_with_resolver(SharedResolver::default());
        direct.enforce_http(false);
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(crate::trust::Trust::default().client_config())
            .https_or_http()
            .enable_http1()
            .wrap_connector(Egress::new(direct))
    }

    /// An upstream on 127.0.0.1 that keeps every request's bytes and answers each with the
    /// next of `answers` (raw HTTP/1.1), keeping the connection open.
    async fn upstream(answers: Vec<&'static str>) -> (Uri, Arc<Mutex<Vec<Vec<u8>>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base: Uri = format!("http://{}", listener.local_addr().unwrap()).parse().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        tokio::spawn(async move {
            let answers = Arc::new(Mutex::new(answers.into_iter()));
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let (kept, answers) = (kept.clone(), answers.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let end = loop {
                            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break at + 4;
                            }
                            let mut chunk = [0u8; 4096];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|line| line.strip_prefix("content-length: "))
                            .map_or(0, |value| value.trim().parse().unwrap());
                        while buf.len() < end + length {
                            let mut chunk = [0u8; 4096];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        kept.lock().unwrap().push(buf.drain(..end + length).collect());
                        let answer =
                            answers.lock().unwrap().next().unwrap_or("HTTP/1.1 500 x\r\ncontent-length: 0\r\n\r\n");
                        if stream.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (base, seen)
    }

    /// The calls, each as both clients make it: a PUT with a JSON body, a GET with a query.
    fn calls(base: &Uri) -> Vec<Request<Full<Bytes>>> {
        let put = |body: &'static str| {
            let mut request = Request::new(Full::new(Bytes::from_static(body.as_bytes())));
            *request.method_mut() = Method::PUT;
            *request.uri_mut() = format!("{base}inbox/direct/lead").parse().unwrap();
            request.headers_mut().insert("x-bp-token", "token-0123456789abcdef".parse().unwrap());
            request.headers_mut().insert("content-type", "application/json".parse().unwrap());
            request
        };
        let mut get = Request::new(Full::new(Bytes::new()));
        *get.uri_mut() = format!("{base}inbox/direct/chats?botId=b&page=2").parse().unwrap();
        get.headers_mut().insert("x-bot-token", "token-0123456789abcdef".parse().unwrap());
        vec![put(r#"{"uuid":"x"}"#), get, put(r#"{"notes":"é"}"#), put("")]
    }

    /// Answers in each framing: a length, chunked, none (204), a length with a reason phrase.
    const ANSWERS: [&str; 4] = [
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"da\r\na\r\nta\":[1,2]}\r\n0\r\n\r\n",
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 429 Slow Down\r\nretry-after: 7\r\ncontent-length: 2\r\n\r\n{}",
    ];

    #[tokio::test]
    async fn sends_and_reads_what_hyper_utils_pooled_client_does() {
        let (theirs_base, theirs_seen) = upstream(ANSWERS.to_vec()).await;
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build::<_, Full<Bytes>>(connector());
        let mut theirs = Vec::new();
        for request in calls(&theirs_base) {
            let (head, body) = client.request(request).await.unwrap().into_parts();
            theirs.push((head.status, head.headers, body.collect().await.unwrap().to_bytes()));
        }

        let (base, ours_seen) = upstream(ANSWERS.to_vec()).await;
        let pool = Pool::new(connector(), &base);
        let mut ours = Vec::new();
        for request in calls(&base) {
            let (head, body) = pool.send(request, Duration::from_secs(5)).await.unwrap();
            ours.push((head.status, head.headers, body.read_whole(MAX_UPSTREAM_BODY).await.unwrap()));
        }

        // Each upstream has its own port, named in `Host`: the same once both are replaced.
        let bytes_of = |seen: &Mutex<Vec<Vec<u8>>>, base: &Uri| -> Vec<String> {
            let host = format!("host: {}\r\n", base.authority().unwrap());
            let seen = seen.lock().unwrap();
            seen.iter().map(|r| String::from_utf8_lossy(r).replace(&host, "host: HOST\r\n")).collect()
        };
        let ours_seen = bytes_of(&ours_seen, &base);
        let theirs_seen = bytes_of(&theirs_seen, &theirs_base);
        assert_eq!(ours_seen.len(), 4);
        assert!(ours_seen.iter().all(|request| request.contains("host: HOST\r\n")), "{ours_seen:?}");
        assert_eq!(ours_seen, theirs_seen);
        assert_eq!(ours.len(), theirs.len());
        for (ours, theirs) in ours.iter().zip(&theirs) {
            assert_eq!(ours.0, theirs.0);
            assert_eq!(ours.2, theirs.2);
            let without_date = |headers: &axum::http::HeaderMap| {
                headers
                    .iter()
                    .filter(|(name, _)| *name != "date")
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(without_date(&ours.1), without_date(&theirs.1));
        }
    }
}
