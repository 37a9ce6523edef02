//! HTTPS: the built-in test certificate authority and its `localhost` certificate, leaf
//! certificates for extra host names, user-supplied certificates, the rustls listener, and
//! the CA bundle clients trust (docs/CLIENTS.md: azure-identity, MSAL, the classic JS client
//! and Terraform need https).
//!
//! Like the signing key, the test CA's private key is public (it is in this source tree): it
//! lets every instance and every CI machine agree without set-up. Trust it only in test
//! processes (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS`), never system-wide.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

const TEST_CA_CERT_PEM: &str = include_str!("test-ca.pem");
const TEST_CA_KEY_PEM: &str = include_str!("test-ca-key.pem");
const LOCALHOST_CERT_PEM: &str = include_str!("localhost.pem");
const LOCALHOST_KEY_PEM: &str = include_str!("localhost-key.pem");

/// Names the built-in certificate covers.
pub const BUILTIN_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
    #[error("{path} holds no usable {what}")]
    Parse { path: String, what: &'static str },
    #[error("cannot make a certificate: {0}")]
    Generate(String),
    #[error("--tls-cert and --tls-key go together")]
    HalfPair,
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Where the HTTPS certificate comes from.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Certificate chain (PEM). Loaded when it exists; otherwise the generated one is saved here.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM), with the same load-or-save rule.
    pub key: Option<PathBuf>,
    /// Host names or IP addresses beyond `localhost`, `127.0.0.1` and `::1`.
    pub extra_names: Vec<String>,
}

/// A certificate chain and key in PEM, plus the CA that clients must trust for it (`None` when
/// the user supplied their own certificate: then they know their CA).
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    pub cert_pem: String,
    pub key_pem: String,
    pub trust_pem: String,
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| TlsError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

fn write(path: &Path, text: &str) -> Result<(), TlsError> {
    let err = |e: std::io::Error| TlsError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, text).map_err(err)
}

impl TlsIdentity {
    /// The certificate these options call for: the user's files when both exist; else the
    /// built-in `localhost` certificate, or a fresh one for the extra names signed by the test
    /// CA (saved to the given paths, so the next start serves the same one).
    pub fn resolve(options: &TlsOptions) -> Result<Self, TlsError> {
        match (&options.cert, &options.key) {
            (Some(cert), Some(key)) if cert.exists() && key.exists() => {
                let cert_pem = read(cert)?;
                let key_pem = read(key)?;
                // The chain's last certificate is the one to trust (a self-signed leaf, or the
                // user's CA when they ship the chain).
                let trust_pem = last_certificate_pem(&cert_pem).ok_or(TlsError::Parse {
                    path: cert.display().to_string(),
                    what: "certificate",
                })?;
                Ok(TlsIdentity {
                    cert_pem,
                    key_pem,
                    trust_pem,
                })
            }
            (Some(_), None) | (None, Some(_)) => Err(TlsError::HalfPair),
            (cert, key) => {
                let identity = if options.extra_names.is_empty() {
                    TlsIdentity::builtin()
                } else {
                    issue_leaf(&options.extra_names)?
                };
                if let (Some(cert), Some(key)) = (cert, key) {
                    write(cert, &identity.cert_pem)?;
                    crate::files::write_private(key, identity.key_pem.as_bytes()).map_err(|e| {
                        TlsError::Write {
                            path: key.display().to_string(),
                            message: e.to_string(),
                        }
                    })?;
                }
                Ok(identity)
            }
        }
    }

    /// The built-in certificate for `localhost`, `127.0.0.1` and `::1`.
    pub fn builtin() -> Self {
        TlsIdentity {
            cert_pem: format!("{LOCALHOST_CERT_PEM}{TEST_CA_CERT_PEM}"),
            key_pem: LOCALHOST_KEY_PEM.to_string(),
            trust_pem: TEST_CA_CERT_PEM.to_string(),
        }
    }

    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::Config(e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        // The server speaks HTTP/1.1 only (axum's http1 feature).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn last_certificate_pem(chain: &str) -> Option<String> {
    let start = chain.rfind("-----BEGIN CERTIFICATE-----")?;
    let end = chain[start..].find("-----END CERTIFICATE-----")? + start;
    Some(format!("{}-----END CERTIFICATE-----\n", &chain[start..end]))
}

/// The test CA's parameters. The CA certificate in this directory was made from exactly these
/// (see `regenerate_builtin_certificates`), so `Issuer::new` reproduces its key identifier.
fn test_ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "entitlement-emulator test CA");
    dn.push(
        DnType::OrganizationName,
        "entitlement-emulator (public test key: trust only in test processes)",
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2026, 1, 1);
    params.not_after = rcgen::date_time_ymd(2126, 1, 1);
    params
}

