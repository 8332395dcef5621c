// End-to-end tests of the live page (web/) in headless Chromium, against the real relay and the
// UW simulator, all on 127.0.0.1.
//
//   cd tests/browser && npm ci        # playwright-core only; never downloads a browser
//   node --test tests/browser/        # from the repository root
//
// Environment:
//   UWRELAY_BIN, UWSIM_BIN   binaries (default build/uwrelay, build/tests/uwsim/uwsim)
//   UWRELAY_SERVES_PAGE=1    open the page the relay serves (http://127.0.0.1:RELAYPORT/);
//                            otherwise web/ is served by a small server here and the page is
//                            opened with ?relay=ws://127.0.0.1:RELAYPORT
//   UWRELAY_ARTIFACTS        screenshot folder (default build/browser-artifacts)
//   CHROMIUM                 browser (default /usr/bin/chromium)
//
// Each test starts its own simulator and relay and stops them at the end, even on failure;
// every wait is bounded.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { HOST, REPO, RELAY_BIN, SIM_BIN, ARTIFACTS, CHROMIUM, freePort, httpGet, launchChromium, sleep, waitFor } from "./lib.mjs";

const WEB = path.join(REPO, "web");
const TOKEN = "browser-test-token";
const SERVES_PAGE = process.env.UWRELAY_SERVES_PAGE === "1";
const TEST_TIMEOUT = 90_000;
const FLOW = "flow-alerts";

// Chromium itself logs a failed WebSocket handshake as a console error; expected while the relay
// is down on purpose, and nothing the page can prevent.
const WS_FAILED = /WebSocket connection to '.*' failed/;

// ---------------------------------------------------------------- helpers

const all = new Set();            // every child process started, for the last-resort cleanup
process.on("exit", () => { for (const p of all) try { p.child.kill("SIGKILL"); } catch { /* gone */ } });

