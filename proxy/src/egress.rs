//! How upstream connections leave the machine: straight to the upstream, or for an https
//! upstream through the egress proxy of `HTTPS_PROXY` / `ALL_PROXY` (an HTTP `CONNECT`
//! tunnel, `NO_PROXY` honoured), as curl and the previous client did. TLS is then spoken
//! end to end through the tunnel: the egress proxy sees neither the token nor the lead.
//! Loopback upstreams (the embedded mock, tests) never go through a proxy.

use crate::resolver::SharedResolver;
use axum::http::Uri;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

/// A TCP connector whose lookups are shared (see [`crate::resolver`]).
pub(crate) type Direct = HttpConnector<SharedResolver>;

/// An error from connecting.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The connector under TLS: direct, or through a `CONNECT` tunnel.
#[derive(Clone)]
pub(crate) struct Egress {
    direct: Direct,
    proxies: Arc<Matcher>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress").finish_non_exhaustive()
    }
}

impl Egress {
    /// Connecting with `direct`, through the proxies the environment names.
    pub(crate) fn new(direct: Direct) -> Self {
        Self { direct, proxies: Arc::new(Matcher::from_env()) }
    }
}

impl Egress {
    /// The egress proxy a connection to `dst` goes through, if any.
    pub(crate) fn proxy_for(&self, dst: &Uri) -> Option<Uri> {
        self.intercept(dst).map(|proxy| proxy.uri().clone())
    }

    fn intercept(&self, dst: &Uri) -> Option<Intercept> {
        match dst.scheme_str() {
            // A plain-http upstream would need absolute-form requests to the proxy: it is
            // reached directly (the mock, a sidecar on the private network).
            Some("https") if !is_loopback(dst) => self.proxies.intercept(dst),
            _ => None,
        }
    }
}

impl Service<Uri> for Egress {
    type Response = <Direct as Service<Uri>>::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.direct.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match self.intercept(&dst) {
            Some(proxy) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), self.direct.clone());
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                Box::pin(async move { tunnel.call(dst).await.map_err(Into::into) })
            }
            None => {
                let connecting = self.direct.call(dst);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
        }
    }
}

/// Whether `uri`'s host is `localhost` or a loopback address.
fn is_loopback(uri: &Uri) -> bool {
    uri.host().is_some_and(|host| {
        host == "localhost" || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    })
}
