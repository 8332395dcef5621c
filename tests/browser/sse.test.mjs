// Server-Sent Events and permessage-deflate in a real browser (headless Chromium via
// playwright-core) and in Node, against the real relay and the UW simulator on 127.0.0.1.
//
//   node --test tests/browser/sse.test.mjs     # UWRELAY_BIN, UWSIM_BIN, CHROMIUM as for page.test.mjs
//
// - EventSource resumes by itself across a cut of its connection (Last-Event-ID: nothing lost,
//   nothing twice), and is told with a gap event when the relay restarted (new epoch);
// - Chromium negotiates permessage-deflate (the handshake answer's Sec-WebSocket-Extensions, and
//   WebSocket.extensions) and reads the same bytes as an uncompressed client;
// - Node's fetch reads the event stream with a strict parser.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { HOST, REPO, RELAY_BIN, SIM_BIN, CHROMIUM, freePort, httpGet, launchChromium, sleep, waitFor } from "./lib.mjs";

const TOKEN = "browser-test-token";
const TEST_TIMEOUT = 90_000;
const FLOW = "flow-alerts";

const all = new Set();
process.on("exit", () => { for (const c of all) try { c.kill("SIGKILL"); } catch { /* gone */ } });

class Proc {
  constructor(name, argv, env, dir) {
    this.name = name;
    this.logPath = path.join(dir, name + ".log");
    const log = fs.openSync(this.logPath, "a");
    this.lines = [];
    this.child = spawn(argv[0], argv.slice(1), { env, cwd: dir, stdio: ["ignore", "pipe", log] });
    all.add(this.child);
    this.exited = new Promise((r) => this.child.on("exit", () => { all.delete(this.child); r(); }));
    let buf = "";
    this.child.stdout.on("data", (d) => {
      fs.appendFileSync(this.logPath, d);
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) { this.lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); }
    });
  }
  alive() { return this.child.exitCode === null && this.child.signalCode === null; }
  async stop() {
    if (this.alive()) {
      this.child.kill("SIGTERM");
      const t = setTimeout(() => this.child.kill("SIGKILL"), 5000);
      await this.exited;
      clearTimeout(t);
    }
  }
  tail() { try { return fs.readFileSync(this.logPath, "utf8").slice(-3000); } catch { return ""; } }
}

let browserCtx = null;
let profileDir = null;
async function browser() {
  if (!browserCtx) ({ ctx: browserCtx, profile: profileDir } = await launchChromium());
  return browserCtx;
}

after(async () => {
  if (browserCtx) await browserCtx.close().catch(() => {});
  if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
});

/** A TCP proxy in front of the relay whose connections a test can cut. */
async function startProxy(targetPort) {
  const socks = new Set();
  const server = net.createServer((c) => {
    const u = net.connect(targetPort, HOST);
    socks.add(c); socks.add(u);
    c.pipe(u); u.pipe(c);
    const gone = () => { c.destroy(); u.destroy(); socks.delete(c); socks.delete(u); };
    c.on("error", gone); u.on("error", gone); c.on("close", gone); u.on("close", gone);
  });
  await new Promise((r) => server.listen(0, HOST, r));
  return {
    port: server.address().port,
    cut() { const n = socks.size; for (const s of socks) s.destroy(); socks.clear(); return n; },
    close() { for (const s of socks) s.destroy(); return new Promise((r) => server.close(r)); },
  };
}

