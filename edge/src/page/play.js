// The edge's player page: HTTP-FLV through mpegts.js where Media Source Extensions exist, HLS
// through hls.js (or the browser's own HLS, as on iOS) elsewhere, and a toggle between them.
// Query parameters: mode=flv|hls picks the start mode; src=ORIGIN plays from another edge
// origin; debug=1 turns on hls.js's log; every other parameter (a signed URL's expire and token) is passed on to the stream.
(function () {
  "use strict";
  const parts = location.pathname.split("/").filter(Boolean);
  const app = decodeURIComponent(parts[1] || "");
  const name = decodeURIComponent(parts[2] || "");
  const params = new URLSearchParams(location.search);
  const origin = params.get("src") || location.origin;
  const requested = params.get("mode");
  const debug = params.get("debug") === "1";
  params.delete("src");
  params.delete("mode");
  params.delete("debug");
  const query = params.toString() ? "?" + params.toString() : "";
  const path = encodeURIComponent(app) + "/" + encodeURIComponent(name);
  const urls = {
    flv: origin + "/" + path + ".flv" + query,
    hls: origin + "/" + path + ".m3u8" + query,
  };
  const video = document.getElementById("video");
  const hasMse = Boolean(window.MediaSource || window.ManagedMediaSource);
  const flvSupported = hasMse && window.mpegts && window.mpegts.isSupported();
  const hlsJsSupported = Boolean(window.Hls && window.Hls.isSupported());
  const nativeHls = video.canPlayType("application/vnd.apple.mpegurl") !== "";

  // What a test (or a curious user in the console) can read.
  const state = { app, name, mode: null, errors: [], codecs: [], latency: null, urls };
  window.liverelay = state;
  document.getElementById("title").textContent = app + "/" + name;

  let flvPlayer = null;
  let hls = null;

  function report(message) {
    state.errors.push(String(message));
    document.getElementById("errors").textContent = state.errors.join("\n");
  }

  function showCodecs(codecs) {
    state.codecs = codecs.filter(Boolean);
    document.getElementById("codecs").textContent = state.codecs.join(", ") || "unknown";
  }

  function stop() {
    if (flvPlayer) {
      flvPlayer.destroy();
      flvPlayer = null;
    }
    if (hls) {
      hls.destroy();
      hls = null;
    }
    video.removeAttribute("src");
    video.load();
  }

  function startFlv() {
    if (!flvSupported) {
      report("HTTP-FLV needs Media Source Extensions, which this browser lacks: use HLS");
      return;
    }
    flvPlayer = window.mpegts.createPlayer(
      { type: "flv", isLive: true, url: urls.flv },
      {
        enableStashBuffer: false,
        lazyLoad: false,
        // Catch up when the buffer grows past 1.2 s (after a stall, or the start on the
        // cached GOP), down to 0.3 s ahead of the playhead.
        liveBufferLatencyChasing: true,
        liveBufferLatencyMaxLatency: 1.2,
        liveBufferLatencyMinRemain: 0.3,
      }
    );
    flvPlayer.on(window.mpegts.Events.ERROR, (type, detail) => report("FLV: " + type + " " + detail));
    flvPlayer.on(window.mpegts.Events.MEDIA_INFO, (info) =>
      showCodecs([info.videoCodec, info.audioCodec])
    );
    flvPlayer.attachMediaElement(video);
    flvPlayer.load();
  }

  function startHls() {
    if (hlsJsSupported) {
      hls = new window.Hls({ lowLatencyMode: true, debug });
      hls.on(window.Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) {
          report("HLS: " + data.type + " " + data.details);
        }
      });
      // The media playlist names no codecs: take them from the init segment hls.js parsed.
      hls.on(window.Hls.Events.BUFFER_CODECS, (_event, data) => {
        // One combined track ("audiovideo") when audio and video share the fMP4 segments.
        const tracks = [data.audiovideo, data.video, data.audio].filter(Boolean);
        showCodecs(tracks.flatMap((track) => String(track.codec || "").split(",")));
      });
      hls.loadSource(urls.hls);
      hls.attachMedia(video);
    } else if (nativeHls) {
      video.src = urls.hls;
      showCodecs(["(the browser's own HLS)"]);
    } else {
      report("this browser plays neither HTTP-FLV nor HLS");
    }
  }

  function play(mode) {
    stop();
    state.mode = mode;
    state.errors = [];
    document.getElementById("errors").textContent = "";
    document.getElementById("url").textContent = urls[mode];
    for (const m of ["flv", "hls"]) {
      document.getElementById("mode-" + m).setAttribute("aria-pressed", String(m === mode));
    }
    if (mode === "flv") {
      startFlv();
    } else {
      startHls();
    }
    video.play().catch(() => {});
  }

  // How far the playhead is behind the newest media the player has: with HLS, hls.js's
  // estimate of the distance to the live edge; with FLV, what is buffered ahead.
  function behind() {
    if (hls && typeof hls.latency === "number" && hls.latency > 0) {
      return hls.latency;
    }
    const ranges = video.buffered;
    return ranges.length ? ranges.end(ranges.length - 1) - video.currentTime : null;
  }

  setInterval(() => {
    state.latency = behind();
    document.getElementById("latency").textContent =
      state.latency === null ? "…" : state.latency.toFixed(2) + " s";
  }, 500);

  document.getElementById("mode-flv").addEventListener("click", () => play("flv"));
  document.getElementById("mode-hls").addEventListener("click", () => play("hls"));
  const start = requested === "hls" || requested === "flv" ? requested : flvSupported ? "flv" : "hls";
  play(start);
})();
