//! Repair on the cloud: retransmit caches of live streams, and the QUIC server edges ask.

mod hub;
mod server;

pub use hub::{RepairHub, StreamCache, StreamRepairStats};
pub use server::serve_repair;
