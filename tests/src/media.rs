//! Source media, ffmpeg as encoder and player, and the packet-exact comparison.
//!
//! # How "identity" is checked
//!
//! `ffmpeg -copyts -i X -map 0 -c copy -f framemd5 -` lists every compressed packet ffmpeg
//! demuxes from X: stream, dts, pts, duration, size and the MD5 of the packet data. We run it
//! on the source file and on what the player received and require, per stream (video, audio),
//! the same packets line for line on (dts, pts, size, md5), plus the same `#extradata` lines
//! (the MD5 of the AVC/AAC sequence headers). Two deliberate choices:
//!
//! - `-copyts`: without it ffmpeg rebases timestamps on the first packet it sees, which hides
//!   a constant timestamp shift by the relay and makes a late joiner's timestamps
//!   incomparable. With it, the FLV tag timestamps are compared as sent. (Re-muxing the
//!   source to FLV, which is what the publishing ffmpeg does on the wire, keeps its
//!   timestamps unchanged, so the relay must deliver the file's timestamps.)
//! - the `duration` column is ignored: FLV carries no per-packet duration; ffmpeg derives it
//!   from the frame rate in onMetaData (which the relay may rebuild) or from neighbours.
//!
//! What is compared is either the raw HTTP body the edge sent (captured by [`crate::http`],
//! no remux in between) or the framemd5 that an ffmpeg player computed itself while reading
//! the HTTP-FLV URL (`-f framemd5` as one of its outputs, again no remux). Streams are
//! matched by media type, not by index, since ffmpeg numbers streams in the order it meets
//! them. The raw-capture checks additionally compare the FLV tags themselves (type,
//! timestamp, body bytes) with the source's, independently of ffmpeg.

use crate::flv::{self, Flv, Tag};
use crate::process::Proc;
use crate::util::{TestDir, TEMP_PREFIX};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One packet line of a framemd5 listing.
#[derive(Clone, Debug)]
pub struct Pkt {
    pub stream: u32,
    pub dts: i64,
    pub pts: i64,
    pub duration: i64,
    pub size: u64,
    pub hash: String,
    /// Side data ffmpeg attached to the packet (`S=1, 44, <md5>`), e.g. a new extradata
    /// when a sequence header arrived again in the middle of the stream; "" when none.
    pub side_data: String,
}

impl Pkt {
    fn key(&self) -> (i64, i64, u64, &str, &str) {
        (self.dts, self.pts, self.size, &self.hash, &self.side_data)
    }
}

impl std::fmt::Display for Pkt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dts={} pts={} size={} md5={}",
            self.dts, self.pts, self.size, self.hash
        )?;
        if !self.side_data.is_empty() {
            write!(f, " side-data=[{}]", self.side_data)?;
        }
        Ok(())
    }
}

/// A parsed framemd5 listing.
#[derive(Clone, Debug, Default)]
pub struct FrameMd5 {
    /// stream index -> "video" / "audio"
    pub media_types: HashMap<u32, String>,
    /// stream index -> "size, md5" of the extradata (the sequence header)
    pub extradata: HashMap<u32, String>,
    pub packets: Vec<Pkt>,
}

impl FrameMd5 {
    pub fn parse(text: &str) -> Result<FrameMd5, String> {
        let mut out = FrameMd5::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("#extradata ") {
                let (idx, val) = rest
                    .split_once(',')
                    .ok_or_else(|| format!("bad extradata line {line:?}"))?;
                let idx: u32 = idx
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad line {line:?}"))?;
                let val = val.split(',').map(str::trim).collect::<Vec<_>>().join(", ");
                out.extradata.insert(idx, val);
                continue;
            }
            if let Some(rest) = line.strip_prefix("#media_type ") {
                let (idx, val) = rest
                    .split_once(':')
                    .ok_or_else(|| format!("bad media_type line {line:?}"))?;
                let idx: u32 = idx
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad line {line:?}"))?;
                out.media_types.insert(idx, val.trim().to_string());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if f.len() < 6 {
                return Err(format!("bad framemd5 line {line:?}"));
            }
            let num = |s: &str| -> Result<i64, String> {
                s.parse().map_err(|_| format!("bad number in {line:?}"))
            };
            out.packets.push(Pkt {
                stream: num(f[0])? as u32,
                dts: num(f[1])?,
                pts: num(f[2])?,
                duration: num(f[3])?,
                size: num(f[4])? as u64,
                hash: f[5].to_string(),
                side_data: f[6..].join(", "),
            });
        }
        Ok(out)
    }

