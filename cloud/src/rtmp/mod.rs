//! RTMP ingest: one task per connection, the RTMP library behind [`IngestSession`].

mod connection;
mod metadata;
mod rml;

pub use connection::{serve_rtmp, IngestContext};

use crate::error::CloudError;
use bytes::Bytes;

/// What an RTMP session asks of the cloud, in the order it happened.
#[derive(Debug)]
pub enum IngestEvent {
    /// Bytes to write back to the peer, in order.
    Send(Vec<u8>),
    ConnectRequested {
        request: u32,
        app: String,
    },
    PublishRequested {
        request: u32,
        app: String,
        key: String,
    },
    PlayRequested {
        request: u32,
    },
    PublishFinished,
    /// An `onMetaData` script tag body, rebuilt from `@setDataFrame`.
    Metadata(Bytes),
    Audio {
        timestamp: u32,
        data: Bytes,
    },
    Video {
        timestamp: u32,
        data: Bytes,
    },
}

/// The server side of one RTMP connection, handshake included. Sans-IO: bytes in, events out.
/// The cloud depends on this trait only, so the RTMP library can be replaced.
pub trait IngestSession: Send {
    fn handle_input(&mut self, bytes: &[u8]) -> Result<Vec<IngestEvent>, CloudError>;
    fn accept(&mut self, request: u32) -> Result<Vec<IngestEvent>, CloudError>;
    fn reject(
        &mut self,
        request: u32,
        code: &str,
        description: &str,
    ) -> Result<Vec<IngestEvent>, CloudError>;
}
