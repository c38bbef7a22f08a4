//! What the nodes report about streams, as the JSON the API returns. The binaries fill these
//! from their live state; the OpenAPI document is generated from them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Video as the sequence header describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VideoView {
    /// "h264", "hevc", "av1", "vp9", ...
    pub codec: String,
    /// Codec profile as the sequence header names it (e.g. "High" for H.264), when known.
    pub profile: Option<String>,
    /// Codec level (e.g. "4.1" for H.264), when known.
    pub level: Option<String>,
    /// Coded picture width in pixels, when the sequence header gives it.
    pub width: Option<u32>,
    /// Coded picture height in pixels, when the sequence header gives it.
    pub height: Option<u32>,
    /// From the bitstream's timing information, else from `onMetaData`.
    pub frame_rate: Option<f64>,
}

/// Audio as the sequence header (or the FLV audio header) describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AudioView {
    /// "aac", "mp3", "opus", ...
    pub codec: String,
    /// Codec profile (e.g. "LC" or "HE-AAC" for AAC), or the AAC audio object type number, when
    /// known.
    pub profile: Option<String>,
    /// Output sample rate in Hz, when known.
    pub sample_rate: Option<u32>,
    /// Channel count, when known.
    pub channels: Option<u8>,
}

/// Ingest bit rates in kbit/s over the last completed 5 s window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BitrateView {
    /// Video tag bodies, in kbit/s.
    pub video_kbps: f64,
    /// Audio tag bodies, in kbit/s.
    pub audio_kbps: f64,
    /// Video and audio together, in kbit/s.
    pub total_kbps: f64,
}

/// What the publisher sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IngestView {
    /// FLV tags received from the publisher (audio, video and script data).
    pub tags: u64,
    /// Bytes of video tag bodies received.
    pub video_bytes: u64,
    /// Bytes of audio and script-data tag bodies received.
    pub audio_bytes: u64,
}

/// What the cloud sent towards edges (every destination counted once per packet).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SentView {
    /// Relay datagrams sent on the data path.
    pub packets: u64,
    /// RTP bytes, headers included.
    pub bytes: u64,
}

/// The repair server's work for one stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RepairServedView {
    /// NACKs answered (second copies not counted).
    pub nacks: u64,
    /// Packets named in those NACKs.
    pub packets_requested: u64,
    /// Packets sent again from the cache.
    pub repaired: u64,
    /// Requested packets already gone from the cache.
    pub evicted: u64,
    /// Requested packets never sent (ahead of the stream).
    pub not_sent: u64,
}

/// One edge's connection as the cloud sees it, for one stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EdgeLinkView {
    /// The name the edge gave (`edge_name`, else its host name).
    pub name: String,
    /// The edge's address on the repair connection.
    pub addr: String,
    /// QUIC's smoothed round-trip time to the edge.
    pub rtt_ms: f64,
    /// NACKs this edge sent for the stream.
    pub nacks: u64,
    /// NACKs per second over the last completed 5 s window.
    pub nack_rate: f64,
    /// Players the edge last reported for the stream.
    pub viewers: u64,
}

/// A stream live on the cloud.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CloudStreamView {
    /// `app/name`, as players ask for it.
    pub name: String,
    /// SSRC of the publish on the relay's data path (RFC 3550 §5.1).
    pub ssrc: u32,
    /// Unix time in ms when the publish started (also the stream's epoch on the wire).
    pub start_time: u64,
    /// Seconds since the publish started on this cloud.
    pub uptime_s: f64,
    /// The publisher's address.
    pub publisher: String,
    /// Video as last described by a sequence header; `None` until one arrived.
    pub video: Option<VideoView>,
    /// Audio as last described; `None` until an audio tag arrived.
    pub audio: Option<AudioView>,
    /// Current ingest bit rates.
    pub bitrate: BitrateView,
    /// Time between the last two keyframes, in ms of stream time.
    pub keyframe_interval_ms: Option<u32>,
    /// What the publisher sent.
    pub ingest: IngestView,
    /// What the cloud sent towards edges.
    pub sent: SentView,
    /// The repair server's work for this stream, over all edges.
    pub repair: RepairServedView,
    /// Players on every edge, as the edges last reported.
    pub viewers: u64,
    /// Every edge connected for repair, with its figures for this stream.
    pub edges: Vec<EdgeLinkView>,
}

/// Loss and repair on an edge for one stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LossView {
    /// Packets found missing from the sequence (a gap of several packets counts each one).
    pub holes: u64,
    /// NACK requests sent (each goes out twice; counted once).
    pub nacks_sent: u64,
    /// Packets named in NACK requests (retries included).
    pub packets_requested: u64,
    /// Missing packets that came back through the repair path.
    pub repaired: u64,
    /// Missing packets that came late on the multicast/unicast path instead.
    pub late: u64,
    /// Packets the cloud no longer had.
    pub evicted: u64,
    /// Packets given up on after the playout deadline.
    pub unrecovered: u64,
    /// Repair copies that arrived for packets already present or passed.
    pub redundant_repairs: u64,
    /// Mean time from noticing a hole to its repair.
    pub repair_latency_mean_ms: f64,
}

/// A stream live on this edge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EdgeStreamView {
    /// `app/name`, as players ask for it.
    pub name: String,
    /// SSRC of the stream on the relay's data path (RFC 3550 §5.1).
    pub ssrc: u32,
    /// Unix time in ms when the publish started on the cloud.
    pub start_time: u64,
    /// Time since this edge started receiving the stream.
    pub uptime_s: f64,
    /// Players watching the stream on this edge now.
    pub players: u64,
    /// Relay datagrams of the stream taken by the reassembler (network and repair, duplicates and
    /// late ones included).
    pub packets: u64,
    /// RTP bytes received (repairs included), headers included.
    pub bytes: u64,
    /// FLV tags the edge reassembled for the stream.
    pub tags: u64,
    /// Tags cached since the last keyframe, sent to a player that joins.
    pub gop_cache_tags: u64,
    /// Bytes of the tags in the GOP cache.
    pub gop_cache_bytes: u64,
    /// Loss and repair figures.
    pub loss: LossView,
    /// Tags dropped from slow players' queues.
    pub player_drops: u64,
    /// Players disconnected for staying behind.
    pub players_removed: u64,
    /// Smoothed RTT of the repair path in ms, as the stream's receiver measures it from repairs
    /// (RFC 6298).
    pub rtt_ms: f64,
    /// RFC 3550 interarrival jitter.
    pub jitter_ms: f64,
}

/// `/status`: the node is up and what it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatusView {
    /// "ok" whenever the node answers.
    pub status: String,
    /// "cloud" or "edge".
    pub role: String,
    /// The node's version (the crate version it was built from).
    pub version: String,
    /// Seconds since the node started.
    pub uptime_s: f64,
    /// Streams live on the node now.
    pub streams: u64,
    /// Players (edge) or viewers reported by edges (cloud).
    pub viewers: u64,
    /// Cloud: edges connected for repair. Edge: 1 when its repair connection is up, else 0.
    pub repair_links: u64,
}

/// The edge's `/stats/time` data, as the Go edge returned it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamTimeView {
    /// The stream's name, `app/name`.
    pub stream_url: String,
    /// Unix ms when the publish started (stream time 0).
    pub start_time: u64,
}