/** A child process with stdout/stderr kept in files. */
class Proc {
  constructor(name, argv, env, dir) {
    this.name = name;
    this.argv = argv;
    this.logPath = path.join(dir, name + ".log");
    this.log = fs.createWriteStream(this.logPath);
    this.lines = [];
    this.child = spawn(argv[0], argv.slice(1), { env, cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    this.exited = new Promise((r) => this.child.on("exit", (code, sig) => { all.delete(this); r({ code, sig }); }));
    this.child.on("error", (e) => this.log.write(`spawn error: ${e.message}\n`));
    let buf = "";
    this.child.stdout.on("data", (d) => {
      this.log.write(d);
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    this.child.stderr.on("data", (d) => this.log.write(d));
    all.add(this);
  }
  alive() { return this.child.exitCode === null && this.child.signalCode === null; }
  async stop(grace = 5000) {
    if (this.alive()) {
      this.child.kill("SIGTERM");
      const t = setTimeout(() => this.child.kill("SIGKILL"), grace);
      await this.exited;
      clearTimeout(t);
    }
    await new Promise((r) => this.log.end(r));
  }
  tail(n = 4000) {
    try { return fs.readFileSync(this.logPath, "utf8").slice(-n); } catch { return ""; }
  }
}

// ---------------------------------------------------------------- the page server

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8" };
const SERVED = { "/": "index.html", "/app.js": "app.js", "/style.css": "style.css", "/uwrelay.js": "uwrelay.js",
  "/charts.js": "charts.js", "/backfill.js": "backfill.js", "/status.html": "status.html", "/status.js": "status.js",
  "/uPlot.iife.min.js": "../third_party/uplot/node_modules/uplot/dist/uPlot.iife.min.js",
  "/uPlot.min.css": "../third_party/uplot/node_modules/uplot/dist/uPlot.min.css" };

let staticServer = null;
/** Serves web/ (and the charting library) the way the relay does, nothing else. */
async function startStatic() {
  if (staticServer) return staticServer.address().port;
  staticServer = http.createServer((req, res) => {
    const file = SERVED[new URL(req.url, "http://x").pathname];
    if (req.method !== "GET" || !file) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("Not Found\n");
      return;
    }
    const body = fs.readFileSync(path.join(WEB, file));
    res.writeHead(200, { "content-type": TYPES[path.extname(file)], "cache-control": "no-cache" });
    res.end(body);
  });
  await new Promise((r) => staticServer.listen(0, HOST, r));
  return staticServer.address().port;
}

// ---------------------------------------------------------------- the browser

let browserCtx = null;
let profileDir = null;
async function browser() {
  if (!browserCtx) ({ ctx: browserCtx, profile: profileDir } = await launchChromium({ viewport: { width: 1280, height: 800 } }));
  return browserCtx;
}

after(async () => {
  for (const p of [...all]) await p.stop(2000).catch(() => {});
  if (browserCtx) await browserCtx.close().catch(() => {});
  if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
  if (staticServer) await new Promise((r) => staticServer.close(r));
});

// ---------------------------------------------------------------- one test's world

class World {
  constructor(name) {
    this.name = name;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "uwrelay-browser-"));
    this.procs = [];
    this.console = [];        // console errors and page errors
  }

  async startSim(extra = []) {
    const p = new Proc("uwsim", [SIM_BIN, "--port", "0", "--token", TOKEN, ...extra], process.env, this.dir);
    this.procs.push(p);
    const m = await waitFor(() => p.lines.map((l) => /uwsim: ready ws=(\d+)/.exec(l)).find(Boolean) ||
      (!p.alive() && Promise.reject(new Error("uwsim exited: " + p.tail()))), { timeout: 15_000, what: "uwsim ready" });
    this.simPort = Number(m[1]);
    this.sim = p;
  }

  async startRelay() {
    if (!this.relayPort) this.relayPort = await freePort();
    const cfg = [
      `listen: {address: ${HOST}, port: ${this.relayPort}}`,
      `upstream: {url: "ws://${HOST}:${this.simPort}/socket", reconnect: {initial_delay: 0.2, max_delay: 1, jitter: 0.1}}`,
      "log: {level: info}",
      // the page from the small server here is another origin than the relay's: list it
      ...(this.staticPort ? [`clients: {allowed_origins: ["http://${HOST}:${this.staticPort}"]}`] : []),
      "",
    ].join("\n");
    const cfgPath = path.join(this.dir, "uwrelay.yaml");
    fs.writeFileSync(cfgPath, cfg);
    const env = Object.assign({}, process.env, { UW_API_TOKEN: TOKEN });
    delete env.UW_KEY;
    const n = this.procs.filter((p) => p.name.startsWith("uwrelay")).length;
    const p = new Proc(n ? `uwrelay-${n + 1}` : "uwrelay", [RELAY_BIN, "-c", cfgPath], env, this.dir);
    this.procs.push(p);
    this.relay = p;
    await waitFor(async () => {
      if (!p.alive()) throw new Error("uwrelay exited: " + p.tail());
      return (await httpGet(this.relayPort, "/healthz", { timeout: 1000 })).status === 200;
    }, { timeout: 15_000, what: "relay /healthz" });
    await waitFor(async () => JSON.parse((await httpGet(this.relayPort, "/api/stream/status")).body).status === "connected",
      { timeout: 10_000, what: "relay connected upstream" });
  }

  async stopRelay() {
    await this.relay.stop();
  }

  async ctl(name, params = {}) {
    const q = new URLSearchParams(params).toString();
    const r = await httpGet(this.simPort, `/ctl/${name}${q ? "?" + q : ""}`);
    assert.equal(r.status, 200, `sim /ctl/${name}: ${r.status} ${r.body}`);
    return JSON.parse(r.body);
  }

  /** Waits until the relay has `channel` joined upstream (so a publish reaches it). */
  async joined(channel, n = 1) {
    await waitFor(async () => ((await this.ctl("stats")).joined || {})[channel] === n,
      { timeout: 10_000, what: `sim: ${channel} joined ${n}` });
  }

  async publish(channel, count) {
    const r = await this.ctl("publish", { channel, count });
    assert.equal(r.connections, 1, "published to the relay's upstream connection");
  }

  pageUrl(query = "") {
    if (SERVES_PAGE) return `http://${HOST}:${this.relayPort}/${query ? "?" + query : ""}`;
    return `http://${HOST}:${this.staticPort}/?relay=ws://${HOST}:${this.relayPort}${query ? "&" + query : ""}`;
  }

  async start({ simArgs = [] } = {}) {
    for (const [bin, v] of [[SIM_BIN, "UWSIM_BIN"], [RELAY_BIN, "UWRELAY_BIN"]]) {
      try { fs.accessSync(bin, fs.constants.X_OK); } catch { assert.fail(`${bin} is not executable (build it, or set ${v})`); }
    }
    await this.startSim(simArgs);
    if (!SERVES_PAGE) this.staticPort = await startStatic();
    await this.startRelay();
  }

  async open(query = "") {
    const ctx = await browser();
    this.page = await ctx.newPage();
    this.page.setDefaultTimeout(15_000);
    this.page.on("console", (m) => { if (m.type() === "error") this.console.push(m.text()); });
    this.page.on("pageerror", (e) => this.console.push("pageerror: " + e.message));
    const resp = await this.page.goto(this.pageUrl(query), { waitUntil: "load" });
    assert.equal(resp.status(), 200);
    return this.page;
  }

  /** Console errors other than Chromium's own "WebSocket connection failed" (when allowed). */
  errors({ allowWsFailures = false } = {}) {
    return this.console.filter((t) => !(allowWsFailures && WS_FAILED.test(t)));
  }

  async attr(sel, name) { return this.page.getAttribute(sel, name); }

  async waitState(sel, state, timeout = 15_000) {
    await this.page.waitForSelector(`${sel}[data-state="${state}"]`, { timeout });
  }

  /** Rows of the table: [{channel, seq, epoch, simSeq, cells[]}], top first. */
  rows() {
    return this.page.$$eval("#rows tr", (trs) => trs.map((tr) => ({
      channel: tr.dataset.channel, seq: Number(tr.dataset.seq), epoch: tr.dataset.epoch,
      simSeq: tr.dataset.simSeq === undefined ? null : Number(tr.dataset.simSeq),
      raw: tr.classList.contains("raw"), cells: [...tr.cells].map((td) => td.textContent),
    })));
  }

  async waitRows(n, channel, timeout = 15_000) {
    await this.page.waitForFunction(([n, ch]) =>
      [...document.querySelectorAll("#rows tr")].filter((tr) => !ch || tr.dataset.channel === ch).length >= n,
    [n, channel], { timeout });
    return this.rows();
  }

  /** A screenshot in ARTIFACTS named after the test (and `label`). */
  async snap(label = "") {
    if (!this.page) return;
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const slug = (this.name + (label ? " " + label : "")).replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "").toLowerCase();
    await this.page.screenshot({ path: path.join(ARTIFACTS, slug + ".png"), timeout: 10_000 })
      .catch((e) => process.stderr.write(`screenshot failed: ${e.message}\n`));
  }

