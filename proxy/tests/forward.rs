//! `PUT /lead` forwarded to an upstream: the mock, a capturing server, a closed port.

mod common;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use axum::Router;
use common::*;
use reekolect_proxy::proxy::ProxyConfig;
use reekolect_proxy::Secret;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn put_through_proxy_stores_and_merges_in_the_mock() {
    bounded(async {
        let mock = start_mock().await;
        let proxy = proxy_to(&mock.url()).await;

        let first = json!({
            "uuid": uuid(1), "botId": "b1", "customerId": "c1",
            "agentId": "631aa793bcfa100487d13d0d", "status": "inprogress",
            "picture": "https://img.example/p.png", "name": " Ada Lovelace ",
            "email": "ada@EXAMPLE.com", "phone": "+91 98765 43210",
            "notes": [{"title": "First", "description": "hello"}],
            "tags": ["vip", "web"],
            "attributes": [{"key": "ID", "value": "BP001"}, {"key": "plan", "value": "free"}],
        });
        let (status, body) = put_json(&proxy.url(), &first).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"success": true, "message": "ok", "code": 200}));

        let records = page(&mock.url(), 1, "lead").await;
        assert_eq!(records.len(), 1);
        let record = &records[0];
        assert_eq!(record["uuid"], uuid(1));
        assert_eq!(record["status"], "INPROGRESS");
        assert_eq!(record["_agentAssigned"], "631aa793bcfa100487d13d0d");
        assert_eq!(record["websiteVisits"], 1);
        assert_eq!(record["isOnline"], false);
        assert_eq!(record["lastMessage"], Value::Null);
        let id = record["_id"].as_str().unwrap();
        assert!(id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        let created = record["createdAt"].as_str().unwrap().to_string();
        humantime::parse_rfc3339(&created).expect("createdAt is RFC 3339");
        assert!(created.ends_with('Z') && created.len() == 24, "{created}");
        let details = &record["profile"]["userDetails"];
        assert_eq!(details["name"], "Ada Lovelace");
        assert_eq!(details["picture"], "https://img.example/p.png");
        assert_eq!(details["contact"]["email"], "ada@example.com");
        assert_eq!(details["contact"]["phone"], json!({"number": "9876543210", "prefix": "91"}));
        assert_eq!(details["tags"], json!(["vip", "web"]));
        assert_eq!(details["attributes"], json!([{"key": "ID", "value": "BP001"}, {"key": "plan", "value": "free"}]));
        let notes = record["profile"]["notes"].as_array().unwrap();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0]["title"], "First");
        assert_eq!(notes[0]["description"], "hello");
        assert_eq!(notes[0]["_id"].as_str().unwrap().len(), 24);

        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = json!({
            "uuid": uuid(1), "botId": "b1", "customerId": "c1",
            "status": "CLOSED",
            "notes": [{"title": "Second", "description": ""}],
            "tags": ["web", "returning"],
            "attributes": {"plan": "pro", "seats": 3},
        });
        let (status, body) = put_json(&proxy.url(), &second).await;
        assert_eq!(status, 200, "{body}");

        let records = page(&mock.url(), 1, "lead").await;
        assert_eq!(records.len(), 1, "same (botId, customerId, uuid) is one chat");
        let record = &records[0];
        assert_eq!(record["_id"], id, "the chat keeps its id");
        assert_eq!(record["createdAt"], created.as_str(), "createdAt is set once");
        assert!(record["updatedAt"].as_str().unwrap() > created.as_str());
        assert_eq!(record["status"], "CLOSED");
        let details = &record["profile"]["userDetails"];
        assert_eq!(details["name"], "Ada Lovelace", "absent scalars are kept");
        assert_eq!(details["tags"], json!(["vip", "web", "returning"]));
        assert_eq!(
            details["attributes"],
            json!([
                {"key": "ID", "value": "BP001"},
                {"key": "plan", "value": "pro"},
                {"key": "seats", "value": "3"},
            ])
        );
        let notes = record["profile"]["notes"].as_array().unwrap();
        let titles: Vec<_> = notes.iter().map(|n| n["title"].clone()).collect();
        assert_eq!(titles, vec![json!("First"), json!("Second")]);
        assert_ne!(notes[0]["_id"], notes[1]["_id"]);

        proxy.shutdown().await.unwrap();
        mock.shutdown().await.unwrap();
    })
    .await
}

