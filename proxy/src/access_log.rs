//! One log line per request: method, path (never the query), request id, status, latency.

use crate::request_id::REQUEST_ID;
use axum::http::{Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tracing::Span;

/// The proxy's log line as a layer: the span `request` (method, path, request id), entered
/// while the request is answered, and, when answered, [`log_response`] in it.
///
/// A plain tower layer rather than `tower_http`'s `TraceLayer`, whose other callbacks
/// (request, body chunks, end of stream, failures) the proxy does not use: that one also
/// classifies every answer and wraps its body (a box per answer, a layer per body poll).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccessLogLayer;

impl<S> tower::Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog { inner }
    }
}

/// [`AccessLogLayer`]'s service.
#[derive(Debug, Clone)]
pub(crate) struct AccessLog<S> {
    inner: S,
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
        let span = request_span(&request);
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
fn request_span<B>(request: &Request<B>) -> Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-"),
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
