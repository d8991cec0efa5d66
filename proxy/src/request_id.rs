//! The request id: kept from the request's `x-request-id`, else made (UUID v4 shaped), and
//! echoed in the answer; the log line carries it ([`crate::access_log`]).

use axum::http::{HeaderName, HeaderValue, Request, Response};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The request id header, set when absent and echoed in every answer.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Sets the id of a request that has none (outside the log line's layer, so the line has it)
/// and echoes it in the answer, unless the answer has one, as a layer.
///
/// One plain tower layer rather than `tower_http`'s `SetRequestIdLayer` and
/// `PropagateRequestIdLayer`, which also put the id in the request's and the answer's
/// extensions (a map allocated for the answer, and dropped, on every request): nothing here
/// reads it from there. The ids are made from the thread's CSPRNG: `tower_http`'s
/// `MakeRequestUuid` asks the kernel (`getrandom`) once per request, a syscall on every
/// request's path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestIdLayer;

impl<S> tower::Layer<S> for RequestIdLayer {
    type Service = RequestIds<S>;

    fn layer(&self, inner: S) -> RequestIds<S> {
        RequestIds { inner }
    }
}

/// [`RequestIdLayer`]'s service.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds<S> {
    inner: S,
}

impl<S, B, R> tower::Service<Request<B>> for RequestIds<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Echoed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = match request.headers().get(REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = new_request_id();
                request.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        Echoed { answer: self.inner.call(request), id: Some(id) }
    }
}

pin_project_lite::pin_project! {
    /// [`RequestIds`]'s future: the answer, with the request's id.
    pub(crate) struct Echoed<F> {
        #[pin]
        answer: F,
        id: Option<HeaderValue>,
    }
}

impl<F, R, E> Future for Echoed<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut answer = std::task::ready!(this.answer.poll(cx));
        if let (Ok(response), Some(id)) = (&mut answer, this.id.take()) {
            if !response.headers().contains_key(REQUEST_ID) {
                response.headers_mut().insert(REQUEST_ID, id);
            }
        }
        Poll::Ready(answer)
    }
}

/// A new request id (UUID v4 shaped, from the thread's CSPRNG). Its bytes are owned by
/// their `Bytes` (one allocation, with its count): the copy echoed in the answer is a count
/// more, where a copied slice's first clone allocates a second time.
fn new_request_id() -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from_owner(uuid_v4_bytes(rand::random::<u128>())))
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
    use super::{RequestIdLayer, REQUEST_ID};
    use axum::body::Body;
    use axum::http::{HeaderValue, Request, Response};
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};
    use tower::{Layer, Service, ServiceExt};
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

    /// An answer that records the id its request reached it with, and has an id of its own
    /// when `own`.
    fn inner(
        own: bool,
        seen: Arc<Mutex<Option<HeaderValue>>>,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
        tower::service_fn(move |request: Request<Body>| {
            *seen.lock().unwrap() = request.headers().get(REQUEST_ID).cloned();
            async move {
                let mut response = Response::new(Body::empty());
                response.headers_mut().insert("content-type", HeaderValue::from_static("text/plain"));
                if own {
                    response.headers_mut().insert(REQUEST_ID, HeaderValue::from_static("own-answer-id"));
                }
                Ok::<_, Infallible>(response)
            }
        })
    }

    /// The layer against the two it stands in for (`tower_http`'s set and propagate layers,
    /// as the proxy had them): the same id reaches the handler and the same answer headers
    /// come back, a made id standing for itself on both sides.
    #[tokio::test]
    async fn sets_and_echoes_as_tower_https_layers_do() {
        for given in [None, Some("given-id-123"), Some("")] {
            for own in [false, true] {
                let request = || {
                    let mut request = Request::builder().uri("/lead");
                    if let Some(id) = given {
                        request = request.header(REQUEST_ID, id);
                    }
                    request.body(Body::empty()).unwrap()
                };
                let (ours_seen, theirs_seen) = (Arc::default(), Arc::default());
                let ours = RequestIdLayer.layer(inner(own, Arc::clone(&ours_seen))).oneshot(request()).await.unwrap();
                let theirs = SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid)
                    .layer(PropagateRequestIdLayer::new(REQUEST_ID).layer(inner(own, Arc::clone(&theirs_seen))))
                    .oneshot(request())
                    .await
                    .unwrap();
                let (ours_seen, theirs_seen) = (ours_seen.lock().unwrap().clone(), theirs_seen.lock().unwrap().clone());
                let headers = |response: &Response<Body>, seen: &Option<HeaderValue>| -> Vec<(String, String)> {
                    let made = given.is_none().then(|| seen.clone()).flatten();
                    let named = |value: &HeaderValue| {
                        if Some(value) == made.as_ref() {
                            "MADE".into()
                        } else {
                            value.to_str().unwrap().to_string()
                        }
                    };
                    response.headers().iter().map(|(n, v)| (n.to_string(), named(v))).collect()
                };
                assert_eq!(ours_seen.is_some(), theirs_seen.is_some(), "{given:?} {own}");
                if given.is_some() {
                    assert_eq!(ours_seen, theirs_seen, "{given:?} {own}");
                } else {
                    let made = ours_seen.as_ref().unwrap().to_str().unwrap();
                    assert_eq!(made.len(), 36, "{made}");
                }
                assert_eq!(headers(&ours, &ours_seen), headers(&theirs, &theirs_seen), "{given:?} {own}");
            }
        }
    }

    #[test]
    fn request_ids_are_uuid_v4_shaped() {
        assert_eq!(super::uuid_v4(0), "00000000-0000-4000-8000-000000000000");
        assert_eq!(super::uuid_v4(u128::MAX), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(super::uuid_v4(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef), "01234567-89ab-4def-8123-456789abcdef");
    }
}
