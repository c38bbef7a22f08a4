//! HTTPS on the edge's `flv_addr` (and the cloud's `api_addr`) from `cert_file` / `key_file`:
//! the same stream over TLS with the configured certificate, a renewed certificate served
//! without a restart, and bad files refused at start naming the key.

use crate::config::run_with_config;
use crate::logs;
use e2e_tests::checks::{check_capture, Join};
use e2e_tests::cluster::{CloudConfig, Pair};
use e2e_tests::http::{read_response_over, request_bytes, HttpResponse};
use e2e_tests::util::free_port;
use e2e_tests::{Cloud, Edge, Media, Publisher, TestDir};
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A self-signed certificate for `localhost` and 127.0.0.1, written as `NAME-cert.pem` and
/// `NAME-key.pem` in `dir` (or over an existing pair); its DER.
fn write_certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf, CertificateDer<'static>) {
    let key = rcgen::KeyPair::generate().expect("key pair");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = params.self_signed(&key).expect("self-signed");
    let (cert_path, key_path) = (dir.join("tls-cert.pem"), dir.join("tls-key.pem"));
    // Written beside and renamed, as a certificate manager does, so no half-written file is read.
    let staged_cert = dir.join(format!("{name}-cert.pem"));
    let staged_key = dir.join(format!("{name}-key.pem"));
    std::fs::write(&staged_cert, cert.pem()).expect("write cert");
    std::fs::write(&staged_key, key.serialize_pem()).expect("write key");
    std::fs::rename(&staged_key, &key_path).expect("rename key");
    std::fs::rename(&staged_cert, &cert_path).expect("rename cert");
    (cert_path, key_path, cert.der().clone())
}

fn client_config(roots: &[CertificateDer<'static>]) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).expect("root");
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(store)
        .with_no_client_auth(),
    )
}

/// `GET path` over TLS; the response (read until it ends or `deadline`) and the certificate
/// the server presented.
fn https_get(
    addr: SocketAddr,
    path: &str,
    config: &Arc<rustls::ClientConfig>,
    deadline: Instant,
) -> Result<(HttpResponse, CertificateDer<'static>), String> {
    let socket = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").expect("name");
    let connection =
        rustls::ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(connection, socket);
    tls.write_all(&request_bytes("GET", addr, path))
        .map_err(|e| format!("TLS handshake or write: {e}"))?;
    let response = read_response_over(&mut tls, deadline)?;
    let presented = tls
        .conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| cert.clone().into_owned())
        .ok_or("no certificate presented")?;
    Ok((response, presented))
}

