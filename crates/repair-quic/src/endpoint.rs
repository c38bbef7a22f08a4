//! QUIC endpoints for the repair connection.

use crate::identity::Identity;
use crate::QuicError;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{
    ClientConfig, Endpoint, EndpointConfig, IdleTimeout, MtuDiscoveryConfig, ServerConfig,
    TransportConfig, VarInt,
};
use quinn_proto::HashedConnectionIdGenerator;
use relay_proto::REPAIR_ALPN;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Keep-alives keep NAT bindings and the edge's warm connection open between losses.
const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// A peer silent this long is gone; longer than a short link cut, which QUIC rides out.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Room for answers in flight on one connection (each long answer is a unidirectional stream).
const MAX_UNI_STREAMS: u32 = 4096;
/// Datagrams waiting to be read.
const DATAGRAM_RECEIVE_BUFFER: usize = 4 << 20;
/// Datagrams waiting to be sent; beyond, the oldest are dropped. Small on purpose: while a link
/// is cut, requests and answers that are stale by the time it returns are not kept to be sent
/// then in a burst (the receiver asks again for what it still needs).
const DATAGRAM_SEND_BUFFER: usize = 256 << 10;

/// After a suspected MTU black hole, how soon the path MTU is probed again.
const MTU_BLACK_HOLE_COOLDOWN: Duration = Duration::from_secs(2);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The repair connection's transport settings, the single place they are set: both ends use
/// them ([`server_config`] and [`client_config`]), and so does the loss-repair simulation
/// through those two.
fn transport() -> Arc<TransportConfig> {
    let mut transport = TransportConfig::default();
    transport.keep_alive_interval(Some(KEEP_ALIVE));
    if let Ok(timeout) = IdleTimeout::try_from(IDLE_TIMEOUT) {
        transport.max_idle_timeout(Some(timeout));
    }
    transport.max_concurrent_uni_streams(VarInt::from_u32(MAX_UNI_STREAMS));
    transport.datagram_receive_buffer_size(Some(DATAGRAM_RECEIVE_BUFFER));
    transport.datagram_send_buffer_size(DATAGRAM_SEND_BUFFER);
    // BBR, not the default CUBIC: the repair link is a WAN path with random loss and jitter, not
    // a congested one. CUBIC halves its window at every loss and at every packet that three
    // later ones overtake (QUIC's packet threshold); a burst of answers sent back to back is
    // reordered at random by a few ms of jitter, so with no loss at all the cloud's window
    // stayed at a few packets (the edge's at its minimum of two), answers queued in the datagram
    // send buffer past the playout deadline and the oldest were dropped unsent. BBR paces by the
    // bandwidth and RTT it measures instead.
    transport.congestion_controller_factory(Arc::new(quinn::congestion::BbrConfig::default()));
    // Random loss of a few packets in a row looks like an MTU black hole to quinn (RFC 8899
    // §4.3), which then falls back to 1200 bytes and by default waits a minute before probing
    // again. At 1200 bytes a full-size answer no longer fits a datagram and goes on a stream of
    // its own, slower and costlier; measured through quinn-proto at 10 % loss and RTT 100 ms, a
    // short cooldown cut answers sent on streams from 4619 to 248 per 100 000 packets.
    let mut mtu = MtuDiscoveryConfig::default();
    mtu.black_hole_cooldown(MTU_BLACK_HOLE_COOLDOWN);
    transport.mtu_discovery_config(Some(mtu));
    Arc::new(transport)
}

/// Derives a secret for `label` from the cloud's private key, so that it survives a restart
/// with the same identity and is useless for anything else.
fn derived_secret(identity: &Identity, label: &[u8]) -> ring::hmac::Tag {
    let secret = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, identity.key.secret_der());
    ring::hmac::sign(&secret, label)
}

