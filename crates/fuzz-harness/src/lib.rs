//! The fuzz targets of liverelay as plain functions: `fn(&[u8])` that panic only when an
//! invariant breaks. `fuzz/` wraps each in a libFuzzer target; `tests/corpus.rs` replays the
//! committed corpus (`fuzz/corpus/<target>/`) and every crash ever found
//! (`fuzz/regressions/<target>/`) through the same functions on stable Rust, so a fixed crash
//! stays fixed under a plain `cargo test`.

mod auth;
mod flv_input;
mod hls;
mod http_head;
mod media;
mod rooms;
mod rtmp;
pub mod seeds;

pub use auth::{jwt, push_url, request_signature, webhook};
pub use flv_input::{amf0, codec_info, flv_reader};
pub use hls::hls_packager;
pub use http_head::request_head;
pub use media::{announcement, repair_messages, rtp_receiver};
pub use rooms::{json_body, room_json};
pub use rtmp::{rtmp_ingest, RtmpOutcome};

/// A target: the name of its `fuzz/fuzz_targets/<name>.rs` and corpus directory, and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("rtmp_ingest", |data| {
        rtmp_ingest(data);
    }),
    ("rtp_receiver", rtp_receiver),
    ("announcement", announcement),
    ("repair_messages", repair_messages),
    ("flv_reader", flv_reader),
    ("codec_info", codec_info),
    ("hls_packager", hls_packager),
    ("amf0", amf0),
    ("jwt", jwt),
    ("request_signature", request_signature),
    ("push_url", push_url),
    ("webhook", webhook),
    ("request_head", request_head),
    ("room_json", room_json),
];

/// Splits fuzz input into `N` fields at `0xff` bytes (never valid UTF-8, so a separator cannot
/// hide inside a text field); missing fields are empty.
fn fields<const N: usize>(data: &[u8]) -> [&[u8]; N] {
    let mut out = [&data[..0]; N];
    let mut parts = data.splitn(N, |&byte| byte == 0xff);
    for slot in out.iter_mut() {
        match parts.next() {
            Some(part) => *slot = part,
            None => break,
        }
    }
    out
}

/// The field as text, with invalid UTF-8 replaced, as a server that received it would see it.
fn text(field: &[u8]) -> String {
    String::from_utf8_lossy(field).into_owned()
}
