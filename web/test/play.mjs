// Plays edge player pages in headless Chromium and reports what the browser saw, as one JSON
// object on stdout. Used by the end-to-end tests (tests/tests/e2e/browser.rs).
//
//   node web/test/play.mjs --seconds 14 [--clock UNIX_MS] URL [URL ...]
//
// Every URL is opened in a page of its own, all at once. Each second the script records per page
// the decoded frame count, the playhead, the page's own figures (mode, codecs, latency behind
// the live edge, errors) and, with --clock, the glass-to-glass latency read from the picture:
// the test source carries its presentation time in milliseconds as 20 black-or-white 16x16
// blocks along the top (bit k in block k), so latency = now - (clock + that time), where clock
// is the wall time of the stream's time 0 (the edge's /stats/time).
import { launchChromium } from "./chromium.mjs";

const args = process.argv.slice(2);
let seconds = 10;
let clock = null;
const urls = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--seconds") seconds = Number(args[++i]);
  else if (args[i] === "--clock") clock = Number(args[++i]);
  else urls.push(args[i]);
}

const browser = await launchChromium();

// In the page: the frame count, playhead and the time code of the picture shown now.
function sample() {
  const video = document.querySelector("video");
  const quality = video.getVideoPlaybackQuality();
  let code = null;
  if (video.videoWidth >= 320 && video.readyState >= 2) {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(video, 0, 0);
    const row = context.getImageData(0, 8, 320, 1).data;
    code = 0;
    for (let bit = 0; bit < 20; bit++) {
      if (row[(bit * 16 + 8) * 4] > 128) code += 2 ** bit;
    }
  }
  const state = window.liverelay || {};
  return {
    now: Date.now(),
    frames: quality.totalVideoFrames,
    dropped: quality.droppedVideoFrames,
    currentTime: video.currentTime,
    code,
    mode: state.mode,
    codecs: state.codecs,
    latency: state.latency,
    errors: state.errors,
  };
}

const pages = await Promise.all(
  urls.map(async (url) => {
    const page = await browser.newPage();
    const consoleErrors = [];
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    page.on("pageerror", (error) => consoleErrors.push(String(error)));
    if (process.env.PLAY_TRACE) {
      const t0 = Date.now();
      page.on("request", (r) => process.stderr.write(`${Date.now() - t0} > ${r.url()}\n`));
      page.on("response", (r) => process.stderr.write(`${Date.now() - t0} < ${r.status()} ${r.url()}\n`));
      page.on("console", (m) => process.stderr.write(`${Date.now() - t0} console.${m.type()} ${m.text()}\n`));
    }
    await page.goto(url);
    return { url, page, consoleErrors, samples: [] };
  })
);
for (let s = 0; s < seconds; s++) {
  await new Promise((resolve) => setTimeout(resolve, 1000));
  for (const p of pages) {
    const taken = await p.page.evaluate(sample);
    if (clock !== null && taken.code !== null) taken.glass = (taken.now - (clock + taken.code)) / 1000;
    p.samples.push(taken);
  }
}
const report = pages.map(({ url, consoleErrors, samples }) => ({ url, consoleErrors, samples }));
await browser.close();
process.stdout.write(JSON.stringify(report) + "\n");
