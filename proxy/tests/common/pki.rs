//! A test CA minted with rcgen, its certificates, and HTTPS stand-in upstreams.

use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};
use reekolect_proxy::tls::{server_config, spawn_router_tls, TlsServer};
use reekolect_proxy::trust::Trust;
use std::path::PathBuf;

/// A certificate authority of the test's own, and its PEM file on disk.
pub struct TestCa {
    cert: Certificate,
    key: KeyPair,
    /// The CA's certificate as a PEM file (removed on drop).
    pub file: PathBuf,
}

impl TestCa {
    /// A fresh CA.
    pub fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "reekolect test CA");
        let cert = params.self_signed(&key).unwrap();
        let file = std::env::temp_dir().join(format!("reekolect-test-ca-{}-{}.pem", std::process::id(), rand_suffix()));
        std::fs::write(&file, cert.pem()).unwrap();
        Self { cert, key, file }
    }

    /// A server certificate for `names` (host names or IP addresses), signed by this CA,
    /// valid now or (`expired`) only in 2020: (certificate PEM, key PEM).
    pub fn leaf(&self, names: &[&str], expired: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 12, 31);
        }
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// The built-in and system roots plus this CA.
    pub fn trust(&self) -> Trust {
        Trust::with_ca(Some(&self.file)).unwrap()
    }

    /// `router` served over HTTPS on 127.0.0.1 with a certificate for `names`.
    pub async fn serve(&self, router: axum::Router, names: &[&str], expired: bool) -> TlsServer {
        let (cert, key) = self.leaf(names, expired);
        let config = server_config(cert.as_bytes(), key.as_bytes()).unwrap();
        spawn_router_tls(super::listener().await, router, config).unwrap()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
        ^ (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64)
}
