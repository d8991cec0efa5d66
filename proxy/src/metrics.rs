//! Prometheus metrics in the text exposition format, kept with atomics and one small map per
//! thread (summed when rendered).
//!
//! Hand-rolled rather than the `metrics` facade: that crate records into one
//! process-global recorder, while every proxy built by [`crate::proxy::router`] (several
//! per test process) must count its own requests; two metric families do not justify it.

use crate::threads::{thread_slot, Padded};
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Upper bounds (seconds) of the upstream latency histogram's buckets.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Counts of one route: method → status → count.
type ByMethod = BTreeMap<Box<str>, BTreeMap<u16, u64>>;

/// Shards of the counters: each thread counts in its own (see [`thread_slot`]), so that
/// worker threads do not take each other's cache lines on every request.
const SHARDS: usize = 16;

/// The proxy's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    shards: [Padded<Shard>; SHARDS],
}

/// One thread's counters.
#[derive(Debug, Default)]
struct Shard {
    /// Route → method → status → count (nested so that counting looks up without allocating).
    requests: Mutex<BTreeMap<Box<str>, ByMethod>>,
    /// Upstream calls by the first bucket whose bound they are within; the last: beyond all.
    upstream_buckets: [AtomicU64; BUCKETS.len() + 1],
    upstream_sum_micros: AtomicU64,
    upstream_failures: AtomicU64,
}

impl Metrics {
    fn shard(&self) -> &Shard {
        &self.shards[thread_slot() % SHARDS].0
    }

    /// Counts one answered request.
    pub fn request(&self, route: &str, method: &str, status: u16) {
        let mut requests = self.shard().requests.lock().unwrap_or_else(|e| e.into_inner());
        let by_method = match requests.get_mut(route) {
            Some(by_method) => by_method,
            None => requests.entry(route.into()).or_default(),
        };
        let by_status = match by_method.get_mut(method) {
            Some(by_status) => by_status,
            None => by_method.entry(method.into()).or_default(),
        };
        *by_status.entry(status).or_insert(0) += 1;
    }

    /// Records one upstream call's latency, and whether it failed.
    pub fn upstream(&self, latency: Duration, failed: bool) {
        let seconds = latency.as_secs_f64();
        let bucket = BUCKETS.iter().position(|bound| seconds <= *bound).unwrap_or(BUCKETS.len());
        let shard = self.shard();
        shard.upstream_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        shard.upstream_sum_micros.fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
        if failed {
            shard.upstream_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The text exposition format; `breaker_open` is reported as a gauge.
    pub fn render(&self, breaker_open: bool) -> String {
        let mut out = String::new();
        out.push_str("# HELP reekolect_proxy_requests_total Requests answered, by route, method and status.\n");
        out.push_str("# TYPE reekolect_proxy_requests_total counter\n");
        // (route, method, status) sorts as the nested maps do.
        let mut requests: BTreeMap<(String, String, u16), u64> = BTreeMap::new();
        let (mut buckets, mut sum_micros, mut failures) = ([0u64; BUCKETS.len() + 1], 0u64, 0u64);
        for Padded(shard) in &self.shards {
            let counted = shard.requests.lock().unwrap_or_else(|e| e.into_inner());
            for (route, by_method) in counted.iter() {
                for (method, by_status) in by_method {
                    for (status, count) in by_status {
                        *requests.entry((route.to_string(), method.to_string(), *status)).or_insert(0) += count;
                    }
                }
            }
            drop(counted);
            for (total, bucket) in buckets.iter_mut().zip(&shard.upstream_buckets) {
                *total += bucket.load(Ordering::Relaxed);
            }
            sum_micros += shard.upstream_sum_micros.load(Ordering::Relaxed);
            failures += shard.upstream_failures.load(Ordering::Relaxed);
        }
        for ((route, method, status), count) in &requests {
            let _ = writeln!(
                out,
                "reekolect_proxy_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# HELP reekolect_proxy_upstream_duration_seconds Latency of upstream calls.\n");
        out.push_str("# TYPE reekolect_proxy_upstream_duration_seconds histogram\n");
        let mut within = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&buckets) {
            within += bucket;
            let _ = writeln!(out, "reekolect_proxy_upstream_duration_seconds_bucket{{le=\"{bound}\"}} {within}");
        }
        let count: u64 = buckets.iter().sum();
        let sum = sum_micros as f64 / 1e6;
        let _ = writeln!(
            out,
            "reekolect_proxy_upstream_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             reekolect_proxy_upstream_duration_seconds_sum {sum}\n\
             reekolect_proxy_upstream_duration_seconds_count {count}"
        );
        let _ = writeln!(
            out,
            "# HELP reekolect_proxy_upstream_failures_total Upstream calls that failed (unreachable, timeout, 5xx).\n\
             # TYPE reekolect_proxy_upstream_failures_total counter\n\
             reekolect_proxy_upstream_failures_total {failures}\n\
             # HELP reekolect_proxy_circuit_open Whether the upstream circuit breaker is open.\n\
             # TYPE reekolect_proxy_circuit_open gauge\n\
             reekolect_proxy_circuit_open {}",
            u8::from(breaker_open)
        );
        out
    }
}

/// Counts every answered request by its route pattern (`unmatched` for the fallback, so
/// unknown paths cannot grow the label set), as a layer: the router's [`MatchedPath`], or
/// for a service of one route served without the router ([`crate::server::Routes::lead`]),
/// that route's pattern, given here.
///
/// A plain tower layer rather than `axum::middleware::from_fn`, which clones the inner
/// service and boxes a future for every request: this one calls its inner service in
/// place and counts when the answer is ready.
#[derive(Debug, Clone)]
pub(crate) struct TrackLayer {
    pub(crate) metrics: Arc<Metrics>,
    /// The pattern of the one route of a service without the router.
    pub(crate) route: Option<&'static str>,
}

impl<S> tower::Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track { inner, metrics: self.metrics.clone(), route: self.route }
    }
}