/// A player over HTTPS, from before the publish until the stream ends, checked packet for packet
/// against the source, with the configured certificate; then the certificate is renewed on disk
/// and the next connection is served with the new one, without a restart. Plain HTTP on the
/// HTTPS port gets no answer.
#[test]
fn https_serves_the_stream_and_a_renewed_certificate() {
    let media = Media::standard();
    let dir = TestDir::new("https");
    let (cert_path, key_path, first) = write_certificate(dir.path(), "first");
    let Pair { cloud, mut edge } = Pair::start_with(dir.path(), |edge| {
        edge.extra = vec![
            format!("cert_file: {:?}", cert_path.display().to_string()),
            format!("key_file: {:?}", key_path.display().to_string()),
        ];
    });
    let addr = edge.flv_addr();
    let name = "https";
    let config = client_config(std::slice::from_ref(&first));
    let path = Edge::play_path(name);
    let player = {
        let config = config.clone();
        let path = path.clone();
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(20);
            loop {
                match https_get(
                    addr,
                    &path,
                    &config,
                    Instant::now() + Duration::from_secs(60),
                ) {
                    Ok((response, cert)) if response.status == 200 => return Ok((response, cert)),
                    Ok(_) | Err(_) if Instant::now() < until => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Ok((response, _)) => return Err(format!("status {}", response.status)),
                    Err(e) => return Err(e),
                }
            }
        })
    };
    let mut publisher = Publisher::start(&dir, "publisher-https", media, &cloud.rtmp_url(name));
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", logs(&[&cloud.proc, &edge.proc]));
    }
    let (response, presented) = player
        .join()
        .expect("player thread")
        .unwrap_or_else(|e| panic!("HTTPS player: {e}\n{}", logs(&[&cloud.proc, &edge.proc])));
    assert_eq!(presented, first, "the configured certificate");
    check_capture(media, &response, &dir, "https-player", Join::Start)
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&[&cloud.proc, &edge.proc])));

    // Renewed on disk: the next handshake after the edge's next look (at most a second) gets it.
    std::thread::sleep(Duration::from_millis(1100));
    let (_, _, second) = write_certificate(dir.path(), "second");
    let both = client_config(&[first.clone(), second.clone()]);
    let renewed_by = Instant::now() + Duration::from_secs(10);
    loop {
        let (response, presented) = https_get(
            addr,
            "/api/v1/streams",
            &both,
            Instant::now() + Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("HTTPS after the renewal: {e}\n{}", edge.proc.log_tail(20)));
        assert_eq!(response.status, 200);
        if presented == second {
            break;
        }
        assert!(
            Instant::now() < renewed_by,
            "still the old certificate 10 s after the renewal\n{}",
            edge.proc.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Plain HTTP is not served on the HTTPS port.
    let plain = e2e_tests::http::probe(addr, "GET", "/api/v1/streams");
    assert!(
        plain.as_ref().map_or(true, |r| r.status != 200),
        "plain HTTP answered on the HTTPS port: {plain:?}"
    );
    edge.proc.assert_running("after the renewal");
}

/// The cloud's API over HTTPS with its `cert_file`: livestat answers over TLS with the
/// configured certificate.
#[test]
fn the_cloud_api_serves_https() {
    let dir = TestDir::new("cloudhttps");
    let (cert_path, key_path, cert) = write_certificate(dir.path(), "cloud");
    let edge_udp = format!("127.0.0.1:{}", free_port());
    let mut cloud_cfg = CloudConfig::new(dir.path(), vec![edge_udp]);
    cloud_cfg.extra = vec![
        format!("cert_file: {:?}", cert_path.display().to_string()),
        format!("key_file: {:?}", key_path.display().to_string()),
    ];
    let cloud = Cloud::start(dir.path(), cloud_cfg);
    let (response, presented) = https_get(
        cloud.api_addr(),
        "/stat/livestat",
        &client_config(std::slice::from_ref(&cert)),
        Instant::now() + Duration::from_secs(5),
    )
    .unwrap_or_else(|e| panic!("HTTPS livestat: {e}\n{}", cloud.proc.log_tail(20)));
    assert_eq!(
        response.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(presented, cert);
    let body: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON");
    assert_eq!(body["status"], 200, "{body}");
}

/// A certificate file that is not PEM, a missing key file and a key of another certificate stop
/// either node at start with an error that names the key.
#[test]
fn bad_certificate_files_are_refused_at_start_naming_the_key() {
    let dir = TestDir::new("badcert");
    let (cert_path, key_path, _) = write_certificate(dir.path(), "good");
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").expect("write");
    let other_key = dir.join("other-key.pem");
    std::fs::write(
        &other_key,
        rcgen::KeyPair::generate().expect("key").serialize_pem(),
    )
    .expect("write");
    let missing = dir.join("missing.pem");
    let quoted = |p: &Path| format!("{:?}", p.display().to_string());
    let cases = [
        (quoted(&garbage), quoted(&key_path), "cert_file"),
        (quoted(&cert_path), quoted(&missing), "key_file"),
        (quoted(&cert_path), quoted(&other_key), "key_file"),
        (quoted(&cert_path), "\"\"".to_string(), "key_file"),
    ];
    for (i, (cert, key, named)) in cases.iter().enumerate() {
        for bin in ["edge", "cloud"] {
            let yaml = format!(
                "cloud:\n  rtmp_addr: \"127.0.0.1:{}\"\n  api_addr: \"127.0.0.1:{}\"\n  cert_file: {cert}\n  key_file: {key}\nedge:\n  udp_addr: \"127.0.0.1:{}\"\n  flv_addr: \"127.0.0.1:{}\"\n  cert_file: {cert}\n  key_file: {key}\n",
                free_port(),
                free_port(),
                free_port(),
                free_port()
            );
            let mut p = run_with_config(&dir, bin, &format!("{bin}-bad-{i}"), &yaml);
            let status = p.wait_exit(Duration::from_secs(10));
            assert!(!status.success(), "{bin} started with case {i}");
            let expected = format!("{bin}.{named}");
            assert!(
                p.log().contains(&expected),
                "{bin}'s error for case {i} does not name {expected}:\n{}",
                p.log_tail(10)
            );
        }
    }
}
