//! CORS: which origins may call the proxy from a page, what they may send and read.
//!
//! A plain tower layer with its answers' headers made once, when the proxy is built: the
//! same headers, in the same order, as `tower_http`'s `CorsLayer` configured with these
//! rules sends, which builds a header map for every request to copy into the answer.

use crate::request_id::REQUEST_ID;
use crate::visitor::VISITOR_HEADER;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The headers answers expose to scripts.
const EXPOSED: [HeaderName; 2] = [REQUEST_ID, header::RETRY_AFTER];

/// The methods a preflight allows.
const METHODS: [Method; 3] = [Method::PUT, Method::POST, Method::OPTIONS];

/// How long (seconds) a browser may keep a preflight's answer.
const MAX_AGE_SECONDS: u64 = 600;

/// CORS for `origins` (any when empty), preflights and actual requests alike. Credentials
/// are never allowed, so a wildcard cannot expose a cookie-authenticated answer.
pub(crate) fn layer(origins: &[HeaderValue]) -> CorsLayer {
    assert!(
        !origins.iter().any(|origin| origin == "*"),
        "Wildcard origin (`*`) cannot be an allowed origin: allow none for any origin"
    );
    let allowed_headers = [header::CONTENT_TYPE, HeaderName::from_static(VISITOR_HEADER)];
    CorsLayer(Arc::new(Rules {
        origins: (!origins.is_empty()).then(|| origins.into()),
        vary: vary(origins),
        methods: comma_separated(METHODS.iter().map(Method::as_str)),
        headers: comma_separated(allowed_headers.iter().map(HeaderName::as_str)),
        exposed: comma_separated(EXPOSED.iter().map(HeaderName::as_str)),
        max_age: HeaderValue::from(MAX_AGE_SECONDS),
    }))
}

/// What CORS answers vary by, for caches: the request's `Origin` when only some origins
/// are allowed (`Access-Control-Allow-Origin` is then sent to those only), else nothing, as
/// `*` is sent to every request (the Fetch standard's "CORS protocol and HTTP caches").
/// The allowed methods and headers are fixed lists, not copied from a preflight's
/// request, so answers do not vary by those (`tower_http`'s default `Vary` names them).
fn vary(origins: &[HeaderValue]) -> Option<HeaderValue> {
    (!origins.is_empty()).then(|| HeaderValue::from_static(header::ORIGIN.as_str()))
}

/// `items` joined by commas, as a header value.
fn comma_separated<'a>(items: impl Iterator<Item = &'a str>) -> HeaderValue {
    HeaderValue::from_str(&items.collect::<Vec<_>>().join(",")).expect("names and methods are valid header values")
}

/// The rules, and the header values they answer with.
#[derive(Debug)]
pub(crate) struct Rules {
    /// The allowed origins; `None`: any (`*`).
    origins: Option<Box<[HeaderValue]>>,
    /// `Vary`, if answers vary by origin.
    vary: Option<HeaderValue>,
    /// `Access-Control-Allow-Methods` (preflights).
    methods: HeaderValue,
    /// `Access-Control-Allow-Headers` (preflights).
    headers: HeaderValue,
    /// `Access-Control-Expose-Headers` (other answers).
    exposed: HeaderValue,
    /// `Access-Control-Max-Age` (preflights).
    max_age: HeaderValue,
}

impl Rules {
    /// `Access-Control-Allow-Origin` for a request from `origin`, if it is allowed.
    fn allow_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        match &self.origins {
            None => Some(HeaderValue::from_static("*")),
            Some(allowed) => origin.filter(|origin| allowed.contains(origin)).cloned(),
        }
    }

    /// A preflight's headers, in the order they are sent.
    fn preflight(&self, allow_origin: Option<HeaderValue>) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(5);
        if let Some(vary) = &self.vary {
            headers.insert(header::VARY, vary.clone());
        }
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, self.headers.clone());
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        if let Some(origin) = allow_origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
        headers
    }

    /// Adds the headers of an answer that is not a preflight's (a `Vary` kept with the
    /// answer's own, the others replacing any the answer has). With a `Vary`, the allowed
    /// origin comes before the exposed headers, as `tower_http` sends them (it takes the
    /// `Vary` out of its map of them, and the last one takes its place).
    fn answer(&self, headers: &mut HeaderMap, allow_origin: Option<HeaderValue>) {
        let allow = |headers: &mut HeaderMap, origin: Option<HeaderValue>| {
            if let Some(origin) = origin {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            }
        };
        match &self.vary {
            Some(vary) => {
                headers.append(header::VARY, vary.clone());
                allow(headers, allow_origin);
                headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, self.exposed.clone());
            }
            None => {
                headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, self.exposed.clone());
                allow(headers, allow_origin);
            }
        }
    }
}

/// CORS as a layer: an `OPTIONS` request is answered here (a preflight), any other gets
/// the CORS headers added to its answer.
#[derive(Debug, Clone)]
pub(crate) struct CorsLayer(Arc<Rules>);

