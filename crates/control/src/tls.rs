//! HTTPS on the nodes' HTTP listeners: a certificate chain and key from PEM files (the `cert_file`
//! and `key_file` keys), reloaded when either file changes, so a renewed certificate (certbot,
//! cert-manager) is served without a restart.
//!
//! The files are read and checked at start, so a missing file, a file without a certificate or
//! key, or a key that is not the certificate's is a config error naming the file. Later, the
//! files' modification times are looked at during a handshake at most once per
//! [`RELOAD_CHECK`]; a changed pair is loaded and used from the next handshake on. A pair that
//! fails to load then (half written, mismatched) is logged and the previous one kept.

use parking_lot::Mutex;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How often, at most, the files are looked at for a change.
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// Which of the two files a load error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    /// `cert_file`: the certificate chain.
    Cert,
    /// `key_file`: the private key.
    Key,
}

/// Why the certificate and key could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsLoadError {
    /// The file at fault.
    pub file: TlsFile,
    /// What is wrong with it, naming its path.
    pub reason: String,
}

impl fmt::Display for TlsLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// The TLS set-up of one node's HTTP listeners.
#[derive(Debug)]
pub struct TlsFiles {
    config: Arc<ServerConfig>,
}

impl TlsFiles {
    /// Reads and checks `cert_file` and `key_file`; the error says which file is wrong and why.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<TlsFiles, TlsLoadError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let resolver = ReloadingCert::new(cert_file, key_file, provider.clone())?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsLoadError {
                file: TlsFile::Cert,
                reason: format!("TLS set-up: {error}"),
            })?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsFiles {
            config: Arc::new(config),
        })
    }

    /// The `cert_file` and `key_file` keys of a node's section: `None` (plain HTTP) when both are
    /// empty; otherwise both files must load. The error names the key at fault (without its
    /// section) and why.
    pub fn from_keys(
        cert_file: &str,
        key_file: &str,
    ) -> Result<Option<Arc<TlsFiles>>, (&'static str, String)> {
        match (cert_file.is_empty(), key_file.is_empty()) {
            (true, true) => return Ok(None),
            (false, true) => return Err(("key_file", "must be set with cert_file".into())),
            (true, false) => return Err(("cert_file", "must be set with key_file".into())),
            (false, false) => {}
        }
        TlsFiles::load(Path::new(cert_file), Path::new(key_file))
            .map(|files| Some(Arc::new(files)))
            .map_err(|error| {
                let key = match error.file {
                    TlsFile::Cert => "cert_file",
                    TlsFile::Key => "key_file",
                };
                (key, error.reason)
            })
    }

    /// The server configuration to accept connections with.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }
}

/// The files' modification times, to notice a change.
type Stamp = (Option<SystemTime>, Option<SystemTime>);

struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<Current>,
}

struct Current {
    key: Arc<CertifiedKey>,
    stamp: Stamp,
    checked: Instant,
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

fn stamp(cert_file: &Path, key_file: &Path) -> Stamp {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    (modified(cert_file), modified(key_file))
}

/// Reads the pair: the chain (leaf first) and the key, which must be the leaf's.
fn read_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsLoadError> {
    let cert_error = |reason: String| TlsLoadError {
        file: TlsFile::Cert,
        reason: format!("{}: {reason}", cert_file.display()),
    };
    let key_error = |reason: String| TlsLoadError {
        file: TlsFile::Key,
        reason: format!("{}: {reason}", key_file.display()),
    };
    let chain = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| cert_error(error.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no PEM certificate in the file".into()));
    }
    let key =
        PrivateKeyDer::from_pem_file(key_file).map_err(|error| key_error(error.to_string()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|error| key_error(error.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|error| key_error(format!("not the key of {}: {error}", cert_file.display())))?;
    Ok(Arc::new(certified))
}

impl ReloadingCert {
    fn new(
        cert_file: &Path,
        key_file: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsLoadError> {
        let stamp = stamp(cert_file, key_file);
        let key = read_pair(cert_file, key_file, &provider)?;
        Ok(ReloadingCert {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            provider,
            current: Mutex::new(Current {
                key,
                stamp,
                checked: Instant::now(),
            }),
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut current = self.current.lock();
        let now = Instant::now();
        if now.duration_since(current.checked) >= RELOAD_CHECK {
            current.checked = now;
            let stamp = stamp(&self.cert_file, &self.key_file);
            if stamp != current.stamp {
                current.stamp = stamp;
                match read_pair(&self.cert_file, &self.key_file, &self.provider) {
                    Ok(key) => {
                        tracing::info!(cert_file = %self.cert_file.display(), "TLS certificate reloaded");
                        current.key = key;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the changed TLS certificate or key does not load; serving the previous one")
                    }
                }
            }
        }
        Some(current.key.clone())
    }
}