type Captured = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// An upstream that records each `PUT /inbox/direct/lead` and answers with `answer`.
async fn capturing_upstream(status: StatusCode, answer: &'static str) -> (reekolect_proxy::ServerHandle, Captured) {
    let captured: Captured = Arc::default();
    let store = captured.clone();
    let app = Router::new().route(
        "/inbox/direct/lead",
        put(move |headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push((headers, body));
                (status, answer)
            }
        }),
    );
    let server = reekolect_proxy::spawn_router(listener().await, app).unwrap();
    (server, captured)
}

#[tokio::test]
async fn token_is_added_and_the_normalised_lead_forwarded() {
    bounded(async {
        let (upstream, captured) =
            capturing_upstream(StatusCode::OK, r#"{"success":true,"message":"ok","code":200}"#).await;
        let proxy = proxy_to(&upstream.url()).await;

        let sent = json!({
            "uuid": uuid(7), "botId": "b1", "customerId": "c1",
            "email": "Ada@Example.COM", "phone": "+44 20 7946 0958", "status": "open",
            "tags": ["a", "a", "b"],
        });
        let response = client()
            .put(format!("{}/lead", proxy.url()))
            .header("content-type", "application/json")
            .header("x-bp-token", "browser-supplied-must-be-replaced")
            .body(sent.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = format!("{:?}", response.headers());
        let text = response.text().await.unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"success": true, "message": "ok", "code": 200})
        );
        assert!(!text.contains(TOKEN) && !headers.contains(TOKEN));

        let captured = captured.lock().unwrap().clone();
        assert_eq!(captured.len(), 1);
        let (headers, body) = &captured[0];
        let tokens: Vec<_> = headers.get_all("x-bp-token").iter().collect();
        assert_eq!(tokens, vec![TOKEN], "exactly the configured token");
        assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
        let body: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            body,
            json!({
                "uuid": uuid(7), "botId": "b1", "customerId": "c1", "status": "OPEN",
                "email": "Ada@example.com", "phone": "2079460958", "dialCode": "+44",
                "tags": ["a", "b"],
            })
        );

        proxy.shutdown().await.unwrap();
        upstream.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn upstream_status_and_json_are_relayed_and_text_is_wrapped() {
    bounded(async {
        let (json_upstream, _) =
            capturing_upstream(StatusCode::UNAUTHORIZED, r#"{"success":false,"message":"Unauthorized","code":401}"#)
                .await;
        let proxy = proxy_to(&json_upstream.url()).await;
        let (status, body) = put_json(&proxy.url(), &base_lead(1)).await;
        assert_eq!(status, 401);
        assert_eq!(body, json!({"success": false, "message": "Unauthorized", "code": 401}));
        proxy.shutdown().await.unwrap();

        // An upstream echoing the token in plain text: described (status, type, size),
        // its text never echoed, so neither is the token.
        let echo: &'static str = Box::leak(format!("Internal error {TOKEN} {}", "x".repeat(1000)).into_boxed_str());
        let (text_upstream, _) = capturing_upstream(StatusCode::INTERNAL_SERVER_ERROR, echo).await;
        let proxy = proxy_to(&text_upstream.url()).await;
        let (status, body) = put_json(&proxy.url(), &base_lead(1)).await;
        assert_eq!(status, 500);
        assert_eq!(
            body,
            json!({"success": false, "code": 500,
                   "message": format!("upstream answered 500 (text/plain, {} bytes)", echo.len())})
        );

        proxy.shutdown().await.unwrap();
        json_upstream.shutdown().await.unwrap();
        text_upstream.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn closed_upstream_port_is_a_502() {
    bounded(async {
        let port = closed_port().await;
        let proxy = proxy_to(&format!("http://127.0.0.1:{port}")).await;
        let (status, body) = put_json(&proxy.url(), &base_lead(1)).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["code"], 502);
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("upstream unreachable: "), "{message}");
        assert!(!message.contains(TOKEN));
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn slow_upstream_is_a_504() {
    bounded(async {
        let app = Router::new().route(
            "/inbox/direct/lead",
            put(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
        let upstream = reekolect_proxy::spawn_router(listener().await, app).unwrap();
        let mut config = ProxyConfig::new(upstream.url(), Secret::new(TOKEN));
        config.timeout = Duration::from_millis(300);
        let proxy = start_proxy(config).await;
        let (status, body) = put_json(&proxy.url(), &base_lead(1)).await;
        assert_eq!(status, 504, "{body}");
        assert_eq!(body["code"], 504);
        assert!(body["message"].as_str().unwrap().starts_with("upstream timeout"));
        proxy.shutdown().await.unwrap();
        drop(upstream); // its handler is still sleeping; dropping stops it in the background
    })
    .await
}