impl<S> tower::Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors { inner, rules: self.0.clone() }
    }
}

/// [`CorsLayer`]'s service.
#[derive(Debug, Clone)]
pub(crate) struct Cors<S> {
    inner: S,
    rules: Arc<Rules>,
}

impl<S, B, R> tower::Service<Request<B>> for Cors<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    R: Default,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = CorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let allow_origin = self.rules.allow_origin(request.headers().get(header::ORIGIN));
        if request.method() == Method::OPTIONS {
            return CorsFuture::Preflight { headers: Some(self.rules.preflight(allow_origin)) };
        }
        CorsFuture::Answer { answer: self.inner.call(request), rules: Some((self.rules.clone(), allow_origin)) }
    }
}

pin_project_lite::pin_project! {
    /// [`Cors`]'s future: a preflight's answer, or the answer with the CORS headers added.
    #[project = CorsFutureProj]
    pub(crate) enum CorsFuture<F> {
        Preflight { headers: Option<HeaderMap> },
        Answer {
            #[pin]
            answer: F,
            rules: Option<(Arc<Rules>, Option<HeaderValue>)>,
        },
    }
}

impl<F, R, E> Future for CorsFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
    R: Default,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CorsFutureProj::Preflight { headers } => {
                let mut response = Response::new(R::default());
                *response.headers_mut() = headers.take().unwrap_or_default();
                Poll::Ready(Ok(response))
            }
            CorsFutureProj::Answer { answer, rules } => {
                let mut answer = std::task::ready!(answer.poll(cx));
                if let (Ok(response), Some((rules, allow_origin))) = (&mut answer, rules.take()) {
                    rules.answer(response.headers_mut(), allow_origin);
                }
                Poll::Ready(answer)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The layer against the one it stands in for: `tower_http`'s `CorsLayer` configured with
    //! the same rules answers every request of the matrix below with the same status and the
    //! same headers, in the same order.

    use super::{EXPOSED, MAX_AGE_SECONDS, METHODS};
    use crate::visitor::VISITOR_HEADER;
    use axum::body::Body;
    use axum::http::{header, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
    use std::convert::Infallible;
    use std::time::Duration;
    use tower::{Layer, Service, ServiceExt};
    use tower_http::cors::{AllowOrigin, CorsLayer};

    fn theirs(origins: &[HeaderValue]) -> CorsLayer {
        let allowed = if origins.is_empty() { AllowOrigin::any() } else { AllowOrigin::list(origins.iter().cloned()) };
        CorsLayer::new()
            .vary(if origins.is_empty() { vec![] } else { vec![header::ORIGIN] })
            .allow_methods(METHODS)
            .allow_headers([header::CONTENT_TYPE, HeaderName::from_static(VISITOR_HEADER)])
            .expose_headers(EXPOSED)
            .allow_origin(allowed)
            .max_age(Duration::from_secs(MAX_AGE_SECONDS))
    }

    /// The answer under the layer: 201, with headers of its own when `own`.
    fn inner(own: bool) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
        tower::service_fn(move |_: Request<Body>| async move {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::CREATED;
            if own {
                response.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Ok::<_, Infallible>(response)
        })
    }

    fn summary(response: &Response<Body>) -> (StatusCode, Vec<(String, String)>) {
        let headers = response.headers().iter();
        (response.status(), headers.map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string())).collect())
    }

    #[tokio::test]
    async fn answers_as_tower_https_cors_layer_does() {
        let configs: [&[HeaderValue]; 3] = [
            &[],
            &[HeaderValue::from_static("https://shop.example")],
            &[HeaderValue::from_static("https://shop.example"), HeaderValue::from_static("http://localhost:8080")],
        ];
        let origins = [
            None,
            Some("https://shop.example"),
            Some("http://localhost:8080"),
            Some("https://evil.example"),
            Some("null"),
        ];
        let methods = [Method::GET, Method::PUT, Method::POST, Method::DELETE, Method::OPTIONS];
        let mut compared = 0;
        for config in configs {
            for own in [false, true] {
                for origin in origins {
                    for method in &methods {
                        for asks in [false, true] {
                            let request = || {
                                let mut request = Request::builder().method(method.clone()).uri("/lead");
                                if let Some(origin) = origin {
                                    request = request.header(header::ORIGIN, origin);
                                }
                                if asks {
                                    request = request
                                        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
                                        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type,x-other");
                                }
                                request.body(Body::empty()).unwrap()
                            };
                            let ours = super::layer(config).layer(inner(own)).oneshot(request()).await.unwrap();
                            let theirs = theirs(config).layer(inner(own)).oneshot(request()).await.unwrap();
                            assert_eq!(summary(&ours), summary(&theirs), "{config:?} {own} {origin:?} {method} {asks}");
                            compared += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(compared, 300);
    }
}
