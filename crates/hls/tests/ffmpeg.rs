//! The packager's output against real ffmpeg: a stream made by ffmpeg is packaged, written out
//! as files, and read back by ffmpeg's HLS demuxer; the compressed packets must be the ones of
//! the source, bit for bit.
//!
//! Compared: the `framemd5` of every packet (`-c copy`, so the hash is of the compressed
//! data) and its size, per stream, in order. Timestamps are not compared: the FLV source has a
//! 1/1000 time base and the fMP4 tracks 1/90000 (video) and 1/44100 (audio), so ffmpeg prints
//! them in different units (and the HLS demuxer may offset the start).

use bytes::Bytes;
use relay_hls::{parse_uri, Config, Packager, Reload, Resource};
use std::path::{Path, PathBuf};
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn have_encoder(name: &str) -> bool {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(name))
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(case: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("relay-hls-{case}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{cmd:?} failed: {stderr}");
    (stdout, stderr)
}

/// Per codec name: (size, hash) of every packet, from `ffmpeg -i input -c copy -f framemd5 -`.
fn packets(dir: &Path, input: &str) -> Vec<(String, Vec<(String, String)>)> {
    let (out, _) = run(Command::new("ffmpeg").current_dir(dir).args([
        "-v", "error", "-i", input, "-map", "0", "-c", "copy", "-f", "framemd5", "-",
    ]));
    let mut streams: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("#codec_id ") {
            let (index, name) = rest.split_once(": ").unwrap();
            let index: usize = index.parse().unwrap();
            assert_eq!(index, streams.len());
            streams.push((name.trim().to_string(), Vec::new()));
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let index: usize = fields[0].parse().unwrap();
            streams[index]
                .1
                .push((fields[4].to_string(), fields[5].to_string()));
        }
    }
    streams.sort_by(|a, b| a.0.cmp(&b.0));
    streams
}

/// The md5 of every decoded picture, in output order; the decoder must report no error.
fn decoded_video(dir: &Path, input: &str) -> Vec<String> {
    let (out, err) = run(Command::new("ffmpeg").current_dir(dir).args([
        "-v",
        "error",
        "-i",
        input,
        "-map",
        "0:v",
        "-fps_mode",
        "passthrough",
        "-f",
        "framemd5",
        "-",
    ]));
    assert_eq!(err, "", "decoding {input}");
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
        .collect()
}

fn write(path: &Path, pieces: &[Bytes]) {
    std::fs::write(path, pieces.concat()).unwrap();
}