fn leaf_params(names: &[String]) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().map_or("localhost", String::as_str),
    );
    params.distinguished_name = dn;
    params.subject_alt_names = names
        .iter()
        .map(|name| match name.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => name
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e: rcgen::Error| TlsError::Generate(format!("'{name}': {e}"))),
        })
        .collect::<Result<_, _>>()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = rcgen::date_time_ymd(2026, 1, 1);
    params.not_after = rcgen::date_time_ymd(2126, 1, 1);
    Ok(params)
}

/// A certificate for the built-in names plus `extra`, signed by the test CA.
fn issue_leaf(extra: &[String]) -> Result<TlsIdentity, TlsError> {
    let generate = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let mut names: Vec<String> = BUILTIN_NAMES.iter().map(|n| n.to_string()).collect();
    for name in extra {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.clone());
        }
    }
    let ca_key = KeyPair::from_pem(TEST_CA_KEY_PEM).map_err(generate)?;
    let issuer = Issuer::new(test_ca_params(), ca_key);
    let key = KeyPair::generate().map_err(generate)?;
    let cert = leaf_params(&names)?
        .signed_by(&key, &issuer)
        .map_err(generate)?;
    Ok(TlsIdentity {
        cert_pem: format!("{}{TEST_CA_CERT_PEM}", cert.pem()),
        key_pem: key.serialize_pem(),
        trust_pem: TEST_CA_CERT_PEM.to_string(),
    })
}

/// The system's trusted roots followed by `extra`: one file for `SSL_CERT_FILE` /
/// `REQUESTS_CA_BUNDLE` that keeps every real CA working (`requests` uses
/// `REQUESTS_CA_BUNDLE` for every https call of the process, so a bundle that holds only the
/// emulator's CA breaks all the others; docs/CLIENTS.md).
pub fn ca_bundle(extra: &str) -> String {
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(PathBuf::from),
        )
        .find_map(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let mut bundle = system;
    if !bundle.is_empty() && !bundle.ends_with('\n') {
        bundle.push('\n');
    }
    // Written again by the same command, the bundle must not grow.
    if !bundle.contains(extra.trim()) {
        bundle.push_str(extra);
    }
    bundle
}

/// How long a client may take to finish its TLS handshake (and never longer than the
/// listener's header-read timeout, `crate::serve`).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTPS listener's handshake for `crate::serve`: each runs in its connection's own task,
/// so one slow or broken client never holds up the others; the connection cap, header-read and
/// idle timeouts then apply after it as on the plain listener.
#[derive(Clone)]
pub struct TlsHandshake(TlsAcceptor);

impl TlsHandshake {
    pub fn new(config: Arc<rustls::ServerConfig>) -> Self {
        TlsHandshake(TlsAcceptor::from(config))
    }
}

impl std::fmt::Debug for TlsHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsHandshake").finish_non_exhaustive()
    }
}

impl crate::serve::Handshake for TlsHandshake {
    type Io = TlsStream<TcpStream>;

    fn handshake(
        &self,
        tcp: TcpStream,
    ) -> impl std::future::Future<Output = std::io::Result<Self::Io>> + Send {
        let accept = self.0.accept(tcp);
        async move {
            tokio::time::timeout(HANDSHAKE_TIMEOUT, accept)
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake"))?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rewrites the built-in CA and `localhost` certificate. Run by hand only
    /// (`cargo test --lib regenerate_builtin_certificates -- --ignored`): every CA bundle a
    /// user wrote before trusts the old CA.
    #[test]
    #[ignore]
    fn regenerate_builtin_certificates() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tls");
        let ca_key = KeyPair::generate().unwrap();
        let ca = test_ca_params().self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(test_ca_params(), ca_key);
        let names: Vec<String> = BUILTIN_NAMES.iter().map(|n| n.to_string()).collect();
        let key = KeyPair::generate().unwrap();
        let leaf = leaf_params(&names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        std::fs::write(dir.join("test-ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("test-ca-key.pem"), issuer.key().serialize_pem()).unwrap();
        std::fs::write(dir.join("localhost.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.join("localhost-key.pem"), key.serialize_pem()).unwrap();
    }

    #[test]
    fn the_builtin_and_extra_name_certificates_load() {
        assert!(TlsIdentity::builtin().server_config().is_ok());
        let extra = TlsIdentity::resolve(&TlsOptions {
            extra_names: vec!["emulator".into(), "10.0.0.5".into()],
            ..Default::default()
        })
        .unwrap();
        assert!(extra.server_config().is_ok());
        assert_eq!(extra.trust_pem, TEST_CA_CERT_PEM);
    }

    #[test]
    fn the_bundle_is_not_extended_twice() {
        let once = ca_bundle(TEST_CA_CERT_PEM);
        assert!(once.ends_with(TEST_CA_CERT_PEM));
        assert_eq!(
            once.matches(TEST_CA_CERT_PEM.trim()).count(),
            1,
            "the CA appears once"
        );
    }
}
