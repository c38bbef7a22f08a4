//! Signed POSTs to the app's back end, shared by the cloud's webhook worker (`callback_addr`)
//! and gift payments (`gift_addr`) and the edge's `on_play` hook: one pooled HTTP/1.1 client over rustls, the body signed with the
//! shared secret (`X-Liverelay-Signature`, see [`sign_webhook`]), a bounded wait and a bounded
//! read of the answer. What an answer means is the caller's business.

use crate::auth::{sign_webhook, SIGNATURE_HEADER};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper::header::{CONTENT_TYPE, LOCATION, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How much of an answer is read: enough for a `{"code": ...}` envelope and an error excerpt,
/// while a back end streaming without end cannot hold the caller or its memory.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How much of an answer goes into stored errors and the log.
const EXCERPT_CHARS: usize = 200;

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// What the back end answered.
pub struct Answer {
    /// The HTTP status the back end answered with.
    pub status: StatusCode,
    /// The `Location` header, for telling a redirect where it pointed.
    pub location: Option<String>,
    /// The first `MAX_ANSWER_BYTES` of the body.
    pub body: Vec<u8>,
}

/// One endpoint of the app's back end and the secret its requests are signed with.
pub struct SignedPoster {
    uri: Uri,
    secret: Vec<u8>,
    client: HttpClient,
}

impl SignedPoster {
    /// A client for `url`, the value of setting `key` (named in every message), trusting the
    /// system's roots and `ca_certs` (DER) for `https://`. `what` names the traffic in TLS
    /// messages ("webhook", "payment").
    pub fn new(
        key: &str,
        what: &str,
        url: &str,
        secret: &str,
        ca_certs: &[Vec<u8>],
    ) -> Result<SignedPoster, String> {
        let uri = parse_url(key, url)?;
        let tls = tls_config(key, what, ca_certs, uri.scheme_str() == Some("https"))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(SignedPoster {
            uri,
            secret: secret.as_bytes().to_vec(),
            client,
        })
    }

    /// POSTs the JSON `body` with `headers` and the signature, and reads the answer, all
    /// within `timeout`. `Err` is a one-line reason (no answer in time, connection refused...):
    /// whether the back end got the request is then unknown.
    pub async fn post(
        &self,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Answer, String> {
        match tokio::time::timeout(timeout, self.exchange(headers, body)).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        }
    }

    async fn exchange(&self, headers: &[(&str, &str)], body: Vec<u8>) -> Result<Answer, String> {
        // Signed with the real time, not a store's clock: the receiver checks it against its own.
        let signature = sign_webhook(&self.secret, unix_seconds(), &body);
        let mut request = Request::post(self.uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("liverelay/", env!("CARGO_PKG_VERSION")))
            .header(SIGNATURE_HEADER, signature);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = read_prefix(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| format!("HTTP {status}, then reading the answer failed: {e}"))?;
        Ok(Answer {
            status,
            location,
            body,
        })
    }
}

/// Parses and checks an endpoint, the value of setting `key`. The URL is never echoed whole:
/// its query may hold a token.
pub fn parse_url(key: &str, url: &str) -> Result<Uri, String> {
    let bad = |reason: String| Err(format!("{key}: {reason}"));
    if url.is_empty() {
        return bad("empty; expected the app's URL, http:// or https://".to_owned());
    }
    let uri: Uri = match url.parse() {
        Ok(uri) => uri,
        Err(e) => {
            return bad(format!(
                "not a valid URL ({e}); expected an absolute http:// or https:// URL"
            ))
        }
    };
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return bad(format!(
                "scheme {other:?} is not supported; expected http:// or https://"
            ))
        }
        None => return bad("expected an absolute http:// or https:// URL".to_owned()),
    }
    let Some(authority) = uri.authority() else {
        return bad("the URL has no host".to_owned());
    };
    if authority.as_str().contains('@') {
        return bad(
            "user:password@ in the URL is not supported; the signature authenticates the cloud"
                .to_owned(),
        );
    }
    if authority.host().is_empty() {
        return bad("the URL has no host".to_owned());
    }
    Ok(uri)
}

