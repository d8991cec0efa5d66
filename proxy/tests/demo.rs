//! `serve` as assembled by `reekolect_proxy::start`: mock mode and `/demo/leads`.

mod common;

use common::*;
use reekolect_proxy::cli::ServeArgs;
use reekolect_proxy::{start, StartError, Upstream};
use serde_json::{json, Value};

fn args(upstream: Option<Upstream>) -> ServeArgs {
    ServeArgs { listen: "127.0.0.1:0".parse().unwrap(), upstream, ..ServeArgs::new() }
}

/// `args` allowing bot b1 of customer c1, as a real upstream requires.
fn allowing_b1(args: ServeArgs) -> ServeArgs {
    ServeArgs { allow_bot: vec![reekolect_proxy::cli::parse_bot_pair("b1:c1").unwrap()], ..args }
}

async fn demo(base: &str, query: &str) -> (u16, Value) {
    let response = client().get(format!("{base}/demo/leads?{query}")).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn demo_leads_walks_every_page_in_mock_mode() {
    bounded(async {
        let serving = start(args(Some(Upstream::Mock)), Some(TOKEN.into())).await.unwrap();
        assert_eq!(serving.upstream, Upstream::Mock);
        let line = serving.listening_line();
        assert_eq!(line, format!("reekolect-proxy listening on http://{} (upstream: mock)", serving.proxy.addr()));
        let base = serving.proxy.url();
        for n in 0..25 {
            let mut lead = base_lead(n);
            lead["email"] = json!(format!("lead{n}@example.com"));
            assert_eq!(put_json(&base, &lead).await.0, 200);
        }
        for n in 100..103 {
            assert_eq!(put_json(&base, &base_lead(n)).await.0, 200);
        }
        // Another bot's leads stay out.
        let mut other = base_lead(200);
        other["botId"] = json!("b2");
        assert_eq!(put_json(&base, &other).await.0, 200);

        let (status, body) = demo(&base, "botId=b1&customerId=c1&type=lead").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["leads"].as_array().unwrap().len(), 25, "two pages");
        let (_, body) = demo(&base, "botId=b1&customerId=c1&type=non-lead").await;
        assert_eq!(body["leads"].as_array().unwrap().len(), 3);
        let (_, body) = demo(&base, "botId=b1&customerId=c1").await;
        let all = body["leads"].as_array().unwrap();
        assert_eq!(all.len(), 28, "type defaults to all");
        assert_eq!(all[0]["uuid"], uuid(0));
        assert_eq!(all[27]["uuid"], uuid(102));

        let (status, body) = demo(&base, "botId=b1&customerId=c1&type=some").await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = demo(&base, "customerId=c1").await;
        assert_eq!(status, 400);
        assert_eq!(body["errors"][0]["field"], "botId");
        assert!(!body.to_string().contains(TOKEN));

        // The embedded mock really expects the token.
        let mock = serving.mock.as_ref().unwrap().url();
        assert_eq!(chats(&mock, Some("wrong"), &[]).await.0, 401);
        assert_eq!(page(&mock, 2, "lead").await.len(), 5);
        serving.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn no_token_means_mock_mode_with_a_random_token() {
    bounded(async {
        let serving = start(args(None), None).await.unwrap();
        assert_eq!(serving.upstream, Upstream::Mock);
        let base = serving.proxy.url();
        assert_eq!(put_json(&base, &base_lead(1)).await.0, 200);
        let (status, body) = demo(&base, "botId=b1&customerId=c1").await;
        assert_eq!(status, 200);
        assert_eq!(body["leads"].as_array().unwrap().len(), 1);
        serving.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn demo_leads_is_404_with_a_real_upstream() {
    bounded(async {
        let upstream = Upstream::Url("http://127.0.0.1:9".into());
        let serving = start(allowing_b1(args(Some(upstream.clone()))), Some(TOKEN.into())).await.unwrap();
        assert!(serving.mock.is_none());
        assert!(serving.listening_line().ends_with("(upstream: http://127.0.0.1:9)"));
        let (status, _) = demo(&serving.proxy.url(), "botId=b1&customerId=c1").await;
        assert_eq!(status, 404);
        serving.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_real_upstream_needs_the_token() {
    bounded(async {
        let upstream: Upstream = "https://example.invalid/".parse().unwrap();
        assert_eq!(upstream, Upstream::Url("https://example.invalid".into()));
        let err = start(args(Some(upstream)), None).await.unwrap_err();
        assert!(matches!(err, StartError::MissingToken(_)));
        assert!(err.to_string().contains("REEKOLECT_API_TOKEN"));
        // With a token and no --upstream, the real API is the default.
        let err = start(args(None), Some(TOKEN.into())).await.unwrap_err();
        assert!(matches!(err, StartError::NoAllowedBots(_)), "{err}");
        assert!(err.to_string().contains("--allow-bot"), "{err}");
        let serving = start(allowing_b1(args(None)), Some(TOKEN.into())).await.unwrap();
        assert_eq!(serving.upstream, Upstream::Url(reekolect_proxy::DEFAULT_UPSTREAM.into()));
        serving.shutdown().await.unwrap();
        assert!("ftp://x.example".parse::<Upstream>().is_err());
        assert!("nonsense".parse::<Upstream>().is_err());
    })
    .await
}

#[tokio::test]
async fn www_folder_is_served_as_the_fallback() {
    bounded(async {
        let dir = std::env::temp_dir().join(format!("reekolect-www-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "<h1>inbox</h1>").unwrap();
        let serving = start(ServeArgs { www: Some(dir.clone()), ..args(Some(Upstream::Mock)) }, None).await.unwrap();
        let base = serving.proxy.url();
        let text = client().get(format!("{base}/")).send().await.unwrap().text().await.unwrap();
        assert_eq!(text, "<h1>inbox</h1>");
        let response = client().get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"ok": true}));
        let missing = client().get(format!("{base}/nope.js")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
        serving.shutdown().await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    })
    .await
}

/// `PUT /demo/chaos` makes the embedded mock fail lead updates, and only in mock mode.
#[tokio::test]
async fn demo_chaos_injects_failures_into_the_mock() {
    let serving = reekolect_proxy::start(
        reekolect_proxy::cli::ServeArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            upstream: Some("mock".parse().unwrap()),
            ..reekolect_proxy::cli::ServeArgs::new()
        },
        Some("chaos-token-0123456789".into()),
    )
    .await
    .unwrap();
    let base = serving.proxy.url();
    let client = reqwest::Client::new();
    let lead = serde_json::json!({"uuid": "7e88d192-9b20-4035-9b68-d4ac3d58a34f", "botId": "b", "customerId": "c", "name": "Ann"});
    let set = |body: serde_json::Value| client.put(format!("{base}/demo/chaos")).json(&body).send();

    let bad = set(serde_json::json!({"failRate": 1.5})).await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("failRate: must be between 0 and 1"));

    assert_eq!(set(serde_json::json!({"failRate": 1.0})).await.unwrap().status(), 200);
    for _ in 0..3 {
        let answer = client.put(format!("{base}/lead")).json(&lead).send().await.unwrap();
        assert_eq!(answer.status(), 503);
        assert!(answer.text().await.unwrap().contains("mock chaos"));
    }
    assert_eq!(set(serde_json::json!({})).await.unwrap().status(), 200);
    let answer = client.put(format!("{base}/lead")).json(&lead).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let now: serde_json::Value = client.get(format!("{base}/demo/chaos")).send().await.unwrap().json().await.unwrap();
    assert_eq!(now["chaos"]["failRate"], 0.0);
    serving.shutdown().await.unwrap();
}
