//! [`IngestSession`] on `rml_rtmp` 0.8.
//!
//! The library is unmaintained and panics on some inputs (an `@setDataFrame` without its
//! properties object indexes past the end of a vector). Every call into it runs under
//! `catch_unwind`: a panic becomes [`CloudError::SessionPanicked`] and ends this session only.

use super::metadata::on_metadata_body;
use super::{IngestEvent, IngestSession};
use crate::error::CloudError;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionError, ServerSessionEvent, ServerSessionResult,
};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub struct RmlSession {
    handshake: Option<Handshake>,
    session: Option<ServerSession>,
}

impl RmlSession {
    pub fn new() -> Self {
        RmlSession {
            handshake: Some(Handshake::new(PeerType::Server)),
            session: None,
        }
    }

    fn session(&mut self) -> Result<&mut ServerSession, CloudError> {
        self.session
            .as_mut()
            .ok_or_else(|| CloudError::Session("request before the handshake finished".into()))
    }

    fn start_session(
        &mut self,
        remaining: &[u8],
        out: &mut Vec<IngestEvent>,
    ) -> Result<(), CloudError> {
        let (session, initial) = guarded(|| ServerSession::new(ServerSessionConfig::new()))?;
        self.session = Some(session);
        convert(initial, out);
        if !remaining.is_empty() {
            let results = guarded(|| {
                self.session()?
                    .handle_input(remaining)
                    .map_err(session_error)
            })?;
            convert(results, out);
        }
        Ok(())
    }
}

fn session_error(error: ServerSessionError) -> CloudError {
    CloudError::Session(error.to_string())
}

/// Runs `call`, turning a library panic into an error.
fn guarded<T, E>(call: impl FnOnce() -> Result<T, E>) -> Result<T, CloudError>
where
    CloudError: From<E>,
{
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => result.map_err(CloudError::from),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(CloudError::SessionPanicked(message))
        }
    }
}

impl From<ServerSessionError> for CloudError {
    fn from(error: ServerSessionError) -> Self {
        session_error(error)
    }
}

fn convert(results: Vec<ServerSessionResult>, out: &mut Vec<IngestEvent>) {
    for result in results {
        match result {
            ServerSessionResult::OutboundResponse(packet) => {
                out.push(IngestEvent::Send(packet.bytes))
            }
            ServerSessionResult::RaisedEvent(event) => convert_event(event, out),
            ServerSessionResult::UnhandleableMessageReceived(payload) => {
                tracing::debug!(
                    type_id = payload.type_id,
                    "ignoring an RTMP message type the relay does not use"
                );
            }
        }
    }
}

fn convert_event(event: ServerSessionEvent, out: &mut Vec<IngestEvent>) {
    match event {
        ServerSessionEvent::ConnectionRequested {
            request_id,
            app_name,
        } => out.push(IngestEvent::ConnectRequested {
            request: request_id,
            app: app_name,
        }),
        ServerSessionEvent::PublishStreamRequested {
            request_id,
            app_name,
            stream_key,
            ..
        } => out.push(IngestEvent::PublishRequested {
            request: request_id,
            app: app_name,
            key: stream_key,
        }),
        ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
            out.push(IngestEvent::PlayRequested {
                request: request_id,
            })
        }
        ServerSessionEvent::PublishStreamFinished { .. } => out.push(IngestEvent::PublishFinished),
        ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
            if let Some(body) = on_metadata_body(&metadata) {
                out.push(IngestEvent::Metadata(body));
            }
        }
        ServerSessionEvent::AudioDataReceived {
            data, timestamp, ..
        } => out.push(IngestEvent::Audio {
            timestamp: timestamp.value,
            data,
        }),
        ServerSessionEvent::VideoDataReceived {
            data, timestamp, ..
        } => out.push(IngestEvent::Video {
            timestamp: timestamp.value,
            data,
        }),
        other => tracing::trace!(?other, "RTMP event needs no action"),
    }
}

impl IngestSession for RmlSession {
    fn handle_input(&mut self, bytes: &[u8]) -> Result<Vec<IngestEvent>, CloudError> {
        let mut out = Vec::new();
        let Some(handshake) = self.handshake.as_mut() else {
            let results = guarded(|| self.session()?.handle_input(bytes).map_err(session_error))?;
            convert(results, &mut out);
            return Ok(out);
        };
        let result = guarded(|| {
            handshake
                .process_bytes(bytes)
                .map_err(|error| CloudError::Handshake(format!("{error:?}")))
        })?;
        match result {
            HandshakeProcessResult::InProgress { response_bytes } => {
                if !response_bytes.is_empty() {
                    out.push(IngestEvent::Send(response_bytes));
                }
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                self.handshake = None;
                if !response_bytes.is_empty() {
                    out.push(IngestEvent::Send(response_bytes));
                }
                self.start_session(&remaining_bytes, &mut out)?;
            }
        }
        Ok(out)
    }

    fn accept(&mut self, request: u32) -> Result<Vec<IngestEvent>, CloudError> {
        let results = guarded(|| {
            self.session()?
                .accept_request(request)
                .map_err(session_error)
        })?;
        let mut out = Vec::new();
        convert(results, &mut out);
        Ok(out)
    }

    fn reject(
        &mut self,
        request: u32,
        code: &str,
        description: &str,
    ) -> Result<Vec<IngestEvent>, CloudError> {
        let results = guarded(|| {
            self.session()?
                .reject_request(request, code, description)
                .map_err(session_error)
        })?;
        let mut out = Vec::new();
        convert(results, &mut out);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A completed handshake, as a client would do it.
    fn shaken() -> RmlSession {
        let mut session = RmlSession::new();
        let mut client = Handshake::new(PeerType::Client);
        let mut to_server = client.generate_outbound_p0_and_p1().unwrap();
        for _ in 0..4 {
            let mut to_client = Vec::new();
            for event in session.handle_input(&to_server).unwrap() {
                if let IngestEvent::Send(bytes) = event {
                    to_client.extend(bytes);
                }
            }
            if session.handshake.is_none() {
                break;
            }
            to_server = match client.process_bytes(&to_client).unwrap() {
                HandshakeProcessResult::InProgress { response_bytes } => response_bytes,
                HandshakeProcessResult::Completed { response_bytes, .. } => response_bytes,
            };
        }
        assert!(session.handshake.is_none(), "handshake completes");
        session
    }

    /// Random input, before and after a good handshake, gives errors or events, never a panic
    /// out of the session (the library's own panics are caught and returned as errors).
    #[test]
    fn random_input_never_escapes_the_session() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut errors = 0;
        for round in 0..1000 {
            let mut session = if round % 2 == 0 {
                RmlSession::new()
            } else {
                shaken()
            };
            for _ in 0..8 {
                let len = rng.random_range(1..2048);
                let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                if session.handle_input(&bytes).is_err() {
                    errors += 1;
                    break;
                }
            }
        }
        assert!(errors > 0, "random bytes are refused somewhere");
    }
}
