//! The mock's `GET /inbox/direct/chats` and `PUT /inbox/direct/lead`, called directly.

mod common;

use common::*;
use reekolect_proxy::mock::PAGE_SIZE;
use serde_json::{json, Value};

const QUERY: [(&str, &str); 4] = [("botId", "b1"), ("customerId", "c1"), ("page", "1"), ("type", "lead")];

/// `PUT {mock}/inbox/direct/lead` with `x-bp-token: token` (when given).
async fn put_mock(mock: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = client()
        .put(format!("{mock}/inbox/direct/lead"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.header("x-bp-token", token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn unauthorized() -> Value {
    json!({"success": false, "message": "Unauthorized", "code": 401})
}

#[tokio::test]
async fn missing_or_wrong_tokens_are_401() {
    bounded(async {
        let mock = start_mock().await;
        let url = mock.url();
        assert_eq!(chats(&url, None, &QUERY).await, (401, unauthorized()));
        assert_eq!(chats(&url, Some("wrong"), &QUERY).await, (401, unauthorized()));
        // Even a bad query is a 401 first.
        assert_eq!(chats(&url, None, &[]).await, (401, unauthorized()));
        let lead = base_lead(1);
        assert_eq!(put_mock(&url, None, &lead).await, (401, unauthorized()));
        assert_eq!(put_mock(&url, Some("wrong"), &lead).await, (401, unauthorized()));
        assert_eq!(put_mock(&url, Some(TOKEN), &lead).await.0, 200);
        mock.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn bad_queries_and_bodies_are_400() {
    bounded(async {
        let mock = start_mock().await;
        let url = mock.url();
        let with = |name: &str, value: &'static str| {
            let mut query: Vec<(String, String)> =
                QUERY.iter().filter(|(k, _)| *k != name).map(|(k, v)| (k.to_string(), v.to_string())).collect();
            if !value.is_empty() {
                query.push((name.to_string(), value.to_string()));
            }
            query
        };
        let cases = [
            (with("page", "0"), "page"),
            (with("page", "-1"), "page"),
            (with("page", "two"), "page"),
            (with("page", ""), "page"),
            (with("type", "all"), "type"),
            (with("type", ""), "type"),
            (with("botId", ""), "botId"),
            (with("customerId", ""), "customerId"),
        ];
        for (query, field) in cases {
            let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let (status, body) = chats(&url, Some(TOKEN), &query).await;
            assert_eq!(status, 400, "{query:?}: {body}");
            assert_eq!(body["success"], false);
            assert_eq!(body["code"], 400);
            let message = body["message"].as_str().unwrap();
            assert!(message.starts_with(field), "{query:?}: {message}");
        }

        let mut lead = base_lead(1);
        lead["email"] = json!("nope");
        let (status, body) = put_mock(&url, Some(TOKEN), &lead).await;
        assert_eq!(status, 400);
        assert_eq!(body["code"], 400);
        assert!(body["message"].as_str().unwrap().starts_with("email: "));
        let (status, body) = put_mock(&url, Some(TOKEN), &json!({"botId": "b1"})).await;
        assert_eq!(status, 400);
        assert!(body["message"].as_str().unwrap().contains("uuid: is required"));
        mock.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn pages_of_twenty_in_creation_order() {
    bounded(async {
        assert_eq!(PAGE_SIZE, 20);
        let mock = start_mock().await;
        let url = mock.url();
        for n in 0..45 {
            let mut lead = base_lead(n);
            lead["name"] = json!(format!("Lead {n}"));
            assert_eq!(put_mock(&url, Some(TOKEN), &lead).await.0, 200);
        }
        // Another customer's chats are not listed.
        let mut other = base_lead(99);
        other["customerId"] = json!("c2");
        other["name"] = json!("Other");
        assert_eq!(put_mock(&url, Some(TOKEN), &other).await.0, 200);

        let mut seen = Vec::new();
        for (number, size) in [(1, 20), (2, 20), (3, 5), (4, 0)] {
            let records = page(&url, number, "lead").await;
            assert_eq!(records.len(), size, "page {number}");
            seen.extend(records);
        }
        let uuids: Vec<Value> = seen.iter().map(|r| r["uuid"].clone()).collect();
        let expected: Vec<Value> = (0..45).map(|n| json!(uuid(n))).collect();
        assert_eq!(uuids, expected, "sorted by createdAt, then _id");
        let keys: Vec<(String, String)> =
            seen.iter().map(|r| (r["createdAt"].as_str().unwrap().into(), r["_id"].as_str().unwrap().into())).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(page(&url, 1000, "lead").await.is_empty());
        mock.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn lead_and_non_lead_are_split_by_name_email_or_phone() {
    bounded(async {
        let mock = start_mock().await;
        let url = mock.url();
        let leads = [("name", json!("Ada")), ("email", json!("ada@example.com")), ("phone", json!("5550100"))];
        for (n, (field, value)) in leads.iter().enumerate() {
            let mut lead = base_lead(n as u64);
            lead[*field] = value.clone();
            assert_eq!(put_mock(&url, Some(TOKEN), &lead).await.0, 200);
        }
        let mut anonymous = base_lead(10);
        anonymous["tags"] = json!(["anonymous"]);
        anonymous["attributes"] = json!({"source": "ad"});
        assert_eq!(put_mock(&url, Some(TOKEN), &anonymous).await.0, 200);
        assert_eq!(put_mock(&url, Some(TOKEN), &base_lead(11)).await.0, 200);

        let lead_uuids: Vec<Value> = page(&url, 1, "lead").await.iter().map(|r| r["uuid"].clone()).collect();
        assert_eq!(lead_uuids, vec![json!(uuid(0)), json!(uuid(1)), json!(uuid(2))]);
        let others = page(&url, 1, "non-lead").await;
        let other_uuids: Vec<Value> = others.iter().map(|r| r["uuid"].clone()).collect();
        assert_eq!(other_uuids, vec![json!(uuid(10)), json!(uuid(11))]);
        let details = &others[0]["profile"]["userDetails"];
        assert_eq!(details["name"], Value::Null);
        assert_eq!(details["contact"], json!({"email": null, "phone": null}));
        assert_eq!(details["tags"], json!(["anonymous"]));
        assert_eq!(others[0]["status"], "OPEN");

        // A non-lead becomes a lead once it has a name.
        let mut named = base_lead(11);
        named["name"] = json!("Grace");
        assert_eq!(put_mock(&url, Some(TOKEN), &named).await.0, 200);
        assert_eq!(page(&url, 1, "lead").await.len(), 4);
        assert_eq!(page(&url, 1, "non-lead").await.len(), 1);
        mock.shutdown().await.unwrap();
    })
    .await
}
