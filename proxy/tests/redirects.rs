//! No redirect is ever followed (issue #19): an upstream answering `3xx` gets a 502 naming
//! only the origin of its `Location`, and the place it points to receives nothing, neither
//! from `serve` (PUT lead, GET chats) nor from `leads`.

mod common;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use common::*;
use reekolect_proxy::cli::{ChatType, LeadsArgs, OutputFormat};
use reekolect_proxy::proxy::ProxyConfig;
use reekolect_proxy::{Secret, ServerHandle};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A listener that must receive nothing: counts the connections it accepts.
async fn thief() -> (String, Arc<AtomicUsize>) {
    let listener = listener().await;
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (origin, accepted)
}

/// An upstream answering every request `status` with `Location: location`.
async fn redirecting(status: StatusCode, location: String) -> ServerHandle {
    let app = Router::new().fallback(move || {
        let location = location.clone();
        async move { (status, [(header::LOCATION, location)], "moved").into_response() }
    });
    reekolect_proxy::spawn_router(listener().await, app).unwrap()
}

#[tokio::test]
async fn serve_answers_a_redirect_with_a_502_and_sends_nothing_there() {
    bounded(async {
        let (thief, accepted) = thief().await;
        for status in [301, 302, 303, 307, 308] {
            let status = StatusCode::from_u16(status).unwrap();
            let upstream = redirecting(status, format!("{thief}/steal?token={TOKEN}")).await;
            let proxy = proxy_to(&upstream.url()).await;
            let (code, body) = put_json(&proxy.url(), &base_lead(1)).await;
            assert_eq!(code, 502, "{status}: {body}");
            assert_eq!(body["message"], format!("upstream redirected to {thief}"), "{status}");
            assert!(!body.to_string().contains(TOKEN) && !body.to_string().contains("steal"), "{body}");
            proxy.shutdown().await.unwrap();
            upstream.shutdown().await.unwrap();
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "the redirect's target received a connection");
    })
    .await
}

#[tokio::test]
async fn a_relative_redirect_names_the_upstream_itself() {
    bounded(async {
        let upstream = redirecting(StatusCode::TEMPORARY_REDIRECT, "/elsewhere".into()).await;
        let proxy = proxy_to(&upstream.url()).await;
        let (code, body) = put_json(&proxy.url(), &base_lead(1)).await;
        assert_eq!(code, 502, "{body}");
        assert_eq!(body["message"], format!("upstream redirected to {}", upstream.url()));
        proxy.shutdown().await.unwrap();

        // No Location at all.
        let app = Router::new().fallback(|| async { StatusCode::MOVED_PERMANENTLY });
        let bare = reekolect_proxy::spawn_router(listener().await, app).unwrap();
        let proxy = proxy_to(&bare.url()).await;
        let (code, body) = put_json(&proxy.url(), &base_lead(1)).await;
        assert_eq!(code, 502, "{body}");
        assert_eq!(body["message"], "upstream redirected without a valid location");
        proxy.shutdown().await.unwrap();
        upstream.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn the_chats_listing_of_serve_does_not_follow_redirects() {
    bounded(async {
        let (thief, accepted) = thief().await;
        let upstream = redirecting(StatusCode::FOUND, format!("{thief}/steal")).await;
        let mut config = ProxyConfig::new(upstream.url(), Secret::new(TOKEN));
        config.demo = true;
        let proxy = start_proxy(config).await;
        let response = client().get(format!("{}/demo/leads?botId=b1&customerId=c1", proxy.url())).send().await.unwrap();
        assert_eq!(response.status(), 502);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["message"], format!("upstream redirected to {thief}"));
        assert_eq!(accepted.load(Ordering::SeqCst), 0);
        proxy.shutdown().await.unwrap();
        upstream.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn leads_does_not_follow_redirects() {
    bounded(async {
        let (thief, accepted) = thief().await;
        let upstream = redirecting(StatusCode::TEMPORARY_REDIRECT, format!("{thief}/steal")).await;
        let args = LeadsArgs {
            bot_id: "b1".into(),
            customer_id: "c1".into(),
            kind: ChatType::Lead,
            format: OutputFormat::Json,
            upstream: upstream.url(),
            max_pages: 10,
            attempts: 3,
            csv_raw: false,
            upstream_ca: None,
        };
        let mut out = Vec::new();
        let err = reekolect_proxy::leads::run(&args, TOKEN, &mut out, false).await.unwrap_err();
        assert_eq!(err.to_string(), format!("page 1: upstream redirected to {thief}"));
        assert_eq!(accepted.load(Ordering::SeqCst), 0);
        upstream.shutdown().await.unwrap();
    })
    .await
}
