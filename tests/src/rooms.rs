//! Driving the cloud's live-room API: signed `/server` requests, `/client` requests with a
//! token (and its room events), the database each test runs on, push URLs signed independently
//! of the cloud, and the app's side: a webhook receiver and a payment service for gifts.

use crate::http;
use base64::Engine;
use hmac::{Hmac, Mac};
use relay_control::auth::{format_qiniu_date, sign_request, KeyPair, RequestParts, SecretKey};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The server key pair the room tests configure.
pub const ACCESS_KEY: &str = "ak-e2e";
pub const SECRET_KEY: &str = "e2e-secret-key-0123456789";
pub const JWT_KEY: &str = "e2e-jwt-key-0123456789";
pub const PUBLISH_KEY: &str = "e2e-publish-key-0123456789";
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the cloud keeps its rooms in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// The default: a SQLite file in the cloud's data directory.
    Sqlite,
    /// The PostgreSQL server `scripts/test.sh` starts, in a schema of the test's own.
    Postgres,
}

/// The cloud's `database_url` for `db`, or `None` when PostgreSQL runs are skipped on purpose
/// (`LIVERELAY_TEST_POSTGRES_URL=skip`). Unset is a failure: a green run has tried both.
pub fn database_url(db: Db, label: &str) -> Option<String> {
    const ENV: &str = "LIVERELAY_TEST_POSTGRES_URL";
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    if db == Db::Sqlite {
        return Some(String::new());
    }
    let server = match std::env::var(ENV) {
        Ok(value) if value == "skip" => {
            eprintln!("skipped: the PostgreSQL run of {label} ({ENV}=skip)");
            return None;
        }
        Ok(value) if !value.is_empty() => value,
        _ => {
            panic!("{ENV} is not set: run the tests with scripts/test.sh, which starts PostgreSQL")
        }
    };
    let schema = format!(
        "e2e_{}_{}_{}",
        label.replace('-', "_"),
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::SeqCst)
    );
    let out = Command::new("psql")
        .args([&server, "-v", "ON_ERROR_STOP=1", "-q", "-c"])
        .arg(format!("CREATE SCHEMA {schema}"))
        .output()
        .unwrap_or_else(|e| panic!("running psql: {e}"));
    assert!(
        out.status.success(),
        "psql CREATE SCHEMA {schema}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let separator = if server.contains('?') { '&' } else { '?' };
    Some(format!(
        "{server}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// The YAML lines that give a cloud the rooms set-up of the tests.
pub fn cloud_lines(database_url: &str, publish_port: u16, play_base: &str) -> Vec<String> {
    vec![
        format!("database_url: \"{database_url}\""),
        format!("jwt_key: \"{JWT_KEY}\""),
        format!("server_keys: [{{access_key: \"{ACCESS_KEY}\", secret_key: \"{SECRET_KEY}\"}}]"),
        "publish_auth: expiry".into(),
        format!("publish_key: \"{PUBLISH_KEY}\""),
        format!("publish_base_url: \"rtmp://127.0.0.1:{publish_port}/live\""),
        format!("play_base_urls: [\"{play_base}\"]"),
    ]
}

pub fn unix_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// An answer: HTTP status and the JSON body (Null when not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or(-1)
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// Panics unless the answer is a success (`code` 0, HTTP 200).
    pub fn ok(self, what: &str) -> Value {
        assert!(
            self.status == 200 && self.code() == 0,
            "{what}: {} {}",
            self.status,
            self.text
        );
        self.body["data"].clone()
    }

    /// Panics unless the answer is `status` with `code` and a message containing `needle`.
    pub fn expect_error(&self, what: &str, status: u16, code: i64, needle: &str) {
        let message = self.body["message"].as_str().unwrap_or_default();
        assert!(
            self.status == status && self.code() == code && message.contains(needle),
            "{what}: expected {status}/{code} with {needle:?}, got {} {}",
            self.status,
            self.text
        );
    }
}

/// How a server request is signed (tests change one part to check it is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Good,
    /// Signed with another secret key.
    WrongKey,
    /// No Authorization header.
    Unsigned,
    /// Dated this many seconds ago (and signed so).
    DatedAgo(i64),
    /// No X-Qiniu-Date header.
    Undated,
}

/// The live-room API of one cloud.
#[derive(Debug, Clone, Copy)]
pub struct RoomsApi {
    pub addr: SocketAddr,
}

impl RoomsApi {
    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        self.try_send(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn try_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Answer, String> {
        let response = http::request_with_body(self.addr, method, path, headers, body, TIMEOUT)?;
        let text = response.body_text();
        Ok(Answer {
            status: response.status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        })
    }

    /// A `/server` request with the raw `body` (JSON when not empty), signed as `signing` says.
    pub fn server_signed(&self, signing: Signing, method: &str, path: &str, body: &str) -> Answer {
        let host = self.addr.to_string();
        let ago = match signing {
            Signing::DatedAgo(seconds) => seconds,
            _ => 0,
        };
        let date = format_qiniu_date(unix_s() - ago);
        let mut headers: Vec<(&str, &str)> = vec![("Host", &host)];
        if !body.is_empty() {
            headers.push(("Content-Type", "application/json"));
        }
        if signing != Signing::Undated {
            headers.push(("X-Qiniu-Date", &date));
        }
        let secret = if signing == Signing::WrongKey {
            "another-secret-0123456789"
        } else {
            SECRET_KEY
        };
        let pair = KeyPair::new(ACCESS_KEY, SecretKey::new(secret).expect("key")).expect("pair");
        let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
        let authorization = sign_request(
            &pair,
            &RequestParts {
                method,
                path: path_only,
                query,
                headers: &headers,
                body: body.as_bytes(),
            },
        );
        // The Host header is written by the HTTP helper.
        let mut sent: Vec<(&str, &str)> =
            headers.into_iter().filter(|(n, _)| *n != "Host").collect();
        if signing != Signing::Unsigned {
            sent.push(("Authorization", &authorization));
        }
        self.send(method, path, &sent, body.as_bytes())
    }

    pub fn server(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.server_signed(Signing::Good, method, path, &body)
    }

    /// A `/client` request with `token` (sent as `Bearer`).
    pub fn client(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> Answer {
        self.try_client(token, method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// As [`RoomsApi::client`], with a failure to get an answer (the cloud was killed) as
    /// `Err` instead of a panic.
    pub fn try_client(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let bearer = format!("Bearer {token}");
        let mut headers = vec![("Authorization", bearer.as_str())];
        if !body.is_empty() {
            headers.push(("Content-Type", "application/json"));
        }
        self.try_send(method, path, &headers, body.as_bytes())
    }

    /// The room events a client reading `GET /client/live/room/{live_id}/events` for
    /// `read_for` gets, as (kind, data). With `last_event_id` the room's kept events after it
    /// come first (an id of another boot, e.g. "0-0", gives every kept event after a `reset`).
    pub fn room_events(
        &self,
        token: &str,
        live_id: &str,
        last_event_id: Option<&str>,
        read_for: Duration,
    ) -> Vec<(String, Value)> {
        let stream = EventStream::open_after(self.addr, token, live_id, last_event_id, read_for);
        assert_eq!(
            stream.wait_answered(TIMEOUT),
            200,
            "GET the events of {live_id}"
        );
        std::thread::sleep(read_for);
        stream
            .events()
            .into_iter()
            .map(|event| (event.kind, event.data))
            .collect()
    }

    /// The cloud's OpenAPI document.
    pub fn openapi(&self) -> Value {
        let document = http::request(self.addr, "GET", "/api/openapi.json", TIMEOUT)
            .unwrap_or_else(|e| panic!("GET /api/openapi.json: {e}"));
        serde_json::from_slice(&document.body).expect("OpenAPI JSON")
    }

    /// Registers `user_id` through the server API.
    pub fn register(&self, user_id: &str) {
        let body = serde_json::json!({ "user_id": user_id });
        self.server("POST", "/server/user/register", Some(&body))
            .ok("register a user");
    }

    /// A room of `anchor_id` created through the server API (with its push URL).
    pub fn create_room(&self, anchor_id: &str, title: &str) -> Value {
        let body = serde_json::json!({ "anchor_id": anchor_id, "title": title });
        self.server("POST", "/server/live", Some(&body))
            .ok("create a room")
    }

    /// A client token for `user_id`, minted by the server API.
    pub fn token(&self, user_id: &str) -> String {
        let data = self
            .server(
                "GET",
                &format!("/server/auth/token?user_id={user_id}&app_id=e2e"),
                None,
            )
            .ok("mint a token");
        data["access_token"].as_str().unwrap_or_default().to_owned()
    }
}

/// `?expire=..&token=..` for `/<app>/<name>`, keyed by `key`, signed here with HMAC-SHA1 and
/// URL-safe base64, independently of the cloud's signer.
pub fn expiry_query(app: &str, name: &str, expire: i64, key: &str) -> String {
    let query = format!("expire={expire}");
    let token = sign(key, &format!("/{app}/{name}?{query}"));
    format!("?{query}&token={token}")
}

/// `?e=..&token=AK:..` for `/<app>/<name>`.
pub fn expiry_sk_query(
    app: &str,
    name: &str,
    expire: i64,
    access_key: &str,
    secret: &str,
) -> String {
    let query = format!("e={expire}");
    let token = sign(secret, &format!("/{app}/{name}?{query}"));
    format!("?{query}&token={access_key}:{token}")
}

fn sign(key: &str, path_and_query: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(path_and_query.as_bytes());
    base64::engine::general_purpose::URL_SAFE.encode(mac.finalize().into_bytes())
}

/// One webhook delivery as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The status the receiver answered.
    pub answered: u16,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A real HTTP receiver of webhooks on 127.0.0.1: records every request and answers 500 while
/// `failing` is on, else 200 with `{"code": 0}`.
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    pub deliveries: std::sync::Arc<std::sync::Mutex<Vec<Delivery>>>,
    pub failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl WebhookReceiver {
    pub fn start() -> WebhookReceiver {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let deliveries: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let failing = Arc::new(AtomicBool::new(false));
        let (record, fail) = (deliveries.clone(), failing.clone());
        let addr = serve_http(move |headers, body| {
            let (status, answer) = if fail.load(Ordering::SeqCst) {
                (500, r#"{"code":500,"message":"receiver down"}"#)
            } else {
                (200, r#"{"code":0}"#)
            };
            if let Ok(mut record) = record.lock() {
                record.push(Delivery {
                    headers,
                    body,
                    answered: status,
                });
            }
            (status, answer.to_owned())
        });
        WebhookReceiver {
            addr,
            deliveries,
            failing,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// Answer 500 from now on (`true`) or acknowledge (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }
}

/// How a request is answered: from its headers and body, the status and the JSON body (the
/// function may take its time: each connection has its own thread).
type Answerer = dyn Fn(Vec<(String, String)>, String) -> (u16, String) + Send + Sync;

/// A real HTTP/1.1 server on 127.0.0.1 answering every request with `answer`; its address.
pub fn serve_http(
    answer: impl Fn(Vec<(String, String)>, String) -> (u16, String) + Send + Sync + 'static,
) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a test server");
    let addr = listener.local_addr().expect("test server address");
    let answer: std::sync::Arc<Answerer> = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || serve_connection(stream, &*answer));
        }
    });
    addr
}

/// Answers requests on one keep-alive connection until it closes.
fn serve_connection(mut stream: std::net::TcpStream, answer: &Answerer) {
    use std::io::{Read, Write};
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buffer = Vec::new();
    loop {
        let head_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let headers: Vec<(String, String)> = head
            .lines()
            .skip(1)
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                Some((name.trim().to_owned(), value.trim().to_owned()))
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + 4 + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body =
            String::from_utf8_lossy(&buffer[head_end + 4..head_end + 4 + length]).into_owned();
        buffer.drain(..head_end + 4 + length);
        let (status, reply_body) = answer(headers, body);
        let reply = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply_body}",
            reply_body.len()
        );
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// One Server-Sent Event as read from a room's event stream.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// The `id:` field (`BOOT-SEQ`), empty when there was none.
    pub id: String,
    pub kind: String,
    pub data: Value,
}

/// A client reading `GET /client/live/room/{id}/events` in a thread of its own until the
/// stream ends or its deadline passes, keeping every event; tests look at them while it runs.
pub struct EventStream {
    events: std::sync::Arc<std::sync::Mutex<Vec<SseEvent>>>,
    /// The HTTP status the stream answered (0 until it has).
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
}

impl EventStream {
    /// Opens room `live_id`'s event stream with `token`, reading for at most `deadline`.
    pub fn open(addr: SocketAddr, token: &str, live_id: &str, deadline: Duration) -> EventStream {
        Self::open_after(addr, token, live_id, None, deadline)
    }

    /// As [`EventStream::open`], resuming after `last_event_id` when given.
    pub fn open_after(
        addr: SocketAddr,
        token: &str,
        live_id: &str,
        last_event_id: Option<&str>,
        deadline: Duration,
    ) -> EventStream {
        use std::sync::atomic::AtomicU16;
        use std::sync::{Arc, Mutex};
        let events: Arc<Mutex<Vec<SseEvent>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(0));
        let resume = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "GET /client/live/room/{live_id}/events HTTP/1.1\r\nHost: {addr}\r\n\
             Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n{resume}Connection: close\r\n\r\n"
        );
        let (sink, answered) = (events.clone(), status.clone());
        std::thread::spawn(move || read_events(addr, &request, deadline, &sink, &answered));
        EventStream { events, status }
    }

    pub fn events(&self) -> Vec<SseEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Waits until the stream answered; its HTTP status (0: no answer within `timeout`).
    pub fn wait_answered(&self, timeout: Duration) -> u16 {
        crate::util::poll_until(timeout, Duration::from_millis(20), || {
            let status = self.status.load(Ordering::SeqCst);
            (status != 0).then_some(status)
        })
        .unwrap_or(0)
    }

    /// The first event of `kind` whose data `matches`, waiting up to `timeout` for it.
    pub fn wait_for(
        &self,
        kind: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        crate::util::poll_until(timeout, Duration::from_millis(50), || {
            self.events()
                .into_iter()
                .find(|event| event.kind == kind && matches(&event.data))
                .map(|event| event.data)
        })
    }
}

/// The reading thread of an [`EventStream`]: de-chunks the body and splits it into events at
/// blank lines (`id:`, `event:` and `data:` fields; comments are passed over).
fn read_events(
    addr: SocketAddr,
    request: &str,
    deadline: Duration,
    sink: &std::sync::Mutex<Vec<SseEvent>>,
    status: &std::sync::atomic::AtomicU16,
) {
    use std::io::{Read, Write};
    let end = std::time::Instant::now() + deadline;
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    if stream.write_all(request.as_bytes()).is_err() {
        return;
    }
    let mut raw = Vec::new();
    let mut body = Vec::new();
    let mut head_done = false;
    let mut chunked = http::Chunked::default();
    let mut chunk = [0u8; 8192];
    while std::time::Instant::now() < end {
        let n = match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        };
        if head_done {
            if chunked.feed(&chunk[..n], &mut body).is_err() {
                return;
            }
        } else {
            raw.extend_from_slice(&chunk[..n]);
            let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&raw[..at]).into_owned();
            let code = head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            status.store(code, Ordering::SeqCst);
            head_done = true;
            if chunked.feed(&raw[at + 4..], &mut body).is_err() {
                return;
            }
        }
        while let Some(at) = body.windows(2).position(|w| w == b"\n\n") {
            let block = String::from_utf8_lossy(&body[..at]).into_owned();
            body.drain(..at + 2);
            let mut kind = String::from("message");
            let mut data = String::new();
            let mut id = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("id:") {
                    id = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("event:") {
                    kind = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            if data.is_empty() && kind == "message" {
                continue; // a keep-alive comment
            }
            if let Ok(mut events) = sink.lock() {
                events.push(SseEvent {
                    id,
                    kind,
                    data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
                });
            }
        }
    }
}

/// How the [`PaymentService`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayMode {
    /// `{"code": 0, "data": {"status": 1}}` at once.
    Pay,
    /// `{"code": CODE, "message": MESSAGE}` at once.
    Refuse { code: i64, message: String },
    /// Pays, but only after this long (past the cloud's timeout, the cloud has given up).
    Slow(Duration),
    /// The first `call - 1` calls of each `biz_id` are answered only after `hold` (paid, too
    /// late); from the `call`-th on, paid at once.
    AnswerFrom { call: usize, hold: Duration },
}

