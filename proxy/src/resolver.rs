//! Name resolution for upstream connections: one lookup at a time per name, its addresses
//! remembered for a short while.
//!
//! hyper-util's `GaiResolver` runs each lookup (`getaddrinfo`, blocking) on the runtime's
//! blocking pool, one per connection: a burst of new upstream connections (hundreds when the
//! load rises) looked the same name up hundreds of times at once, each on a thread of its
//! own, and `serve` runs one runtime, so one blocking pool, per worker. Under the
//! production-shape benchmark the proxy grew to ~100 threads, whose stacks and allocator
//! heaps stayed after the burst (see `docs/proxy-performance.md`). Here the callers that
//! want the same name while it is being looked up wait for that one lookup, and its
//! addresses serve the next connections for [`REMEMBERED_FOR`].

use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use tower::Service;

/// How long a name's addresses serve new connections before it is looked up again: short,
/// so that a changed DNS record (an API moving) is followed within seconds, as it would be
/// with a lookup per connection behind a caching stub resolver.
pub(crate) const REMEMBERED_FOR: Duration = Duration::from_secs(10);

/// The most names remembered (the upstream's host and the egress proxy's, in practice).
const MAX_NAMES: usize = 16;

/// A lookup's outcome, shared by everyone who waited for it: the addresses, or the error's
/// kind and text (an `io::Error` cannot be cloned; its text is what the operator sees).
type Outcome = Result<Arc<[SocketAddr]>, (io::ErrorKind, String)>;

/// One name's lookup: when it started, and its outcome once known.
struct Lookup {
    started: Instant,
    outcome: Arc<OnceCell<Outcome>>,
}

/// A resolver for hyper-util's `HttpConnector`: `getaddrinfo` on the blocking pool, as
/// `GaiResolver`, at most one lookup of a name at a time, its addresses reused for
/// [`REMEMBERED_FOR`]. A failed lookup is answered to those who waited for it, then
/// forgotten: the next connection looks the name up again.
#[derive(Clone, Default)]
pub(crate) struct SharedResolver {
    lookups: Arc<Mutex<HashMap<Name, Lookup>>>,
}

impl std::fmt::Debug for SharedResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedResolver").finish_non_exhaustive()
    }
}

impl SharedResolver {
    /// The lookup of `name` to wait for: the current one, or a new one when there is none,
    /// the last one failed or its addresses are older than [`REMEMBERED_FOR`].
    fn lookup(&self, name: &Name) -> Arc<OnceCell<Outcome>> {
        let now = Instant::now();
        let mut lookups = self.lookups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lookup) = lookups.get(name) {
            let usable = match lookup.outcome.get() {
                None => true,
                Some(Ok(_)) => now.duration_since(lookup.started) < REMEMBERED_FOR,
                Some(Err(_)) => false,
            };
            if usable {
                return lookup.outcome.clone();
            }
        }
        if lookups.len() >= MAX_NAMES && !lookups.contains_key(name) {
            lookups.retain(|_, lookup| lookup.outcome.get().is_none());
            if lookups.len() >= MAX_NAMES {
                lookups.clear();
            }
        }
        let outcome = Arc::new(OnceCell::new());
        lookups.insert(name.clone(), Lookup { started: now, outcome: outcome.clone() });
        outcome
    }
}

/// A lookup's addresses, in the order `getaddrinfo` gave them.
#[derive(Debug)]
pub(crate) struct Addresses {
    all: Arc<[SocketAddr]>,
    next: usize,
}

impl Iterator for Addresses {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        let address = self.all.get(self.next).copied();
        self.next += 1;
        address
    }
}

impl Service<Name> for SharedResolver {
    type Response = Addresses;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let lookup = self.lookup(&name);
        Box::pin(async move {
            let outcome = lookup
                .get_or_init(|| async move {
                    match GaiResolver::new().call(name).await {
                        Ok(addresses) => Ok(addresses.collect::<Vec<_>>().into()),
                        Err(err) => Err((err.kind(), err.to_string())),
                    }
                })
                .await;
            match outcome {
                Ok(addresses) => Ok(Addresses { all: addresses.clone(), next: 0 }),
                Err((kind, message)) => Err(io::Error::new(*kind, message.clone())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::SharedResolver;
    use std::str::FromStr;
    use tower::Service;

    /// Callers of the same name share a lookup: they get the same addresses, and the
    /// name is remembered once.
    #[tokio::test]
    async fn callers_share_a_lookup() {
        let resolver = SharedResolver::default();
        let name = hyper_util::client::legacy::connect::dns::Name::from_str("localhost").unwrap();
        let calls = (0..8).map(|_| resolver.clone().call(name.clone())).collect::<Vec<_>>();
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.expect("localhost resolves").collect::<Vec<_>>());
        }
        assert!(!answers[0].is_empty() && answers[0].iter().all(|address| address.ip().is_loopback()));
        assert!(answers.iter().all(|answer| *answer == answers[0]));
        assert_eq!(resolver.lookups.lock().unwrap().len(), 1);
        let first = resolver.lookup(&name);
        assert!(std::sync::Arc::ptr_eq(&first, &resolver.lookup(&name)), "a fresh lookup is reused");
    }

    /// A failed lookup reports getaddrinfo's own message, and is not remembered.
    #[tokio::test]
    async fn a_failure_is_not_remembered() {
        let resolver = SharedResolver::default();
        let name = hyper_util::client::legacy::connect::dns::Name::from_str("no-such-host.invalid").unwrap();
        let failed = resolver.lookup(&name);
        let err = resolver.clone().call(name.clone()).await.expect_err(".invalid never resolves");
        assert!(err.to_string().contains("failed to lookup address"), "{err}");
        assert!(matches!(failed.get(), Some(Err(_))), "the call waited for the lookup it found");
        assert!(!std::sync::Arc::ptr_eq(&failed, &resolver.lookup(&name)), "the next caller looks it up again");
    }
}
