//! Serving a router over HTTPS (rustls): the mock as an HTTPS upstream
//! (`mock-api --tls-cert F --tls-key F`), and stand-in upstreams in tests.

use crate::server::ServerHandle;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// A router served over HTTPS, with the count of TLS handshakes it completed.
#[derive(Debug)]
pub struct TlsServer {
    /// The server (its [`ServerHandle::url`] says `http://`; see [`TlsServer::url`]).
    pub handle: ServerHandle,
    handshakes: Arc<Handshakes>,
}

/// TLS handshakes completed: all, and those that resumed a session.
#[derive(Debug, Default)]
struct Handshakes {
    completed: AtomicU64,
    resumed: AtomicU64,
}

impl TlsServer {
    /// `https://ADDR`.
    pub fn url(&self) -> String {
        format!("https://{}", self.handle.addr())
    }

    /// TLS handshakes completed so far (one per connection).
    pub fn handshakes(&self) -> u64 {
        self.handshakes.completed.load(Ordering::SeqCst)
    }

    /// Of [`Self::handshakes`], those that resumed an earlier session (a ticket).
    pub fn resumed(&self) -> u64 {
        self.handshakes.resumed.load(Ordering::SeqCst)
    }

    /// Stops the server gracefully (see [`ServerHandle::shutdown`]).
    pub async fn shutdown(self) -> io::Result<()> {
        self.handle.shutdown().await
    }
}

/// A rustls server configuration from PEM text: the certificate chain and its private key.
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("certificate: not PEM ({err:?})"))?;
    if certs.is_empty() {
        return Err("certificate: no certificate in it".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|err| format!("key: no PEM private key ({err:?})"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| format!("certificate and key: {err}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// [`server_config`] from PEM files.
pub fn server_config_from_files(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let read = |path: &Path| std::fs::read(path).map_err(|err| format!("{}: {err}", path.display()));
    server_config(&read(cert)?, &read(key)?).map_err(|err| format!("{} / {}: {err}", cert.display(), key.display()))
}

/// Serves `router` over HTTPS with `config` on `listener`, on a new tokio task, with the
/// peer address as `ConnectInfo`. A failed handshake only ends its connection.
pub fn spawn_router_tls(
    listener: TcpListener,
    router: Router,
    config: Arc<rustls::ServerConfig>,
) -> io::Result<TlsServer> {
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    let handshakes = Arc::new(Handshakes::default());
    let counted = handshakes.clone();
    let acceptor = TlsAcceptor::from(config);
    let task = tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(_) => continue,
                },
                _ = &mut stopped => break,
            };
            let (acceptor, counted, router) = (acceptor.clone(), counted.clone(), router.clone());
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else { return };
                if stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    counted.resumed.fetch_add(1, Ordering::SeqCst);
                }
                counted.completed.fetch_add(1, Ordering::SeqCst);
                let service = router.map_request(move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                    request.map(axum::body::Body::new)
                });
                let builder = hyper::server::conn::http1::Builder::new();
                let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
                let _ = watcher.watch(connection).await;
            });
        }
        drop(listener);
        graceful.shutdown().await;
        Ok(())
    });
    Ok(TlsServer { handle: ServerHandle::from_parts(addr, stop, task), handshakes })
}

/// Serves the mock API with `chaos` over HTTPS (`mock-api --tls-cert --tls-key`).
pub fn spawn_mock_tls(
    listener: TcpListener,
    token: crate::Secret,
    chaos: Arc<crate::chaos::Chaos>,
    config: Arc<rustls::ServerConfig>,
) -> io::Result<TlsServer> {
    spawn_router_tls(listener, crate::mock::router_with_chaos(token, chaos), config)
}
