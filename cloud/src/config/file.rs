//! The `cloud:` section as written in YAML, with the shipped defaults.

use relay_control::auth::{PushScheme, ReadAuth};
use relay_node::{
    DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_MAX_FILES, PLACEHOLDER_ACCESS_KEY, PLACEHOLDER_API_TOKEN,
    PLACEHOLDER_EDGE_TOKEN, PLACEHOLDER_JWT_KEY, PLACEHOLDER_SECRET_KEY,
};
use serde::Deserialize;

/// As written in YAML; every key documented in the shipped `config.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudConfig {
    /// `rtmp_addr`, default `":1935"`: address the RTMP listener binds (publishers connect).
    pub rtmp_addr: String,
    /// `api_addr`, default `":8090"`: HTTP API listener; also serves `/metrics` and `/status`
    /// unless `metrics_addr` is set.
    pub api_addr: String,
    /// `metrics_addr`, default `""`: a separate listener for `/metrics` and `/status`;
    /// empty keeps them on `api_addr`.
    pub metrics_addr: String,
    /// `data_dir`, default `"data"`: directory of the cloud's state (`stream_keys.json`, the
    /// default SQLite rooms database); must not be empty, created at start.
    pub data_dir: String,
    /// `client_addr_list`, default `["127.0.0.1:5222"]`: IPv4 `host:port` RTP destinations,
    /// unicast edges or multicast groups; at least one, each with a host and a port.
    pub client_addr_list: Vec<String>,
    /// `multicast_if`, default `""`: IPv4 address of the interface multicast is sent from;
    /// empty lets the kernel choose.
    pub multicast_if: String,
    /// `multicast_ttl`, default 1, 1–255: TTL of multicast datagrams.
    pub multicast_ttl: u32,
    /// `rtp_max_datagram`, default 1400, 64–65507 bytes: largest UDP datagram sent, headers
    /// included.
    pub rtp_max_datagram: usize,
    /// `quic_addr`, default `":4242"`: UDP address of the QUIC repair server edges connect to.
    pub quic_addr: String,
    /// `quic_cert_file`, default `"cloud-cert.pem"`: PEM certificate of the repair server;
    /// generated with the key on first start when both are missing.
    pub quic_cert_file: String,
    /// `quic_key_file`, default `"cloud-key.pem"`: PEM private key of the repair server
    /// (written mode 0600 when generated).
    pub quic_key_file: String,
    /// `edge_tokens`, default `["dev-token-change-me"]`: tokens an edge may present on its
    /// repair connection; at least one, each 1–1024 characters; the placeholder is refused
    /// beyond loopback.
    pub edge_tokens: Vec<String>,
    /// `rtp_cache_size`, default 5000, 16–1000000 packets: RTP packets kept per stream for
    /// repair.
    pub rtp_cache_size: usize,
    /// `rtp_cache_bytes`, default 33554432 (32 MiB), at least 1048576: payload bytes kept per
    /// stream for repair.
    pub rtp_cache_bytes: usize,
    /// `nack_budget_pps`, default 20000, 100–10000000 packets a second: repair packets one
    /// edge's connection is answered with; requests over it are answered "throttled".
    pub nack_budget_pps: u64,
    /// `shutdown_grace_ms`, default 5000, 100–600000 ms: how long shutdown waits for the
    /// cloud's tasks and recordings before it exits anyway.
    pub shutdown_grace_ms: u64,
    /// `log_level`, default `"info"`: `error`, `warn`, `info`, `debug` or `trace`; `RUST_LOG`
    /// overrides it.
    pub log_level: String,
    /// `enable_log_file`, default `false`: log to `log_file` instead of stderr.
    pub enable_log_file: bool,
    /// `log_file`, default `"cloud.log"`: the log file, relative to the working directory
    /// unless absolute.
    pub log_file: String,
    /// `log_max_bytes`, default 67108864, at least 65536 bytes: the log file is rotated before
    /// a line would take it past this size.
    pub log_max_bytes: u64,
    /// `log_max_files`, default 5, 0–1000: rotated log files kept; 0 empties the file instead.
    pub log_max_files: u32,
    /// `enable_record`, default `false`: write every publish to its own FLV file.
    pub enable_record: bool,
    /// `record_dir`, default `"record"`: directory of recordings; checked and created only
    /// when `enable_record` is on.
    pub record_dir: String,
    /// `publish_auth`, default `none`: how RTMP publish URLs are authenticated (`none`,
    /// `expiry` keyed by `publish_key`, `expiry_sk` keyed by `server_keys`).
    pub publish_auth: PushScheme,
    /// `publish_key`, default `""`: HMAC key of `publish_auth: expiry`, 16 characters or more;
    /// empty means none.
    pub publish_key: String,
    /// `server_keys`, default `[{access_key: dev-ak, secret_key: dev-secret-key-change-me}]`:
    /// pairs signing `/server` and control API requests and `expiry_sk` push URLs; the first
    /// signs, all verify; the placeholder pair is refused beyond loopback.
    pub server_keys: Vec<ServerKey>,
    /// `api_token`, default `"dev-api-token-change-me"`: the control API's bearer admin token,
    /// 16 characters or more; `""` leaves only server signatures; the placeholder is refused
    /// beyond loopback.
    pub api_token: String,
    /// `api_read_auth`, default `auto`: whether reads of stats, streams, `/metrics` and
    /// `/status` need credentials (`auto`: only off loopback; `none`; `token`: always).
    pub api_read_auth: ReadAuth,
    /// `livego_compat_get`, default `false`: let GET on `/control/get|reset|delete` change keys
    /// as livego does; otherwise those changes need POST.
    pub livego_compat_get: bool,
    /// `database_url`, default `""` (`sqlite://DATA_DIR/rooms.db`): rooms database,
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// `redis_url`, default `""` (the rooms' live state in this node's memory: one cloud):
    /// `redis://[USER:PASSWORD@]HOST:PORT[/DB]` of a Redis or Valkey server that several
    /// clouds share the rooms' events, presence, likes, kicks and mutes through.
    pub redis_url: String,
    /// `redis_prefix`, default `"liverelay:"`: prefix of every Redis key, 1–64 characters with
    /// no space.
    pub redis_prefix: String,
    /// `redis_timeout_ms`, default 500, 50–10000 ms: longest wait for one Redis call; past it
    /// the request answers 503.
    pub redis_timeout_ms: u64,
    /// `jwt_key`, default `"dev-jwt-key-change-me"`: HS256 key of client tokens, 16 characters
    /// or more; the placeholder is refused beyond loopback.
    pub jwt_key: String,
    /// `server_auth`, default `true`: `/server` requests must be signed with a `server_keys`
    /// pair; `false` trusts the network.
    pub server_auth: bool,
    /// `publish_expire_s`, default 3600, 60–2592000 s: validity of the push URLs handed out.
    pub publish_expire_s: u64,
    /// `publish_base_url`, default `"rtmp://127.0.0.1:1935/live"`: `rtmp://HOST[:PORT]/APP`
    /// that push URLs extend with `/STREAM_NAME`; its app is where room streams publish.
    pub publish_base_url: String,
    /// `play_base_urls`, default `["http://127.0.0.1:7001/live"]`: `http(s)://HOST[:PORT]/APP`
    /// bases of the play URLs in room views, each extended with `/STREAM_NAME.flv`.
    pub play_base_urls: Vec<String>,
    /// `play_auth`, default `"none"`: `none` or `expiry` (room play URLs signed with
    /// `play_key`).
    pub play_auth: String,
    /// `play_key`, default `""`: key of signed play URLs, 16 characters or more with
    /// `play_auth: expiry`; must match the edges' `play_key`.
    pub play_key: String,
    /// `play_expire_s`, default 3600, 60–2592000 s: validity of a play URL in a room view.
    pub play_expire_s: u64,
    /// `auto_start_on_publish`, default `true`: a publish to a created room starts it;
    /// `false` refuses it.
    pub auto_start_on_publish: bool,
    /// `heartbeat_interval_s`, default 5, 1–300 s: beat interval told to room clients.
    pub heartbeat_interval_s: u64,
    /// `presence_expire_s`, default 20, 2–3600 s and longer than `heartbeat_interval_s`: how
    /// long a viewer that stopped beating still counts as online.
    pub presence_expire_s: u64,
    /// `publish_grace_s`, default 60, 1–86400 s: a live room whose stream has been away this
    /// long while the anchor's app is not beating ends (`publish_timeout`).
    pub publish_grace_s: u64,
    /// `anchor_grace_s`, default 600, 1–86400 s: a live room whose stream has been away this
    /// long ends in any case (`heartbeat_timeout`).
    pub anchor_grace_s: u64,
    /// `callback_addr`, default `""`: http(s) URL webhooks are POSTed to; `""` sends none.
    pub callback_addr: String,
    /// `callback_secret`, default `""`: signs webhooks and gift payment calls; 16 characters or
    /// more once `callback_addr` or `gift_addr` is set.
    pub callback_secret: String,
    /// `callback_retry_s`, default 10, 1–3600 s: wait after a failed webhook delivery,
    /// doubling per further failure up to an hour.
    pub callback_retry_s: u64,
    /// `callback_dead_after_s`, default 86400, 0 (never) or 1–2592000 s: an event still
    /// undelivered this long after it was written, and tried, is a dead letter, no longer sent
    /// (listed and retried under `/admin/webhook/dead`).
    pub callback_dead_after_s: u64,
    /// `pk_invite_timeout_s`, default 10, 1–3600 s: an unanswered PK invitation times out
    /// after this.
    pub pk_invite_timeout_s: u64,
    /// `kick_block_s`, default 600, 1–2592000 s: how long a kicked user may not rejoin the
    /// room.
    pub kick_block_s: u64,
    /// `gift_addr`, default `""`: http(s) URL of the app's payment service (needs
    /// `callback_secret`); `""` turns gift sending off (503).
    pub gift_addr: String,
    /// `gift_timeout_ms`, default 3000, 100–60000 ms: longest a payment call may take before
    /// the gift is `unknown` and left to the reconciler.
    pub gift_timeout_ms: u64,
    /// `gift_max_custom_amount`, default 100000, at least 1: highest unit price a sender may
    /// choose for a custom-amount gift.
    pub gift_max_custom_amount: i64,
    /// `gift_reconcile_s`, default 5, 1–3600 s: interval of re-asking about unsettled
    /// payments, and the first retry wait after an unclear answer.
    pub gift_reconcile_s: u64,
    /// `chat_max_length`, default 200, 1–5000 characters: the longest chat message or danmaku.
    pub chat_max_length: usize,
    /// `chat_rate_per_10s`, default 10, 0–1000: messages one user may send in one room per
    /// 10 s (a sliding window); 0 turns the limit off.
    pub chat_rate_per_10s: u32,
    /// `chat_history_per_room`, default 1000, 1–100000: messages kept per room; each new one
    /// deletes those older than the newest this many.
    pub chat_history_per_room: u32,
    /// `chat_blocked_words`, default `[]`: words (1–64 characters each, at most 10000) a
    /// message may not contain, matched case-insensitively.
    pub chat_blocked_words: Vec<String>,
    /// `chat_blocked_words_action`, default `"refuse"`: `refuse` (403 code 607) or `mask`
    /// (each blocked word replaced by as many `*`).
    pub chat_blocked_words_action: String,
    /// `chat_review_url`, default `""`: http(s) URL asked, signed with `callback_secret`,
    /// whether a client's message may go out; `""` turns the review off.
    pub chat_review_url: String,
    /// `chat_review_timeout_ms`, default 500, 50–10000 ms: longest a review call may take.
    pub chat_review_timeout_ms: u64,
    /// `chat_review_on_error`, default `"block"`: what a message gets when the review call
    /// fails: `block` (503) or `pass` (delivered).
    pub chat_review_on_error: String,
    /// `events_token_ttl_s`, default 60, 1–3600 s: how long an event-stream token (for
    /// browsers' `EventSource`, in the stream's URL) may be used to open its room's stream.
    pub events_token_ttl_s: u64,
    /// `cors_allow_origins`, default `[]` (no CORS headers): origins (`https://app.example`,
    /// or `"*"` for any) whose pages may call `/client/*`, the event stream included.
    pub cors_allow_origins: Vec<String>,
    /// `rtmp_max_connections`, default 1000, at least 1: RTMP connections held at once; one
    /// more is closed and counted.
    pub rtmp_max_connections: usize,
    /// `rtmp_max_connections_per_ip`, default 32, 1 to `rtmp_max_connections`: RTMP
    /// connections one source address may hold.
    pub rtmp_max_connections_per_ip: usize,
    /// `rtmp_handshake_timeout_s`, default 10, 1–3600 s: time from accept to a finished
    /// handshake and `connect`.
    pub rtmp_handshake_timeout_s: u64,
    /// `rtmp_publish_timeout_s`, default 30, 1–3600 s: time from accept to an accepted
    /// publish; traffic does not extend it.
    pub rtmp_publish_timeout_s: u64,
    /// `rtmp_idle_timeout_s`, default 30, 1–3600 s: a connection silent this long is closed.
    pub rtmp_idle_timeout_s: u64,
    /// `rtmp_max_unpublished_bytes`, default 65536, at least 4096 bytes: what a connection may
    /// send before its publish is accepted; it bounds what an unauthenticated peer can make
    /// the cloud buffer.
    pub rtmp_max_unpublished_bytes: usize,
    /// `rtmp_publish_decision_timeout_ms`, default 3000, 10–60000 ms: longest a publish waits
    /// for the room service's decision before it is refused.
    pub rtmp_publish_decision_timeout_ms: u64,
    /// `http_max_connections`, default 512, at least 1: HTTP connections each listener
    /// (`api_addr`, `metrics_addr`) holds at once.
    pub http_max_connections: usize,
    /// `http_max_connections_per_ip`, default 64, 1 to `http_max_connections`: HTTP
    /// connections one source address may hold.
    pub http_max_connections_per_ip: usize,
    /// `http_header_timeout_ms`, default 10000, 100–600000 ms: time to receive a whole request
    /// head before the connection is closed.
    pub http_header_timeout_ms: u64,
    /// `http_max_header_bytes`, default 16384, 8192–1048576 bytes: a larger request head is
    /// answered 431 and the connection closed.
    pub http_max_header_bytes: usize,
    /// `http_max_body_bytes`, default 1048576, at least 1024 bytes: a larger request body is
    /// answered 413.
    pub http_max_body_bytes: usize,
    /// `cert_file`, default `""`: PEM certificate chain; with `key_file`, `api_addr` and
    /// `metrics_addr` serve HTTPS instead of HTTP. Reloaded when it changes. (The repair
    /// server's certificate is `quic_cert_file`.)
    pub cert_file: String,
    /// `key_file`, default `""`: the PEM private key of `cert_file`.
    pub key_file: String,
}

