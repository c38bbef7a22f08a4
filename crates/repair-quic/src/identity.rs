//! The cloud's TLS identity and how edges recognise it.

use crate::QuicError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;

/// Certificate chain and key of the cloud's QUIC server.
#[derive(Debug)]
pub struct Identity {
    /// DER certificates, end-entity first (its SHA-256 is the fingerprint edges pin).
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key of the end-entity certificate.
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// SHA-256 of the end-entity certificate, as edges pin it.
    pub fn fingerprint(&self) -> String {
        self.chain
            .first()
            .map(|c| fingerprint(c))
            .unwrap_or_default()
    }
}

/// Lowercase hex SHA-256 of a DER certificate (64 characters).
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a fingerprint as written in config: 64 hex digits, `:` separators allowed.
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Loads the certificate and key, or makes a self-signed pair for `names` when neither file
/// exists (first start). One file without the other is an error: never overwrite a key.
pub fn load_or_create(
    cert_path: &Path,
    key_path: &Path,
    names: &[String],
) -> Result<(Identity, bool), QuicError> {
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => Ok((load(cert_path, key_path)?, false)),
        (false, false) => {
            create(cert_path, key_path, names)?;
            Ok((load(cert_path, key_path)?, true))
        }
        _ => Err(QuicError::Certificate(format!(
            "{} and {} must both exist or both be missing (then they are generated)",
            cert_path.display(),
            key_path.display()
        ))),
    }
}

fn load(cert_path: &Path, key_path: &Path) -> Result<Identity, QuicError> {
    let chain = load_certificates(cert_path)?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|error| {
        QuicError::Certificate(format!(
            "{}: no usable private key: {error}",
            key_path.display()
        ))
    })?;
    Ok(Identity { chain, key })
}

/// Every certificate in a PEM file (at least one).
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, QuicError> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|error| QuicError::Certificate(format!("{}: {error}", path.display())))?;
    if chain.is_empty() {
        return Err(QuicError::Certificate(format!(
            "{}: no certificate in the file",
            path.display()
        )));
    }
    Ok(chain)
}

fn create(cert_path: &Path, key_path: &Path, names: &[String]) -> Result<(), QuicError> {
    let generated = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|error| QuicError::Certificate(format!("generating a certificate: {error}")))?;
    let io = |path: &Path| {
        let what = format!("writing {}", path.display());
        move |source| QuicError::Io { what, source }
    };
    for path in [cert_path, key_path] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
    }
    write_private(key_path, generated.key_pair.serialize_pem().as_bytes()).map_err(io(key_path))?;
    std::fs::write(cert_path, generated.cert.pem()).map_err(io(cert_path))?;
    Ok(())
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_loaded_with_the_same_fingerprint() {
        let dir = std::env::temp_dir().join(format!("repair-quic-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
        let (first, created) = load_or_create(&cert, &key, &["liverelay-cloud".into()]).unwrap();
        assert!(created);
        let (second, created) = load_or_create(&cert, &key, &[]).unwrap();
        assert!(!created);
        assert_eq!(first.fingerprint(), second.fingerprint());
        assert_eq!(
            parse_fingerprint(&first.fingerprint()).map(|_| ()),
            Some(())
        );
        std::fs::remove_file(&key).unwrap();
        assert!(load_or_create(&cert, &key, &[]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let hex = "ab".repeat(32);
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(parse_fingerprint(&hex), Some([0xab; 32]));
        assert_eq!(parse_fingerprint(&colons), Some([0xab; 32]));
        assert_eq!(parse_fingerprint("abc"), None);
        assert_eq!(parse_fingerprint(&"zz".repeat(32)), None);
    }
}
