//! The path deployments run: an `https://` upstream, over real TLS on 127.0.0.1, with a CA
//! minted by the test (rcgen). Trust, TLS failures, pooling, timeouts and the breaker.

mod common;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::put;
use axum::Router;
use common::pki::TestCa;
use common::*;
use reekolect_proxy::cli::{ChatType, LeadsArgs, OutputFormat};
use reekolect_proxy::proxy::ProxyConfig;
use reekolect_proxy::{mock, Secret};
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// The names a test certificate is for: the loopback address the URLs use.
const LOOPBACK: &[&str] = &["127.0.0.1", "localhost"];

/// A proxy forwarding to `upstream` with [`TOKEN`], trusting `ca` (and the default roots).
async fn proxy_trusting(upstream: &str, ca: &TestCa) -> reekolect_proxy::ServerHandle {
    let mut config = ProxyConfig::new(upstream, Secret::new(TOKEN));
    config.upstream_trust = ca.trust();
    start_proxy(config).await
}

type Captured = Arc<Mutex<Vec<HeaderMap>>>;

/// A router recording the headers of each lead PUT, answering the API's success.
fn capturing() -> (Router, Captured) {
    let captured: Captured = Arc::default();
    let store = captured.clone();
    let router = Router::new().route(
        "/inbox/direct/lead",
        put(move |headers: HeaderMap, _body: Bytes| {
            store.lock().unwrap().push(headers);
            async { axum::Json(json!({"success": true, "message": "ok", "code": 200})) }
        }),
    );
    (router, captured)
}

