//! HLS and Low-Latency HLS packaging for liverelay, without I/O.
//!
//! An edge receives a stream as FLV tags; this crate turns them into what an HLS player
//! fetches, without transcoding: a CMAF init segment (ISO/IEC 14496-12 `ftyp` + `moov`), media
//! segments made of LL-HLS parts (each part one `moof` + `mdat` fragment) and the media and
//! multivariant playlists of RFC 8216 and its second edition, draft-pantos-hls-rfc8216bis
//! (partial segments, preload hints, blocking playlist reload).
//!
//! It does no I/O and keeps no clock: [`Packager::push`] takes tags in the order the edge
//! delivers them, lookups return the bytes or `None` (404), and [`Packager::poll_playlist`]
//! answers a blocking reload with [`Reload::Wait`] when the requested part does not exist
//! yet. The edge holds such requests and retries them when [`Packager::generation`] changes
//! (for instance through a `tokio::sync::watch` it owns).
//!
//! Media payloads are never copied: a part or segment is a `Vec<Bytes>` of one header buffer
//! followed by slices of the tag bodies.
//!
//! # URIs
//!
//! Everything is relative to the media playlist, meant to be served at `/APP/NAME.m3u8`
//! (`NAME` is [`Config::name`]):
//!
//! | resource | URI | lookup |
//! | --- | --- | --- |
//! | init segment `n` | `NAME/init-<n>.mp4` | [`Packager::init`] |
//! | media segment | `NAME/seg-<msn>.m4s` | [`Packager::segment`] |
//! | part `i` of segment `msn` | `NAME/part-<msn>-<i>.m4s` | [`Packager::part`] |
//!
//! `msn` is the media sequence number (from 0), `i` counts from 0 within its segment and `n`
//! counts init segments from 0 (a new one after each codec change). The multivariant playlist
//! ([`Packager::multivariant_playlist`]) refers to the media playlist as `NAME.m3u8`, so it
//! belongs in the same directory, e.g. `/APP/NAME.master.m3u8`. [`parse_uri`] maps a path
//! below `NAME/` back to the resource.

#![warn(missing_docs)]

mod boxes;
mod codec;
mod error;
mod fmp4;
mod packager;
mod playlist;

pub use codec::{AudioConfig, AudioKind, VideoConfig, VideoKind};
pub use error::HlsError;
pub use fmp4::{
    init_segment, media_fragment, Fragment, Sample, TrackRun, AUDIO_TRACK_ID, VIDEO_TIMESCALE,
    VIDEO_TRACK_ID,
};
pub use packager::{Config, Packager, Reload, Stats};
pub use playlist::{parse_uri, Resource};

#[cfg(test)]
mod tests;
