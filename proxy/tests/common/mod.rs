//! Helpers shared by the integration tests: servers on 127.0.0.1:0, a client, leads.
#![allow(dead_code)]

pub mod pki;

use reekolect_proxy::proxy::{self, ProxyConfig};
use reekolect_proxy::{mock, Secret, ServerHandle};
use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

/// The token the tests' mocks expect.
pub const TOKEN: &str = "test-token-5f3c9a";

/// Runs a test body with a time bound, so a hung server fails the test instead of hanging.
pub async fn bounded<F: Future<Output = T>, T>(body: F) -> T {
    tokio::time::timeout(Duration::from_secs(30), body).await.expect("test took longer than 30 s")
}

/// A listener on an ephemeral 127.0.0.1 port.
pub async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0")
}

/// A mock API expecting [`TOKEN`].
pub async fn start_mock() -> ServerHandle {
    mock::spawn(listener().await, Secret::new(TOKEN)).expect("start mock")
}

/// A proxy with `config`.
pub async fn start_proxy(config: ProxyConfig) -> ServerHandle {
    proxy::spawn(listener().await, config).expect("start proxy")
}

/// A proxy forwarding to `upstream` with [`TOKEN`].
pub async fn proxy_to(upstream: &str) -> ServerHandle {
    start_proxy(ProxyConfig::new(upstream, Secret::new(TOKEN))).await
}

/// An HTTP client that never uses a system proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(20)).build().expect("client")
}

/// A UUID numbered `n`.
pub fn uuid(n: u64) -> String {
    format!("7e88d192-9b20-4035-9b68-{n:012x}")
}

/// The smallest valid lead for bot `b1`, customer `c1`.
pub fn base_lead(n: u64) -> Value {
    json!({"uuid": uuid(n), "botId": "b1", "customerId": "c1"})
}

/// `PUT {base}/lead` with a raw body; (status, JSON body).
pub async fn put_raw(base: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = client()
        .put(format!("{base}/lead"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("PUT /lead");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, body)
}

/// `PUT {base}/lead` with a JSON body.
pub async fn put_json(base: &str, body: &Value) -> (u16, Value) {
    put_raw(base, body.to_string()).await
}

/// `GET {mock}/inbox/direct/chats` with `x-bot-token: token` (when given) and `query`.
pub async fn chats(mock: &str, token: Option<&str>, query: &[(&str, &str)]) -> (u16, Value) {
    let mut request = client().get(format!("{mock}/inbox/direct/chats")).query(query);
    if let Some(token) = token {
        request = request.header("x-bot-token", token);
    }
    let response = request.send().await.expect("GET chats");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// The records of page `page` of type `kind` for bot b1 / customer c1.
pub async fn page(mock: &str, page: u32, kind: &str) -> Vec<Value> {
    let page = page.to_string();
    let (status, body) =
        chats(mock, Some(TOKEN), &[("botId", "b1"), ("customerId", "c1"), ("page", &page), ("type", kind)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["code"], 200);
    body["data"].as_array().expect("data list").clone()
}

/// A port nothing listens on (bound, then released).
pub async fn closed_port() -> u16 {
    let listener = listener().await;
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}
