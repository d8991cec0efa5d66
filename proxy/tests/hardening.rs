//! Production hardening: bot allowlist, limits, request ids, health, metrics, breaker.

mod common;

use axum::routing::put;
use axum::Router;
use common::*;
use reekolect_lead::BotIds;
use reekolect_proxy::limits::ClientIp;
use reekolect_proxy::proxy::ProxyConfig;
use reekolect_proxy::Secret;
use serde_json::{json, Value};
use std::time::Duration;

fn config(upstream: &str) -> ProxyConfig {
    ProxyConfig::new(upstream, Secret::new(TOKEN))
}

async fn put_with(base: &str, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request =
        client().put(format!("{base}/lead")).header("content-type", "application/json").body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("PUT /lead")
}

#[tokio::test]
async fn only_allowed_bots_are_forwarded() {
    bounded(async {
        let mock = start_mock().await;
        let mut config = config(&mock.url());
        config.allow_bots = Some(vec![BotIds { bot_id: "b1".into(), customer_id: "c1".into() }]);
        let proxy = start_proxy(config).await;
        assert_eq!(put_json(&proxy.url(), &base_lead(1)).await.0, 200);
        for (bot, customer) in [("b2", "c1"), ("b1", "c2")] {
            let mut lead = base_lead(2);
            lead["botId"] = json!(bot);
            lead["customerId"] = json!(customer);
            let (status, body) = put_json(&proxy.url(), &lead).await;
            assert_eq!(status, 403, "{body}");
            assert_eq!(body["code"], 403);
            let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
            assert_eq!(fields, vec![json!("botId"), json!("customerId")]);
            let message = body["message"].as_str().unwrap();
            assert!(message.contains(bot) && message.contains(customer), "{message}");
        }
        assert_eq!(page(&mock.url(), 1, "non-lead").await.len(), 1, "nothing else reached the mock");
        proxy.shutdown().await.unwrap();
        mock.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn the_body_limit_is_configurable() {
    bounded(async {
        let mut config = config(&format!("http://127.0.0.1:{}", closed_port().await));
        config.max_body_bytes = 200;
        let proxy = start_proxy(config).await;
        let mut lead = base_lead(1);
        lead["name"] = json!("x".repeat(300));
        let (status, body) = put_json(&proxy.url(), &lead).await;
        assert_eq!(status, 413, "{body}");
        assert!(body["message"].as_str().unwrap().contains("200 bytes"));
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn per_ip_limit_answers_429_json_with_retry_after() {
    bounded(async {
        let mock = start_mock().await;
        let mut config = config(&mock.url());
        config.ip_limit = (1, 2);
        let proxy = start_proxy(config).await;
        for n in 0..2 {
            assert_eq!(put_json(&proxy.url(), &base_lead(n)).await.0, 200);
        }
        let response = put_with(&proxy.url(), &base_lead(3), &[]).await;
        assert_eq!(response.status(), 429);
        let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], 429);
        assert!(body["message"].as_str().unwrap().contains("client IP"), "{body}");
        // X-Forwarded-For is not trusted by default: still the same client.
        let response = put_with(&proxy.url(), &base_lead(4), &[("x-forwarded-for", "203.0.113.9")]).await;
        assert_eq!(response.status(), 429);
        // Health checks are not limited.
        let health = client().get(format!("{}/healthz", proxy.url())).send().await.unwrap();
        assert_eq!(health.status(), 200);
        proxy.shutdown().await.unwrap();
        mock.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_trusted_forwarded_for_header_names_the_client() {
    bounded(async {
        let mock = start_mock().await;
        let mut config = config(&mock.url());
        config.ip_limit = (1, 1);
        config.client_ip = ClientIp::ForwardedFor;
        let proxy = start_proxy(config).await;
        let xff = |ip: &'static str| [("x-forwarded-for", ip)];
        assert_eq!(put_with(&proxy.url(), &base_lead(1), &xff("10.0.0.1, 198.51.100.1")).await.status(), 200);
        assert_eq!(
            put_with(&proxy.url(), &base_lead(2), &xff("10.0.0.2, 198.51.100.1")).await.status(),
            429,
            "the last hop counts"
        );
        assert_eq!(put_with(&proxy.url(), &base_lead(3), &xff("198.51.100.2")).await.status(), 200);
        proxy.shutdown().await.unwrap();

        let mut config = ProxyConfig::new(mock.url(), Secret::new(TOKEN));
        config.ip_limit = (1, 1);
        config.client_ip = ClientIp::Header("cf-connecting-ip".parse().unwrap());
        let proxy = start_proxy(config).await;
        let cf = |ip: &'static str| [("cf-connecting-ip", ip)];
        assert_eq!(put_with(&proxy.url(), &base_lead(4), &cf("2001:db8::1")).await.status(), 200);
        assert_eq!(put_with(&proxy.url(), &base_lead(5), &cf("2001:db8::2")).await.status(), 200);
        assert_eq!(put_with(&proxy.url(), &base_lead(6), &cf("2001:db8::1")).await.status(), 429);
        proxy.shutdown().await.unwrap();
        mock.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn per_visitor_limit_answers_429() {
    bounded(async {
        let mock = start_mock().await;
        let mut config = config(&mock.url());
        config.uuid_limit = (1, 2);
        let proxy = start_proxy(config).await;
        assert_eq!(put_json(&proxy.url(), &base_lead(1)).await.0, 200);
        assert_eq!(put_json(&proxy.url(), &base_lead(1)).await.0, 200);
        let response = put_with(&proxy.url(), &base_lead(1), &[]).await;
        assert_eq!(response.status(), 429);
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("visitor"), "{body}");
        assert_eq!(put_json(&proxy.url(), &base_lead(2)).await.0, 200, "another visitor");
        proxy.shutdown().await.unwrap();
        mock.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn request_ids_are_made_or_kept_and_echoed() {
    bounded(async {
        let proxy = proxy_to("http://127.0.0.1:9").await;
        let response = client().get(format!("{}/healthz", proxy.url())).send().await.unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(id.len(), 36, "{id}");
        let response =
            client().get(format!("{}/nope", proxy.url())).header("x-request-id", "abc-123").send().await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["x-request-id"], "abc-123");
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn readyz_follows_the_upstream_and_metrics_count() {
    bounded(async {
        let mock = start_mock().await;
        let proxy = proxy_to(&mock.url()).await;
        let ready = client().get(format!("{}/readyz", proxy.url())).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        assert_eq!(put_json(&proxy.url(), &base_lead(1)).await.0, 200);
        assert_eq!(put_json(&proxy.url(), &json!({})).await.0, 400);
        let response = client().get(format!("{}/metrics", proxy.url())).send().await.unwrap();
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = response.text().await.unwrap();
        for line in [
            r#"reekolect_proxy_requests_total{route="/lead",method="PUT",status="200"} 1"#,
            r#"reekolect_proxy_requests_total{route="/lead",method="PUT",status="400"} 1"#,
            r#"reekolect_proxy_requests_total{route="/readyz",method="GET",status="200"} 1"#,
            r#"reekolect_proxy_upstream_duration_seconds_bucket{le="+Inf"} 1"#,
            "reekolect_proxy_upstream_duration_seconds_count 1",
            "reekolect_proxy_circuit_open 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        proxy.shutdown().await.unwrap();
        mock.shutdown().await.unwrap();

        let proxy = proxy_to(&format!("http://127.0.0.1:{}", closed_port().await)).await;
        let ready = client().get(format!("{}/readyz", proxy.url())).send().await.unwrap();
        assert_eq!(ready.status(), 503);
        let body: Value = ready.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().starts_with("upstream unreachable"), "{body}");
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn the_breaker_opens_after_consecutive_failures() {
    bounded(async {
        let mut config = config(&format!("http://127.0.0.1:{}", closed_port().await));
        config.breaker = (2, Duration::from_secs(30));
        let proxy = start_proxy(config).await;
        assert_eq!(put_json(&proxy.url(), &base_lead(1)).await.0, 502);
        assert_eq!(put_json(&proxy.url(), &base_lead(2)).await.0, 502);
        let response = put_with(&proxy.url(), &base_lead(3), &[]).await;
        assert_eq!(response.status(), 503);
        let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=30).contains(&retry));
        let metrics = client().get(format!("{}/metrics", proxy.url())).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("reekolect_proxy_circuit_open 1"), "{metrics}");
        assert!(metrics.contains("reekolect_proxy_upstream_failures_total 2"), "{metrics}");
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_slow_request_is_a_408_json() {
    bounded(async {
        let app = Router::new().route(
            "/inbox/direct/lead",
            put(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        );
        let upstream = reekolect_proxy::spawn_router(listener().await, app).unwrap();
        let mut config = config(&upstream.url());
        config.request_timeout = Duration::from_millis(300);
        let proxy = start_proxy(config).await;
        let (status, body) = put_json(&proxy.url(), &base_lead(1)).await;
        assert_eq!(status, 408, "{body}");
        assert_eq!(body["code"], 408);
        proxy.shutdown().await.unwrap();
        drop(upstream);
    })
    .await
}

#[tokio::test]
async fn preflight_allows_the_visitor_header_without_credentials() {
    bounded(async {
        let proxy = proxy_to("http://127.0.0.1:9").await;
        let response = client()
            .request(reqwest::Method::OPTIONS, format!("{}/lead", proxy.url()))
            .header("origin", "https://shop.example")
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "content-type,x-reekolect-visitor")
            .send()
            .await
            .unwrap();
        let allowed = response.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
        assert!(allowed.contains("x-reekolect-visitor"), "{allowed}");
        assert!(response.headers().get("access-control-allow-credentials").is_none());
        proxy.shutdown().await.unwrap();
    })
    .await
}

/// Reads until the server closes the connection; how long that took.
async fn time_until_closed(stream: &mut tokio::net::TcpStream) -> (Duration, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was still open after 5 s");
    (started.elapsed(), answer)
}

#[tokio::test]
async fn slow_heads_and_idle_connections_are_closed_after_the_header_timeout() {
    use tokio::io::AsyncWriteExt;
    bounded(async {
        let mut config = config("http://127.0.0.1:9");
        config.header_timeout = Duration::from_millis(300);
        let proxy = start_proxy(config).await;

        // A head that never ends (the slowloris pattern).
        let mut slow = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
        slow.write_all(b"PUT /lead HTTP/1.1\r\nhost: proxy\r\ncontent-type: application/json\r\n").await.unwrap();
        let (waited, _) = time_until_closed(&mut slow).await;
        assert!(waited >= Duration::from_millis(200), "closed too early: {waited:?}");

        // A keep-alive connection that answered one request, then stays silent.
        let mut idle = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: proxy\r\n\r\n").await.unwrap();
        let (waited, answer) = time_until_closed(&mut idle).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(waited >= Duration::from_millis(200), "closed too early: {waited:?}");

        // The same after a `PUT /lead` (the hot path; its upstream is down: a 502).
        let mut idle = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
        let body = base_lead(1).to_string();
        let head = format!(
            "PUT /lead HTTP/1.1\r\nhost: proxy\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        idle.write_all((head + &body).as_bytes()).await.unwrap();
        let (waited, answer) = time_until_closed(&mut idle).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
        assert!(waited >= Duration::from_millis(200), "closed too early: {waited:?}");

        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn huge_timeouts_mean_no_timeout_rather_than_an_overflow() {
    bounded(async {
        let mock = start_mock().await;
        let mut config = ProxyConfig::new(mock.url(), Secret::new(TOKEN));
        config.request_timeout = Duration::MAX;
        config.timeout = Duration::MAX;
        config.header_timeout = Duration::MAX;
        let proxy = start_proxy(config).await;
        let (status, body) = put_json(&proxy.url(), &base_lead(1)).await;
        assert_eq!(status, 200, "{body}");
        proxy.shutdown().await.unwrap();
        mock.shutdown().await.unwrap();
    })
    .await
}
