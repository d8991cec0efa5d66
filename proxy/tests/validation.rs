//! `PUT /lead` bodies the proxy rejects itself, before any upstream is contacted.

mod common;

use common::*;
use serde_json::{json, Value};

/// A proxy whose upstream port is closed: any forwarded request would be a 502.
async fn proxy() -> reekolect_proxy::ServerHandle {
    proxy_to(&format!("http://127.0.0.1:{}", closed_port().await)).await
}

fn assert_400(status: u16, body: &Value, field: &str) -> String {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], 400);
    let errors = body["errors"].as_array().expect("errors list");
    assert!(errors.iter().any(|e| e["field"] == field), "no error for {field}: {body}");
    let message = body["message"].as_str().unwrap().to_string();
    assert!(message.contains(&format!("{field}: ")), "{message}");
    message
}

#[tokio::test]
async fn malformed_json_is_a_400_saying_where() {
    bounded(async {
        let proxy = proxy().await;
        let (status, body) = put_raw(&proxy.url(), r#"{"uuid": "#).await;
        let message = assert_400(status, &body, "body");
        assert!(message.contains("not valid JSON"), "{message}");
        assert!(message.contains("line 1 column"), "{message}");

        let (status, body) = put_raw(&proxy.url(), r#"{"uuid": 1} trailing"#).await;
        assert!(assert_400(status, &body, "body").contains("not valid JSON"));

        let (status, body) = put_raw(&proxy.url(), "").await;
        assert_400(status, &body, "body");
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn an_array_body_is_a_400() {
    bounded(async {
        let proxy = proxy().await;
        let (status, body) = put_json(&proxy.url(), &json!([base_lead(1)])).await;
        let message = assert_400(status, &body, "body");
        assert_eq!(message, "body: must be a JSON object");
        let (status, body) = put_raw(&proxy.url(), " \"text\" ").await;
        assert_400(status, &body, "body");
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn deeply_nested_bodies_are_a_400_and_the_proxy_lives_on() {
    bounded(async {
        let proxy = proxy().await;
        // 60 KB of nesting, within the 64 KiB body limit: a parser that recursed without a
        // limit would overflow its stack and take the process down (sonic-rs did, when tried).
        for field in ["tags", "notes", "name"] {
            let body = format!(r#"{{"{field}":{}{}}}"#, "[".repeat(30_000), "]".repeat(30_000));
            let (status, answer) = put_raw(&proxy.url(), body).await;
            assert_eq!(status, 400, "{answer}");
        }
        let (status, answer) = put_raw(&proxy.url(), "[".repeat(60_000)).await;
        assert_eq!(status, 400, "{answer}");
        let (status, answer) = put_json(&proxy.url(), &json!({"name": 1})).await;
        assert_400(status, &answer, "name");
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn an_unknown_field_is_a_400_naming_it() {
    bounded(async {
        let proxy = proxy().await;
        let mut lead = base_lead(1);
        lead["favouriteColour"] = json!("blue");
        let (status, body) = put_json(&proxy.url(), &lead).await;
        let message = assert_400(status, &body, "favouriteColour");
        assert!(message.contains("not a known field"), "{message}");

        let mut lead = base_lead(1);
        lead["tags"] = json!("one");
        let (status, body) = put_json(&proxy.url(), &lead).await;
        assert_400(status, &body, "tags");
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn broken_rules_are_a_400_naming_every_field() {
    bounded(async {
        let proxy = proxy().await;
        let mut lead = base_lead(1);
        lead["email"] = json!("not-an-email");
        let (status, body) = put_json(&proxy.url(), &lead).await;
        let message = assert_400(status, &body, "email");
        assert!(message.starts_with("email: must be"), "{message}");
        assert_eq!(
            body["errors"],
            json!([{"field": "email", "rule": "must be an email address like name@example.com"}])
        );

        let (status, body) = put_json(&proxy.url(), &json!({"botId": "b 1", "status": "DONE", "tags": [""]})).await;
        for field in ["uuid", "botId", "customerId", "status", "tags[0]"] {
            assert_400(status, &body, field);
        }
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_body_over_64_kib_is_a_413() {
    bounded(async {
        let proxy = proxy().await;
        let mut lead = base_lead(1);
        lead["name"] = json!("x".repeat(70 * 1024));
        let (status, body) = put_json(&proxy.url(), &lead).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["code"], 413);
        assert!(body["message"].as_str().unwrap().contains("65536"));

        // Without a content-length (chunked), the limit still holds.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..70).map(|_| Ok(vec![b' '; 1024])).collect();
        let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let (status, body) = put_raw(&proxy.url(), stream).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["code"], 413);
        proxy.shutdown().await.unwrap();
    })
    .await
}

/// serde's derived readers also take a struct as an array of its fields in order; the wire
/// format (and the OpenAPI document) says a note and an attribute are objects.
#[tokio::test]
async fn a_note_or_an_attribute_written_as_an_array_is_a_400() {
    bounded(async {
        let proxy = proxy().await;
        let mut lead = base_lead(1);
        lead["notes"] = json!([["title", "description"]]);
        let (status, body) = put_raw(&proxy.url(), lead.to_string()).await;
        assert!(assert_400(status, &body, "notes[0]").contains("must be an object"));
        let mut lead = base_lead(1);
        lead["attributes"] = json!([{"key": "plan", "value": "pro"}, ["seats", 5]]);
        let (status, body) = put_raw(&proxy.url(), lead.to_string()).await;
        assert!(assert_400(status, &body, "attributes[1]").contains("must be an object"));
        proxy.shutdown().await.unwrap();
    })
    .await
}
