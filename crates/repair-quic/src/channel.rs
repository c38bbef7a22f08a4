//! Repair messages on a QUIC connection.
//!
//! The control stream (the first bidirectional stream, opened by the edge) carries length-framed
//! messages in order: hello, welcome, announcements, ends. Everything else is latency-critical
//! and independent: a message goes in one QUIC datagram (RFC 9221) when it fits, else alone on a
//! unidirectional stream, so one lost QUIC packet never holds up other answers.

use crate::QuicError;
use bytes::{Bytes, BytesMut};
use quinn::{Connection, RecvStream, SendStream};
use relay_proto::{frame, take_frame, MAX_FRAME_LEN};

/// Writes one framed message on the control stream.
pub async fn write_frame(send: &mut SendStream, message: Bytes) -> Result<(), QuicError> {
    send.write_all(&frame(message)).await?;
    Ok(())
}

/// Reads framed messages off the control stream.
#[derive(Debug, Default)]
pub struct FrameReader {
    buffer: BytesMut,
}

impl FrameReader {
    /// The next message, `None` when the peer finished the stream.
    pub async fn next(&mut self, recv: &mut RecvStream) -> Result<Option<Bytes>, QuicError> {
        loop {
            if let Some(message) = take_frame(&mut self.buffer)? {
                return Ok(Some(message));
            }
            let mut chunk = [0u8; 16 * 1024];
            match recv
                .read(&mut chunk)
                .await
                .map_err(|e| QuicError::Read(e.to_string()))?
            {
                Some(count) => self.buffer.extend_from_slice(&chunk[..count]),
                None => return Ok(None),
            }
        }
    }
}

/// Sends `message` unordered: as a datagram when it fits, else on its own unidirectional stream.
pub async fn send_unordered(connection: &Connection, message: Bytes) -> Result<(), QuicError> {
    let fits = connection
        .max_datagram_size()
        .is_some_and(|max| message.len() <= max);
    if fits {
        match connection.send_datagram(message.clone()) {
            Ok(()) => return Ok(()),
            Err(quinn::SendDatagramError::ConnectionLost(error)) => return Err(error.into()),
            Err(_) => {}
        }
    }
    let mut stream = connection.open_uni().await?;
    stream.write_all(&message).await?;
    let _ = stream.finish();
    Ok(())
}

/// Reads a whole message sent by [`send_unordered`] on a unidirectional stream.
pub async fn read_unordered(mut stream: RecvStream) -> Result<Bytes, QuicError> {
    stream
        .read_to_end(MAX_FRAME_LEN)
        .await
        .map(Bytes::from)
        .map_err(|error| QuicError::Read(error.to_string()))
}