#[tokio::test]
async fn leads_are_forwarded_with_the_token_over_tls_and_listed_back() {
    bounded(async {
        let ca = TestCa::new();
        let upstream = ca.serve(mock::router(Secret::new(TOKEN)), LOOPBACK, false).await;
        let mut config = ProxyConfig::new(upstream.url(), Secret::new(TOKEN));
        config.upstream_trust = ca.trust();
        config.demo = true;
        let proxy = start_proxy(config).await;
        let mut lead = base_lead(1);
        lead["name"] = json!("Ada over TLS");
        let (status, body) = put_json(&proxy.url(), &lead).await;
        assert_eq!((status, &body), (200, &json!({"success": true, "message": "ok", "code": 200})));
        // The mock accepted the token (else 401); the chats come back over TLS too.
        let listed: Value = client()
            .get(format!("{}/demo/leads?botId=b1&customerId=c1", proxy.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed["leads"][0]["profile"]["userDetails"]["name"], "Ada over TLS", "{listed}");
        proxy.shutdown().await.unwrap();
        upstream.shutdown().await.unwrap();

        // The headers as sent: exactly the configured token.
        let (router, captured) = capturing();
        let upstream = ca.serve(router, LOOPBACK, false).await;
        let proxy = proxy_trusting(&upstream.url(), &ca).await;
        assert_eq!(put_json(&proxy.url(), &base_lead(2)).await.0, 200);
        let headers = captured.lock().unwrap()[0].clone();
        assert_eq!(headers.get_all("x-bp-token").iter().collect::<Vec<_>>(), vec![TOKEN]);
        assert_eq!(headers["content-type"], "application/json");
        proxy.shutdown().await.unwrap();
        upstream.shutdown().await.unwrap();
    })
    .await
}

/// What the proxy answers for an upstream with this certificate: (status, message).
async fn refused_with(names: &[&str], expired: bool, trusted: bool) -> (u16, String) {
    let ca = TestCa::new();
    let (router, captured) = capturing();
    let upstream = ca.serve(router, names, expired).await;
    let proxy = if trusted { proxy_trusting(&upstream.url(), &ca).await } else { proxy_to(&upstream.url()).await };
    let (status, body) = put_json(&proxy.url(), &base_lead(1)).await;
    assert!(captured.lock().unwrap().is_empty(), "a request went through a refused TLS connection");
    assert!(!body.to_string().contains(TOKEN));
    proxy.shutdown().await.unwrap();
    upstream.shutdown().await.unwrap();
    (status, body["message"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_502_saying_so() {
    bounded(async {
        let (status, message) = refused_with(LOOPBACK, false, false).await;
        assert_eq!(status, 502);
        assert!(
            message.starts_with("upstream unreachable: TLS: the upstream's certificate is not trusted"),
            "{message}"
        );
        assert!(message.contains("--upstream-ca"), "{message}");
    })
    .await
}

#[tokio::test]
async fn a_certificate_for_another_name_is_a_502_saying_so() {
    bounded(async {
        let (status, message) = refused_with(&["api.other.example"], false, true).await;
        assert_eq!(status, 502);
        assert!(message.contains("certificate is for another name"), "{message}");
    })
    .await
}

#[tokio::test]
async fn an_expired_certificate_is_a_502_saying_so() {
    bounded(async {
        let (status, message) = refused_with(LOOPBACK, true, true).await;
        assert_eq!(status, 502);
        assert!(message.contains("certificate has expired"), "{message}");
    })
    .await
}

#[tokio::test]
async fn many_requests_share_one_pooled_connection_and_one_handshake() {
    bounded(async {
        let ca = TestCa::new();
        let (router, captured) = capturing();
        let upstream = ca.serve(router, LOOPBACK, false).await;
        let proxy = proxy_trusting(&upstream.url(), &ca).await;
        for n in 0..20 {
            assert_eq!(put_json(&proxy.url(), &base_lead(n)).await.0, 200);
        }
        assert_eq!(captured.lock().unwrap().len(), 20);
        assert_eq!(upstream.handshakes(), 1, "20 requests one after another: one connection, one handshake");
        proxy.shutdown().await.unwrap();
        upstream.shutdown().await.unwrap();
    })
    .await
}

/// Connections opened in a burst resume TLS sessions: a server sends 2 tickets per
/// handshake and each is good once, so a burst of `n` new connections resumes only when the
/// proxy kept the tickets of earlier connections (rustls's default store keeps 8 per server).
#[tokio::test]
async fn a_burst_of_new_connections_resumes_tls_sessions() {
    bounded(async {
        let ca = TestCa::new();
        // Each answer takes a while, so concurrent requests need a connection each.
        let router = Router::new().route(
            "/inbox/direct/lead",
            put(|_body: Bytes| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                axum::Json(json!({"success": true, "message": "ok", "code": 200}))
            }),
        );
        let upstream = ca.serve(router, LOOPBACK, false).await;
        let proxy = proxy_trusting(&upstream.url(), &ca).await;
        let burst = |from: u64, n: u64| {
            let url = proxy.url();
            async move {
                let requests = (from..from + n).map(|k| {
                    let url = url.clone();
                    tokio::spawn(async move { put_json(&url, &base_lead(k)).await.0 })
                });
                for request in requests.collect::<Vec<_>>() {
                    assert_eq!(request.await.unwrap(), 200);
                }
            }
        };
        burst(0, 10).await;
        let (first, first_resumed) = (upstream.handshakes(), upstream.resumed());
        assert!(first >= 10, "{first} handshakes for 10 concurrent requests");
        // 30 at once: the pooled connections carry some, the others are new, and resume.
        burst(100, 30).await;
        let opened = upstream.handshakes() - first;
        let resumed = upstream.resumed() - first_resumed;
        assert!(opened >= 12, "{opened} connections opened for 30 concurrent requests");
        assert_eq!(resumed, opened, "{resumed} of {opened} new connections resumed a session");
        proxy.shutdown().await.unwrap();
        upstream.shutdown().await.unwrap();
    })
    .await
}

/// A visitor's connection that closes while the upstream's answer is due does not cost the
/// upstream connection: the call is finished and its connection pooled, so the next request
/// needs no new handshake.
#[tokio::test]
async fn a_visitor_leaving_mid_call_leaves_the_upstream_connection_pooled() {
    bounded(async {
        let ca = TestCa::new();
        let answered = Arc::new(AtomicUsize::new(0));
        let counted = answered.clone();
        let router = Router::new().route(
            "/inbox/direct/lead",
            put(move |_body: Bytes| {
                let counted = counted.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    counted.fetch_add(1, Ordering::SeqCst);
                    axum::Json(json!({"success": true, "message": "ok", "code": 200}))
                }
            }),
        );
        let upstream = ca.serve(router, LOOPBACK, false).await;
        let proxy = proxy_trusting(&upstream.url(), &ca).await;
        // A raw client: sends a lead, then goes away before the answer.
        let mut visitor = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
        let body = base_lead(1).to_string();
        let request = format!(
            "PUT /lead HTTP/1.1\r\nhost: proxy\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        tokio::io::AsyncWriteExt::write_all(&mut visitor, request.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(visitor);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(answered.load(Ordering::SeqCst), 1, "the upstream answered the call");
        assert_eq!(put_json(&proxy.url(), &base_lead(2)).await.0, 200);
        assert_eq!(upstream.handshakes(), 1, "the second request went over the first connection");
        proxy.shutdown().await.unwrap();
        upstream.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn the_keepalive_post_of_text_plain_goes_over_tls() {
    bounded(async {
        let ca = TestCa::new();
        let (router, captured) = capturing();
        let upstream = ca.serve(router, LOOPBACK, false).await;
        let proxy = proxy_trusting(&upstream.url(), &ca).await;
        // What `navigator.sendBeacon` / `fetch(…, {keepalive: true})` send: a CORS simple request.
        let response = client()
            .post(format!("{}/lead", proxy.url()))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(base_lead(3).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(captured.lock().unwrap().len(), 1);
        proxy.shutdown().await.unwrap();
        upstream.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_hanging_tls_upstream_times_out_and_opens_the_breaker() {
    bounded(async {
        let ca = TestCa::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let router = Router::new().route(
            "/inbox/direct/lead",
            put(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                }
            }),
        );
        let upstream = ca.serve(router, LOOPBACK, false).await;
        let mut config = ProxyConfig::new(upstream.url(), Secret::new(TOKEN));
        config.upstream_trust = ca.trust();
        config.timeout = Duration::from_millis(300);
        config.breaker = (2, Duration::from_secs(30));
        let proxy = start_proxy(config).await;
        for _ in 0..2 {
            let (status, body) = put_json(&proxy.url(), &base_lead(1)).await;
            assert_eq!(status, 504, "{body}");
            assert_eq!(body["message"], "upstream timeout: no answer within 300ms");
        }
        let response = client()
            .put(format!("{}/lead", proxy.url()))
            .header("content-type", "application/json")
            .body(base_lead(1).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        assert_eq!(calls.load(Ordering::SeqCst), 2, "the open breaker does not call the upstream");
        proxy.shutdown().await.unwrap();
        drop(upstream);

        // A listener that accepts and never answers the TLS handshake.
        let silent = listener().await;
        let addr = silent.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = silent.accept().await {
                open.push(stream);
            }
        });
        let mut config = ProxyConfig::new(format!("https://{addr}"), Secret::new(TOKEN));
        config.timeout = Duration::from_millis(300);
        let proxy = start_proxy(config).await;
        let (status, body) = put_json(&proxy.url(), &base_lead(1)).await;
        assert_eq!(status, 504, "{body}");
        proxy.shutdown().await.unwrap();
        held.abort();
    })
    .await
}

#[tokio::test]
async fn a_redirect_over_https_is_not_followed() {
    bounded(async {
        let ca = TestCa::new();
        // The target: an HTTPS listener with a trusted certificate, which must see nothing.
        let (thief_router, stolen) = capturing();
        let thief = ca.serve(thief_router, LOOPBACK, false).await;
        let target = format!("{}/inbox/direct/lead", thief.url());
        let router = Router::new().fallback(move || {
            let target = target.clone();
            async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]).into_response() }
        });
        let upstream = ca.serve(router, LOOPBACK, false).await;
        let proxy = proxy_trusting(&upstream.url(), &ca).await;
        let (status, body) = put_json(&proxy.url(), &base_lead(1)).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["message"], format!("upstream redirected to {}", thief.url()));
        assert!(stolen.lock().unwrap().is_empty());
        assert_eq!(thief.handshakes(), 0, "no connection was made to the redirect's target");

        // `leads` neither.
        let args = LeadsArgs {
            bot_id: "b1".into(),
            customer_id: "c1".into(),
            kind: ChatType::Lead,
            format: OutputFormat::Json,
            upstream: upstream.url(),
            max_pages: 10,
            attempts: 3,
            csv_raw: false,
            upstream_ca: Some(ca.file.clone()),
        };
        let mut out = Vec::new();
        let err = reekolect_proxy::leads::run(&args, TOKEN, &mut out, false).await.unwrap_err();
        assert_eq!(err.to_string(), format!("page 1: upstream redirected to {}", thief.url()));
        assert!(out.is_empty());
        assert_eq!(thief.handshakes(), 0);
        proxy.shutdown().await.unwrap();
        upstream.shutdown().await.unwrap();
        thief.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn leads_lists_an_https_api_trusting_upstream_ca() {
    bounded(async {
        let ca = TestCa::new();
        let upstream = ca.serve(mock::router(Secret::new(TOKEN)), LOOPBACK, false).await;
        let mut args = LeadsArgs {
            bot_id: "b1".into(),
            customer_id: "c1".into(),
            kind: ChatType::NonLead,
            format: OutputFormat::Ndjson,
            upstream: upstream.url(),
            max_pages: 10,
            attempts: 1,
            csv_raw: false,
            upstream_ca: Some(ca.file.clone()),
        };
        let mut out = Vec::new();
        assert_eq!(reekolect_proxy::leads::run(&args, TOKEN, &mut out, false).await.unwrap(), 0);
        args.upstream_ca = None;
        let err = reekolect_proxy::leads::run(&args, TOKEN, &mut Vec::new(), false).await.unwrap_err();
        assert!(err.to_string().contains("certificate is not trusted"), "{err}");
        upstream.shutdown().await.unwrap();
    })
    .await
}

/// The operator's way: the binary, trusting the CA through `SSL_CERT_FILE` (the system's
/// roots), and through `--upstream-ca`.
#[tokio::test]
async fn the_binary_trusts_ssl_cert_file_and_upstream_ca() {
    bounded(async {
        let ca = TestCa::new();
        let upstream = ca.serve(mock::router(Secret::new(TOKEN)), LOOPBACK, false).await;
        let ca_file = ca.file.to_str().unwrap().to_string();
        for how in ["SSL_CERT_FILE", "--upstream-ca"] {
            let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_reekolect-proxy"));
            command
                .args(["serve", "--listen", "127.0.0.1:0", "--upstream", &upstream.url(), "--allow-bot", "b1:c1"])
                .env("REEKOLECT_API_TOKEN", TOKEN)
                .env_remove("SSL_CERT_DIR")
                .env_remove("REEKOLECT_UPSTREAM_CA")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true);
            if how == "SSL_CERT_FILE" {
                command.env("SSL_CERT_FILE", &ca_file);
            } else {
                command.env_remove("SSL_CERT_FILE").args(["--upstream-ca", &ca_file]);
            }
            let mut child = command.spawn().unwrap();
            let mut line = String::new();
            tokio::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).await.unwrap();
            let base = line.split_whitespace().nth(3).unwrap_or_else(|| panic!("{line}")).to_string();
            let (status, body) = put_json(&base, &base_lead(1)).await;
            assert_eq!(status, 200, "{how}: {body}");
            child.kill().await.unwrap();
        }
        upstream.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_bad_upstream_ca_file_stops_the_start_naming_it() {
    bounded(async {
        let path = std::env::temp_dir().join(format!("reekolect-not-pem-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate").unwrap();
        let mut args = reekolect_proxy::cli::ServeArgs::new();
        args.listen = "127.0.0.1:0".parse().unwrap();
        args.upstream = Some("https://127.0.0.1:9".parse().unwrap());
        args.allow_any_bot = true;
        args.upstream_ca = Some(path.clone());
        let err = reekolect_proxy::start(args, Some(TOKEN.into())).await.unwrap_err();
        assert!(err.to_string().starts_with(&format!("--upstream-ca {}: ", path.display())), "{err}");
        let _ = std::fs::remove_file(path);
    })
    .await
}

#[tokio::test]
async fn mock_api_serves_https_with_tls_cert_and_key() {
    bounded(async {
        let ca = TestCa::new();
        let (cert, key) = ca.leaf(LOOPBACK, false);
        let dir = std::env::temp_dir();
        let (cert_file, key_file) = (
            dir.join(format!("reekolect-mock-cert-{}.pem", std::process::id())),
            dir.join(format!("reekolect-mock-key-{}.pem", std::process::id())),
        );
        std::fs::write(&cert_file, cert).unwrap();
        std::fs::write(&key_file, key).unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_reekolect-proxy"))
            .args(["mock-api", "--listen", "127.0.0.1:0", "--tls-cert", cert_file.to_str().unwrap()])
            .args(["--tls-key", key_file.to_str().unwrap()])
            .env("REEKOLECT_API_TOKEN", TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut line = String::new();
        tokio::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).await.unwrap();
        let url = line.trim().strip_prefix("reekolect-mock-api listening on ").unwrap_or_else(|| panic!("{line}"));
        assert!(url.starts_with("https://127.0.0.1:"), "{line}");
        let proxy = proxy_trusting(url, &ca).await;
        assert_eq!(put_json(&proxy.url(), &base_lead(1)).await.0, 200);
        proxy.shutdown().await.unwrap();
        child.kill().await.unwrap();
        let _ = std::fs::remove_file(cert_file);
        let _ = std::fs::remove_file(key_file);
    })
    .await
}

/// A `CONNECT` proxy on 127.0.0.1 that tunnels every target to `to`, recording the targets.
async fn connect_proxy(to: std::net::SocketAddr) -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = listener().await;
    let url = format!("http://{}", listener.local_addr().unwrap());
    let targets: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = targets.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut byte = [0u8; 1];
                    if client.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                seen.lock().unwrap().push(head.lines().next().unwrap_or("").to_string());
                let Ok(mut upstream) = tokio::net::TcpStream::connect(to).await else { return };
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (url, targets)
}

/// An https upstream behind an egress proxy (`HTTPS_PROXY`): a CONNECT tunnel, TLS through it.
#[tokio::test]
async fn an_https_upstream_is_reached_through_https_proxy() {
    bounded(async {
        let ca = TestCa::new();
        let (router, captured) = capturing();
        let upstream = ca.serve(router, &["api.upstream.test"], false).await;
        let (proxy_url, targets) = connect_proxy(upstream.handle.addr()).await;
        let port = upstream.handle.addr().port();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_reekolect-proxy"))
            .args(["serve", "--listen", "127.0.0.1:0", "--allow-bot", "b1:c1"])
            .args(["--upstream", &format!("https://api.upstream.test:{port}")])
            .args(["--upstream-ca", ca.file.to_str().unwrap()])
            .env("REEKOLECT_API_TOKEN", TOKEN)
            .env("HTTPS_PROXY", &proxy_url)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut line = String::new();
        tokio::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).await.unwrap();
        let base = line.split_whitespace().nth(3).unwrap_or_else(|| panic!("{line}")).to_string();
        let (status, body) = put_json(&base, &base_lead(1)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(captured.lock().unwrap().len(), 1);
        assert_eq!(*targets.lock().unwrap(), vec![format!("CONNECT api.upstream.test:{port} HTTP/1.1")]);
        // Ready: the first hop (the egress proxy) answers; the upstream's name only resolves there.
        let ready = client().get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
        child.kill().await.unwrap();
        upstream.shutdown().await.unwrap();
    })
    .await
}

/// A redirect and a TLS refusal are each logged once, however often they happen, and the
/// log never holds the token or the redirect's full URL.
#[tokio::test]
async fn redirects_and_tls_failures_are_logged_once_per_cause() {
    bounded(async {
        use tokio::io::AsyncReadExt;
        let ca = TestCa::new();
        let router = Router::new().fallback(|| async {
            (StatusCode::FOUND, [(header::LOCATION, "https://elsewhere.example/steal?x=1")]).into_response()
        });
        let redirecting = ca.serve(router, LOOPBACK, false).await;
        let untrusted = TestCa::new().serve(capturing().0, LOOPBACK, false).await;
        let mut logs = String::new();
        for (upstream, trusted) in [(&redirecting, true), (&untrusted, false)] {
            let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_reekolect-proxy"));
            command
                .args(["serve", "--listen", "127.0.0.1:0", "--allow-bot", "b1:c1", "--upstream", &upstream.url()])
                .args(["--breaker-failures", "0"])
                .env("REEKOLECT_API_TOKEN", TOKEN)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            if trusted {
                command.args(["--upstream-ca", ca.file.to_str().unwrap()]);
            }
            let mut child = command.spawn().unwrap();
            let mut line = String::new();
            tokio::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).await.unwrap();
            let base = line.split_whitespace().nth(3).unwrap_or_else(|| panic!("{line}")).to_string();
            for _ in 0..3 {
                assert_eq!(put_json(&base, &base_lead(1)).await.0, 502);
            }
            let mut stderr = child.stderr.take().unwrap();
            child.kill().await.unwrap();
            stderr.read_to_string(&mut logs).await.unwrap();
        }
        let count = |needle: &str| logs.lines().filter(|l| l.contains("WARN") && l.contains(needle)).count();
        assert_eq!(count("upstream redirected to https://elsewhere.example"), 1, "{logs}");
        assert_eq!(count("certificate is not trusted"), 1, "{logs}");
        assert!(!logs.contains(TOKEN) && !logs.contains("steal"), "{logs}");
        redirecting.shutdown().await.unwrap();
        untrusted.shutdown().await.unwrap();
    })
    .await
}

/// `serve` as run (several worker threads, each with its own pool): handshakes stay at
/// most one per worker thread, never one per request.
#[tokio::test]
async fn serve_with_worker_threads_makes_one_handshake_per_thread_at_most() {
    bounded(async {
        let ca = TestCa::new();
        let (router, captured) = capturing();
        let upstream = ca.serve(router, LOOPBACK, false).await;
        let mut args = reekolect_proxy::cli::ServeArgs::new();
        args.listen = "127.0.0.1:0".parse().unwrap();
        args.upstream = Some(upstream.url().parse().unwrap());
        args.allow_bot = vec![reekolect_proxy::cli::parse_bot_pair("b1:c1").unwrap()];
        args.upstream_ca = Some(ca.file.clone());
        args.ip_per_minute = 0;
        args.uuid_per_minute = 0;
        args.workers = 2;
        let serving = reekolect_proxy::start(args, Some(TOKEN.into())).await.unwrap();
        // Each request on a new client connection: handed to the worker threads in turn.
        for n in 0..20 {
            assert_eq!(put_json(&serving.proxy.url(), &base_lead(n)).await.0, 200);
        }
        assert_eq!(captured.lock().unwrap().len(), 20);
        let handshakes = upstream.handshakes();
        assert!((1..=2).contains(&handshakes), "{handshakes} handshakes for 20 requests on 2 threads");
        serving.shutdown().await.unwrap();
        upstream.shutdown().await.unwrap();
    })
    .await
}
