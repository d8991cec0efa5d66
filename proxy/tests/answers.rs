//! Every class of upstream answer has one defined relay (issue #19; the table "What the
//! browser gets for each upstream answer" in proxy/README.md), one test each, against a raw
//! TCP stand-in upstream that answers exactly the bytes given. The companion's retry rule
//! for what each class becomes is checked too.

mod common;

use common::*;
use reekolect_lead::retry::Outcome;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the stand-in does after reading a request.
#[derive(Clone, Copy)]
enum Then {
    /// Writes the bytes and keeps the connection open.
    Answer(&'static str),
    /// Writes the bytes and closes the connection.
    AnswerAndClose(&'static str),
    /// Writes the bytes and resets the connection (RST).
    AnswerAndReset(&'static str),
    /// Writes the bytes, then nothing more for a minute.
    AnswerAndStall(&'static str),
}

/// A raw upstream answering every request as `then` says; its base URL.
async fn raw_upstream(then: Then) -> String {
    let listener = listener().await;
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, then));
        }
    });
    base
}

async fn serve(mut stream: TcpStream, then: Then) {
    let mut buf = Vec::new();
    loop {
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
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        match then {
            Then::Answer(bytes) => {
                if stream.write_all(bytes.as_bytes()).await.is_err() {
                    return;
                }
            }
            Then::AnswerAndClose(bytes) => {
                let _ = stream.write_all(bytes.as_bytes()).await;
                return;
            }
            Then::AnswerAndReset(bytes) => {
                let _ = stream.write_all(bytes.as_bytes()).await;
                // Linger 0: the close is a reset (RST), which is the point here.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                return;
            }
            Then::AnswerAndStall(bytes) => {
                let _ = stream.write_all(bytes.as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
        }
    }
}

/// A lead PUT through a proxy to a stand-in answering as `then` (upstream timeout 500 ms):
/// (status, `Retry-After`, body).
async fn through(then: Then) -> (u16, Option<String>, Value) {
    let base = raw_upstream(then).await;
    let mut config = reekolect_proxy::proxy::ProxyConfig::new(&base, reekolect_proxy::Secret::new(TOKEN));
    config.timeout = Duration::from_millis(500);
    config.breaker = (0, Duration::from_secs(1));
    let proxy = start_proxy(config).await;
    let response = client()
        .put(format!("{}/lead", proxy.url()))
        .header("content-type", "application/json")
        .body(base_lead(1).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    proxy.shutdown().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert!(!text.contains(TOKEN), "{text}");
    (status, retry_after, body)
}

/// What the companion does with an answer of `status`.
fn companion(status: u16) -> Outcome {
    Outcome::of(Some(status))
}

#[tokio::test]
async fn json_2xx_is_relayed_as_it_came() {
    bounded(async {
        let answer = "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 22\r\n\r\n\
                      {\"success\":true,\"n\":1}";
        let (status, _, body) = through(Then::Answer(answer)).await;
        assert_eq!((status, body), (201, json!({"success": true, "n": 1})));
        assert_eq!(companion(201), Outcome::Delivered);
    })
    .await
}

#[tokio::test]
async fn a_2xx_without_json_is_a_success_saying_so() {
    bounded(async {
        let (status, _, body) = through(Then::Answer("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"success": true, "code": 200,
                   "message": "upstream sent no JSON: answered 200 (no content type, 0 bytes)"})
        );
        // 204 cannot carry our body: answered 200, the upstream's status in it.
        let (status, _, body) = through(Then::Answer("HTTP/1.1 204 No Content\r\n\r\n")).await;
        assert_eq!((status, &body["success"], &body["code"]), (200, &json!(true), &json!(204)), "{body}");
        let html = "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: 9\r\n\r\n<p>ok</p>";
        let (status, _, body) = through(Then::Answer(html)).await;
        assert_eq!(status, 200);
        assert_eq!(body["message"], "upstream sent no JSON: answered 200 (text/html, 9 bytes)");
        assert_eq!(companion(status), Outcome::Delivered);
    })
    .await
}

#[tokio::test]
async fn a_json_error_is_relayed_with_the_token_scrubbed_and_retry_after() {
    bounded(async {
        let answer: &'static str = Box::leak(
            {
                let body = format!(r#"{{"success":false,"code":429,"message":"rate limited for {TOKEN}"}}"#);
                format!(
                    "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 37\r\n\
                     content-length: {}\r\n\r\n{body}",
                    body.len()
                )
            }
            .into_boxed_str(),
        );
        let (status, retry_after, body) = through(Then::Answer(answer)).await;
        assert_eq!(status, 429);
        assert_eq!(retry_after.as_deref(), Some("37"));
        assert_eq!(body, json!({"success": false, "code": 429, "message": "rate limited for [redacted]"}));
        assert_eq!(companion(429), Outcome::Retry);
        let refused = "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 42\r\n\r\n\
                       {\"success\":false,\"code\":400,\"message\":\"x\"}";
        let (status, retry_after, body) = through(Then::Answer(refused)).await;
        assert_eq!((status, retry_after, body["message"].as_str()), (400, None, Some("x")));
        assert_eq!(companion(400), Outcome::Refused);
    })
    .await
}

#[tokio::test]
async fn an_error_without_json_is_described_never_echoed() {
    bounded(async {
        let page = "<html><body>503 Service Temporarily Unavailable</body></html>";
        let answer: &'static str = Box::leak(
            format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\nretry-after: 12\r\n\
                 content-length: {}\r\n\r\n{page}",
                page.len()
            )
            .into_boxed_str(),
        );
        let (status, retry_after, body) = through(Then::Answer(answer)).await;
        assert_eq!(status, 503);
        assert_eq!(retry_after.as_deref(), Some("12"));
        assert_eq!(
            body,
            json!({"success": false, "code": 503,
                   "message": format!("upstream answered 503 (text/html, {} bytes)", page.len())})
        );
        assert_eq!(companion(503), Outcome::Retry);
        // Retry-After only on 429 and 503.
        let plain = "HTTP/1.1 500 Internal Server Error\r\nretry-after: 5\r\ncontent-length: 4\r\n\r\noops";
        let (status, retry_after, body) = through(Then::Answer(plain)).await;
        assert_eq!((status, retry_after), (500, None));
        assert_eq!(body["message"], "upstream answered 500 (no content type, 4 bytes)");
    })
    .await
}

