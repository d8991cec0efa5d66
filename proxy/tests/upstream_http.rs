//! The PUT to a plain-http upstream (the pooled client, as for https): upstreams
//! answering in every framing HTTP/1.1 allows, pooled connections, and misbehaving upstreams.

mod common;

use common::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How the stand-in upstream answers each request.
#[derive(Clone, Copy)]
struct Script {
    answer: &'static str,
    /// Close the connection after answering (whatever the answer says).
    close: bool,
    /// The request (counted from 1 over all connections) read and then not answered: the
    /// connection is closed instead.
    hang_up_on: Option<usize>,
}

/// What the stand-in upstream counted.
#[derive(Clone, Default)]
struct Counts {
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

/// A raw TCP upstream: reads each request (head and `content-length` body), answers
/// `script.answer`. Returns its base URL and the counts of connections it accepted and
/// requests it read.
async fn raw_upstream(script: Script) -> (String, Counts) {
    let listener = listener().await;
    let base = format!("http://{}", listener.local_addr().unwrap());
    let counts = Counts::default();
    let counted = counts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            counted.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, script, counted.requests.clone()));
        }
    });
    (base, counts)
}

async fn serve(mut stream: TcpStream, script: Script, requests: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    loop {
        // One request: its head, then its body.
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        assert!(head.starts_with("put /inbox/direct/lead http/1.1\r\n"), "{head}");
        assert!(head.contains(&format!("\r\nx-bp-token: {}\r\n", TOKEN.to_ascii_lowercase())), "{head}");
        assert!(head.contains("\r\nhost: 127.0.0.1:"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .and_then(|value| value.trim().parse().ok())
            .expect("content-length");
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        let number = requests.fetch_add(1, Ordering::SeqCst) + 1;
        if script.hang_up_on == Some(number) {
            return;
        }
        if stream.write_all(script.answer.as_bytes()).await.is_err() || script.close {
            return;
        }
    }
}

async fn put_through(answer: &'static str, close: bool) -> (u16, serde_json::Value) {
    let (base, _) = raw_upstream(Script { answer, close, hang_up_on: None }).await;
    let proxy = proxy_to(&base).await;
    let answer = put_json(&proxy.url(), &base_lead(1)).await;
    proxy.shutdown().await.unwrap();
    answer
}

#[tokio::test]
async fn every_framing_of_an_answer_is_read() {
    bounded(async {
        let chunked = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n\
                       5\r\n{\"ok\"\r\n6;ext=1\r\n:true}\r\n0\r\nx-trailer: 1\r\n\r\n";
        assert_eq!(put_through(chunked, false).await, (200, serde_json::json!({"ok": true})));

        let interim = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
        assert_eq!(put_through(interim, false).await, (201, serde_json::json!({"ok": true})));

        let until_close = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"ok\":true}";
        assert_eq!(put_through(until_close, true).await, (200, serde_json::json!({"ok": true})));

        let http10 = "HTTP/1.0 202 Accepted\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
        assert_eq!(put_through(http10, true).await, (202, serde_json::json!({"ok": true})));

        // A body larger than the connection's read buffer (4 KiB), by its length.
        let text = "x".repeat(10_000);
        let large: &'static str = Box::leak(
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{{\"text\":\"{text}\"}}", text.len() + 11)
                .into_boxed_str(),
        );
        assert_eq!(put_through(large, false).await, (200, serde_json::json!({"text": text})));
    })
    .await
}

#[tokio::test]
async fn connections_are_reused_and_a_closed_idle_one_is_replaced() {
    bounded(async {
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
        // Keep-alive: one connection for several requests.
        let (base, counts) = raw_upstream(Script { answer: ok, close: false, hang_up_on: None }).await;
        let proxy = proxy_to(&base).await;
        for n in 0..3 {
            assert_eq!(put_json(&proxy.url(), &base_lead(n)).await.0, 200);
        }
        assert_eq!(counts.connections.load(Ordering::SeqCst), 1);
        proxy.shutdown().await.unwrap();

        // An upstream closing each connection after answering, without saying so: the
        // pooled connection is dead when reused, and a new one carries the request.
        let (base, counts) = raw_upstream(Script { answer: ok, close: true, hang_up_on: None }).await;
        let proxy = proxy_to(&base).await;
        for n in 0..3 {
            let (status, body) = put_json(&proxy.url(), &base_lead(n)).await;
            assert_eq!(status, 200, "{body}");
        }
        assert_eq!(counts.connections.load(Ordering::SeqCst), 3);
        assert_eq!(counts.requests.load(Ordering::SeqCst), 3);
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_request_that_reached_the_upstream_is_never_sent_again() {
    bounded(async {
        // The second request goes on the pooled connection of the first, is read whole, and
        // the connection is closed without an answer: the API may have applied it, so it is
        // a 502, not a second PUT (the API appends notes).
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
        let (base, counts) = raw_upstream(Script { answer: ok, close: false, hang_up_on: Some(2) }).await;
        let proxy = proxy_to(&base).await;
        assert_eq!(put_json(&proxy.url(), &base_lead(1)).await.0, 200);
        let (status, body) = put_json(&proxy.url(), &base_lead(2)).await;
        assert_eq!(status, 502, "{body}");
        assert!(body["message"].as_str().unwrap().starts_with("upstream unreachable: "), "{body}");
        assert_eq!(counts.requests.load(Ordering::SeqCst), 2, "the hung-up request was sent again");
        assert_eq!(counts.connections.load(Ordering::SeqCst), 1);
        // The next request opens a new connection and goes through.
        assert_eq!(put_json(&proxy.url(), &base_lead(3)).await.0, 200);
        assert_eq!(counts.requests.load(Ordering::SeqCst), 3);
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn broken_answers_are_502s() {
    bounded(async {
        let (status, body) = put_through("garbage\r\n\r\n", true).await;
        assert_eq!(status, 502, "{body}");
        assert!(body["message"].as_str().unwrap().starts_with("upstream unreachable: "), "{body}");

        let cut = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"ok\":";
        let (status, body) = put_through(cut, true).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["message"], "upstream closed the connection while answering");

        let bad_chunk = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n";
        let (status, body) = put_through(bad_chunk, true).await;
        assert_eq!(status, 502, "{body}");

        let (status, body) = put_through("", true).await;
        assert_eq!(status, 502, "{body}");
        assert!(body["message"].as_str().unwrap().starts_with("upstream unreachable: "), "{body}");
    })
    .await
}