/// Packages `source.flv` in `dir` and writes `live.m3u8` with `live/...`, plus `parts.m3u8`,
/// which lists every part as a segment of its own (so each part is checked to be a complete
/// fragment on its own).
fn package(dir: &Path, tags: &[flv::Tag]) -> Packager {
    let mut p = Packager::new(Config {
        segment_target_ms: 2000,
        part_target_ms: 500,
        max_segments: 10,
        ..Config::new("live")
    });
    // With program date-times, so ffmpeg reads those too.
    p.set_wall_clock(1_704_067_200_000, 0);
    for tag in tags {
        p.push(tag).unwrap();
    }
    p.finish();
    let Reload::Ready(playlist) = p.poll_playlist(None, None).unwrap() else {
        panic!("no playlist");
    };
    std::fs::create_dir_all(dir.join("live")).unwrap();
    let mut parts = String::new();
    for line in playlist.lines() {
        let uri = if line.starts_with("live/") {
            Some(line)
        } else {
            line.split("URI=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
        };
        let Some(uri) = uri else {
            if !line.starts_with("#EXTINF") && !line.starts_with("#EXT-X-ENDLIST") {
                parts.push_str(line);
                parts.push('\n');
            }
            continue;
        };
        let name = uri.strip_prefix("live/").unwrap();
        let resource = parse_uri(name).unwrap();
        let pieces = p
            .resource(resource)
            .unwrap_or_else(|| panic!("{uri} missing"));
        write(&dir.join(uri), &pieces);
        match resource {
            Resource::Part(..) => {
                let duration = line
                    .split("DURATION=")
                    .nth(1)
                    .unwrap()
                    .split(',')
                    .next()
                    .unwrap();
                parts.push_str(&format!("#EXTINF:{duration},\n{uri}\n"));
            }
            Resource::Init(_) => {
                parts.push_str(line);
                parts.push('\n');
            }
            Resource::Segment(_) => {}
        }
    }
    parts.push_str("#EXT-X-ENDLIST\n");
    // The part-per-segment playlist is plain HLS: drop the LL-HLS tags it has no use for.
    let parts: String = parts
        .lines()
        .filter(|l| !l.starts_with("#EXT-X-PART-INF") && !l.starts_with("#EXT-X-SERVER-CONTROL"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("live.m3u8"), &playlist).unwrap();
    std::fs::write(dir.join("parts.m3u8"), parts).unwrap();
    p
}

/// Makes `source.flv` with ffmpeg (`ffmpeg_args` before the output) and checks its packaging.
fn check(case: &str, ffmpeg_args: &[&str], expect_codecs: &[&str]) {
    if !have("ffmpeg") || !have("ffprobe") {
        eprintln!("SKIPPED {case}: ffmpeg/ffprobe not installed (scripts/test.sh installs them)");
        return;
    }
    let dir = TempDir::new(case);
    let mut cmd = Command::new("ffmpeg");
    cmd.current_dir(&dir.0)
        .args(["-v", "error", "-y"])
        .args(ffmpeg_args);
    cmd.args(["-f", "flv", "source.flv"]);
    run(&mut cmd);
    let mut reader = flv::TagReader::new();
    reader.push(&std::fs::read(dir.0.join("source.flv")).unwrap());
    let mut tags = Vec::new();
    while let Some(tag) = reader.next_tag().unwrap() {
        tags.push(tag);
    }
    compare(&dir.0, "source.flv", &tags, expect_codecs);
}

/// Packages `tags`, then compares ffmpeg's view of the HLS output with its view of `source`.
fn compare(dir: &Path, source_file: &str, tags: &[flv::Tag], expect_codecs: &[&str]) {
    let p = package(dir, tags);
    assert!(p.stats().rejected == 0, "{:?}", p.stats());
    assert!(p.retained_segments() >= 2);

    let source = packets(dir, source_file);
    let names: Vec<&str> = source.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, expect_codecs);
    for playlist in ["live.m3u8", "parts.m3u8"] {
        let (out, err) = run(Command::new("ffprobe")
            .current_dir(dir)
            .args(["-v", "error", playlist]));
        assert_eq!((out.as_str(), err.as_str()), ("", ""), "ffprobe {playlist}");
        let hls = packets(dir, playlist);
        assert_eq!(hls.len(), source.len(), "{playlist}: streams");
        for ((name, want), (hls_name, got)) in source.iter().zip(&hls) {
            assert_eq!(name, hls_name);
            assert!(!want.is_empty(), "{name}: no packets");
            assert_eq!(got.len(), want.len(), "{playlist}: {name} packet count");
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                assert_eq!(w, g, "{playlist}: {name} packet {i} (size, md5)");
            }
        }
    }
    // Decoded pictures, in presentation order: the composition offsets put B-frames right.
    if expect_codecs
        .iter()
        .any(|c| ["h264", "hevc", "av1"].contains(c))
    {
        let source_frames = decoded_video(dir, source_file);
        let hls_frames = decoded_video(dir, "live.m3u8");
        assert!(!source_frames.is_empty());
        assert_eq!(source_frames, hls_frames, "decoded pictures");
    }
    let master = p.multivariant_playlist().unwrap();
    eprintln!("{master}");
}

#[test]
fn h264_aac_packets_survive_bit_exact() {
    check(
        "h264-aac",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-bf",
            "2",
            "-g",
            "30",
            "-c:a",
            "aac",
            "-t",
            "4",
        ],
        &["aac", "h264"],
    );
}

#[test]
fn h264_only_with_long_gop() {
    // Keyframes every 3 s against a 2 s target: segments are cut without a keyframe.
    check(
        "h264-long-gop",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-c:v",
            "libx264",
            "-bf",
            "3",
            "-g",
            "75",
            "-t",
            "7",
        ],
        &["h264"],
    );
}

#[test]
fn aac_only() {
    check(
        "aac",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-c:a",
            "aac",
            "-t",
            "5",
        ],
        &["aac"],
    );
}

