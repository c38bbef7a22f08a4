//! Shared harness for the end-to-end tests in `tests/tests/e2e/`.
//!
//! The tests drive the real `cloud` and `edge` binaries over loopback, with ffmpeg as the
//! encoder (pushing RTMP the way OBS does) and as a player (pulling HTTP-FLV). Every wait is
//! bounded: a test fails with a message and the processes' log tails, it never hangs.
//!
//! Layout:
//! - [`util`]: temporary directories, free ports, bounded waiting.
//! - [`process`]: child processes that log to a file and are killed on drop.
//! - [`cluster`]: config files and start-up of `cloud` / `edge`.
//! - [`media`]: the source media (generated once per test binary), ffmpeg as publisher and
//!   player, and the framemd5 comparison (see its docs for why it is exact).
//! - [`checks`]: the checks applied to a captured HTTP-FLV response.
//! - [`flv`]: a small independent FLV parser (independent of `crates/flv` on purpose: the
//!   thing under test must not grade itself).
//! - [`http`]: a raw HTTP/1.1 client that captures the HTTP-FLV body byte for byte.
//! - [`rtmp`]: a hand-driven RTMP client (rml_rtmp's client side) for malformed input.
//! - [`lossy`]: a seeded lossy UDP forwarder, on the data path or (both ways) on the QUIC
//!   repair path, that can also cut the link for a while; [`wan`] is its WAN-like model
//!   (delay, jitter, burst loss, a rate limit), released by time.
//! - [`repair_probe`]: a repair client under the test's control, to send the cloud's repair
//!   server well-formed requests and garbage.
//! - [`tap`]: a UDP destination of the cloud that records the relay packets it gets.
//!
//! Environment: `LIVERELAY_BIN_DIR` overrides where `cloud` and `edge` are found;
//! `LIVERELAY_KEEP_TEST_DIRS=1` keeps every test's directory (configs, logs, captures), which
//! are otherwise kept only when the test fails.

pub mod checks;
pub mod cluster;
pub mod flv;
pub mod forger;
pub mod http;
pub mod lossy;
pub mod media;
pub mod process;
pub mod prometheus;
pub mod repair_probe;
pub mod rooms;
pub mod rtmp;
pub mod tap;
pub mod util;
pub mod wan;
pub mod ws;

pub use cluster::{Cloud, CloudConfig, Edge, EdgeConfig};
pub use media::{Media, Publisher};
pub use util::TestDir;
