// A live room's page in headless Chromium, served from an origin of its own, using the cloud's
// room API as a browser app would: fetch with the client token (CORS), an EventSource on the
// room's event stream and a WebSocket on its WebSocket variant, both with the event-stream
// token in their URL, a like and a chat message sent with fetch. Reports what the page saw as one JSON object on stdout. Used by the end-to-end
// tests (tests/tests/e2e/room_browser.rs).
//
//   node web/test/room.mjs --page-port PORT --api http://HOST:PORT --token JWT --room LIVE_ID
//        --chat TEXT [--seconds 20]
//
// The page is served at http://127.0.0.1:PAGE_PORT/ (so the API, on another port, is another
// origin) and takes the API base, the token, the room and the chat text from its URL. The run
// ends once the page has seen the like come back on both streams and the chat message on the
// event stream (or the chat send failed), or after --seconds.
import http from "node:http";
import { launchChromium } from "./chromium.mjs";

const options = { seconds: 20 };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 2) {
  options[args[i].replace(/^--/, "").replace(/-./g, (m) => m[1].toUpperCase())] = args[i + 1];
}
for (const required of ["pagePort", "api", "token", "room", "chat"]) {
  if (!options[required]) {
    process.stderr.write(`room.mjs: --${required} is required\n`);
    process.exit(2);
  }
}

// The page's own script: join, mint the stream token, listen, like, chat; all in window.room.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>room</title></head>
<body><pre id="log"></pre>
<script type="module">
const query = new URLSearchParams(location.search);
const api = query.get("api");
const token = query.get("token");
const room = query.get("room");
const chat = query.get("chat");
const report = (window.room = { steps: {}, events: [], socketFrames: [], errors: [], done: false });
const show = () => (document.getElementById("log").textContent = JSON.stringify(report, null, 1));
async function call(method, path, body) {
  const headers = { Authorization: "Bearer " + token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  try {
    const answer = await fetch(api + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await answer.json().catch(() => null);
    return { status: answer.status, code: json && json.code, data: json && json.data };
  } catch (error) {
    return { status: 0, error: String(error) };
  }
}
try {
  report.steps.join = await call("POST", "/client/live/room/user/" + room);
  const minted = await call("POST", "/client/live/room/" + room + "/events/token");
  report.steps.token = { status: minted.status, code: minted.code };
  const url = api + "/client/live/room/" + room + "/events?token=" + encodeURIComponent(minted.data.token);
  const source = new EventSource(url);
  for (const kind of ["like", "message", "counts", "live_status", "reset"]) {
    source.addEventListener(kind, (event) => {
      report.events.push({ kind, id: event.lastEventId, data: JSON.parse(event.data) });
      show();
    });
  }
  source.onerror = () => report.errors.push("EventSource error, readyState " + source.readyState);
  await new Promise((resolve, reject) => {
    source.onopen = resolve;
    setTimeout(() => reject(new Error("the event stream did not open")), 10000);
  });
  report.steps.open = true;
  const socket = new WebSocket(url.replace(/^http/, "ws").replace("/events?", "/events/ws?"));
  socket.onmessage = (message) => {
    report.socketFrames.push(JSON.parse(message.data));
    show();
  };
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error("the WebSocket did not open"));
  });
  report.steps.socket = true;
  report.steps.like = await call("PUT", "/client/live/room/" + room + "/like", { count: 3 });
  report.steps.chat = await call("POST", "/client/live/room/" + room + "/message", { kind: "chat", text: chat });
} catch (error) {
  report.errors.push(String(error));
}
report.done = true;
show();
</script></body></html>`;

const server = http.createServer((request, response) => {
  if (new URL(request.url, "http://page").pathname !== "/") {
    response.writeHead(404).end();
    return;
  }
  response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(PAGE);
});
await new Promise((resolve) => server.listen(Number(options.pagePort), "127.0.0.1", resolve));

const browser = await launchChromium();
const page = await browser.newPage();
const consoleErrors = [];
page.on("console", (message) => {
  if (message.type() === "error") consoleErrors.push(message.text());
});
page.on("pageerror", (error) => consoleErrors.push(String(error)));
const pageUrl = new URL(`http://127.0.0.1:${options.pagePort}/`);
for (const key of ["api", "token", "room", "chat"]) pageUrl.searchParams.set(key, options[key]);
await page.goto(pageUrl.toString());

// Seen: the like and the chat message on the stream, or a chat send that failed.
function finished() {
  const report = window.room;
  if (!report || !report.done) return false;
  const liked =
    report.events.some((e) => e.kind === "like") && report.socketFrames.some((f) => f.event === "like");
  const chatted = report.events.some((e) => e.kind === "message");
  const chatFailed = !report.steps.chat || report.steps.chat.status !== 200;
  return report.errors.length > 0 || (liked && (chatted || chatFailed));
}
const deadline = Date.now() + Number(options.seconds) * 1000;
while (Date.now() < deadline && !(await page.evaluate(finished))) {
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const room = await page.evaluate(() => window.room || null);
await browser.close();
server.close();
process.stdout.write(JSON.stringify({ origin: pageUrl.origin, room, consoleErrors }) + "\n");
