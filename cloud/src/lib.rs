//! liverelay cloud node: RTMP in, authenticated FLV-in-RTP out to edges, the retransmit cache
//! and repair server, recording, the stream API and the live-room API wired in.
//!
//! The protocol logic lives in sans-IO engines (`relay_proto`: publication, packetizer, cache,
//! responder); these modules are the drivers around them. `main.rs` only wires them.

#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod cors;
pub mod error;
pub mod live_facts;
pub mod media_info;
pub mod metrics;
pub mod record;
pub mod registry;
pub mod repair;
pub mod rtmp;
pub mod sender;
pub mod stream_keys;