class World {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "uwrelay-sse-"));
    this.procs = [];
  }
  async start(extraCfg = []) {
    for (const bin of [SIM_BIN, RELAY_BIN]) fs.accessSync(bin, fs.constants.X_OK);
    const sim = new Proc("uwsim", [SIM_BIN, "--port", "0", "--token", TOKEN], process.env, this.dir);
    this.procs.push(sim);
    const m = await waitFor(() => sim.lines.map((l) => /uwsim: ready ws=(\d+)/.exec(l)).find(Boolean),
      { timeout: 15_000, what: "uwsim ready" });
    this.simPort = Number(m[1]);
    if (!this.relayPort) this.relayPort = await freePort();
    this.extraCfg = extraCfg;
    await this.startRelay();
  }
  async startRelay() {
    const cfg = [
      `listen: {address: ${HOST}, port: ${this.relayPort}}`,
      `upstream: {url: "ws://${HOST}:${this.simPort}/socket", leave_delay: 60, reconnect: {initial_delay: 0.2, max_delay: 1}}`,
      "log: {level: info}",
      ...this.extraCfg, "",
    ].join("\n");
    fs.writeFileSync(path.join(this.dir, "uwrelay.yaml"), cfg);
    const env = Object.assign({}, process.env, { UW_API_TOKEN: TOKEN });
    this.relay = new Proc("uwrelay", [RELAY_BIN, "-c", path.join(this.dir, "uwrelay.yaml")], env, this.dir);
    this.procs.push(this.relay);
    await waitFor(async () => (await this.status()).status === "connected", { timeout: 15_000, what: "relay connected" });
  }
  async status() { return JSON.parse((await httpGet(this.relayPort, "/api/stream/status")).body); }
  async ctl(name, params = {}) {
    const r = await httpGet(this.simPort, `/ctl/${name}?${new URLSearchParams(params)}`);
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body);
  }
  async publish(n, size) {
    await waitFor(async () => ((await this.ctl("stats")).joined || {})[FLOW] === 1, { what: "flow joined" });
    await this.ctl("publish", { channel: FLOW, count: n, ...(size ? { size } : {}) });
  }
  async shutdown() {
    if (this.page) await this.page.close().catch(() => {});
    if (this.proxy) await this.proxy.close();
    for (const p of this.procs.reverse()) await p.stop();
  }
  dump() {
    for (const p of this.procs) process.stderr.write(`\n----- ${p.name} -----\n${p.tail()}\n`);
  }
}

async function withWorld(t, fn) {
  const w = new World();
  try {
    await fn(w);
  } catch (e) {
    w.dump();
    if (w.page) process.stderr.write(`----- events in the page -----\n${JSON.stringify(
      await w.page.evaluate(() => window.got).catch(() => null))}\n`);
    throw e;
  } finally {
    await w.shutdown();
  }
}

/** In the page: an EventSource on url that records every event in window.got. */
function openEventSource(page, url) {
  return page.evaluate((url) => {
    window.got = [];
    window.opens = 0;
    const es = new EventSource(url);
    window.es = es;
    es.onopen = () => window.opens++;
    es.onmessage = (e) => window.got.push({ type: "message", id: e.lastEventId, data: JSON.parse(e.data) });
    for (const t of ["subscribed", "gap", "upstream", "close"])
      es.addEventListener(t, (e) => window.got.push({ type: t, data: JSON.parse(e.data) }));
  }, url);
}

const seqs = (got) => got.filter((e) => e.type === "message").map((e) => e.data.seq);

test("EventSource resumes by itself across a cut of its connection, and hears of a restart",
  { timeout: TEST_TIMEOUT }, () => withWorld("sse-resume", async (w) => {
    // the page loads through a proxy whose connections the test cuts; its origin is the
    // proxy's, which the relay must list
    w.relayPort = await freePort();
    w.proxy = await startProxy(w.relayPort);
    const origin = `http://${HOST}:${w.proxy.port}`;
    await w.start([`clients: {allowed_origins: ["${origin}"]}`]);
    // a WebSocket subscriber keeps the channel fed while the browser is away (the relay drops
    // what UW sends on a channel nobody is subscribed to)
    const { default: WebSocket } = await import("ws");
    const keeper = new WebSocket(`ws://${HOST}:${w.relayPort}/api/stream/ws/flow`);
    await new Promise((r, j) => { keeper.on("open", r); keeper.on("error", j); });
    const ctx = await browser();
    w.page = await ctx.newPage();
    await w.page.goto(`${origin}/healthz`);
    await openEventSource(w.page, "/api/stream/sse/flow");
    await w.page.waitForFunction(() => window.got.some((e) => e.type === "subscribed"));
    await w.publish(3);
    await w.page.waitForFunction(() => window.got.filter((e) => e.type === "message").length >= 3);
    const epoch = (await w.status()).epoch;
    assert.equal((await w.page.evaluate(() => window.got.at(-1).id)), `${epoch}:3`);

    // cut the stream mid-way; publish while the browser is away
    assert.ok(w.proxy.cut() >= 2, "the stream went through the proxy");
    await waitFor(async () => (await w.status()).total_clients === 1, { what: "the relay saw the cut" });
    await w.ctl("publish", { channel: FLOW, count: 3 });
    await waitFor(async () => (await w.status()).channels[FLOW].seq === 6, { what: "seq 6 published" });
    assert.equal((await w.status()).total_clients, 1, "published while the browser was away");
    // EventSource reconnects by itself (its retry delay) with Last-Event-ID
    await w.page.waitForFunction(() => window.got.filter((e) => e.type === "message").length >= 6,
      null, { timeout: 20_000 });
    await w.publish(2);
    await w.page.waitForFunction(() => window.got.filter((e) => e.type === "message").length >= 8);
    const got = await w.page.evaluate(() => window.got);
    assert.deepEqual(seqs(got), [1, 2, 3, 4, 5, 6, 7, 8], "nothing lost, nothing twice");
    assert.equal(got.filter((e) => e.type === "gap").length, 0);
    assert.ok((await w.page.evaluate(() => window.opens)) >= 2, "it reconnected");

    // a relay restart: a new epoch, so the resume cannot be honoured and the page is told
    keeper.terminate();
    await w.relay.stop();
    await w.startRelay();
    await w.page.waitForFunction(() => window.got.some((e) => e.type === "gap"), null, { timeout: 20_000 });
    const gap = (await w.page.evaluate(() => window.got.find((e) => e.type === "gap"))).data.data;
    assert.equal(gap.reason, "epoch");
    assert.equal(gap.channel, FLOW);
  }));

