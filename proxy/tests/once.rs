//! Each update once: a repeated `?updateId=` is answered without another call upstream.

mod common;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::put;
use axum::Router;
use common::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ID: &str = "0123456789abcdef0123456789abcdef";

/// An upstream that records each PUT's body, waits `delay`, and answers the n-th call
/// (from 0) with `statuses[n]` (the last one for the rest).
async fn upstream(
    statuses: &'static [u16],
    delay: Duration,
) -> (reekolect_proxy::ServerHandle, Arc<Mutex<Vec<Bytes>>>) {
    let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let store = bodies.clone();
    let app = Router::new().route(
        "/inbox/direct/lead",
        put(move |body: Bytes| {
            let (store, calls) = (store.clone(), calls.clone());
            async move {
                store.lock().unwrap().push(body);
                let n = calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let status = statuses[n.min(statuses.len() - 1)];
                let answer = json!({"success": status < 300, "message": format!("call {n}"), "code": status});
                (StatusCode::from_u16(status).unwrap(), answer.to_string())
            }
        }),
    );
    (reekolect_proxy::spawn_router(listener().await, app).unwrap(), bodies)
}

fn note_lead() -> Value {
    json!({"uuid": uuid(5), "botId": "b1", "customerId": "c1", "notes": [{"title": "Visit", "description": "booked"}]})
}

/// `PUT` (JSON) or, with `keepalive`, `POST` as `text/plain` (what a closing page sends) to
/// `/lead?{query}`; (status, JSON body).
async fn send(base: &str, query: &str, keepalive: bool, body: &Value) -> (u16, Value) {
    let url = format!("{base}/lead?{query}");
    let request = if keepalive {
        client().post(url).header("content-type", "text/plain;charset=UTF-8")
    } else {
        client().put(url).header("content-type", "application/json")
    };
    let response = request.body(body.to_string()).send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON answer"))
}

#[tokio::test]
async fn the_same_update_id_twice_is_forwarded_once_with_the_wire_format_unchanged() {
    bounded(async {
        let (up, bodies) = upstream(&[200], Duration::ZERO).await;
        let proxy = proxy_to(&up.url()).await;
        let query = format!("updateId={ID}");
        // The closing page's keepalive POST, then the next page's PUT of the same update.
        let first = send(&proxy.url(), &query, true, &note_lead()).await;
        let again = send(&proxy.url(), &query, false, &note_lead()).await;
        assert_eq!(first.0, 200, "{first:?}");
        assert_eq!(again, first, "a repeat gets the first delivery's answer");
        assert_eq!(bodies.lock().unwrap().len(), 1, "the upstream saw one PUT");
        // Upper-case digits are the same id.
        send(&proxy.url(), &format!("updateId={}", ID.to_uppercase()), false, &note_lead()).await;
        assert_eq!(bodies.lock().unwrap().len(), 1);

        // Without an id, the same lead goes upstream every time, and as the same bytes: the
        // id never reaches the upstream.
        send(&proxy.url(), "", false, &note_lead()).await;
        send(&proxy.url(), "visitor=x", false, &note_lead()).await;
        let bodies = bodies.lock().unwrap().clone();
        assert_eq!(bodies.len(), 3);
        assert_eq!(bodies[0], bodies[1]);
        assert!(!String::from_utf8_lossy(&bodies[0]).contains(ID));
        proxy.shutdown().await.unwrap();
        up.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn concurrent_repeats_of_an_update_in_flight_are_forwarded_once() {
    bounded(async {
        let (up, bodies) = upstream(&[200], Duration::from_millis(400)).await;
        let proxy = proxy_to(&up.url()).await;
        let query = format!("updateId={ID}");
        let sends = (0..6).map(|n| {
            let (url, query) = (proxy.url(), query.clone());
            tokio::spawn(async move { send(&url, &query, n % 2 == 0, &note_lead()).await })
        });
        let answers: Vec<(u16, Value)> =
            futures_join(sends.collect()).await.into_iter().map(|answer| answer.unwrap()).collect();
        assert_eq!(bodies.lock().unwrap().len(), 1, "the upstream saw one PUT: {answers:?}");
        for answer in &answers {
            assert_eq!(answer, &answers[0], "every repeat gets the one delivery's answer");
        }
        assert_eq!(answers[0].0, 200);
        proxy.shutdown().await.unwrap();
        up.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_failed_delivery_is_not_remembered_and_its_retry_goes_upstream() {
    bounded(async {
        let (up, bodies) = upstream(&[502, 503, 200], Duration::ZERO).await;
        let proxy = proxy_to(&up.url()).await;
        let query = format!("updateId={ID}");
        let first = send(&proxy.url(), &query, true, &note_lead()).await;
        assert_eq!(first.0, 502, "{first:?}");
        let second = send(&proxy.url(), &query, false, &note_lead()).await;
        assert_eq!(second.0, 503, "{second:?}");
        let third = send(&proxy.url(), &query, false, &note_lead()).await;
        assert_eq!(third.0, 200, "{third:?}");
        assert_eq!(bodies.lock().unwrap().len(), 3, "every retry after a failure went upstream");
        let fourth = send(&proxy.url(), &query, false, &note_lead()).await;
        assert_eq!(fourth, third);
        assert_eq!(bodies.lock().unwrap().len(), 3, "the delivery is remembered");
        proxy.shutdown().await.unwrap();
        up.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_failure_the_retry_gets_past() {
    bounded(async {
        let port = closed_port().await;
        let proxy = proxy_to(&format!("http://127.0.0.1:{port}")).await;
        let query = format!("updateId={ID}");
        let (status, _) = send(&proxy.url(), &query, false, &note_lead()).await;
        assert_eq!(status, 502);
        let (status, _) = send(&proxy.url(), &query, false, &note_lead()).await;
        assert_eq!(status, 502, "tried again, not answered from memory");
        proxy.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_malformed_update_id_is_a_400_naming_the_field_and_the_rule() {
    bounded(async {
        let (up, bodies) = upstream(&[200], Duration::ZERO).await;
        let proxy = proxy_to(&up.url()).await;
        for bad in ["", "abc", "0123456789abcdef0123456789abcdeg", "0123456789abcdef0123456789abcdef0", "%30"] {
            for keepalive in [false, true] {
                let (status, body) = send(&proxy.url(), &format!("updateId={bad}"), keepalive, &note_lead()).await;
                assert_eq!(status, 400, "{bad:?}: {body}");
                let message = body["message"].as_str().unwrap();
                assert!(message.starts_with("updateId: must be 32 hexadecimal digits"), "{message}");
                assert_eq!(body["errors"][0]["field"], "updateId", "{body}");
            }
        }
        // With other errors, all of them are named.
        let (status, body) =
            send(&proxy.url(), "updateId=x", false, &json!({"uuid": "nope", "botId": "b1", "customerId": "c1"})).await;
        assert_eq!(status, 400);
        let fields: Vec<&str> =
            body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&"uuid") && fields.contains(&"updateId"), "{body}");
        assert!(bodies.lock().unwrap().is_empty(), "nothing went upstream");
        proxy.shutdown().await.unwrap();
        up.shutdown().await.unwrap();
    })
    .await;
}

/// Awaits every task (no `futures` crate among the test dependencies).
async fn futures_join<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut done = Vec::with_capacity(tasks.len());
    for task in tasks {
        done.push(task.await);
    }
    done
}
