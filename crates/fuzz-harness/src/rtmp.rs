//! The cloud's RTMP ingest: `rml_rtmp`'s `ServerSession` after a completed handshake, fed
//! arbitrary bytes, every connect, publish and play request accepted so the session reaches its
//! publishing state, publish names checked as the cloud checks them.
//!
//! The library panics on some inputs (an RTMP message whose length shrinks mid-message
//! underflows in its chunk reader; an `@setDataFrame` without properties indexes past the end).
//! The cloud runs every call into it under `catch_unwind` and ends only that session; this
//! harness does the same, so such a panic counts as a refused session, not a crash. A panic
//! anywhere else is a crash.

use relay_proto::is_valid_stream_name;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

/// What one session made of its input, for tests that check a seed goes where it should.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RtmpOutcome {
    /// Publish requests with a name the cloud would accept.
    pub publishes: usize,
    /// Audio, video and metadata events.
    pub media_events: usize,
    /// The library panicked (caught, as the cloud catches it) and the session ended.
    pub library_panicked: bool,
    /// The library returned an error and the session ended.
    pub refused: bool,
}

thread_local! {
    /// Set while a call into `rml_rtmp` runs, so the panic hook lets its panics unwind quietly
    /// to `catch_unwind` instead of reporting them (libFuzzer's hook aborts the process).
    static IN_LIBRARY: Cell<bool> = const { Cell::new(false) };
}

/// Wraps whatever panic hook is installed (libFuzzer's, or the default) once per process.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_LIBRARY.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs one call into the library; `None` if it panicked.
fn guarded<T>(call: impl FnOnce() -> T) -> Option<T> {
    IN_LIBRARY.with(|flag| flag.set(true));
    let result = catch_unwind(AssertUnwindSafe(call));
    IN_LIBRARY.with(|flag| flag.set(false));
    result.ok()
}

/// A server session whose handshake a well-behaved client completed. The handshake bytes are
/// ours, so a failure here is a harness bug and may panic.
fn shaken_session() -> (ServerSession, Vec<ServerSessionResult>) {
    let mut server = Handshake::new(PeerType::Server);
    let mut client = Handshake::new(PeerType::Client);
    let mut to_server = client
        .generate_outbound_p0_and_p1()
        .expect("client handshake starts");
    loop {
        match server.process_bytes(&to_server).expect("server handshake") {
            HandshakeProcessResult::Completed { .. } => break,
            HandshakeProcessResult::InProgress { response_bytes } => {
                to_server = match client
                    .process_bytes(&response_bytes)
                    .expect("client handshake")
                {
                    HandshakeProcessResult::InProgress { response_bytes }
                    | HandshakeProcessResult::Completed { response_bytes, .. } => response_bytes,
                };
            }
        }
    }
    ServerSession::new(ServerSessionConfig::new()).expect("a new session")
}

/// Feeds `data` (its first byte picks the size of each read, as TCP may split it anywhere) to a
/// session after a valid handshake.
pub fn rtmp_ingest(data: &[u8]) -> RtmpOutcome {
    install_hook();
    let mut outcome = RtmpOutcome::default();
    let Some((&split, input)) = data.split_first() else {
        return outcome;
    };
    let (mut session, initial) = shaken_session();
    let mut pending: VecDeque<ServerSessionResult> = initial.into();
    let read_len = 1 + usize::from(split) * 16;
    let mut reads = input.chunks(read_len);
    loop {
        while let Some(result) = pending.pop_front() {
            let ServerSessionResult::RaisedEvent(event) = result else {
                continue;
            };
            let request = match event {
                ServerSessionEvent::ConnectionRequested { request_id, .. }
                | ServerSessionEvent::PlayStreamRequested { request_id, .. } => Some(request_id),
                ServerSessionEvent::PublishStreamRequested {
                    request_id,
                    app_name,
                    stream_key,
                    ..
                } => is_valid_stream_name(&format!("{app_name}/{stream_key}")).then(|| {
                    outcome.publishes += 1;
                    request_id
                }),
                ServerSessionEvent::AudioDataReceived { .. }
                | ServerSessionEvent::VideoDataReceived { .. }
                | ServerSessionEvent::StreamMetadataChanged { .. } => {
                    outcome.media_events += 1;
                    None
                }
                _ => None,
            };
            if let Some(request) = request {
                if !settle(
                    guarded(|| session.accept_request(request)),
                    &mut pending,
                    &mut outcome,
                ) {
                    return outcome;
                }
            }
        }
        let Some(bytes) = reads.next() else {
            return outcome;
        };
        if !settle(
            guarded(|| session.handle_input(bytes)),
            &mut pending,
            &mut outcome,
        ) {
            return outcome;
        }
    }
}

/// Queues the results of one library call; `false` when the call ended the session (an error,
/// or a caught panic), as it ends the cloud's.
fn settle<E>(
    call: Option<Result<Vec<ServerSessionResult>, E>>,
    pending: &mut VecDeque<ServerSessionResult>,
    outcome: &mut RtmpOutcome,
) -> bool {
    match call {
        Some(Ok(results)) => {
            pending.extend(results);
            true
        }
        Some(Err(_)) => {
            outcome.refused = true;
            false
        }
        None => {
            outcome.library_panicked = true;
            false
        }
    }
}
