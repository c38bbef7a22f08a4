//! A webhook receiver for the delivery tests: a real HTTP/1.1 server on 127.0.0.1, plain or
//! TLS with a self-signed certificate, that records every request and answers as the test's
//! script says.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, LOCATION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use relay_rooms::EVENT_ID_HEADER;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// How long [`Receiver::wait_until`] waits before failing the test.
const WAIT_LIMIT: Duration = Duration::from_secs(5);
pub const PATH: &str = "/hooks/liverelay";

/// What the receiver answers to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Waited before answering.
    pub delay: Duration,
    pub location: Option<String>,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::status(200, r#"{"code":0,"message":"ok"}"#)
    }

    pub fn status(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.to_owned(),
            delay: Duration::ZERO,
            location: None,
        }
    }

    pub fn redirect(to: String) -> Reply {
        Reply {
            location: Some(to),
            ..Reply::status(302, "")
        }
    }

    pub fn after(self, delay: Duration) -> Reply {
        Reply { delay, ..self }
    }

    /// Whether the worker takes this answer as a delivery (the scripts here use `code` only
    /// as 0 on a success).
    pub fn accepts(&self) -> bool {
        (200..300).contains(&self.status) && !self.body.contains(r#""code":1"#)
    }
}

/// One request as received, with the answer the script chose for it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// From the event id header ("" when missing).
    pub event_id: String,
    /// How many requests for the same event came before this one.
    pub nth: usize,
    pub at: Instant,
    pub reply: Reply,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// Chooses the answer to a request.
pub type Script = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

pub fn script(choose: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Script {
    Arc::new(choose)
}

/// Answers requests for `event_id` with `choose(nth)` (`nth` counting its earlier requests),
/// and every other request with [`Reply::ok`].
pub fn for_event(
    event_id: &str,
    choose: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> Script {
    let event_id = event_id.to_owned();
    script(move |r| {
        if r.event_id == event_id {
            choose(r.nth)
        } else {
            Reply::ok()
        }
    })
}

struct State {
    script: Script,
    log: Mutex<Vec<Received>>,
    arrived: Notify,
    in_flight: Mutex<HashMap<String, usize>>,
    /// Requests that arrived while another for the same event was still being answered.
    overlaps: AtomicUsize,
}

pub struct Receiver {
    pub url: String,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Receiver {
    pub async fn start(script: Script) -> Receiver {
        Receiver::listen(script, None).await
    }

    /// A receiver on https://, and its self-signed certificate (DER) for the client to trust.
    pub async fn start_tls(script: Script) -> (Receiver, Vec<u8>) {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = certified.cert.der().clone();
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key.into())
            .unwrap();
        let receiver = Receiver::listen(script, Some(TlsAcceptor::from(Arc::new(tls)))).await;
        (receiver, cert.to_vec())
    }

    async fn listen(script: Script, tls: Option<TlsAcceptor>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state = Arc::new(State {
            script,
            log: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            in_flight: Mutex::new(HashMap::new()),
            overlaps: AtomicUsize::new(0),
        });
        let accept = tokio::spawn(accept(listener, Arc::clone(&state), tls));
        Receiver {
            url: format!("{scheme}://127.0.0.1:{port}{PATH}"),
            state,
            accept,
        }
    }

    /// The origin, for URLs elsewhere on this receiver.
    pub fn origin(&self) -> &str {
        self.url.trim_end_matches(PATH)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.log.lock().unwrap().clone()
    }

    /// Requests for `event_id`, in the order they arrived.
    pub fn for_event(&self, event_id: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.event_id == event_id)
            .collect()
    }

    pub fn overlaps(&self) -> usize {
        self.state.overlaps.load(Ordering::SeqCst)
    }

    /// Waits until the requests received so far satisfy `done`; fails the test after a while.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let arrived = self.state.arrived.notified();
            if done(&self.state.log.lock().unwrap()) {
                return;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let seen: Vec<(String, usize, u16)> = self
                    .received()
                    .iter()
                    .map(|r| (r.event_id.clone(), r.nth, r.reply.status))
                    .collect();
                panic!("receiver: still waiting for {what} after {WAIT_LIMIT:?}; got {seen:?}");
            }
        }
    }

    /// Waits until `event_id` was answered with a success.
    pub async fn wait_accepted(&self, event_id: &str) {
        self.wait_until(&format!("event {event_id} accepted"), |log| {
            log.iter()
                .any(|r| r.event_id == event_id && r.reply.accepts())
        })
        .await;
    }
}

async fn accept(listener: TcpListener, state: Arc<State>, tls: Option<TlsAcceptor>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve(tcp, Arc::clone(&state), tls.clone()));
    }
}

async fn serve(tcp: TcpStream, state: Arc<State>, tls: Option<TlsAcceptor>) {
    let service = service_fn(move |request| answer(Arc::clone(&state), request));
    let connection = http1::Builder::new();
    match tls {
        Some(acceptor) => {
            if let Ok(stream) = acceptor.accept(tcp).await {
                let _ = connection
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        }
        None => {
            let _ = connection
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        }
    }
}

/// A request being answered; dropped when the answer is made or the client went away.
struct Answering {
    state: Arc<State>,
    event_id: String,
}

impl Drop for Answering {
    fn drop(&mut self) {
        if let Some(count) = self.state.in_flight.lock().unwrap().get_mut(&self.event_id) {
            *count -= 1;
        }
    }
}

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let event_id = headers
        .get(EVENT_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let reply = {
        let mut log = state.log.lock().unwrap();
        let mut received = Received {
            path,
            headers,
            body,
            nth: log.iter().filter(|r| r.event_id == event_id).count(),
            event_id: event_id.clone(),
            at: Instant::now(),
            reply: Reply::ok(),
        };
        received.reply = (state.script)(&received);
        let mut in_flight = state.in_flight.lock().unwrap();
        let count = in_flight.entry(event_id.clone()).or_insert(0);
        if *count > 0 {
            state.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        *count += 1;
        log.push(received.clone());
        received.reply
    };
    state.arrived.notify_waiters();
    let answering = Answering {
        state: Arc::clone(&state),
        event_id,
    };
    tokio::time::sleep(reply.delay).await;
    drop(answering);
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap();
    if let Some(location) = reply.location {
        response
            .headers_mut()
            .insert(LOCATION, HeaderValue::from_str(&location).unwrap());
    }
    Ok(response)
}