/// One access key / secret key pair, as written in `server_keys`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerKey {
    /// `access_key`: the public name of the pair, carried in signed requests and URLs.
    pub access_key: String,
    /// `secret_key`: the HMAC secret of the pair, 16 characters or more.
    pub secret_key: String,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            rtmp_addr: ":1935".into(),
            api_addr: ":8090".into(),
            metrics_addr: String::new(),
            data_dir: "data".into(),
            client_addr_list: vec!["127.0.0.1:5222".into()],
            multicast_if: String::new(),
            multicast_ttl: 1,
            rtp_max_datagram: relay_proto::DEFAULT_MAX_DATAGRAM,
            quic_addr: ":4242".into(),
            quic_cert_file: "cloud-cert.pem".into(),
            quic_key_file: "cloud-key.pem".into(),
            edge_tokens: vec![PLACEHOLDER_EDGE_TOKEN.into()],
            rtp_cache_size: 5000,
            rtp_cache_bytes: 32 << 20,
            nack_budget_pps: 20_000,
            shutdown_grace_ms: 5000,
            log_level: "info".into(),
            enable_log_file: false,
            log_file: "cloud.log".into(),
            log_max_bytes: DEFAULT_LOG_MAX_BYTES,
            log_max_files: DEFAULT_LOG_MAX_FILES,
            enable_record: false,
            record_dir: "record".into(),
            publish_auth: PushScheme::None,
            publish_key: String::new(),
            server_keys: vec![ServerKey {
                access_key: PLACEHOLDER_ACCESS_KEY.into(),
                secret_key: PLACEHOLDER_SECRET_KEY.into(),
            }],
            api_token: PLACEHOLDER_API_TOKEN.into(),
            api_read_auth: ReadAuth::Auto,
            livego_compat_get: false,
            database_url: String::new(),
            redis_url: String::new(),
            redis_prefix: "liverelay:".into(),
            redis_timeout_ms: 500,
            jwt_key: PLACEHOLDER_JWT_KEY.into(),
            server_auth: true,
            publish_expire_s: 3600,
            publish_base_url: "rtmp://127.0.0.1:1935/live".into(),
            play_base_urls: vec!["http://127.0.0.1:7001/live".into()],
            play_auth: "none".into(),
            play_key: String::new(),
            play_expire_s: 3600,
            auto_start_on_publish: true,
            heartbeat_interval_s: 5,
            presence_expire_s: 20,
            publish_grace_s: 60,
            anchor_grace_s: 600,
            callback_addr: String::new(),
            callback_secret: String::new(),
            callback_retry_s: 10,
            callback_dead_after_s: 86_400,
            pk_invite_timeout_s: 10,
            kick_block_s: 600,
            gift_addr: String::new(),
            gift_timeout_ms: 3000,
            gift_max_custom_amount: 100_000,
            gift_reconcile_s: 5,
            chat_max_length: 200,
            chat_rate_per_10s: 10,
            chat_history_per_room: 1000,
            chat_blocked_words: Vec::new(),
            chat_blocked_words_action: "refuse".into(),
            chat_review_url: String::new(),
            chat_review_timeout_ms: 500,
            chat_review_on_error: "block".into(),
            events_token_ttl_s: 60,
            cors_allow_origins: Vec::new(),
            rtmp_max_connections: 1000,
            rtmp_max_connections_per_ip: 32,
            rtmp_handshake_timeout_s: 10,
            rtmp_publish_timeout_s: 30,
            rtmp_idle_timeout_s: 30,
            rtmp_max_unpublished_bytes: 64 << 10,
            rtmp_publish_decision_timeout_ms: 3000,
            http_max_connections: 512,
            http_max_connections_per_ip: 64,
            http_header_timeout_ms: 10_000,
            http_max_header_bytes: 16 << 10,
            http_max_body_bytes: 1 << 20,
            cert_file: String::new(),
            key_file: String::new(),
        }
    }
}
