//! The QUIC side of liverelay's repair connection (quinn over rustls with ring).
//!
//! - [`identity`]: the cloud's certificate, generated on first start and kept on disk, and its
//!   SHA-256 fingerprint, which edges pin.
//! - [`endpoint`]: server and client endpoints with the repair ALPN, keep-alive and datagrams.
//! - [`channel`]: messages on a QUIC connection: framed on the control stream, one per datagram
//!   when it fits, else one per unidirectional stream.

#![warn(missing_docs)]

pub mod channel;
pub mod endpoint;
pub mod identity;

use thiserror::Error;

/// Everything that can go wrong setting up or using a repair connection.
#[derive(Debug, Error)]
pub enum QuicError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Certificate(String),
    #[error("TLS set-up: {0}")]
    Tls(#[from] rustls::Error),
    #[error("QUIC connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    #[error("QUIC connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("QUIC stream write: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("QUIC stream read: {0}")]
    Read(String),
    #[error(transparent)]
    Protocol(#[from] relay_proto::ProtoError),
    #[error("{0}")]
    Refused(String),
    #[error("timed out: {0}")]
    Timeout(&'static str),
}
