// Headless Chromium as the browser tests run it: Debian's package (CHROMIUM, else
// /usr/bin/chromium) driven by playwright-core, with the flags this machine needs (no sandbox
// as root, no GPU, nothing fetched in the background). Shared by play.mjs and room.mjs.
import { chromium } from "playwright-core";

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
}