/// The URL as logs may show it: scheme, host and path, without query or credentials.
pub fn shown_url(url: &str) -> String {
    match url.parse::<Uri>() {
        Ok(uri) => format!(
            "{}://{}{}",
            uri.scheme_str().unwrap_or("?"),
            uri.authority().map_or("?", |a| a.host()),
            uri.path()
        ),
        Err(_) => "(invalid)".to_owned(),
    }
}

/// The TLS set-up: the system's roots (through the platform verifier) plus `ca_certs`. An
/// `http://` endpoint never uses TLS, so it gets an empty trust store instead of failing on a
/// machine without CA certificates.
pub fn tls_config(
    key: &str,
    what: &str,
    ca_certs: &[Vec<u8>],
    https: bool,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{what} TLS set-up: {e}"))?;
    if !https {
        return Ok(builder
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth());
    }
    let extra = ca_certs.iter().map(|der| CertificateDer::from(der.clone()));
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
        .map_err(|e| {
            if ca_certs.is_empty() {
                format!(
                    "{key} is https:// but no trusted root certificate could be loaded ({e}); \
                     install the system's CA certificates (e.g. the ca-certificates package)"
                )
            } else {
                format!("{what} CA certificates cannot be used ({e})")
            }
        })?;
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// The start of an answer as one line of text.
pub fn excerpt(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    let line: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    line.trim().to_owned()
}

/// The first `limit` bytes of `body`; the rest is never read (the connection is then closed).
async fn read_prefix<B>(mut body: B, limit: usize) -> Result<Vec<u8>, String>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error,
{
    let mut read = Vec::new();
    while read.len() < limit {
        let Some(frame) = body.frame().await else {
            break;
        };
        let frame = frame.map_err(|e| error_chain(&e))?;
        if let Ok(data) = frame.into_data() {
            let room = limit - read.len();
            read.extend_from_slice(data.get(..room).unwrap_or(&data));
        }
    }
    Ok(read)
}

/// An error with its causes: the client's own message alone ("client error (Connect)") does
/// not say what went wrong.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[test]
    fn urls_are_checked_and_named_by_their_key() {
        parse_url("gift_addr", "http://127.0.0.1:8080/pay").unwrap();
        for (url, expected) in [
            ("", "empty"),
            ("ftp://app.example/hook", "\"ftp\""),
            ("app.example/hook", "absolute"),
            ("/hook", "absolute"),
            ("http://user:pw@app.example/hook", "user:password@"),
            ("http://", "not a valid URL"),
            ("http://a b/", "not a valid URL"),
        ] {
            let error = parse_url("gift_addr", url).unwrap_err();
            assert!(error.starts_with("gift_addr: "), "{url}: {error}");
            assert!(error.contains(expected), "{url}: {error}");
            assert!(!error.contains("pw"), "{error}");
        }
        assert_eq!(
            shown_url("https://app.example:8443/pay?token=abc"),
            "https://app.example/pay"
        );
    }

    #[test]
    fn unusable_ca_certificates_are_refused() {
        let certs = vec![b"not a certificate".to_vec()];
        let error = tls_config("gift_addr", "payment", &certs, true).unwrap_err();
        assert!(
            error.starts_with("payment CA certificates cannot be used"),
            "{error}"
        );
        // Plain http never looks at them.
        assert!(tls_config("gift_addr", "payment", &certs, false).is_ok());
    }

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(excerpt(b"boom\nat line 3"), "boom at line 3");
        assert_eq!(excerpt("x".repeat(5000).as_bytes()).len(), EXCERPT_CHARS);
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("client error (Connect)")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn errors_keep_their_causes() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            error_chain(&Outer(refused)),
            "client error (Connect): refused"
        );
    }
}
