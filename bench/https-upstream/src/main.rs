//! The production-shape benchmark's upstream (`bench/proxy-production.sh`): an HTTPS server
//! standing in for the Reekolect API across the internet. It answers
//! `PUT /inbox/direct/lead` after a fixed delay (the network's round trip; 50 ms by
//! default) when `x-bp-token` is the expected token, 401 otherwise, and counts what the
//! benchmark compares: TCP connections accepted, TLS handshakes (full and resumed), requests.
//! `GET /__stats` answers those counts as `name=value` words on one line.
//!
//! Purpose-built rather than the embedded mock: the mock stores every lead (memory grows
//! with the run) and does the API's work; this one does as little as an upstream can, the
//! same for every server measured, and sees the handshakes.
//!
//! Usage: `reekolect-bench-upstream --listen 127.0.0.1:PORT --cert CERT.pem --key KEY.pem
//! --token TOKEN [--delay-ms 50] [--workers 1]`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::HandshakeKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What the benchmark reads from `GET /__stats`.
#[derive(Default)]
struct Stats {
    connections: AtomicU64,
    open: AtomicU64,
    peak_open: AtomicU64,
    handshakes: AtomicU64,
    resumed: AtomicU64,
    failed_handshakes: AtomicU64,
    requests: AtomicU64,
    unauthorized: AtomicU64,
}

impl Stats {
    fn line(&self) -> String {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        format!(
            "connections={} open={} peak_open={} handshakes={} resumed={} failed_handshakes={} requests={} unauthorized={}\n",
            get(&self.connections),
            get(&self.open),
            get(&self.peak_open),
            get(&self.handshakes),
            get(&self.resumed),
            get(&self.failed_handshakes),
            get(&self.requests),
            get(&self.unauthorized),
        )
    }
}

struct Options {
    listen: SocketAddr,
    cert: String,
    key: String,
    token: String,
    delay: Duration,
    workers: usize,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut cert, mut key, mut token) = (None, None, None, None);
    let (mut delay, mut workers) = (Duration::from_millis(50), 1);
    while let Some(name) = args.next() {
        let value = args.next().ok_or_else(|| format!("{name} needs a value"))?;
        match name.as_str() {
            "--listen" => listen = Some(value.parse().map_err(|err| format!("--listen {value}: {err}"))?),
            "--cert" => cert = Some(value),
            "--key" => key = Some(value),
            "--token" => token = Some(value),
            "--delay-ms" => {
                delay = Duration::from_millis(value.parse().map_err(|err| format!("--delay-ms {value}: {err}"))?)
            }
            "--workers" => workers = value.parse().map_err(|err| format!("--workers {value}: {err}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Options {
        listen: listen.ok_or("--listen is required")?,
        cert: cert.ok_or("--cert is required")?,
        key: key.ok_or("--key is required")?,
        token: token.ok_or("--token is required")?,
        delay,
        workers: workers.max(1),
    })
}

fn tls_config(cert: &str, key: &str) -> Result<rustls::ServerConfig, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| format!("{cert}: {err}"))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|err| format!("{key}: {err}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|err| err.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn main() -> std::process::ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("reekolect-bench-upstream: {message}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(options.workers).enable_all().build();
    match runtime.map_err(|err| err.to_string()).and_then(|runtime| runtime.block_on(serve(options))) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("reekolect-bench-upstream: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(options: Options) -> Result<(), String> {
    let acceptor = TlsAcceptor::from(Arc::new(tls_config(&options.cert, &options.key)?));
    let listener =
        TcpListener::bind(options.listen).await.map_err(|err| format!("cannot listen on {}: {err}", options.listen))?;
    println!("reekolect-bench-upstream listening on https://{}", listener.local_addr().map_err(|e| e.to_string())?);
    let stats = Arc::new(Stats::default());
    let (token, delay) = (Arc::<str>::from(options.token), options.delay);
    let accepting = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            stats.connections.fetch_add(1, Ordering::Relaxed);
            let (acceptor, stats, token) = (acceptor.clone(), stats.clone(), token.clone());
            tokio::spawn(async move {
                let open = stats.open.fetch_add(1, Ordering::Relaxed) + 1;
                stats.peak_open.fetch_max(open, Ordering::Relaxed);
                connection(acceptor.accept(stream).await, &stats, token, delay).await;
                stats.open.fetch_sub(1, Ordering::Relaxed);
            });
        }
    };
    tokio::select! {
        () = accepting => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
        () = terminated() => Ok(()),
    }
}

async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

async fn connection(
    tls: std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>,
    stats: &Arc<Stats>,
    token: Arc<str>,
    delay: Duration,
) {
    let tls = match tls {
        Ok(tls) => tls,
        Err(_) => {
            stats.failed_handshakes.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    stats.handshakes.fetch_add(1, Ordering::Relaxed);
    if tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed) {
        stats.resumed.fetch_add(1, Ordering::Relaxed);
    }
    let stats = stats.clone();
    let service = hyper::service::service_fn(move |request| answer(request, stats.clone(), token.clone(), delay));
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
}

async fn answer(
    request: Request<Incoming>,
    stats: Arc<Stats>,
    token: Arc<str>,
    delay: Duration,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let json = |status: StatusCode, body: &'static str| {
        let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = status;
        response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
        response
    };
    if request.uri().path() == "/__stats" {
        return Ok(Response::new(Full::new(Bytes::from(stats.line()))));
    }
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let authorized = request.headers().get("x-bp-token").is_some_and(|value| value.as_bytes() == token.as_bytes());
    let put_lead = request.method() == hyper::Method::PUT && request.uri().path() == "/inbox/direct/lead";
    // The whole body is read, as the API would.
    let body = request.into_body().collect().await?.to_bytes();
    if !authorized {
        stats.unauthorized.fetch_add(1, Ordering::Relaxed);
        return Ok(json(StatusCode::UNAUTHORIZED, r#"{"success":false,"message":"Unauthorized","code":401}"#));
    }
    if !put_lead || body.is_empty() {
        return Ok(json(StatusCode::NOT_FOUND, r#"{"success":false,"message":"not found","code":404}"#));
    }
    tokio::time::sleep(delay).await;
    Ok(json(StatusCode::OK, r#"{"success":true,"message":"ok","code":200}"#))
}