    fn index_of(&self, kind: &str) -> Option<u32> {
        self.media_types
            .iter()
            .find(|(_, v)| v.as_str() == kind)
            .map(|(k, _)| *k)
    }

    /// The packets of the stream with this media type ("video" / "audio"), in order.
    pub fn of_kind(&self, kind: &str) -> Vec<&Pkt> {
        match self.index_of(kind) {
            Some(i) => self.packets.iter().filter(|p| p.stream == i).collect(),
            None => Vec::new(),
        }
    }

    pub fn extradata_of(&self, kind: &str) -> Option<&str> {
        self.extradata
            .get(&self.index_of(kind)?)
            .map(|s| s.as_str())
    }
}

/// Compares two packet lists exactly on (dts, pts, size, md5); the error names the first
/// difference with some context.
pub fn compare_packets(what: &str, expected: &[&Pkt], got: &[&Pkt]) -> Result<(), String> {
    let first_diff = expected
        .iter()
        .zip(got.iter())
        .position(|(a, b)| a.key() != b.key());
    let idx = match first_diff {
        Some(i) => i,
        None if expected.len() == got.len() => return Ok(()),
        None => expected.len().min(got.len()),
    };
    let ctx = |list: &[&Pkt]| {
        let lo = idx.saturating_sub(2);
        let hi = (idx + 3).min(list.len());
        (lo..hi)
            .map(|i| format!("    [{i}] {}", list[i]))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Err(format!(
        "{what}: {} packets expected, {} received; first difference at packet {idx}\n  expected:\n{}\n  received:\n{}",
        expected.len(),
        got.len(),
        ctx(expected),
        ctx(got)
    ))
}

/// Compares media tags (type, timestamp, body) exactly.
pub fn compare_tags(what: &str, expected: &[&Tag], got: &[&Tag]) -> Result<(), String> {
    let first_diff = expected.iter().zip(got.iter()).position(|(a, b)| a != b);
    let idx = match first_diff {
        Some(i) => i,
        None if expected.len() == got.len() => return Ok(()),
        None => expected.len().min(got.len()),
    };
    let show = |list: &[&Tag]| {
        list.get(idx)
            .map(|t| format!("{t:?}"))
            .unwrap_or_else(|| "(none)".into())
    };
    Err(format!(
        "{what}: {} tags expected, {} received; first difference at tag {idx}: expected {}, received {}",
        expected.len(),
        got.len(),
        show(expected),
        show(got)
    ))
}

/// Runs an ffmpeg command with a timeout; returns (status, stdout, stderr).
pub fn run_ffmpeg(
    args: &[&str],
    timeout: Duration,
) -> Result<(ExitStatus, String, String), String> {
    let mut all = vec!["-nostdin", "-hide_banner"];
    all.extend_from_slice(args);
    run_tool("ffmpeg", &all, timeout)
}

/// Runs `program` (ffmpeg or ffprobe) with a timeout; returns (status, stdout, stderr).
fn run_tool(
    program: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<(ExitStatus, String, String), String> {
    let dir = std::env::temp_dir();
    let tag = format!(
        "{TEMP_PREFIX}-ff-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    )
    .replace(['(', ')'], "");
    let out_path = dir.join(format!("{tag}.out"));
    let err_path = dir.join(format!("{tag}.err"));
    let out = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let err = std::fs::File::create(&err_path).map_err(|e| e.to_string())?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| {
            format!("spawn {program}: {e} (is ffmpeg installed? scripts/test.sh installs it)")
        })?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{program} {args:?} did not finish within {timeout:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    Ok((status, stdout, stderr))
}

/// framemd5 of a file, timestamps as stored (`-copyts`).
pub fn framemd5(path: &Path) -> Result<FrameMd5, String> {
    let p = path.to_str().expect("utf-8 path");
    let (status, out, err) = run_ffmpeg(
        &[
            "-v", "error", "-copyts", "-i", p, "-map", "0", "-c", "copy", "-f", "framemd5", "-",
        ],
        Duration::from_secs(60),
    )?;
    if !status.success() {
        return Err(format!("framemd5 of {p} failed ({status}): {err}"));
    }
    FrameMd5::parse(&out)
}

/// The duration ffprobe gives the file (`format=duration`; for FLV that is onMetaData's
/// `duration` when it is set, else what ffprobe works out from the timestamps).
pub fn ffprobe_duration(path: &Path) -> Result<f64, String> {
    let p = path.to_str().expect("utf-8 path");
    let args = [
        "-v",
        "error",
        "-show_entries",
        "format=duration",
        "-of",
        "default=noprint_wrappers=1:nokey=1",
        p,
    ];
    let (status, out, err) = run_tool("ffprobe", &args, Duration::from_secs(60))?;
    if !status.success() {
        return Err(format!("ffprobe of {p} failed ({status}): {err}"));
    }
    out.trim()
        .parse()
        .map_err(|_| format!("ffprobe of {p}: duration {out:?} is not a number ({err})"))
}

/// `ffmpeg -v error -i X -f null -` must print nothing and succeed.
pub fn check_decodes_clean(path: &Path) -> Result<(), String> {
    let p = path.to_str().expect("utf-8 path");
    let (status, out, err) = run_ffmpeg(
        &["-v", "error", "-i", p, "-f", "null", "-"],
        Duration::from_secs(120),
    )?;
    if !status.success() || !out.trim().is_empty() || !err.trim().is_empty() {
        return Err(format!(
            "decoding {p} is not clean ({status}):\n{}{}",
            out,
            err.lines().take(20).collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(())
}

/// How a source is encoded.
pub struct SourceSpec {
    pub name: &'static str,
    pub size: &'static str,
    pub seconds: u32,
    pub video_kbps: u32,
    pub noise: bool,
    /// Frames from one keyframe to the next.
    pub gop_frames: u32,
    /// The picture carries its presentation time in ms as 20 black-or-white 16x16 blocks along
    /// the top (bit k in block k), for a browser to read back (web/test/play.mjs).
    pub time_code: bool,
}

/// The standard source: testsrc2 320x240 at 30 fps with sine audio, encoded as OBS does
/// (x264 high profile, 2 B-frames, 2 s closed GOP, AAC 48 kHz stereo), 8 s long (four GOPs,
/// keyframes at 0, 2000, 4000 and 6000 ms).
pub const STANDARD: SourceSpec = SourceSpec {
    name: "standard",
    size: "320x240",
    seconds: 8,
    video_kbps: 2000,
    noise: false,
    gop_frames: 60,
    time_code: false,
};

/// A heavy source (~12 MB for 8 s): more than the kernel can park in the socket buffers of
/// a viewer that never reads, so the edge's own per-player bound has to act.
pub const HEAVY: SourceSpec = SourceSpec {
    name: "heavy",
    size: "640x360",
    seconds: 8,
    video_kbps: 12000,
    noise: true,
    gop_frames: 60,
    time_code: false,
};

/// The standard source, 10 s long (five GOPs): for tests that need a publish of that length.
pub const LONG: SourceSpec = SourceSpec {
    name: "long",
    seconds: 10,
    ..STANDARD
};

/// 24 s with a keyframe every second and the presentation time in the picture: for measuring
/// what a browser shows against the wall clock.
pub const CLOCK: SourceSpec = SourceSpec {
    name: "clock",
    seconds: 24,
    video_kbps: 1500,
    gop_frames: 30,
    time_code: true,
    ..STANDARD
};

/// The time code of [`SourceSpec::time_code`]: luma 255 or 0 in the top 16 rows by the bit of
/// the frame's time in ms that the 16-pixel column block stands for; chroma neutral there.
const TIME_CODE_FILTER: &str = "format=yuv420p,geq=lum='if(lt(Y,16),255*mod(floor(T*1000/pow(2,floor(X/16))),2),lum(X,Y))':cb='if(lt(Y,8),128,cb(X,Y))':cr='if(lt(Y,8),128,cr(X,Y))'";

/// A generated source file with its packets and tags.
pub struct Media {
    pub path: PathBuf,
    pub bytes: u64,
    pub seconds: u32,
    pub md5: FrameMd5,
    pub flv: Flv,
}

impl Media {
    /// The standard source, generated once per test binary.
    pub fn standard() -> &'static Media {
        static M: OnceLock<Media> = OnceLock::new();
        M.get_or_init(|| Media::generate(&STANDARD))
    }

    /// The 10 s source, generated once per test binary.
    pub fn long() -> &'static Media {
        static M: OnceLock<Media> = OnceLock::new();
        M.get_or_init(|| Media::generate(&LONG))
    }

    /// The time-coded 24 s source, generated once per test binary.
    pub fn clock() -> &'static Media {
        static M: OnceLock<Media> = OnceLock::new();
        M.get_or_init(|| Media::generate(&CLOCK))
    }

    /// The heavy source, generated once per test binary.
    pub fn heavy() -> &'static Media {
        static M: OnceLock<Media> = OnceLock::new();
        M.get_or_init(|| Media::generate(&HEAVY))
    }

    fn generate(spec: &SourceSpec) -> Media {
        let dir = media_dir();
        let path = dir.join(format!("{}.flv", spec.name));
        let path_s = path.to_str().expect("utf-8 path").to_string();
        let video_in = format!("testsrc2=size={}:rate=30", spec.size);
        let t = spec.seconds.to_string();
        let kbps = format!("{}k", spec.video_kbps);
        let buf = format!("{}k", spec.video_kbps / 2);
        let mut args: Vec<&str> = vec![
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &video_in,
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            &t,
        ];
        if spec.noise {
            args.extend(["-vf", "noise=alls=40:allf=t+u"]);
        }
        if spec.time_code {
            args.extend(["-vf", TIME_CODE_FILTER]);
        }
        let gop = spec.gop_frames.to_string();
        args.extend([
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-bf",
            "2",
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-preset",
            if spec.noise { "ultrafast" } else { "veryfast" },
            "-b:v",
            &kbps,
            "-maxrate",
            &kbps,
            "-bufsize",
            &buf,
            "-c:a",
            "aac",
            "-ar",
            "48000",
            "-ac",
            "2",
            "-b:a",
            "128k",
            "-f",
            "flv",
            &path_s,
        ]);
        let (status, _, err) = run_ffmpeg(&args, Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("generating the {} source: {e}", spec.name));
        assert!(
            status.success(),
            "generating the {} source failed: {err}",
            spec.name
        );
        let bytes = std::fs::read(&path).expect("read source");
        let flv = flv::parse(&bytes).unwrap_or_else(|e| panic!("source FLV: {e}"));
        let md5 = framemd5(&path).unwrap_or_else(|e| panic!("framemd5 of source: {e}"));
        let m = Media {
            path,
            bytes: bytes.len() as u64,
            seconds: spec.seconds,
            md5,
            flv,
        };
        // Self-checks, so a test can rely on the source looking like an OBS stream.
        let videos = m.video_tags();
        assert!(
            videos.iter().any(|t| t.data.get(1) == Some(&1) && {
                let cts = i32::from_be_bytes([0, t.data[2], t.data[3], t.data[4]]);
                cts > 0
            }),
            "source has no composition offsets (no B-frames?)"
        );
        let keys: Vec<u32> = videos
            .iter()
            .filter(|t| t.is_keyframe())
            .map(|t| t.ts)
            .collect();
        assert!(
            keys.len() >= 4,
            "source keyframes at {keys:?}, expected a 2 s GOP"
        );
        assert_eq!(
            m.md5.of_kind("video").len(),
            videos.len(),
            "framemd5 video packets vs video tags of the source"
        );
        assert_eq!(
            m.md5.of_kind("audio").len(),
            m.audio_tags().len(),
            "framemd5 audio packets vs audio tags of the source"
        );
        m
    }

    /// Video frames (not sequence headers), in file order.
    pub fn video_tags(&self) -> Vec<&Tag> {
        self.flv.media().filter(|t| t.is_video()).collect()
    }

    /// Audio frames (not sequence headers), in file order.
    pub fn audio_tags(&self) -> Vec<&Tag> {
        self.flv.media().filter(|t| t.is_audio()).collect()
    }

    pub fn seq_header(&self, kind: u8) -> Option<&Tag> {
        self.flv
            .tags
            .iter()
            .find(|t| t.kind == kind && t.is_seq_header())
    }

    pub fn keyframe_times(&self) -> Vec<u32> {
        self.video_tags()
            .iter()
            .filter(|t| t.is_keyframe())
            .map(|t| t.ts)
            .collect()
    }

    /// Every packet of the source, per stream, and the same sequence headers.
    pub fn check_identity(&self, got: &FrameMd5) -> Result<(), String> {
        self.check_suffix(got, 0, 0)
    }

    /// The received packets are the source's from video packet `video_from` and audio packet
    /// `audio_from` on (per stream, exact), and the sequence headers are the source's.
    pub fn check_suffix(
        &self,
        got: &FrameMd5,
        video_from: usize,
        audio_from: usize,
    ) -> Result<(), String> {
        for kind in ["video", "audio"] {
            let want = self.md5.extradata_of(kind);
            let have = got.extradata_of(kind);
            if want != have {
                return Err(format!(
                    "{kind} extradata (sequence header) differs: source {want:?}, received {have:?}"
                ));
            }
        }
        let v = self.md5.of_kind("video");
        let a = self.md5.of_kind("audio");
        compare_packets("video packets", &v[video_from..], &got.of_kind("video"))?;
        compare_packets("audio packets", &a[audio_from..], &got.of_kind("audio"))?;
        Ok(())
    }

    /// Raw tag comparison of a received FLV with the source, per type, from the given video
    /// and audio frame indices on.
    pub fn check_tags_suffix(
        &self,
        got: &Flv,
        video_from: usize,
        audio_from: usize,
    ) -> Result<(), String> {
        let gv: Vec<&Tag> = got.media().filter(|t| t.is_video()).collect();
        let ga: Vec<&Tag> = got.media().filter(|t| t.is_audio()).collect();
        compare_tags("video tags", &self.video_tags()[video_from..], &gv)?;
        compare_tags("audio tags", &self.audio_tags()[audio_from..], &ga)?;
        Ok(())
    }
}

/// The per-process directory for generated media. Directories left by earlier runs whose
/// process is gone are removed.
fn media_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = std::env::temp_dir();
        let prefix = format!("{TEMP_PREFIX}-media-");
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix(&prefix) {
                    let alive = Path::new(&format!("/proc/{pid}")).exists();
                    if !alive {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let dir = tmp.join(format!("{prefix}{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create media dir");
        dir
    })
    .clone()
}

/// `ffmpeg -re -i SRC -c copy -f flv rtmp://...`: an OBS-like publisher.
pub struct Publisher {
    pub proc: Proc,
    pub started: Instant,
    pub media: &'static Media,
}

impl Publisher {
    pub fn start(dir: &TestDir, label: &str, media: &'static Media, url: &str) -> Publisher {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-hide_banner", "-v", "error", "-re", "-i"])
            .arg(&media.path)
            .args(["-c", "copy", "-f", "flv", url]);
        let proc = Proc::spawn(label, cmd, &dir.join(&format!("{label}.log")));
        Publisher {
            proc,
            started: Instant::now(),
            media,
        }
    }

    /// Upper bound for a publish of the whole source in real time.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.media.seconds as u64 + 30)
    }

    /// Waits for the publisher to finish; Err unless it exited cleanly.
    pub fn finish(&mut self) -> Result<(), String> {
        let t = self.timeout();
        let Some(status) = self.proc.wait_timeout(t) else {
            return Err(format!(
                "publisher {} still running after {t:?}\n{}",
                self.proc.name(),
                self.proc.log_tail(20)
            ));
        };
        if !status.success() {
            return Err(format!(
                "publisher {} exited with {status}\n{}",
                self.proc.name(),
                self.proc.log_tail(20)
            ));
        }
        Ok(())
    }
}

/// ffmpeg as an HTTP-FLV player. It writes, from one read of the URL, the framemd5 of what it
/// demuxed (no remux in between: the exact check) and an FLV copy (for the decode check).
pub struct FfmpegPlayer {
    pub proc: Proc,
    pub md5_path: PathBuf,
    pub flv_path: PathBuf,
}

impl FfmpegPlayer {
    pub fn start(dir: &TestDir, label: &str, url: &str) -> FfmpegPlayer {
        let md5_path = dir.join(&format!("{label}.framemd5"));
        let flv_path = dir.join(&format!("{label}.flv"));
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-hide_banner", "-v", "error", "-copyts"])
            .args(["-rw_timeout", "20000000", "-i", url])
            .args(["-map", "0", "-c", "copy", "-f", "framemd5"])
            .arg(&md5_path)
            .args(["-map", "0", "-c", "copy", "-f", "flv"])
            .arg(&flv_path);
        let proc = Proc::spawn(label, cmd, &dir.join(&format!("{label}.log")));
        FfmpegPlayer {
            proc,
            md5_path,
            flv_path,
        }
    }

    /// Waits for the player to exit by itself (the edge ends the response when the publisher
    /// stops) and checks identity and a clean decode.
    pub fn expect_identity(&mut self, media: &Media, timeout: Duration) -> Result<(), String> {
        let status = match self.proc.wait_timeout(timeout) {
            Some(s) => s,
            None => {
                return Err(format!(
                    "ffmpeg player {} did not exit within {timeout:?} after the publisher \
                     finished: the edge did not end the HTTP response\n{}",
                    self.proc.name(),
                    self.proc.log_tail(10)
                ))
            }
        };
        if !status.success() {
            return Err(format!(
                "ffmpeg player {} exited with {status}\n{}",
                self.proc.name(),
                self.proc.log_tail(20)
            ));
        }
        let text = std::fs::read_to_string(&self.md5_path).map_err(|e| e.to_string())?;
        let got = FrameMd5::parse(&text)?;
        media
            .check_identity(&got)
            .map_err(|e| format!("ffmpeg player {}: {e}", self.proc.name()))?;
        check_decodes_clean(&self.flv_path)
    }
}