/// The endpoint's stateless resets (RFC 9000 §10.3) and connection IDs come from keys derived
/// from the cloud's private key, so a cloud restarted with the same identity recognises the
/// connection IDs it handed out before and resets those connections: its edges learn at their
/// next keep-alive that the connection is gone and reconnect at once (to learn the new
/// publishes' media keys) instead of waiting out the idle timeout.
fn endpoint_config(identity: &Identity) -> EndpointConfig {
    let reset = derived_secret(identity, b"liverelay QUIC stateless reset key");
    let mut config = EndpointConfig::new(Arc::new(ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        reset.as_ref(),
    )));
    let cid = derived_secret(identity, b"liverelay QUIC connection ID key");
    let mut cid_key = [0u8; 8];
    cid_key.copy_from_slice(&cid.as_ref()[..8]);
    let cid_key = u64::from_be_bytes(cid_key);
    config.cid_generator(move || Box::new(HashedConnectionIdGenerator::from_key(cid_key)));
    config
}

/// The cloud's endpoint and server configuration for `identity`, without a socket: the repair
/// ALPN, TLS 1.3 with the identity's certificate, and [`transport`]'s settings. [`server`] binds
/// it to a UDP socket; the loss-repair simulation (`repair-sim`) drives the same configuration
/// through quinn-proto in virtual time, so what it measures is the transport the cloud runs.
pub fn server_config(identity: Identity) -> Result<(EndpointConfig, ServerConfig), QuicError> {
    let endpoint_config = endpoint_config(&identity);
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)?;
    tls.alpn_protocols = vec![REPAIR_ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls)
        .map_err(|error| QuicError::Certificate(error.to_string()))?;
    let mut config = ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport());
    Ok((endpoint_config, config))
}

/// The cloud's endpoint, listening on `addr`, configured by [`server_config`].
pub fn server(addr: SocketAddr, identity: Identity) -> Result<Endpoint, QuicError> {
    let (endpoint_config, config) = server_config(identity)?;
    let io = |source| QuicError::Io {
        what: format!("binding QUIC on {addr}"),
        source,
    };
    let socket = std::net::UdpSocket::bind(addr).map_err(io)?;
    let runtime = quinn::default_runtime().ok_or_else(|| {
        io(std::io::Error::other(
            "no async runtime to drive QUIC (not inside tokio)",
        ))
    })?;
    Endpoint::new(endpoint_config, Some(config), socket, runtime).map_err(io)
}

/// How an edge recognises the cloud.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The SHA-256 of the cloud's certificate.
    Pinned([u8; 32]),
    /// Certificates issued by these authorities, for the server name dialled.
    Authorities(Vec<CertificateDer<'static>>),
}

/// An edge's client configuration for `trust`: the repair ALPN, TLS 1.3 and [`transport`]'s
/// settings. Socket-free, like [`server_config`], so the simulation can use it too.
pub fn client_config(trust: &Trust) -> Result<ClientConfig, QuicError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut tls = match trust {
        Trust::Pinned(fingerprint) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedCertificate {
                fingerprint: *fingerprint,
                provider: provider(),
            }))
            .with_no_client_auth(),
        Trust::Authorities(roots) => {
            let mut store = RootCertStore::empty();
            for root in roots {
                store.add(root.clone())?;
            }
            builder.with_root_certificates(store).with_no_client_auth()
        }
    };
    tls.alpn_protocols = vec![REPAIR_ALPN.to_vec()];
    let crypto = QuicClientConfig::try_from(tls)
        .map_err(|error| QuicError::Certificate(error.to_string()))?;
    let mut config = ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport());
    Ok(config)
}

/// An edge's endpoint (an ephemeral local port).
pub fn client(bind: SocketAddr) -> Result<Endpoint, QuicError> {
    Endpoint::client(bind).map_err(|source| QuicError::Io {
        what: format!("binding the QUIC client on {bind}"),
        source,
    })
}

/// Accepts exactly the pinned certificate; signatures are still checked, so a peer must hold
/// its key. Name and expiry do not matter for a pinned self-signed certificate.
#[derive(Debug)]
struct PinnedCertificate {
    fingerprint: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest = ring::digest::digest(&ring::digest::SHA256, end_entity);
        if digest.as_ref() == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the cloud's certificate {} is not the pinned one",
                crate::identity::fingerprint(end_entity)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