test("Chromium negotiates permessage-deflate and reads what an uncompressed client reads",
  { timeout: TEST_TIMEOUT }, () => withWorld("deflate", async (w) => {
    await w.start(["clients: {compression: {enabled: true, min_bytes: 256}}"]);
    const { default: WebSocket } = await import("ws");
    const plain = new WebSocket(`ws://${HOST}:${w.relayPort}/api/stream/ws/flow`, { perMessageDeflate: false });
    const plainMsgs = [];
    plain.on("message", (d) => plainMsgs.push(d.toString()));
    await new Promise((r, j) => { plain.on("open", r); plain.on("error", j); });
    const ctx = await browser();
    w.page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(w.page);
    await cdp.send("Network.enable");
    const handshakes = [];
    cdp.on("Network.webSocketHandshakeResponseReceived", (e) => handshakes.push(e.response));
    await w.page.goto(`http://${HOST}:${w.relayPort}/healthz`);
    const ext = await w.page.evaluate((url) => new Promise((resolve, reject) => {
      window.msgs = [];
      const ws = new WebSocket(url);
      ws.onmessage = (e) => window.msgs.push(e.data);
      ws.onopen = () => resolve(ws.extensions);
      ws.onerror = () => reject(new Error("WebSocket failed"));
    }), `ws://${HOST}:${w.relayPort}/api/stream/ws/flow`);
    assert.equal(ext, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    await waitFor(() => handshakes.length, { what: "the handshake answer (CDP)" });
    const hdrs = Object.fromEntries(Object.entries(handshakes[0].headers).map(([k, v]) => [k.toLowerCase(), v]));
    assert.match(hdrs["sec-websocket-extensions"], /^permessage-deflate; server_no_context_takeover/);
    await waitFor(async () => (await w.status()).total_clients === 2, { what: "two subscribers" });
    await w.publish(10, 2000);
    await w.publish(10, 100);
    await w.page.waitForFunction(() => window.msgs.length >= 21);
    await waitFor(() => plainMsgs.length >= 21, { what: "the plain client's 21 messages" });
    const msgs = await w.page.evaluate(() => window.msgs);
    assert.deepEqual(msgs.slice(1), plainMsgs.slice(1), "byte-identical payloads");
    assert.equal(JSON.parse(msgs[0]).data.type, "subscribed");
    plain.close();
  }));

/** A strict text/event-stream reader over a fetch() body. */
async function* sseEvents(body) {
  const dec = new TextDecoder();
  let buf = "", data = [], event = "", id = "";
  for await (const chunk of body) {
    buf += dec.decode(chunk, { stream: true });
    let m;
    while ((m = /\r\n|\r(?!$)|\n/.exec(buf))) {
      const line = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      if (line === "") {
        if (data.length) yield { event: event || "message", data: data.join("\n"), id };
        data = []; event = "";
        continue;
      }
      if (line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? "" : line.slice(i + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") event = value;
      else if (field === "id") id = value;
    }
  }
}

test("Node's fetch reads the event stream: the WebSocket envelopes, ids EPOCH:SEQ",
  { timeout: TEST_TIMEOUT }, () => withWorld("fetch", async (w) => {
    await w.start();
    const ac = new AbortController();
    const res = await fetch(`http://${HOST}:${w.relayPort}/api/stream/sse/flow`, { signal: ac.signal });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const it = sseEvents(res.body);
    assert.equal((await it.next()).value.event, "subscribed");
    await w.publish(3);
    const epoch = (await w.status()).epoch;
    for (let k = 1; k <= 3; k++) {
      const ev = (await it.next()).value;
      assert.equal(ev.event, "message");
      assert.equal(ev.id, `${epoch}:${k}`);
      assert.equal(JSON.parse(ev.data).seq, k);
    }
    ac.abort();
  }));
