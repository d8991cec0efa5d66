//! Signed visitor tokens, and `POST /lead` as `navigator.sendBeacon` sends it.

mod common;

use common::*;
use reekolect_proxy::proxy::ProxyConfig;
use reekolect_proxy::visitor::{unix_now, VisitorError, VisitorKey};
use reekolect_proxy::{Secret, ServerHandle};
use serde_json::{json, Value};

const SECRET: &str = "visitor-secret-for-tests";

async fn signed_proxy() -> (ServerHandle, ServerHandle) {
    let mock = start_mock().await;
    let mut config = ProxyConfig::new(mock.url(), Secret::new(TOKEN));
    config.visitor_key = Some(VisitorKey::new(SECRET));
    (start_proxy(config).await, mock)
}

fn named(n: u64) -> Value {
    let mut lead = base_lead(n);
    lead["email"] = json!("ada@example.com");
    lead
}

async fn put_token(base: &str, lead: &Value, token: Option<&str>) -> (u16, Value) {
    let mut request =
        client().put(format!("{base}/lead")).header("content-type", "application/json").body(lead.to_string());
    if let Some(token) = token {
        request = request.header("x-reekolect-visitor", token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn assert_401(status: u16, body: &Value, reason: &str) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], 401);
    assert_eq!(body["errors"][0]["field"], "visitorToken");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with(&format!("visitorToken: {reason} (")), "{message}");
}

#[test]
fn tokens_verify_in_the_documented_format() {
    let key = VisitorKey::new(SECRET);
    let token = key.sign(&uuid(1), 2_000_000_000);
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 4);
    assert_eq!(parts[..3], ["v1", uuid(1).as_str(), "2000000000"]);
    assert_eq!(parts[3].len(), 43, "base64url of 32 bytes, no padding");
    assert!(key.verify(Some(&token), &uuid(1), 1_999_999_999).is_ok());
    assert_eq!(key.verify(Some(&token), &uuid(1), 2_000_000_000), Err(VisitorError::Expired));
    assert_eq!(key.verify(Some(&token), &uuid(2), 0), Err(VisitorError::WrongUuid));
    assert_eq!(key.verify(None, &uuid(1), 0), Err(VisitorError::Missing));
    assert_eq!(key.verify(Some("v1.x"), &uuid(1), 0), Err(VisitorError::Malformed));
    assert_eq!(VisitorKey::new("other").verify(Some(&token), &uuid(1), 0), Err(VisitorError::BadSignature));
    // A fixed vector, so a Node backend can check its implementation against it.
    assert_eq!(
        VisitorKey::new("s3cret").sign("7e88d192-9b20-4035-9b68-d4ac3d58a34f", 1700000000),
        "v1.7e88d192-9b20-4035-9b68-d4ac3d58a34f.1700000000.".to_string() + &fixed_signature()
    );
}

/// HMAC-SHA256("s3cret", "v1.7e88d192-9b20-4035-9b68-d4ac3d58a34f.1700000000") in
/// base64url, as computed by Node's `crypto.createHmac(...).digest("base64url")`.
fn fixed_signature() -> String {
    "2B9sS8pWVoFglj0152_lQ8LiaUlTL3MpSL3FaBRD6-g".to_string()
}

#[tokio::test]
async fn identity_updates_need_a_valid_token() {
    bounded(async {
        let (proxy, mock) = signed_proxy().await;
        let key = VisitorKey::new(SECRET);
        let base = proxy.url();

        let (status, body) = put_token(&base, &named(1), None).await;
        assert_401(status, &body, "missing");

        let expired = key.sign(&uuid(1), unix_now() - 1);
        let (status, body) = put_token(&base, &named(1), Some(&expired)).await;
        assert_401(status, &body, "expired");

        let other = key.sign(&uuid(2), unix_now() + 600);
        let (status, body) = put_token(&base, &named(1), Some(&other)).await;
        assert_401(status, &body, "wrong uuid");

        let valid = key.sign(&uuid(1), unix_now() + 600);
        let tampered = valid.replacen(&uuid(1), &uuid(2), 1);
        let (status, body) = put_token(&base, &named(2), Some(&tampered)).await;
        assert_401(status, &body, "bad signature");
        let forged = VisitorKey::new("guess").sign(&uuid(1), unix_now() + 600);
        let (status, body) = put_token(&base, &named(1), Some(&forged)).await;
        assert_401(status, &body, "bad signature");

        assert_eq!(page(&mock.url(), 1, "lead").await.len(), 0, "nothing forwarded");
        let (status, body) = put_token(&base, &named(1), Some(&valid)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(page(&mock.url(), 1, "lead").await.len(), 1);

        // Tags, notes, attributes, status: no token needed.
        let mut lead = base_lead(3);
        lead["tags"] = json!(["newsletter"]);
        lead["status"] = json!("REVIEW");
        assert_eq!(put_token(&base, &lead, None).await.0, 200);
        proxy.shutdown().await.unwrap();
        mock.shutdown().await.unwrap();
    })
    .await
}

async fn post(base: &str, query: &str, content_type: &str, body: &str) -> (u16, Value) {
    let response = client()
        .post(format!("{base}/lead{query}"))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn text_plain_post_is_validated_and_forwarded_like_put() {
    bounded(async {
        let mock = start_mock().await;
        let proxy = proxy_to(&mock.url()).await;
        let base = proxy.url();
        let mut lead = named(1);
        lead["tags"] = json!(["beacon"]);
        let (status, body) = post(&base, "", "text/plain;charset=UTF-8", &lead.to_string()).await;
        assert_eq!(status, 200, "{body}");
        let (status, _) = post(&base, "", "application/json", &named(2).to_string()).await;
        assert_eq!(status, 200);
        let records = page(&mock.url(), 1, "lead").await;
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["profile"]["userDetails"]["tags"], json!(["beacon"]));

        let (status, body) = post(&base, "", "text/plain", r#"{"uuid": 1}"#).await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = post(&base, "", "application/x-www-form-urlencoded", "a=b").await;
        assert_eq!(status, 415, "{body}");
        assert_eq!(body["code"], 415);
        proxy.shutdown().await.unwrap();
        mock.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn text_plain_post_carries_the_token_in_the_query() {
    bounded(async {
        let (proxy, mock) = signed_proxy().await;
        let key = VisitorKey::new(SECRET);
        let base = proxy.url();
        let body = named(1).to_string();
        let (status, answer) = post(&base, "", "text/plain", &body).await;
        assert_401(status, &answer, "missing");
        let token = key.sign(&uuid(1), unix_now() + 60);
        let (status, answer) = post(&base, &format!("?visitor={token}"), "text/plain", &body).await;
        assert_eq!(status, 200, "{answer}");
        let wrong = key.sign(&uuid(9), unix_now() + 60);
        let (status, answer) = post(&base, &format!("?visitor={wrong}"), "text/plain", &body).await;
        assert_401(status, &answer, "wrong uuid");
        proxy.shutdown().await.unwrap();
        mock.shutdown().await.unwrap();
    })
    .await
}
