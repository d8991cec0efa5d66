//! Prometheus metrics in the text exposition format, kept with atomics and one small map.
//!
//! Hand-rolled rather than the `metrics` facade: that crate records into one
//! process-global recorder, while every proxy built by [`crate::proxy::router`] (several
//! per test process) must count its own requests; two metric families do not justify it.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the upstream latency histogram's buckets.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Counts of one route: method → status → count.
type ByMethod = BTreeMap<Box<str>, BTreeMap<u16, u64>>;

/// The proxy's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Route → method → status → count (nested so that counting looks up without allocating).
    requests: Mutex<BTreeMap<Box<str>, ByMethod>>,
    upstream_buckets: [AtomicU64; BUCKETS.len()],
    upstream_count: AtomicU64,
    upstream_sum_micros: AtomicU64,
    upstream_failures: AtomicU64,
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, route: &str, method: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
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
        for (bound, bucket) in BUCKETS.iter().zip(&self.upstream_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.upstream_count.fetch_add(1, Ordering::Relaxed);
        self.upstream_sum_micros.fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
        if failed {
            self.upstream_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The text exposition format; `breaker_open` is reported as a gauge.
    pub fn render(&self, breaker_open: bool) -> String {
        let mut out = String::new();
        out.push_str("# HELP reekolect_proxy_requests_total Requests answered, by route, method and status.\n");
        out.push_str("# TYPE reekolect_proxy_requests_total counter\n");
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        for (route, by_method) in requests.iter() {
            for (method, by_status) in by_method {
                for (status, count) in by_status {
                    let _ = writeln!(
                        out,
                        "reekolect_proxy_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
                    );
                }
            }
        }
        drop(requests);
        out.push_str("# HELP reekolect_proxy_upstream_duration_seconds Latency of upstream calls.\n");
        out.push_str("# TYPE reekolect_proxy_upstream_duration_seconds histogram\n");
        for (bound, bucket) in BUCKETS.iter().zip(&self.upstream_buckets) {
            let _ = writeln!(
                out,
                "reekolect_proxy_upstream_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.upstream_count.load(Ordering::Relaxed);
        let sum = self.upstream_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
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
             reekolect_proxy_upstream_failures_total {}\n\
             # HELP reekolect_proxy_circuit_open Whether the upstream circuit breaker is open.\n\
             # TYPE reekolect_proxy_circuit_open gauge\n\
             reekolect_proxy_circuit_open {}",
            self.upstream_failures.load(Ordering::Relaxed),
            u8::from(breaker_open)
        );
        out
    }
}

/// Middleware counting every answered request by its route pattern (`unmatched` for the
/// fallback, so unknown paths cannot grow the label set).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    // MatchedPath holds an Arc<str>: cloning it does not allocate.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    metrics.request(route, method.as_str(), response.status().as_u16());
    response
}
