//! One log line per request: method, path (never the query), request id, status, latency.

use crate::request_id::REQUEST_ID;
use axum::http::{Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tracing::Span;

/// What a request's span is made from: its method, URI and headers.
pub(crate) type MakeSpan = fn(&axum::http::Method, &axum::http::Uri, &axum::http::HeaderMap) -> Span;

/// The log line as a layer: the request's span (for the proxy, [`request_span`]: `request`
/// with method, path and request id), entered while the request is answered, and, when
/// answered, [`log_response`] in it.
///
/// A plain tower layer rather than `tower_http`'s `TraceLayer`, whose other callbacks
/// (request, body chunks, end of stream, failures) are not used here: that one also
/// classifies every answer and wraps its body (a box per answer, a layer per body poll).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccessLogLayer(pub(crate) MakeSpan);

impl Default for AccessLogLayer {
    fn default() -> Self {
        Self(request_span)
    }
}

impl<S> tower::Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog { inner, make_span: self.0 }
    }
}

/// [`AccessLogLayer`]'s service.
#[derive(Debug, Clone)]
pub(crate) struct AccessLog<S> {
    inner: S,
    make_span: MakeSpan,
}

impl<S, B, R> tower::Service<Request<B>> for AccessLog<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Logged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let start = Instant::now();
        let span = (self.make_span)(request.method(), request.uri(), request.headers());
        let answer = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Logged { answer, span, start }
    }
}

pin_project_lite::pin_project! {
    /// [`AccessLog`]'s future: the answer, polled in the request's span, logged once ready.
    pub(crate) struct Logged<F> {
        #[pin]
        answer: F,
        span: Span,
        start: Instant,
    }
}

impl<F, R, E> Future for Logged<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let answer = std::task::ready!(this.answer.poll(cx));
        if let Ok(response) = &answer {
            log_response(response, this.start.elapsed(), this.span);
        }
        Poll::Ready(answer)
    }
}

/// The request's span; its fields are only looked up when it is enabled (with `RUST_LOG`
/// above `info`, not at all).
fn request_span(method: &axum::http::Method, uri: &axum::http::Uri, headers: &axum::http::HeaderMap) -> Span {
    tracing::info_span!(
        "request",
        method = %method,
        path = %uri.path(),
        request_id = %headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-"),
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

#[cfg(test)]
mod tests {
    //! The layer against the one it stands in for: `tower_http`'s `TraceLayer` with the
    //! proxy's span and answer callbacks (and no others) logs the same lines.

    use super::{log_response, request_span, AccessLogLayer};
    use crate::request_id::REQUEST_ID;
    use axum::body::Body;
    use axum::http::{Request, Response, StatusCode};
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tower::{Layer, ServiceExt};
    use tower_http::trace::TraceLayer;
    use tracing::Span;

    /// A writer into a shared buffer, for the subscriber.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn requests() -> Vec<Request<Body>> {
        let mut with_id = Request::builder().method("PUT").uri("/lead?updateId=secret").header(REQUEST_ID, "id-1");
        with_id = with_id.header("content-type", "application/json");
        vec![
            with_id.body(Body::empty()).unwrap(),
            Request::builder().uri("/healthz").body(Body::empty()).unwrap(),
            Request::builder().method("OPTIONS").uri("/lead").body(Body::empty()).unwrap(),
        ]
    }

    /// The lines each layer logs for [`requests`] answered 200, 503 and 404, latency blanked.
    fn logged(ours: bool) -> String {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .without_time()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            for (request, status) in requests().into_iter().zip([200, 503, 404]) {
                let inner = tower::service_fn(move |_: Request<Body>| async move {
                    let mut response = Response::new(Body::empty());
                    *response.status_mut() = StatusCode::from_u16(status).unwrap();
                    Ok::<_, Infallible>(response)
                });
                runtime.block_on(async {
                    if ours {
                        AccessLogLayer::default().layer(inner).oneshot(request).await.unwrap();
                    } else {
                        TraceLayer::new_for_http()
                            .make_span_with(
                                (|request: &Request<Body>| {
                                    request_span(request.method(), request.uri(), request.headers())
                                }) as fn(&Request<Body>) -> Span,
                            )
                            .on_request(())
                            .on_response(log_response as fn(&Response<Body>, Duration, &Span))
                            .on_body_chunk(())
                            .on_eos(())
                            .on_failure(())
                            .layer(inner)
                            .oneshot(request)
                            .await
                            .unwrap();
                    }
                });
            }
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| match line.find("latency=") {
                Some(at) => {
                    format!("{}latency=_{}", &line[..at], &line[at..].split_once(' ').map_or("", |(_, rest)| rest))
                }
                None => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn logs_as_tower_https_trace_layer_does() {
        let ours = logged(true);
        assert_eq!(ours.lines().count(), 3, "{ours}");
        assert!(ours.contains("request_id=id-1") && !ours.contains("secret"), "{ours}");
        assert_eq!(ours, logged(false));
    }
}