  async shutdown() {
    try {
      if (this.page) {
        await this.snap();
        await this.page.close().catch(() => {});
      }
    } finally {
      for (const p of this.procs.slice().reverse()) await p.stop().catch(() => {});
    }
  }

  dump() {
    for (const p of this.procs) process.stderr.write(`\n----- ${p.name} (${p.argv.join(" ")}) -----\n${p.tail()}\n`);
    process.stderr.write(`----- console errors -----\n${this.console.join("\n")}\n----- logs in ${this.dir} -----\n`);
  }
}

/** A test with its own sim, relay and page, torn down whatever happens. */
function e2e(name, fn) {
  test(name, { timeout: TEST_TIMEOUT }, async () => {
    const w = new World(name);
    let ok = false;
    try {
      await fn(w);
      ok = true;
    } catch (e) {
      w.dump();
      throw e;
    } finally {
      await w.shutdown();
      if (ok) fs.rmSync(w.dir, { recursive: true, force: true });
    }
  });
}

const distinctSorted = (xs) => [...new Set(xs)].sort((a, b) => a - b);
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

// ---------------------------------------------------------------- tests

e2e("serves the page's files with the right content types", async (w) => {
  await w.start();
  const port = SERVES_PAGE ? w.relayPort : w.staticPort;
  const want = { "/": "text/html", "/app.js": "text/javascript", "/style.css": "text/css", "/uwrelay.js": "text/javascript",
    "/charts.js": "text/javascript", "/backfill.js": "text/javascript", "/uPlot.iife.min.js": "text/javascript", "/uPlot.min.css": "text/css" };
  let total = 0;
  for (const [p, type] of Object.entries(want)) {
    const r = await httpGet(port, p);
    assert.equal(r.status, 200, p);
    assert.match(r.headers["content-type"], new RegExp("^" + type.replace("/", "\\/") + "\\b"), p);
    total += Buffer.byteLength(r.body);
    // nothing from elsewhere: works offline
    assert.doesNotMatch(r.body, /(src|href)\s*=\s*["']?(https?:)?\/\//i, p + " loads nothing external");
    assert.doesNotMatch(r.body, /@import|url\(\s*["']?(https?:)?\/\//i, p + " loads nothing external");
  }
  // the page's own files and the charting library (uPlot, 51 KB minified)
  assert.ok(total < 150 * 1024, `page is ${total} bytes`);
  // what CMakeLists.txt embeds (web/*.html, *.js, *.css); the package's other files are not served
  const files = fs.readdirSync(WEB).filter((f) => /\.(html|js|css)$/.test(f)).sort();
  assert.deepEqual(files, ["app.js", "backfill.js", "charts.js", "index.html", "status.html", "status.js", "style.css", "uwrelay.js"]);
});

e2e("loads without console errors and shows the flow alerts the sim publishes", async (w) => {
  await w.start();
  const page = await w.open();
  await w.waitState("#state", "open");
  await w.waitState("#upstream", "up");
  assert.match(await page.textContent("#state"), /connected/);
  assert.match(await page.textContent("#endpoint"), /\/api\/stream\/ws\/flow$/);
  assert.equal(await page.inputValue("#channel-select"), "flow");
  await w.joined(FLOW);
  await w.publish(FLOW, 5);
  const rows = await w.waitRows(5);
  assert.equal(rows.length, 5);
  assert.deepEqual(rows.map((r) => r.simSeq), [5, 4, 3, 2, 1], "newest on top");
  assert.deepEqual(rows.map((r) => r.seq), [5, 4, 3, 2, 1]);
  const head = await page.$$eval("#head th", (ths) => ths.map((t) => t.textContent));
  assert.deepEqual(head, ["Time", "Ticker", "C/P", "Strike", "Expiry", "Premium", "Size", "Price", "Spot", "Rule", "Flags"]);
  for (const r of rows) {
    assert.equal(r.channel, FLOW);
    assert.equal(r.raw, false, "rendered as a flow alert, not raw JSON");
    const [time, ticker, cp, strike, expiry, premium, size] = r.cells;
    assert.match(time, /^\d\d:\d\d:\d\d$/);
    assert.match(ticker, /^[A-Z]{1,6}$/);
    assert.match(cp, /^(Call|Put)$/);
    assert.match(strike, /^\$\d+(\.\d+)?$/);
    assert.match(expiry, /^20\d\d-\d\d-\d\d · -?\d+d$/);
    assert.match(premium, /^\$\d+(\.\d+)?[KMB]?$/);
    assert.match(size, /^[\d,]+$/);
  }
  assert.equal(await page.isVisible("#gap-notice"), false);

  // frames per second
  await w.ctl("rate", { channel: FLOW, rate: 10 });
  await page.waitForFunction(() => Number(document.getElementById("rate").dataset.rate) >= 4, null, { timeout: 10_000 });
  assert.match(await page.textContent("#rate"), /^\d+\.\d\/s$/);
  await w.ctl("rate", { channel: FLOW, rate: 0 });
  const n = (await w.rows()).length;
  assert.ok(n > 5 && n <= 200, "rows are bounded: " + n);
  assert.deepEqual(w.errors(), [], "no console errors");
});

e2e("shows 'upstream down' during an upstream outage, then recovers", async (w) => {
  await w.start();
  const page = await w.open();
  await w.waitState("#upstream", "up");
  await w.joined(FLOW);
  await w.publish(FLOW, 2);
  await w.waitRows(2);
  // keep UW "down" long enough to see it: refuse new handshakes, then cut the live one
  await w.ctl("refuse", { count: -1, status: 503 });
  await w.ctl("cut");
  await w.waitState("#upstream", "down");
  assert.match(await page.textContent("#upstream"), /upstream is down/i);
  await w.snap("during");
  assert.equal(await w.attr("#state", "data-state"), "open", "the relay itself is still there");
  await sleep(1500);
  assert.equal(await w.attr("#upstream", "data-state"), "down", "stays down while UW refuses");
  await w.ctl("refuse", { count: 0 });
  await w.waitState("#upstream", "up");
  assert.match(await page.textContent("#upstream"), /upstream connected/);
  await w.joined(FLOW);
  await w.publish(FLOW, 3);
  const rows = await w.waitRows(5);
  assert.equal(rows.length, 5);
  assert.deepEqual(rows.slice(0, 3).map((r) => r.seq), [5, 4, 3], "new alerts after the outage, in order");
  assert.deepEqual(w.errors(), []);
});

e2e("shows 'reconnecting' while the relay restarts, then recovers", async (w) => {
  await w.start();
  const page = await w.open();
  await w.waitState("#state", "open");
  await w.joined(FLOW);
  await w.publish(FLOW, 2);
  await w.waitRows(2);
  const epoch1 = (await w.rows())[0].epoch;

  await w.stopRelay();
  await w.waitState("#state", "reconnecting");
  assert.match(await page.textContent("#state"), /reconnecting to relay/);
  await w.snap("during");
  assert.equal(await w.attr("#upstream", "data-state"), "unknown");
  await sleep(1500);
  assert.equal(await w.attr("#state", "data-state"), "reconnecting", "still reconnecting while it is down");

  await w.startRelay();               // same port, new epoch
  await w.waitState("#state", "open", 30_000);
  await w.waitState("#upstream", "up");
  // it asked to resume from the old epoch: the relay says those frames are gone
  await page.waitForSelector("#gap-notice:not([hidden])");
  assert.match(await page.textContent("#gap-notice"), /relay restarted/);
  await w.joined(FLOW);
  await w.publish(FLOW, 3);
  const rows = await w.waitRows(5);
  assert.notEqual(rows[0].epoch, epoch1);
  assert.deepEqual(rows.slice(0, 3).map((r) => r.seq), [3, 2, 1]);
  assert.deepEqual(w.errors({ allowWsFailures: true }), []);
});

e2e("the ticker box subscribes through the generic endpoint", async (w) => {
  await w.start();
  const page = await w.open();
  await w.waitState("#state", "open");
  await page.fill("#ticker-input", "spy");
  await page.selectOption("#ticker-kind", "price");
  await page.press("#ticker-input", "Enter");
  await w.waitState("#state", "open");
  assert.equal(await page.inputValue("#channel-select"), "ticker");
  assert.match(await page.textContent("#endpoint"), /\/api\/stream\/ws$/);
  await w.joined("price:SPY");
  await w.publish("price:SPY", 3);
  let rows = await w.waitRows(3, "price:SPY");
  assert.deepEqual(await page.$$eval("#head th", (ths) => ths.map((t) => t.textContent)), ["Time", "Ticker", "Last", "Volume"]);
  for (const r of rows) {
    assert.equal(r.cells[1], "SPY");
    assert.match(r.cells[2], /^\d+\.\d\d$/);
  }
  assert.match(page.url(), /channels=price:SPY/);

  // another kind on the same socket: unsubscribe price:SPY, subscribe gex:SPY
  await page.selectOption("#ticker-kind", "gex");
  await w.joined("gex:SPY");
  await waitFor(async () => !((await w.ctl("stats")).joined || {})["price:SPY"], { what: "price:SPY left" });
  await w.publish("gex:SPY", 2);
  rows = await w.waitRows(2, "gex:SPY");
  assert.equal(rows.length, 2, "the table was cleared for the new channel");
  assert.equal(rows[0].cells[1], "SPY");
  assert.equal(await page.evaluate(() => window.__uwrelayClient.stats.opens), 1, "same socket");

  // resume on the generic endpoint (subscribe with since/epoch) after a forced close
  await page.evaluate((url) => {
    window.__keeper = { n: 0 };
    const ws = new WebSocket(url);
    ws.onmessage = (e) => { if (JSON.parse(e.data).channel === "gex:SPY") window.__keeper.n++; };
    window.__keeper.ws = ws;
  }, `ws://${HOST}:${w.relayPort}/api/stream/ws?channels=gex:SPY`);
  await w.joined("gex:SPY");
  await page.waitForFunction(() => window.__keeper.ws.readyState === 1);
  await page.evaluate(() => {
    const c = window.__uwrelayClient;
    Object.assign(c.backoff, { initialDelay: 60000, maxDelay: 60000, jitter: 0 });
    c.socket.close();
  });
  await w.waitState("#state", "reconnecting");
  await w.publish("gex:SPY", 4);
  await page.waitForFunction(() => window.__keeper.n >= 4);
  assert.equal((await w.rows()).length, 2, "nothing arrives while disconnected");
  await page.evaluate(() => window.__uwrelayClient.reconnectNow());
  await w.waitState("#state", "open");
  rows = await w.waitRows(6, "gex:SPY");
  await sleep(500);
  rows = await w.rows();
  assert.deepEqual(rows.map((r) => r.simSeq), [6, 5, 4, 3, 2, 1], "missed frames replayed exactly once");
  assert.deepEqual(w.errors(), []);
});

e2e("resume after a forced socket close delivers the missed alerts exactly once", async (w) => {
  await w.start();
  const page = await w.open();
  await w.waitState("#state", "open");
  // a second subscriber keeps flow-alerts joined upstream while the page is away
  await page.evaluate((url) => {
    window.__keeper = { n: 0 };
    const ws = new WebSocket(url);
    ws.onmessage = (e) => { if (JSON.parse(e.data).channel === "flow-alerts") window.__keeper.n++; };
    window.__keeper.ws = ws;
  }, `ws://${HOST}:${w.relayPort}/api/stream/ws/flow`);
  await page.waitForFunction(() => window.__keeper.ws.readyState === 1);
  await w.joined(FLOW);
  await w.publish(FLOW, 3);
  await w.waitRows(3);

  const N = 25;
  await page.evaluate(() => {
    const c = window.__uwrelayClient;
    Object.assign(c.backoff, { initialDelay: 60000, maxDelay: 60000, jitter: 0 });
    c.socket.close();
  });
  await w.waitState("#state", "reconnecting");
  await w.publish(FLOW, N);
  await page.waitForFunction((n) => window.__keeper.n >= n, 3 + N);   // the relay has them all
  assert.equal((await w.rows()).length, 3);
  await page.evaluate(() => window.__uwrelayClient.reconnectNow());
  await w.waitState("#state", "open");
  await w.waitRows(3 + N);
  await w.publish(FLOW, 2);           // and live again afterwards
  await w.waitRows(5 + N);
  await sleep(500);
  const rows = await w.rows();
  const sims = rows.map((r) => r.simSeq);
  assert.equal(rows.length, 5 + N, "no row twice, none missing");
  assert.deepEqual(distinctSorted(sims), range(1, 5 + N));
  assert.deepEqual(sims, range(1, 5 + N).reverse(), "in order, newest on top");
  assert.deepEqual(distinctSorted(rows.map((r) => r.seq)), range(1, 5 + N));
  assert.equal(await page.isVisible("#gap-notice"), false, "nothing was lost");
  assert.equal(await page.evaluate(() => window.__uwrelayClient.stats.opens), 2);
  assert.deepEqual(w.errors(), []);
});

e2e("dark pool and market tide views; unknown payloads shown as JSON", async (w) => {
  await w.start();
  const page = await w.open("view=dark-pool");
  await w.waitState("#state", "open");
  assert.equal(await page.inputValue("#channel-select"), "dark-pool");
  await w.joined("off_lit_trades");
  await w.publish("off_lit_trades", 2);
  let rows = await w.waitRows(2, "off_lit_trades");
  assert.equal(rows[0].raw, false);
  assert.match(rows[0].cells[2], /^\d+\.\d\d$/, "price");

  await page.selectOption("#channel-select", "market-tide");
  await w.waitState("#state", "open");
  await w.joined("market_tide");
  await w.publish("market_tide", 2);
  rows = await w.waitRows(2, "market_tide");
  assert.equal(rows.length, 2);
  assert.match(rows[0].cells[1], /^-?\$\d+(\.\d+)?[KMB]?$/, "net call premium");

  // switching quickly closes sockets that are still connecting: no errors, one socket left
  for (const v of ["flow", "dark-pool", "market-tide", "flow", "market-tide"])
    await page.selectOption("#channel-select", v);
  await w.waitState("#state", "open");
  await waitFor(async () => JSON.parse((await httpGet(w.relayPort, "/api/stream/status")).body).total_clients === 1,
    { what: "one browser socket at the relay" });
  assert.equal(await page.inputValue("#channel-select"), "market-tide");

  // several channels, one of them without a dedicated layout: compact JSON rows
  await page.goto(w.pageUrl("channels=trading_halts,news"));
  await w.waitState("#state", "open");
  await w.joined("trading_halts");
  await w.publish("trading_halts", 1);
  rows = await w.waitRows(1, "trading_halts");
  assert.equal(rows[0].raw, true);
  assert.match(rows[0].cells[1], /^trading_halts \{"ticker":/);
  assert.deepEqual(w.errors(), []);
});
