//! Which certificates the proxy trusts when it calls an `https://` upstream, and what a TLS
//! failure tells the operator.
//!
//! Trusted: the web's roots built into the binary (`webpki-roots`), the system's roots
//! (`rustls-native-certs`, which reads `SSL_CERT_FILE` and `SSL_CERT_DIR` when set, else the
//! system's store), and the CAs of `--upstream-ca FILE` (PEM). A company whose egress goes
//! through a TLS-inspecting gateway adds the gateway's CA, a test its own.

use crate::sessions::TicketStore;
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The environment variable naming a PEM file of extra CAs (`--upstream-ca`).
pub const UPSTREAM_CA_ENV: &str = "REEKOLECT_UPSTREAM_CA";

/// The TLS client configuration for upstream calls: what is trusted.
#[derive(Clone)]
pub struct Trust {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust").finish_non_exhaustive()
    }
}

/// Why the trusted roots could not be set up.
#[derive(Debug)]
pub enum TrustError {
    /// The `--upstream-ca` file could not be read or holds no PEM certificate.
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the configuration (no usable protocol version).
    Tls(String),
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustError::CaFile { path, reason } => {
                write!(f, "--upstream-ca {}: {reason} (expected PEM certificates)", path.display())
            }
            TrustError::Tls(reason) => write!(f, "TLS set-up: {reason}"),
        }
    }
}

impl std::error::Error for TrustError {}

impl Default for Trust {
    /// The built-in and the system's roots.
    fn default() -> Self {
        static DEFAULT: OnceLock<Trust> = OnceLock::new();
        DEFAULT.get_or_init(|| Trust::with_ca(None).expect("the default roots need no file")).clone()
    }
}

impl Trust {
    /// The built-in and system roots plus the CAs in the PEM file `ca`, if given.
    pub fn with_ca(ca: Option<&Path>) -> Result<Self, TrustError> {
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let native = rustls_native_certs::load_native_certs();
        for err in &native.errors {
            tracing::debug!("system certificates: {err}");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, ignored, "system certificates trusted");
        if let Some(path) = ca {
            let fail = |reason: String| TrustError::CaFile { path: path.to_path_buf(), reason };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|err| fail(pem_reason(err)))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| fail(pem_reason(err)))?;
            if certs.is_empty() {
                return Err(fail("no certificate in it".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|err| fail(format!("not a usable CA certificate ({err})")))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| TrustError::Tls(err.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut config = config;
        config.resumption = Resumption::store(Arc::new(TicketStore::default()));
        Ok(Self { config: Arc::new(config) })
    }

    /// The rustls client configuration.
    pub(crate) fn client_config(&self) -> ClientConfig {
        (*self.config).clone()
    }
}

fn pem_reason(err: rustls::pki_types::pem::Error) -> String {
    match err {
        rustls::pki_types::pem::Error::Io(err) => err.to_string(),
        other => format!("not PEM ({other:?})"),
    }
}

/// What a person can do about a TLS failure found in `err`'s chain, if it is one: the
/// certificate is not trusted, names another host, has expired, or the handshake failed.
pub(crate) fn tls_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if let Some(tls) = rustls_error(err) {
            return Some(describe(tls));
        }
        cause = err.source();
    }
    None
}

/// The rustls error `err` is or wraps: connectors report it inside an `io::Error`, itself
/// sometimes nested (and `io::Error::source` skips the error it wraps).
fn rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let io = err.downcast_ref::<std::io::Error>()?;
    let inner: &(dyn std::error::Error + 'static) = io.get_ref()?;
    rustls_error(inner)
}

fn describe(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                "TLS: the upstream's certificate is not trusted (issued by an unknown CA; add that CA with \
                 --upstream-ca or to the system's store)"
                    .into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "TLS: the upstream's certificate is for another name than the upstream URL's host \
                 (check --upstream)"
                    .into()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "TLS: the upstream's certificate has expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "TLS: the upstream's certificate is not valid yet (check this machine's clock)".into()
            }
            CertificateError::Revoked => "TLS: the upstream's certificate is revoked".into(),
            other => format!("TLS: the upstream's certificate was refused ({other:?})"),
        },
        other => format!("TLS handshake with the upstream failed: {other}"),
    }
}
