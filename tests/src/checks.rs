//! The checks applied to a raw HTTP-FLV capture.

use crate::flv::{self, Flv, Tag};
use crate::http::HttpResponse;
use crate::media::{check_decodes_clean, framemd5, FrameMd5, Media};
use crate::util::TestDir;
use std::path::PathBuf;

/// Where in the source the received stream is expected to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// Attached within the first GOP: every packet from the first one.
    Start,
    /// Attached later: from a keyframe after the first one.
    Late,
}

/// What a check learnt about the received stream.
#[derive(Debug)]
pub struct Received {
    pub flv: Flv,
    /// Timestamp of the first video frame received.
    pub first_video_ts: u32,
    pub video_from: usize,
    pub audio_from: usize,
}

/// The response headers every HTTP-FLV play response must carry.
pub fn check_play_headers(resp: &HttpResponse) -> Result<(), String> {
    if resp.status != 200 {
        return Err(format!("status {}, expected 200", resp.status));
    }
    let ct = resp.header("content-type").unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("video/x-flv") {
        return Err(format!("Content-Type {ct:?}, expected video/x-flv"));
    }
    let cors = resp.header("access-control-allow-origin");
    if cors != Some("*") {
        return Err(format!(
            "Access-Control-Allow-Origin {cors:?}, expected \"*\""
        ));
    }
    Ok(())
}

