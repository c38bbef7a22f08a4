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
    /// A file or socket operation failed: writing the generated certificate or key, or binding the
    /// server or client UDP socket.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path or address (e.g. `binding QUIC on 0.0.0.0:4433`).
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The certificate or key is unusable: unreadable or empty PEM, no private key, only one of the
    /// two files present, generation failed, or the chain or trust was rejected when building the
    /// TLS configuration.
    #[error("{0}")]
    Certificate(String),
    /// rustls refused the TLS configuration (e.g. TLS 1.3 unavailable in the crypto provider).
    #[error("TLS set-up: {0}")]
    Tls(#[from] rustls::Error),
    /// quinn could not start a connection (bad address or server name, endpoint shutting down).
    #[error("QUIC connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// An established or handshaking QUIC connection failed: timed out, closed or reset by the
    /// peer, or the TLS handshake failed (e.g. fingerprint mismatch).
    #[error("QUIC connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// Writing a message to a QUIC stream failed (stream stopped or connection lost).
    #[error("QUIC stream write: {0}")]
    Write(#[from] quinn::WriteError),
    /// Reading a message from a QUIC stream or datagram failed: the connection or stream ended, or
    /// a unidirectional stream's message exceeded the frame length limit.
    #[error("QUIC stream read: {0}")]
    Read(String),
    /// A frame or message broke the repair protocol: a control-stream frame over its length limit,
    /// or bytes that do not decode as a repair message.
    #[error(transparent)]
    Protocol(#[from] relay_proto::ProtoError),
    /// The session was not set up at the hello/welcome step: the cloud refused the edge, the
    /// edge's hello was not acceptable, or no welcome came back; carries the reason.
    #[error("{0}")]
    Refused(String),
    /// A step of the session set-up did not finish in time; names the step that was waited on.
    #[error("timed out: {0}")]
    Timeout(&'static str),
}
