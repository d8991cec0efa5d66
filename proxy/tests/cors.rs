//! CORS: preflights for `PUT /lead`, any origin by default, or exactly the allowed list.

mod common;

use axum::http::HeaderValue;
use common::*;
use reekolect_proxy::proxy::ProxyConfig;
use reekolect_proxy::Secret;

async fn preflight(base: &str, origin: &str) -> reqwest::Response {
    client()
        .request(reqwest::Method::OPTIONS, format!("{base}/lead"))
        .header("origin", origin)
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("preflight")
}

/// An actual (non-preflight) request from `origin`, to a route of the router.
async fn health(base: &str, origin: &str) -> reqwest::Response {
    client().get(format!("{base}/healthz")).header("origin", origin).send().await.expect("healthz")
}

#[tokio::test]
async fn preflight_allows_any_origin_by_default() {
    bounded(async {
        let proxy = proxy_to("http://127.0.0.1:9").await;
        let response = preflight(&proxy.url(), "https://shop.example").await;
        assert!(response.status().is_success(), "{}", response.status());
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], "*");
        let methods = headers["access-control-allow-methods"].to_str().unwrap();
        for method in ["PUT", "POST", "OPTIONS"] {
            assert!(methods.contains(method), "{methods}");
        }
        let allowed = headers["access-control-allow-headers"].to_str().unwrap();
        assert!(allowed.to_ascii_lowercase().contains("content-type"));
        assert!(headers.get("access-control-allow-credentials").is_none());
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn only_the_allowed_origins_are_allowed() {
    bounded(async {
        let mut config = ProxyConfig::new("http://127.0.0.1:9", Secret::new(TOKEN));
        config.allow_origins = vec![HeaderValue::from_static("https://a.example")];
        let proxy = start_proxy(config).await;

        let response = preflight(&proxy.url(), "https://a.example").await;
        assert_eq!(response.headers()["access-control-allow-origin"], "https://a.example");
        let response = preflight(&proxy.url(), "https://b.example").await;
        assert!(response.headers().get("access-control-allow-origin").is_none());

        // Actual (non-preflight) answers carry the header too, for the allowed origin only.
        let response = health(&proxy.url(), "https://a.example").await;
        assert_eq!(response.headers()["access-control-allow-origin"], "https://a.example");
        proxy.shutdown().await.unwrap();
    })
    .await
}

/// `Vary: Origin` exactly when the answer depends on the origin (an allow-list), on the hot
/// path (`PUT /lead`), the router's routes and preflights alike; with any origin allowed
/// every answer carries `*`, and names nothing to vary by.
#[tokio::test]
async fn answers_vary_by_origin_only_with_an_allow_list() {
    bounded(async {
        let mock = start_mock().await;
        for (allowed, vary) in [(vec![], None), (vec![HeaderValue::from_static("https://a.example")], Some("origin"))] {
            let mut config = ProxyConfig::new(mock.url(), Secret::new(TOKEN));
            config.allow_origins = allowed;
            let proxy = start_proxy(config).await;
            let lead = client()
                .put(format!("{}/lead", proxy.url()))
                .header("origin", "https://a.example")
                .json(&base_lead(1))
                .send()
                .await
                .unwrap();
            assert_eq!(lead.status(), 200);
            let health = health(&proxy.url(), "https://a.example").await;
            let preflight = preflight(&proxy.url(), "https://a.example").await;
            for (what, response) in [("PUT /lead", &lead), ("GET /healthz", &health), ("preflight", &preflight)] {
                let got = response.headers().get_all("vary").iter().map(|v| v.to_str().unwrap()).collect::<Vec<_>>();
                assert_eq!(got, vary.into_iter().collect::<Vec<_>>(), "{what}, allowed {:?}", vary);
            }
            proxy.shutdown().await.unwrap();
        }
        mock.shutdown().await.unwrap();
    })
    .await
}

#[test]
fn allow_origin_values_are_checked() {
    use reekolect_proxy::cli::parse_origin;
    assert!(parse_origin("https://a.example").is_ok());
    assert!(parse_origin("http://localhost:3000").is_ok());
    assert!(parse_origin("https://a.example/").is_err());
    assert!(parse_origin("a.example").is_err());
    assert!(parse_origin("*").is_err());
}
