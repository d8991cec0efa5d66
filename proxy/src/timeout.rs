//! The request timeout: a request not answered within it gets `408 Request Timeout` (made
//! JSON by [`crate::error::json_errors`]), as a layer.
//!
//! Kept by the connection's watchdog ([`crate::watchdog`]) when the request carries its
//! record, as every request the proxy's server serves does: a deadline stored per request
//! instead of a timer registered in tokio's wheel and removed again (tower-http's
//! `TimeoutLayer`). Without one (the router served alone) a tokio timer keeps it.

use crate::watchdog::{deadline, within_shared, Limit, Watched, Within};
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Answers `408` to a request not answered within its duration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestTimeoutLayer(pub(crate) Duration);

impl<S> tower::Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;

    fn layer(&self, inner: S) -> RequestTimeout<S> {
        RequestTimeout { inner, timeout: self.0 }
    }
}

/// [`RequestTimeoutLayer`]'s service.
#[derive(Debug, Clone)]
pub(crate) struct RequestTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S> tower::Service<Request> for RequestTimeout<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TimedOut<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let watched = request.extensions().get::<Arc<Watched>>().cloned();
        let until = deadline(Instant::now(), self.timeout);
        TimedOut { answer: within_shared(watched, Limit::Request, until, self.inner.call(request)) }
    }
}

pin_project_lite::pin_project! {
    /// [`RequestTimeout`]'s future: the answer, or a 408 once the deadline passed.
    pub(crate) struct TimedOut<F> {
        #[pin]
        answer: Within<'static, F>,
    }
}

impl<F, E> Future for TimedOut<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match std::task::ready!(self.project().answer.poll(cx)) {
            Ok(answer) => answer,
            Err(_elapsed) => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
                Ok(response)
            }
        })
    }
}
