//! The proxy as served (`proxy::spawn`, what `serve` runs: the router on our hyper server,
//! with its watchdog keeping the connection's time limits, and `PUT`/`POST /lead` taken
//! straight to that route's layered service without the router's path matching) answers
//! exactly as the router under `axum::serve` (`proxy::router`, every layer): same status,
//! same headers (but `date`), same body, same metrics, for each kind of answer.

mod common;

use axum::http::HeaderValue;
use common::*;
use reekolect_proxy::proxy::{self, ProxyConfig};
use reekolect_proxy::{Secret, ServerHandle};
use std::collections::BTreeMap;
use std::time::Duration;

/// The proxy as served (hot path) and the router alone, with the same configuration.
async fn both(config: ProxyConfig) -> (ServerHandle, ServerHandle) {
    let hot = proxy::spawn(listener().await, config.clone()).unwrap();
    let routed = reekolect_proxy::spawn_router(listener().await, proxy::router(config)).unwrap();
    (hot, routed)
}

/// Status, headers but `date` (and `x-request-id` when `id` says it was made), body.
type Answer = (u16, BTreeMap<String, Vec<String>>, String);

async fn send(
    base: &str,
    method: reqwest::Method,
    query: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Answer {
    let mut request = client().request(method, format!("{base}/lead{query}")).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in response.headers() {
        if name == "date" {
            continue;
        }
        let value = value.to_str().unwrap().to_string();
        // A made request id differs between the two: check its shape only.
        let value = if name == "x-request-id" && !headers.iter().any(|(n, _)| *n == "x-request-id") {
            assert_eq!(value.len(), 36, "{value}");
            "made".to_string()
        } else {
            value
        };
        map.entry(name.to_string()).or_default().push(value);
    }
    (status, map, response.text().await.unwrap())
}

async fn same(
    hot: &ServerHandle,
    routed: &ServerHandle,
    method: reqwest::Method,
    query: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let a = send(&hot.url(), method.clone(), query, headers, body.to_string()).await;
    let b = send(&routed.url(), method, query, headers, body.to_string()).await;
    assert_eq!(a, b, "hot path (left) and router (right) differ for {headers:?} {body}");
    a
}

fn lead(n: u64, extra: &str) -> String {
    format!(r#"{{"uuid":"{}","botId":"b1","customerId":"c1"{extra}}}"#, uuid(n))
}

fn requests_line(metrics: &str, method: &str, status: u16) -> Option<String> {
    let prefix = format!("reekolect_proxy_requests_total{{route=\"/lead\",method=\"{method}\",status=\"{status}\"}} ");
    metrics.lines().find(|line| line.starts_with(&prefix)).map(str::to_string)
}

#[tokio::test]
async fn every_kind_of_answer_is_the_same_on_both_paths() {
    bounded(async {
        let mock = start_mock().await;
        let mut config = ProxyConfig::new(mock.url(), Secret::new(TOKEN));
        config.allow_bots = Some(vec![reekolect_proxy::cli::parse_bot_pair("b1:c1").unwrap()]);
        config.allow_origins = vec![HeaderValue::from_static("https://a.example")];
        config.max_body_bytes = 400;
        config.uuid_limit = (1, 1);
        let (hot, routed) = both(config).await;
        let json = ("content-type", "application/json");
        let put = reqwest::Method::PUT;
        let post = reqwest::Method::POST;

        let ok = same(&hot, &routed, put.clone(), "", &[json, ("origin", "https://a.example")], &lead(1, "")).await;
        assert_eq!(ok.0, 200, "{ok:?}");
        assert_eq!(ok.1["access-control-allow-origin"], ["https://a.example"]);
        // The same visitor again: its limit (1 a minute) answers 429 with Retry-After.
        let limited = same(&hot, &routed, put.clone(), "", &[json, ("x-request-id", "given-1")], &lead(1, "")).await;
        assert_eq!(limited.0, 429, "{limited:?}");
        assert_eq!(limited.1["x-request-id"], ["given-1"]);
        assert!(limited.1.contains_key("retry-after"));
        // Another origin: no allow-origin header.
        let other = same(&hot, &routed, put.clone(), "", &[json, ("origin", "https://b.example")], &lead(2, "")).await;
        assert_eq!(other.0, 200);
        assert!(!other.1.contains_key("access-control-allow-origin"));
        // 400, 403, 413 (by length), 415, and POST as text/plain.
        let invalid = same(&hot, &routed, put.clone(), "", &[json], &lead(3, r#","email":"nope""#)).await;
        assert_eq!(invalid.0, 400, "{invalid:?}");
        let body = r#"{"uuid":"7e88d192-9b20-4035-9b68-d4ac3d58a34f","botId":"b2","customerId":"c1"}"#;
        assert_eq!(same(&hot, &routed, put.clone(), "", &[json], body).await.0, 403);
        let large = lead(4, &format!(r#","name":"{}""#, "x".repeat(500)));
        let too_large = same(&hot, &routed, put.clone(), "", &[json], &large).await;
        assert_eq!(too_large.0, 413, "{too_large:?}");
        let png = same(&hot, &routed, post.clone(), "", &[("content-type", "image/png")], &lead(5, "")).await;
        assert_eq!(png.0, 415, "{png:?}");
        let text =
            same(&hot, &routed, post.clone(), "?visitor=x", &[("content-type", "text/plain")], &lead(6, "")).await;
        assert_eq!(text.0, 200, "{text:?}");
        // Not on the hot path, for comparison: a preflight and another method.
        let options = [("origin", "https://a.example"), ("access-control-request-method", "PUT")];
        assert_eq!(same(&hot, &routed, reqwest::Method::OPTIONS, "", &options, "").await.0, 200);
        assert_eq!(same(&hot, &routed, reqwest::Method::GET, "", &[], "").await.0, 405);

        // Both counted the same requests.
        let metrics = |base: String| async move {
            client().get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap()
        };
        let (a, b) = (metrics(hot.url()).await, metrics(routed.url()).await);
        for (method, status) in [("PUT", 200), ("PUT", 429), ("PUT", 400), ("PUT", 403), ("PUT", 413), ("POST", 415)] {
            let line = requests_line(&a, method, status);
            assert!(line.is_some(), "{method} {status} not counted: {a}");
            assert_eq!(line, requests_line(&b, method, status));
        }
        hot.shutdown().await.unwrap();
        routed.shutdown().await.unwrap();
        mock.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn limits_timeouts_and_upstream_failures_are_the_same_on_both_paths() {
    bounded(async {
        // Per-IP limit (burst 2), any origin, and an upstream that is not there (502).
        let mut config = ProxyConfig::new(format!("http://127.0.0.1:{}", closed_port().await), Secret::new(TOKEN));
        config.ip_limit = (1, 2);
        let (hot, routed) = both(config).await;
        let json = [("content-type", "application/json"), ("origin", "https://shop.example")];
        let mut statuses = Vec::new();
        for n in 0..3 {
            statuses.push(same(&hot, &routed, reqwest::Method::PUT, "", &json, &lead(n, "")).await.0);
        }
        assert_eq!(statuses, [502, 502, 429]);
        hot.shutdown().await.unwrap();
        routed.shutdown().await.unwrap();

        // The request timeout: an upstream slower than it (408).
        let slow = axum::Router::new().route(
            "/inbox/direct/lead",
            axum::routing::put(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        );
        let upstream = reekolect_proxy::spawn_router(listener().await, slow).unwrap();
        let mut config = ProxyConfig::new(upstream.url(), Secret::new(TOKEN));
        config.request_timeout = Duration::from_millis(200);
        let (hot, routed) = both(config).await;
        let late = same(&hot, &routed, reqwest::Method::PUT, "", &json, &lead(1, "")).await;
        assert_eq!(late.0, 408, "{late:?}");
        hot.shutdown().await.unwrap();
        routed.shutdown().await.unwrap();
        drop(upstream);
    })
    .await
}

#[tokio::test]
async fn a_body_in_several_chunks_is_read_whole() {
    bounded(async {
        let mock = start_mock().await;
        let mut config = ProxyConfig::new(mock.url(), Secret::new(TOKEN));
        config.max_body_bytes = 400;
        let (hot, routed) = both(config).await;
        let body = lead(7, r#","name":"Ada Lovelace","tags":["a","b"]"#);
        for base in [hot.url(), routed.url()] {
            // Chunked, in three chunks (three frames): one lead.
            let chunks: Vec<Result<String, std::io::Error>> =
                vec![Ok(body[..10].to_string()), Ok(body[10..40].to_string()), Ok(body[40..].to_string())];
            let response = client()
                .put(format!("{base}/lead"))
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{base}: {}", response.text().await.unwrap());
        }
        hot.shutdown().await.unwrap();
        routed.shutdown().await.unwrap();
        mock.shutdown().await.unwrap();
    })
    .await
}
