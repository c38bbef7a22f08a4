//! The bounds an RTMP connection can be closed at (`rtmp_*` keys).

/// Which bound closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The handshake and `connect` were not done `rtmp_handshake_timeout_s` after the accept.
    HandshakeTimeout,
    /// No publish was accepted `rtmp_publish_timeout_s` after the accept.
    PublishTimeout,
    /// Nothing was received for `rtmp_idle_timeout_s`.
    IdleTimeout,
    /// More than `rtmp_max_unpublished_bytes` arrived before a publish was accepted.
    UnpublishedBytes,
}

impl Bound {
    pub(super) const ALL: [Bound; 4] = [
        Bound::HandshakeTimeout,
        Bound::PublishTimeout,
        Bound::IdleTimeout,
        Bound::UnpublishedBytes,
    ];

    /// The `reason` label in `/metrics`.
    pub(super) fn label(self) -> &'static str {
        match self {
            Bound::HandshakeTimeout => "handshake_timeout",
            Bound::PublishTimeout => "publish_timeout",
            Bound::IdleTimeout => "idle_timeout",
            Bound::UnpublishedBytes => "unpublished_bytes",
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bound::HandshakeTimeout => "no handshake and connect within rtmp_handshake_timeout_s",
            Bound::PublishTimeout => "no publish accepted within rtmp_publish_timeout_s",
            Bound::IdleTimeout => "nothing received for rtmp_idle_timeout_s",
            Bound::UnpublishedBytes => "more than rtmp_max_unpublished_bytes before a publish",
        })
    }
}