/// [`TrackLayer`]'s service.
#[derive(Debug, Clone)]
pub(crate) struct Track<S> {
    inner: S,
    metrics: Arc<Metrics>,
    route: Option<&'static str>,
}

impl<S> tower::Service<Request> for Track<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = match (self.route, request.extensions().get::<MatchedPath>()) {
            (Some(pattern), _) => Route::Static(pattern),
            // MatchedPath holds an Arc<str>: cloning it does not allocate.
            (None, Some(matched)) => Route::Matched(matched.clone()),
            (None, None) => Route::Static("unmatched"),
        };
        let method = request.method().clone();
        Tracked { answer: self.inner.call(request), counted: Some((self.metrics.clone(), route, method)) }
    }
}

/// The route a request is counted under.
enum Route {
    Matched(MatchedPath),
    Static(&'static str),
}

pin_project_lite::pin_project! {
    /// [`Track`]'s future: the answer, counted once ready.
    pub(crate) struct Tracked<F> {
        #[pin]
        answer: F,
        counted: Option<(Arc<Metrics>, Route, Method)>,
    }
}

impl<F, E> Future for Tracked<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.answer.poll(cx));
        if let (Ok(response), Some((metrics, route, method))) = (&answer, this.counted.take()) {
            let route = match &route {
                Route::Matched(matched) => matched.as_str(),
                Route::Static(pattern) => pattern,
            };
            metrics.request(route, method.as_str(), response.status().as_u16());
        }
        Poll::Ready(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::Metrics;
    use std::time::Duration;

    /// Counted on several threads (several shards), rendered as one sum; the histogram's
    /// buckets cumulative.
    #[test]
    fn threads_count_apart_and_render_together() {
        let metrics = Metrics::default();
        std::thread::scope(|scope| {
            for thread in 0..20u64 {
                let metrics = &metrics;
                scope.spawn(move || {
                    for _ in 0..10 {
                        metrics.request("/lead", "PUT", 200);
                    }
                    metrics.request("/lead", "POST", 400);
                    metrics.request("/healthz", "GET", 200);
                    // 0.5 ms, 2 ms, 20 s: the first bucket, the second, beyond every bound.
                    metrics.upstream(Duration::from_micros(500), false);
                    metrics.upstream(Duration::from_millis(2), thread % 2 == 0);
                    metrics.upstream(Duration::from_secs(20), true);
                });
            }
        });
        let text = metrics.render(false);
        for line in [
            "reekolect_proxy_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 20\n\
             reekolect_proxy_requests_total{route=\"/lead\",method=\"POST\",status=\"400\"} 20\n\
             reekolect_proxy_requests_total{route=\"/lead\",method=\"PUT\",status=\"200\"} 200\n",
            "_bucket{le=\"0.001\"} 20\n",
            "_bucket{le=\"0.0025\"} 40\n",
            "_bucket{le=\"0.005\"} 40\n",
            "_bucket{le=\"10\"} 40\n",
            "_bucket{le=\"+Inf\"} 60\n",
            "reekolect_proxy_upstream_duration_seconds_count 60\n",
            "reekolect_proxy_upstream_duration_seconds_sum 400.05\n",
            "reekolect_proxy_upstream_failures_total 30\n",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
