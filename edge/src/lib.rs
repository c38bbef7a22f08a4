//! liverelay edge node: receives FLV-in-RTP, keeps a GOP cache per stream and serves HTTP-FLV,
//! WebSocket-FLV and (LL-)HLS.
//!
//! The protocol logic is in sans-IO pieces ([`player::PlayerQueue`],
//! [`stream_state::StreamState`], and `relay_proto`'s reassembler); [`udp`], [`stream_task`] and
//! [`http`] are the thin tokio layer, every task of it tracked by [`relay_node::Tasks`] for a
//! bounded shutdown.

#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod error;
pub mod flv_socket;
pub mod hls;
pub mod hls_http;
pub mod http;
pub mod page;
pub mod play_gate;
pub mod player;
pub mod repair_client;
pub mod router;
pub mod state;
pub mod stats;
pub mod stream_state;
pub mod stream_task;
pub mod streams;
pub mod tag;
pub mod udp;
pub mod ws;