/// Reads the hexdump ffprobe prints for `-show_data`.
fn hexdump(dump: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in dump.lines().filter(|l| l.len() > 10) {
        let hex: String = line[10..]
            .split("  ")
            .next()
            .unwrap()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for i in (0..hex.len()).step_by(2) {
            out.push(u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
        }
    }
    out
}

/// The Enhanced RTMP tags a publisher would send for the single stream of `source.mp4`:
/// `SequenceStart` with the MP4's decoder configuration (hvcC, av1C or OpusHead), then coded
/// frames with the MP4's sample data, timestamps in ms shifted so the first DTS is 0.
///
/// This ffmpeg cannot write E-RTMP FLV itself, so the MP4 stands in: its samples have the
/// same format as FLV's payloads, and ffprobe shows both the bytes and the timestamps.
fn enhanced_rtmp_tags(dir: &Path, fourcc: &[u8; 4]) -> Vec<flv::Tag> {
    let (out, _) = run(Command::new("ffprobe").current_dir(dir).args([
        "-v",
        "error",
        "-show_packets",
        "-show_streams",
        "-show_data",
        "-of",
        "json",
        "source.mp4",
    ]));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let stream = &json["streams"][0];
    let video = stream["codec_type"] == "video";
    let config = hexdump(stream["extradata"].as_str().unwrap());
    let time = |v: &serde_json::Value| -> i64 {
        (v.as_str().unwrap().parse::<f64>().unwrap() * 1000.0).round() as i64
    };
    let packets = json["packets"].as_array().unwrap();
    let first_dts = packets.iter().map(|p| time(&p["dts_time"])).min().unwrap();
    let header = |first: u8| {
        let mut body = vec![first];
        body.extend_from_slice(fourcc);
        body
    };
    let tag_type = if video {
        flv::TagType::Video
    } else {
        flv::TagType::Audio
    };
    // Video: IsExHeader | FrameType 1 | SequenceStart; audio: SoundFormat 9 | SequenceStart.
    let mut seq = header(0x90);
    seq.extend_from_slice(&config);
    let mut tags = vec![flv::Tag::new(tag_type, 0, Bytes::from(seq))];
    for packet in packets {
        let dts = time(&packet["dts_time"]);
        let pts = time(&packet["pts_time"]);
        let data = hexdump(packet["data"].as_str().unwrap());
        let body = if video {
            let key = packet["flags"].as_str().unwrap().starts_with('K');
            let frame_type = if key { 1 } else { 2 };
            if fourcc == b"av01" {
                // CodedFrames of av01 have no composition time.
                let mut b = header(0x80 | frame_type << 4 | 1);
                b.extend_from_slice(&data);
                b
            } else {
                let mut b = header(0x80 | frame_type << 4 | 1);
                b.extend_from_slice(&((pts - dts) as i32).to_be_bytes()[1..]);
                b.extend_from_slice(&data);
                b
            }
        } else {
            let mut b = header(0x91);
            b.extend_from_slice(&data);
            b
        };
        tags.push(flv::Tag::new(
            tag_type,
            (dts - first_dts) as u32,
            Bytes::from(body),
        ));
    }
    tags
}

/// Encodes `source.mp4` with ffmpeg and checks the packaging of its E-RTMP form.
fn check_enhanced(case: &str, encoder: &str, args: &[&str], fourcc: &[u8; 4], codec: &str) {
    if !have("ffmpeg") || !have("ffprobe") {
        eprintln!("SKIPPED {case}: ffmpeg/ffprobe not installed (scripts/test.sh installs them)");
        return;
    }
    if !have_encoder(encoder) {
        eprintln!("SKIPPED {case}: this ffmpeg has no {encoder}");
        return;
    }
    let dir = TempDir::new(case);
    run(Command::new("ffmpeg")
        .current_dir(&dir.0)
        .args(["-v", "error", "-y"])
        .args(args)
        .arg("source.mp4"));
    let tags = enhanced_rtmp_tags(&dir.0, fourcc);
    compare(&dir.0, "source.mp4", &tags, &[codec]);
}

#[test]
fn hevc_with_b_frames() {
    check_enhanced(
        "hevc",
        "libx265",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30",
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error:keyint=30:bframes=3",
            "-t",
            "4",
        ],
        b"hvc1",
        "hevc",
    );
}

#[test]
fn opus() {
    check_enhanced(
        "opus",
        "libopus",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-c:a",
            "libopus",
            "-t",
            "5",
        ],
        b"Opus",
        "opus",
    );
}

#[test]
fn av1() {
    check_enhanced(
        "av1",
        "libsvtav1",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30",
            "-c:v",
            "libsvtav1",
            "-preset",
            "12",
            "-g",
            "30",
            "-t",
            "4",
        ],
        b"av01",
        "av1",
    );
}