#[tokio::test]
async fn a_switching_protocols_answer_is_a_502() {
    bounded(async {
        let answer = "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n";
        let (status, _, body) = through(Then::AnswerAndStall(answer)).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(companion(status), Outcome::Retry);
    })
    .await
}

#[tokio::test]
async fn an_oversized_answer_is_a_502() {
    bounded(async {
        let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2000000\r\n\r\n[";
        let (status, _, body) = through(Then::AnswerAndStall(answer)).await;
        assert_eq!((status, &body["message"]), (502, &json!("upstream answer is larger than 1048576 bytes")));
        // Without a length: counted while reading.
        let big: &'static str = Box::leak(
            format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n100000\r\n{}\r\n", "x".repeat(0x100000))
                .repeat(1)
                .into_boxed_str(),
        );
        let big: &'static str = Box::leak(format!("{big}10\r\n{}\r\n0\r\n\r\n", "y".repeat(16)).into_boxed_str());
        let (status, _, body) = through(Then::AnswerAndClose(big)).await;
        assert_eq!((status, &body["message"]), (502, &json!("upstream answer is larger than 1048576 bytes")));
        assert_eq!(companion(status), Outcome::Retry);
    })
    .await
}

#[tokio::test]
async fn an_answer_cut_short_is_a_502() {
    bounded(async {
        let closed = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"ok\":";
        let truncated_chunked = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n20\r\n{\"ok\":";
        for then in
            [Then::AnswerAndClose(closed), Then::AnswerAndClose(truncated_chunked), Then::AnswerAndReset(closed)]
        {
            let (status, _, body) = through(then).await;
            assert_eq!(status, 502, "{body}");
            assert_eq!(body["message"], "upstream closed the connection while answering");
        }
        // Reset before any answer.
        let (status, _, body) = through(Then::AnswerAndReset("")).await;
        assert_eq!(status, 502, "{body}");
        assert!(body["message"].as_str().unwrap().starts_with("upstream unreachable: "), "{body}");
        assert_eq!(companion(502), Outcome::Retry);
    })
    .await
}

#[tokio::test]
async fn a_slow_answer_is_a_504() {
    bounded(async {
        let (status, _, body) = through(Then::AnswerAndStall("")).await;
        assert_eq!((status, &body["message"]), (504, &json!("upstream timeout: no answer within 500ms")));
        let slow_body = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{";
        let (status, _, body) = through(Then::AnswerAndStall(slow_body)).await;
        assert_eq!((status, &body["message"]), (504, &json!("upstream timeout while reading its answer")));
        assert_eq!(companion(504), Outcome::Retry);
    })
    .await
}

/// Scrubbing only ever matches the token: a short token is refused at start-up.
#[tokio::test]
async fn a_token_shorter_than_16_characters_is_refused_at_start_up() {
    bounded(async {
        for token in ["t", "fifteen-chars-x"] {
            let mut args = reekolect_proxy::cli::ServeArgs::new();
            args.listen = "127.0.0.1:0".parse().unwrap();
            args.upstream = Some("mock".parse().unwrap());
            let err = reekolect_proxy::start(args, Some(token.into())).await.unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with("REEKOLECT_API_TOKEN: the token has "), "{message}");
            assert!(message.contains("at least 16"), "{message}");
            assert!(!message.contains("fifteen-chars-x"), "the message shows the token: {message}");
        }
        let mut args = reekolect_proxy::cli::ServeArgs::new();
        args.listen = "127.0.0.1:0".parse().unwrap();
        args.upstream = Some("mock".parse().unwrap());
        let serving = reekolect_proxy::start(args, Some("sixteen-chars-xx".into())).await.unwrap();
        serving.shutdown().await.unwrap();
    })
    .await
}
