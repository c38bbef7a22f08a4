// Players for bench/players-memory.sh: N HTTP-FLV and M LL-HLS players of one stream in one
// Node.js process (no dependencies). FLV players read the body as it comes; HLS players poll the
// media playlist with blocking reloads (_HLS_msn/_HLS_part from the preload hint) and fetch every
// part once. Prints one JSON line: bytes per player of each kind.
//
//   node bench/players.mjs --base http://127.0.0.1:7001 --stream live/NAME --flv 200 --hls 200 --seconds 60
const opts = { base: "http://127.0.0.1:7001", stream: "live/bench", flv: 200, hls: 200, seconds: 60 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) opts[argv[i].replace(/^--/, "")] = argv[i + 1];
const seconds = Number(opts.seconds);
const until = Date.now() + seconds * 1000;
import { setMaxListeners } from "node:events";

const stop = new AbortController();
// Every request of every player listens for the one end-of-run signal.
setMaxListeners(0, stop.signal);
setTimeout(() => stop.abort(), seconds * 1000);

async function flvPlayer() {
  let bytes = 0;
  try {
    const response = await fetch(`${opts.base}/${opts.stream}.flv`, { signal: stop.signal });
    for await (const chunk of response.body) bytes += chunk.length;
  } catch (_) {}
  return bytes;
}

async function hlsPlayer() {
  let bytes = 0;
  const fetched = new Set();
  let next = "";
  const playlistUrl = `${opts.base}/${opts.stream}.m3u8`;
  const dir = playlistUrl.slice(0, playlistUrl.lastIndexOf("/") + 1);
  while (Date.now() < until) {
    try {
      const text = await (await fetch(playlistUrl + next, { signal: stop.signal })).text();
      const parts = [...text.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].map((m) => m[1]);
      // A new player starts three parts from the end, as LL-HLS players do.
      const wanted = fetched.size ? parts : parts.slice(-3);
      for (const uri of wanted) {
        if (fetched.has(uri)) continue;
        fetched.add(uri);
        const body = await (await fetch(dir + uri, { signal: stop.signal })).arrayBuffer();
        bytes += body.byteLength;
      }
      const hint = text.match(/#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[^"]*part-(\d+)-(\d+)\.m4s"/);
      next = hint ? `?_HLS_msn=${hint[1]}&_HLS_part=${hint[2]}` : "";
      if (text.includes("#EXT-X-ENDLIST")) break;
    } catch (_) {
      if (Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    }
  }
  return bytes;
}

const flv = Array.from({ length: Number(opts.flv) }, flvPlayer);
const hls = Array.from({ length: Number(opts.hls) }, hlsPlayer);
const summary = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    players: sorted.length,
    min_bytes: sorted[0] ?? 0,
    median_bytes: sorted[Math.floor(sorted.length / 2)] ?? 0,
    max_bytes: sorted[sorted.length - 1] ?? 0,
  };
};
const [flvBytes, hlsBytes] = await Promise.all([Promise.all(flv), Promise.all(hls)]);
process.stdout.write(JSON.stringify({ seconds, flv: summary(flvBytes), hls: summary(hlsBytes) }) + "\n");