/// Checks the start of the stream: before the first audio/video frame come onMetaData and
/// both sequence headers, identical to the source's; the first video frame is a keyframe.
pub fn check_preamble(media: &Media, got: &Flv) -> Result<(), String> {
    let first_media = got
        .tags
        .iter()
        .position(|t| t.is_media())
        .ok_or("no audio/video frame received")?;
    let pre = &got.tags[..first_media];
    let describe = |tags: &[Tag]| {
        tags.iter()
            .take(8)
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !pre
        .iter()
        .any(|t| t.script_name().as_deref() == Some("onMetaData"))
    {
        return Err(format!(
            "no onMetaData script tag before the first frame; stream starts with: {}",
            describe(&got.tags)
        ));
    }
    for kind in [9u8, 8u8] {
        let want = media.seq_header(kind).expect("source sequence header");
        let have: Vec<&Tag> = pre
            .iter()
            .filter(|t| t.kind == kind && t.is_seq_header())
            .collect();
        if have.is_empty() {
            return Err(format!(
                "no {} sequence header before the first frame; stream starts with: {}",
                if kind == 9 { "video" } else { "audio" },
                describe(&got.tags)
            ));
        }
        if have.iter().any(|t| t.data != want.data) {
            return Err(format!(
                "{} sequence header differs from the source's",
                if kind == 9 { "video" } else { "audio" }
            ));
        }
    }
    // Each configuration tag exactly as often as in the source (once): a repeated onMetaData
    // or sequence header makes decoders re-initialise (ffmpeg reports it as new extradata).
    type IsConfig = fn(&Tag) -> bool;
    let config_kinds: [(&str, IsConfig); 3] = [
        ("onMetaData", |t| {
            t.script_name().as_deref() == Some("onMetaData")
        }),
        ("video sequence header", |t| {
            t.is_video() && t.is_seq_header()
        }),
        ("audio sequence header", |t| {
            t.is_audio() && t.is_seq_header()
        }),
    ];
    for (what, is) in config_kinds {
        let want = media.flv.tags.iter().filter(|t| is(t)).count();
        let have = got.tags.iter().filter(|t| is(t)).count();
        if want != have {
            return Err(format!(
                "{what} received {have} times, the source has it {want} time(s); stream \
                 starts with: {}",
                describe(&got.tags)
            ));
        }
    }
    let first_video = got
        .media()
        .find(|t| t.is_video())
        .ok_or("no video frame received")?;
    if !first_video.is_keyframe() {
        return Err(format!(
            "first video frame is not a keyframe: {first_video:?}"
        ));
    }
    Ok(())
}

/// The play headers are right, the response ended properly and its body is whole FLV: the parsed
/// body, saved as `<label>.flv` in `dir` (kept for a failing test's post-mortem).
pub fn parse_capture(
    resp: &HttpResponse,
    dir: &TestDir,
    label: &str,
) -> Result<(flv::Flv, PathBuf), String> {
    check_play_headers(resp)?;
    let path = dir.join(&format!("{label}.flv"));
    std::fs::write(&path, &resp.body).map_err(|e| e.to_string())?;
    if !resp.complete {
        return Err(format!(
            "the HTTP response was not ended properly after {} body bytes ({})",
            resp.body.len(),
            resp.error.as_deref().unwrap_or("?")
        ));
    }
    let got = flv::parse(&resp.body).map_err(|e| format!("malformed FLV: {e}"))?;
    if got.trailing != 0 {
        return Err(format!(
            "FLV ends with a truncated tag ({} bytes after the last complete tag)",
            got.trailing
        ));
    }
    Ok((got, path))
}

/// Full check of a captured HTTP-FLV response against the source: headers, a response the
/// edge ended properly, a well-formed FLV, the preamble, tags equal to the source's (raw
/// bytes), framemd5 equal to the source's (ffmpeg's view) and a clean decode. Writes the body
/// to `<label>.flv` in `dir`.
pub fn check_capture(
    media: &Media,
    resp: &HttpResponse,
    dir: &TestDir,
    label: &str,
    join: Join,
) -> Result<Received, String> {
    let ctx = |e: String| format!("player {label}: {e}");
    let (got, path) = parse_capture(resp, dir, label).map_err(ctx)?;
    // Browsers' players (flv.js, mpegts.js) take hasAudio/hasVideo from these header flags
    // and ignore a track the header does not announce.
    if got.header[4] & 0x05 != 0x05 {
        return Err(ctx(format!(
            "FLV header flags {:#04x} do not announce both audio (0x04) and video (0x01)",
            got.header[4]
        )));
    }
    check_preamble(media, &got).map_err(ctx)?;
    let first_video = got.media().find(|t| t.is_video()).expect("checked").clone();
    let src_video = media.video_tags();
    let video_from = src_video
        .iter()
        .position(|t| **t == first_video)
        .ok_or_else(|| {
            ctx(format!(
                "first video frame {first_video:?} is not in the source"
            ))
        })?;
    // Audio from the keyframe on, in the source's tag order.
    let kf_index = media
        .flv
        .tags
        .iter()
        .position(|t| *t == first_video)
        .expect("found above");
    let audio_from = media.flv.tags[..kf_index]
        .iter()
        .filter(|t| t.is_media() && t.is_audio())
        .count();
    match join {
        Join::Start if video_from != 0 => {
            return Err(ctx(format!(
                "expected the stream from its first packet, but it starts at video frame \
                 {video_from} ({first_video:?})"
            )))
        }
        Join::Late if video_from == 0 => {
            return Err(ctx(
                "expected a late join (from a later keyframe) but the stream starts at the \
                 first frame"
                    .into(),
            ))
        }
        _ => {}
    }
    media
        .check_tags_suffix(&got, video_from, audio_from)
        .map_err(ctx)?;
    let md5 = framemd5(&path).map_err(ctx)?;
    media
        .check_suffix(&md5, video_from, audio_from)
        .map_err(ctx)?;
    check_decodes_clean(&path).map_err(ctx)?;
    Ok(Received {
        first_video_ts: first_video.ts,
        flv: got,
        video_from,
        audio_from,
    })
}

/// Every received frame is a source frame, in source order; where frames are missing, the
/// next received frame is a keyframe.
pub fn check_skips_to_keyframes(src: &[&Tag], got: &[&Tag]) -> Result<(), String> {
    let mut next = 0usize;
    for (n, tag) in got.iter().enumerate() {
        let at = src[next..]
            .iter()
            .position(|t| t == tag)
            .map(|p| p + next)
            .ok_or_else(|| format!("frame {n} ({tag:?}) is not a later source frame"))?;
        if at != next && !tag.is_keyframe() {
            return Err(format!(
                "frames {next}..{at} were skipped and the stream resumed at a non-key frame \
                 ({tag:?})"
            ));
        }
        if n == 0 && !tag.is_keyframe() {
            return Err(format!("first frame is not a keyframe ({tag:?})"));
        }
        next = at + 1;
    }
    Ok(())
}

/// Every received frame is a source frame, in source order (gaps allowed).
pub fn check_in_order(src: &[&Tag], got: &[&Tag]) -> Result<(), String> {
    let mut next = 0usize;
    for (n, tag) in got.iter().enumerate() {
        let at = src[next..]
            .iter()
            .position(|t| t == tag)
            .ok_or_else(|| format!("frame {n} ({tag:?}) is not a later source frame"))?;
        next += at + 1;
    }
    Ok(())
}

/// What a degraded (lossy) capture held, next to the source.
#[derive(Debug)]
pub struct Degraded {
    pub flv: Flv,
    pub video: usize,
    pub video_total: usize,
    pub audio: usize,
    pub audio_total: usize,
    /// Places where video frames were skipped (each resumed at a keyframe).
    pub video_skips: usize,
    pub first_video_ts: u32,
    pub last_video_ts: u32,
}

/// Where, in `src`, each frame of `got` is (both in order; every `got` frame must be in `src`).
fn positions(src: &[&Tag], got: &[&Tag]) -> Result<Vec<usize>, String> {
    let mut next = 0usize;
    let mut out = Vec::with_capacity(got.len());
    for (n, tag) in got.iter().enumerate() {
        let at = src[next..]
            .iter()
            .position(|t| t == tag)
            .map(|p| p + next)
            .ok_or_else(|| format!("frame {n} ({tag:?}) is not a later source frame"))?;
        out.push(at);
        next = at + 1;
    }
    Ok(out)
}

/// Every packet ffmpeg read is one of the source's, in the source's order, per stream (gaps
/// allowed), with the source's sequence headers.
pub fn check_packets_subsequence(media: &Media, got: &FrameMd5) -> Result<(), String> {
    for kind in ["video", "audio"] {
        let want = media.md5.extradata_of(kind);
        let have = got.extradata_of(kind);
        if want != have {
            return Err(format!(
                "{kind} extradata (sequence header) differs: source {want:?}, received {have:?}"
            ));
        }
        let src = media.md5.of_kind(kind);
        let mut next = 0usize;
        for (n, p) in got.of_kind(kind).iter().enumerate() {
            let at = src[next..]
                .iter()
                .position(|s| {
                    (s.dts, s.pts, s.size, &s.hash, &s.side_data)
                        == (p.dts, p.pts, p.size, &p.hash, &p.side_data)
                })
                .ok_or_else(|| {
                    format!("{kind} packet {n} ({p}) is not a later packet of the source")
                })?;
            next += at + 1;
        }
    }
    Ok(())
}

/// The checks for a player attached from the start of a stream that lost data for good (a cut
/// repair link, evicted packets): a response the edge ended properly, a well-formed FLV with
/// the preamble (metadata and sequence headers first, once each), video frames that are the
/// source's frames byte for byte in order where every skip resumes at a keyframe, audio frames
/// that are the source's in order, ffmpeg's packets a subsequence of the source's, and a clean
/// decode. Writes the body to `<label>.flv` in `dir`.
pub fn check_degraded_capture(
    media: &Media,
    resp: &HttpResponse,
    dir: &TestDir,
    label: &str,
) -> Result<Degraded, String> {
    let ctx = |e: String| format!("player {label}: {e}");
    let (got, path) = parse_capture(resp, dir, label).map_err(ctx)?;
    check_preamble(media, &got).map_err(ctx)?;
    let src_video = media.video_tags();
    let src_audio = media.audio_tags();
    let video: Vec<&Tag> = got.media().filter(|t| t.is_video()).collect();
    let audio: Vec<&Tag> = got.media().filter(|t| t.is_audio()).collect();
    check_skips_to_keyframes(&src_video, &video).map_err(|e| ctx(format!("video: {e}")))?;
    check_in_order(&src_audio, &audio).map_err(|e| ctx(format!("audio: {e}")))?;
    let at = positions(&src_video, &video).map_err(ctx)?;
    let video_skips = at.windows(2).filter(|w| w[1] != w[0] + 1).count();
    let md5 = framemd5(&path).map_err(ctx)?;
    check_packets_subsequence(media, &md5).map_err(ctx)?;
    check_decodes_clean(&path).map_err(ctx)?;
    Ok(Degraded {
        video: video.len(),
        video_total: src_video.len(),
        audio: audio.len(),
        audio_total: src_audio.len(),
        video_skips,
        first_video_ts: video.first().map_or(0, |t| t.ts),
        last_video_ts: video.last().map_or(0, |t| t.ts),
        flv: got,
    })
}

/// Per track (audio, video, script data), no tag has a smaller timestamp than the one before
/// it: what players need of one response even across publishes.
pub fn check_timestamps_never_go_back(tags: &[Tag]) -> Result<(), String> {
    for kind in [8u8, 9, 18] {
        let mut last: Option<(usize, &Tag)> = None;
        for (i, t) in tags.iter().enumerate().filter(|(_, t)| t.kind == kind) {
            if let Some((j, prev)) = last {
                if t.ts < prev.ts {
                    return Err(format!(
                        "timestamps go back: tag {i} {t:?} comes after tag {j} {prev:?}"
                    ));
                }
            }
            last = Some((i, t));
        }
    }
    Ok(())
}

/// `got` is a run of consecutive frames of `src`, each timestamp shifted by `offset`
/// (received = source + offset). Returns where in `src` the run starts.
pub fn check_shifted_run(
    what: &str,
    src: &[&Tag],
    got: &[&Tag],
    offset: i64,
) -> Result<usize, String> {
    let Some(first) = got.first() else {
        return Err(format!("{what}: nothing received"));
    };
    let unshift = |t: &Tag| i64::from(t.ts) - offset;
    let start = src
        .iter()
        .position(|s| {
            s.kind == first.kind && i64::from(s.ts) == unshift(first) && s.data == first.data
        })
        .ok_or_else(|| {
            format!("{what}: the first frame {first:?} is no source frame shifted by {offset} ms")
        })?;
    for (n, g) in got.iter().enumerate() {
        let Some(s) = src.get(start + n) else {
            return Err(format!(
                "{what}: frame {n} ({g:?}) is beyond the end of the source ({} frames from \
                 {start})",
                src.len() - start
            ));
        };
        if s.kind != g.kind || i64::from(s.ts) != unshift(g) || s.data != g.data {
            return Err(format!(
                "{what}: frame {n} is {g:?}, expected the source's frame {} {s:?} shifted by \
                 {offset} ms",
                start + n
            ));
        }
    }
    Ok(start)
}
