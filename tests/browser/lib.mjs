// What the browser test files share: the binaries and browser they use, bounded waits, free
// loopback ports, a small HTTP GET, and headless Chromium started the same way for all of them.
//
// Environment: UWRELAY_BIN, UWSIM_BIN (default build/uwrelay, build/tests/uwsim/uwsim),
// UWRELAY_ARTIFACTS (screenshots, default build/browser-artifacts), CHROMIUM (/usr/bin/chromium).

import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const HOST = "127.0.0.1";
export const RELAY_BIN = path.resolve(REPO, process.env.UWRELAY_BIN || "build/uwrelay");
export const SIM_BIN = path.resolve(REPO, process.env.UWSIM_BIN || "build/tests/uwsim/uwsim");
export const ARTIFACTS = path.resolve(REPO, process.env.UWRELAY_ARTIFACTS || "build/browser-artifacts");
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns something truthy (returned), or throws after timeout ms. */
export async function waitFor(fn, { timeout = 10_000, interval = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(interval);
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** GET http://127.0.0.1:port/p: {status, headers, body (text)}. */
export function httpGet(port, p, { headers = {}, timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path: p, headers, timeout }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** Headless Chromium (Debian's, driven by playwright-core) in a fresh profile folder:
 *  {ctx, profile}. options: viewport, and profile (a folder to use instead of a new one). */
export async function launchChromium({ viewport, profile } = {}) {
  let chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch (e) {
    throw new Error("playwright-core is not installed: run `npm ci` in tests/browser/ (" + e.message + ")");
  }
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium`);
  profile = profile || fs.mkdtempSync(path.join(os.tmpdir(), "uwrelay-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, timeout: 60_000, ...(viewport ? { viewport } : {}),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return { ctx, profile };
}