/// One call the payment service received.
#[derive(Debug, Clone)]
pub struct PaymentCall {
    pub biz_id: String,
    pub body: Value,
    pub raw: String,
    /// `X-Liverelay-Signature`.
    pub signature: String,
}

/// A real HTTP payment service on 127.0.0.1 for `gift_addr`: records every call, counts them
/// per `biz_id`, and answers as its [`PayMode`] says (the test changes it at any time).
pub struct PaymentService {
    pub addr: SocketAddr,
    calls: std::sync::Arc<std::sync::Mutex<Vec<PaymentCall>>>,
    mode: std::sync::Arc<std::sync::Mutex<PayMode>>,
}

impl PaymentService {
    pub fn start(mode: PayMode) -> PaymentService {
        use std::sync::{Arc, Mutex};
        let calls: Arc<Mutex<Vec<PaymentCall>>> = Arc::default();
        let mode = Arc::new(Mutex::new(mode));
        let (record, current) = (calls.clone(), mode.clone());
        let addr = serve_http(move |headers, raw| {
            let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
            let biz_id = body["biz_id"].as_str().unwrap_or_default().to_owned();
            let signature = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("x-liverelay-signature"))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let nth = {
                let mut calls = record.lock().unwrap_or_else(|e| e.into_inner());
                calls.push(PaymentCall {
                    biz_id: biz_id.clone(),
                    body,
                    raw,
                    signature,
                });
                calls.iter().filter(|c| c.biz_id == biz_id).count()
            };
            let mode = current.lock().map(|m| m.clone()).unwrap_or(PayMode::Pay);
            let paid = (
                200,
                r#"{"code":0,"message":"ok","data":{"status":1}}"#.to_owned(),
            );
            match mode {
                PayMode::Pay => paid,
                PayMode::Refuse { code, message } => (
                    200,
                    serde_json::json!({ "code": code, "message": message }).to_string(),
                ),
                PayMode::Slow(delay) => {
                    std::thread::sleep(delay);
                    paid
                }
                PayMode::AnswerFrom { call, hold } => {
                    if nth < call {
                        std::thread::sleep(hold);
                    }
                    paid
                }
            }
        });
        PaymentService { addr, calls, mode }
    }

    pub fn url(&self) -> String {
        format!("http://{}/pay", self.addr)
    }

    pub fn set_mode(&self, mode: PayMode) {
        if let Ok(mut current) = self.mode.lock() {
            *current = mode;
        }
    }

    pub fn calls(&self) -> Vec<PaymentCall> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The distinct `biz_id`s asked about, sorted.
    pub fn biz_ids(&self) -> Vec<String> {
        let ids: std::collections::BTreeSet<String> =
            self.calls().into_iter().map(|c| c.biz_id).collect();
        ids.into_iter().collect()
    }
}
