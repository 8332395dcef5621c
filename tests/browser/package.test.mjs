// The `uwrelay` package (web/package.json) as a frontend developer gets it: `npm pack`, installed
// from the tarball into a fresh project, imported in Node (Node's own WebSocket where it has one,
// else the `ws` package it imports by itself) and connected to the real relay; its TypeScript
// declarations checked by tsc as installed; the useUwrelay hook rendered by React 18 (react-test-
// renderer) against the relay; history() paging against a stub server (the pages as
// the history API's contract describes them); and in Chromium, /uwrelay.js imported as a module
// from another origin, allowed by clients.allowed_origins, and refused from one that is not.
//
//   cd tests/browser && npm ci            # playwright-core, ws, typescript, react (pinned)
//   node --test tests/browser/package.test.mjs
//
// Environment: UWRELAY_BIN, UWSIM_BIN, CHROMIUM as in page.test.mjs.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { HOST, REPO, RELAY_BIN, SIM_BIN, CHROMIUM, freePort, httpGet, launchChromium, sleep, waitFor } from "./lib.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB = path.join(REPO, "web");
const TOKEN = "package-test-token";
const NODE_MODULES = path.join(HERE, "node_modules");
const FLOW = "flow-alerts";
const TIMEOUT = 120_000;

const { UwRelay } = await import(new URL("../../web/uwrelay.js", import.meta.url));

// ---------------------------------------------------------------- helpers

let browserCtx = null;
let profileDir = null;
const tmpdirs = [];
function tmpdir(prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpdirs.push(d);
  return d;
}

const children = new Set();
process.on("exit", () => { for (const c of children) try { c.kill("SIGKILL"); } catch { /* gone */ } });

/** A child process; `lines` collects stdout lines, `err` stderr. */
function run(argv, opts = {}) {
  const child = spawn(argv[0], argv.slice(1), Object.assign({ stdio: ["ignore", "pipe", "pipe"] }, opts));
  children.add(child);
  const p = { child, lines: [], err: "", exited: null };
  let buf = "";
  child.stdout.on("data", (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) { p.lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); }
  });
  child.stderr.on("data", (d) => { p.err += d; });
  p.exited = new Promise((r) => child.on("exit", (code, sig) => { children.delete(child); r({ code, sig }); }));
  p.alive = () => child.exitCode === null && child.signalCode === null;
  p.stop = async () => {
    if (p.alive()) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await p.exited;
      clearTimeout(t);
    }
  };
  return p;
}

/** The simulator and a relay on loopback; `clients` is merged into the relay's config. */
class World {
  constructor() {
    this.dir = tmpdir("uwrelay-pkg-");
    this.procs = [];
  }

  async start({ allowedOrigins = [] } = {}) {
    for (const [bin, v] of [[SIM_BIN, "UWSIM_BIN"], [RELAY_BIN, "UWRELAY_BIN"]]) {
      try { fs.accessSync(bin, fs.constants.X_OK); } catch { assert.fail(`${bin} is not executable (build it, or set ${v})`); }
    }
    const sim = run([SIM_BIN, "--port", "0", "--token", TOKEN], { cwd: this.dir });
    this.procs.push(sim);
    const m = await waitFor(() => sim.lines.map((l) => /uwsim: ready ws=(\d+)/.exec(l)).find(Boolean) ||
      (!sim.alive() && Promise.reject(new Error("uwsim exited: " + sim.err))), { timeout: 15_000, what: "uwsim ready" });
    this.simPort = Number(m[1]);
    this.relayPort = await freePort();
    const cfg = [
      `listen: {address: ${HOST}, port: ${this.relayPort}}`,
      `upstream: {url: "ws://${HOST}:${this.simPort}/socket", leave_delay: 60}`,
      `clients: {allowed_origins: [${allowedOrigins.map((o) => JSON.stringify(o)).join(", ")}]}`,
      "",
    ].join("\n");
    fs.writeFileSync(path.join(this.dir, "uwrelay.yaml"), cfg);
    const env = Object.assign({}, process.env, { UW_API_TOKEN: TOKEN });
    delete env.UW_KEY;
    const relay = run([RELAY_BIN, "-c", path.join(this.dir, "uwrelay.yaml")], { cwd: this.dir, env });
    this.procs.push(relay);
    this.relay = relay;
    await waitFor(async () => {
      if (!relay.alive()) throw new Error("uwrelay exited: " + relay.err.slice(-3000));
      return JSON.parse((await httpGet(this.relayPort, "/api/stream/status")).body).status === "connected";
    }, { timeout: 15_000, what: "relay connected upstream" });
    return this;
  }

  async publish(channel, count) {
    const r = await httpGet(this.simPort, `/ctl/publish?channel=${encodeURIComponent(channel)}&count=${count}`);
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).connections, 1, "published to the relay's upstream connection");
  }

  async stop() {
    for (const p of this.procs.reverse()) await p.stop();
    // the relay exits 0 on SIGTERM; anything else is a problem of the relay under test
    assert.equal((await this.relay.exited).code, 0, "relay exit code; stderr: " + this.relay.err.slice(-3000));
  }
}

after(async () => {
  // the browser first: its profile is one of the folders
  if (browserCtx) await browserCtx.close().catch(() => {});
  for (const d of tmpdirs) fs.rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------- npm pack, install, use

/** npm pack web/ and install the tarball into a fresh project (offline: it has no dependencies);
 * done once, shared by the tests that use it. */
let packed = null;
function packAndInstall() {
  if (packed) return packed;
  const dir = tmpdir("uwrelay-npm-");
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: WEB, encoding: "utf8" });
  const info = JSON.parse(out)[0];
  const app = path.join(dir, "app");
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", path.join(dir, info.filename)],
    { cwd: app, encoding: "utf8" });
  packed = { info, app };
  return packed;
}

// A script run inside the installed project: the package from node_modules, three envelopes
// from the relay's flow endpoint, printed one per line; `subscribed` first so the test knows
// when to publish.
const CONSUMER = `
import { UwRelay, connect, GENERIC_PATH } from "uwrelay";
const [url, n] = [process.argv[2], Number(process.argv[3])];
if (GENERIC_PATH !== "/api/stream/ws" || typeof connect !== "function") throw new Error("exports");
const c = new UwRelay(url, { path: "/api/stream/ws/flow" });
let got = 0;
c.on("error", (e) => { console.log(JSON.stringify({ error: e })); process.exit(3); });
// native: Node's own (global) WebSocket, else the ws package's
c.on("subscribed", (d) => console.log(JSON.stringify({ subscribed: d.channel,
  native: typeof WebSocket !== "undefined" && c.socket instanceof WebSocket })));
c.on("envelope", (env) => {
  console.log(JSON.stringify(env));
  if (++got === n) { c.close(); setTimeout(() => process.exit(0), 50); }
});
setTimeout(() => { console.log(JSON.stringify({ timeout: got })); process.exit(4); }, 20000);
`;

/** Node's own WebSocket: global from Node 22, behind a flag in 20.10+, absent before. */
function nativeWebSocketFlags() {
  const [maj, min] = process.versions.node.split(".").map(Number);
  if (maj >= 22) return [];
  if (maj > 20 || (maj === 20 && min >= 10)) return ["--experimental-websocket"];
  return null;
}

test("npm pack: the tarball installs, imports in Node and receives from the real relay", { timeout: TIMEOUT }, async () => {
  const { info, app } = packAndInstall();
  assert.equal(info.name, "uwrelay");
  assert.deepEqual(info.files.map((f) => f.path).sort(),
    ["README.md", "package.json", "react/index.d.ts", "react/index.js", "uwrelay.d.ts", "uwrelay.js"]);
  const pkg = JSON.parse(fs.readFileSync(path.join(app, "node_modules/uwrelay/package.json"), "utf8"));
  assert.equal(pkg.type, "module");
  assert.deepEqual(pkg.dependencies, undefined, "no runtime dependencies");
  assert.equal(pkg.peerDependenciesMeta.ws.optional, true);
  // the packed client is the one the relay serves
  assert.equal(fs.readFileSync(path.join(app, "node_modules/uwrelay/uwrelay.js"), "utf8"),
    fs.readFileSync(path.join(WEB, "uwrelay.js"), "utf8"));
  fs.writeFileSync(path.join(app, "consumer.mjs"), CONSUMER);

  const w = await new World().start();
  try {
    const served = await httpGet(w.relayPort, "/uwrelay.js");
    assert.equal(served.body, fs.readFileSync(path.join(WEB, "uwrelay.js"), "utf8"), "/uwrelay.js as today");
    const url = `ws://${HOST}:${w.relayPort}`;
    let expectSeq = 1;
    /** Runs the consumer with `flags`, publishes 2 frames once it is subscribed. */
    const consume = async (flags, native) => {
      const p = run([process.execPath, ...flags, "consumer.mjs", url, "2"], { cwd: app });
      const sub = await waitFor(() => p.lines.map((l) => JSON.parse(l)).find((o) => o.subscribed || o.error) ||
        (!p.alive() && Promise.reject(new Error("consumer exited: " + p.err + p.lines.join("\n")))),
      { timeout: 15_000, what: "consumer subscribed" });
      assert.deepEqual(sub, { subscribed: FLOW, native });
      await w.publish(FLOW, 2);
      const { code } = await p.exited;
      assert.equal(code, 0, p.err + p.lines.join("\n"));
      const envs = p.lines.map((l) => JSON.parse(l)).filter((o) => o.channel);
      assert.deepEqual(envs.map((e) => e.seq), [expectSeq, expectSeq + 1]);
      for (const e of envs) assert.equal(e.channel, FLOW);
      expectSeq += 2;
    };

    const native = nativeWebSocketFlags();
    if (native) await consume(native, true);   // Node's own WebSocket, no ws installed

    // without a global WebSocket and without ws: a clear error, not a crash
    if (typeof globalThis.WebSocket === "undefined" && process.versions.node.split(".")[0] < 22) {
      const p = run([process.execPath, "consumer.mjs", url, "1"], { cwd: app });
      const { code } = await p.exited;
      assert.equal(code, 3, p.err);
      const e = JSON.parse(p.lines[0]).error;
      assert.equal(e.code, "no_websocket");
      assert.match(e.message, /install the `ws` package/);
    }

    // the ws package (an optional peer), found by the client's own import("ws")
    fs.symlinkSync(path.join(NODE_MODULES, "ws"), path.join(app, "node_modules", "ws"), "dir");
    await consume([], false);
  } finally {
    await w.stop();
  }
});

// useUwrelay in React 18 (react-test-renderer runs its effects), from the installed package,
// against the real relay: "ready" once open, then the newest `limit` envelopes, newest first,
// rendered; unmounting closes the client.
const HOOK_CONSUMER = `
import React from "react";
import { useUwrelay } from "uwrelay/react";
globalThis.IS_REACT_ACT_ENVIRONMENT = true;
const [url, rtr] = [process.argv[2], process.argv[3]];
const TR = (await import(rtr)).default;
const h = React.createElement;
let last = null;
function Feed() {
  last = useUwrelay(url, { path: "/api/stream/ws/flow", limit: 2 });
  return h("ul", null, last.items.map((e) => h("li", { key: e.seq }, String(e.seq))));
}
const tick = () => TR.act(() => new Promise((r) => setTimeout(r, 50)));
async function until(pred, what) {
  for (let i = 0; i < 300 && !pred(); i++) await tick();
  if (!pred()) { console.log(JSON.stringify({ timeout: what, state: last && last.state })); process.exit(4); }
}
let r;
await TR.act(async () => { r = TR.create(h(Feed)); });
await until(() => last.state === "open" && last.upstream === "connected", "open");
console.log(JSON.stringify({ ready: true }));
await until(() => last.items.length === 2 && last.items[0].seq === 3, "items");
const rendered = r.root.findAllByType("li").map((li) => li.children.join(""));
const client = last.client;
await TR.act(async () => { r.unmount(); });
console.log(JSON.stringify({ items: last.items.map((e) => e.seq), rendered, closed: client.state }));
process.exit(0);
`;

test("useUwrelay (React 18) from the installed package renders the relay's envelopes", { timeout: TIMEOUT }, async () => {
  const rtr = path.join(NODE_MODULES, "react-test-renderer", "index.js");
  assert.ok(fs.existsSync(rtr), "react-test-renderer is not installed: run `npm ci` in tests/browser/");
  const { app } = packAndInstall();
  const link = path.join(app, "node_modules", "react");
  // the app's react is the test renderer's (one React instance)
  if (!fs.existsSync(link)) fs.symlinkSync(path.join(NODE_MODULES, "react"), link, "dir");
  if (!fs.existsSync(path.join(app, "node_modules", "ws")))
    fs.symlinkSync(path.join(NODE_MODULES, "ws"), path.join(app, "node_modules", "ws"), "dir");
  fs.writeFileSync(path.join(app, "hook.mjs"), HOOK_CONSUMER);
  const w = await new World().start();
  try {
    const p = run([process.execPath, "hook.mjs", `ws://${HOST}:${w.relayPort}`, pathToFileURL(rtr).href], { cwd: app });
    await waitFor(() => p.lines.some((l) => JSON.parse(l).ready) ||
      (!p.alive() && Promise.reject(new Error("hook consumer exited: " + p.err + p.lines.join("\n")))),
    { timeout: 20_000, what: "hook open" });
    await w.publish(FLOW, 3);
    const { code } = await p.exited;
    assert.equal(code, 0, p.err + p.lines.join("\n"));
    assert.deepEqual(JSON.parse(p.lines.at(-1)), { items: [3, 2], rendered: ["3", "2"], closed: "closed" });
  } finally {
    await w.stop();
  }
});

test("the TypeScript declarations type-check as installed (tsc, strict, node16 resolution)", { timeout: TIMEOUT }, () => {
  const tsc = path.join(NODE_MODULES, "typescript", "bin", "tsc");
  assert.ok(fs.existsSync(tsc), "typescript is not installed: run `npm ci` in tests/browser/");
  const { app } = packAndInstall();
  fs.writeFileSync(path.join(app, "tsconfig.json"), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: "node16", moduleResolution: "node16",
      target: "es2020", lib: ["es2020", "dom"], types: [] },
    files: ["check.ts"],
  }));
  fs.writeFileSync(path.join(app, "check.ts"), `
import { UwRelay, connect, createFeedStore, backoffDelay, type Envelope, type GapEvent } from "uwrelay";
import { useUwrelay, type UseUwrelayResult } from "uwrelay/react";

const c: UwRelay = connect("ws://127.0.0.1:8080", { channels: ["price:SPY"], filters: { "price:SPY": "x" },
  backoff: { maxDelay: 5000 }, accessToken: "t" });
const off: () => void = c.on("envelope", (e: Envelope) => { const s: number = e.seq; void s; });
off();
c.on("gap", (g: GapEvent) => { const r: string = g.reason; void r; });
c.on("channel:price:SPY", (e) => { const d: unknown = e.data; void d; });
c.on("state", (s) => { const st: "idle" | "connecting" | "open" | "reconnecting" | "closed" = s.state; void st; });
c.subscribe("gex:SPY", { filter: { tickers: ["SPY"] } });
const h: Promise<Envelope[]> = c.history("flow-alerts", { since: 3, epoch: "0123456789abcdef", limit: 10 });
void h;
const at: { seq: number; epoch: string } | undefined = c.lastSeen("price:SPY");
void at;
const n: number = backoffDelay(1, c.backoff, 0.5);
void n;
createFeedStore(c, { limit: 5 }).dispose();
const r: (u: string) => UseUwrelayResult = (u) => useUwrelay(u, { path: "/api/stream/ws/flow", limit: 10 });
void r;
new UwRelay("ws://x", { autoConnect: false }).close();

// the declarations are not \`any\`: each of these must be an error
// @ts-expect-error a channel is a string
c.subscribe(42);
// @ts-expect-error no such event
c.on("envelopes", () => {});
// @ts-expect-error seq is a number
c.on("envelope", (e) => { const s: string = e.seq; void s; });
// @ts-expect-error history resolves to envelopes
const bad: Promise<string> = c.history("flow-alerts");
void bad;
`);
  try {
    execFileSync(process.execPath, [tsc, "-p", "."], { cwd: app, encoding: "utf8" });
  } catch (e) {
    assert.fail("tsc: " + e.stdout + e.stderr);
  }
});

// ---------------------------------------------------------------- history() against a stub

/** GET /api/stream/history over `total` flow-alerts frames, pages of at most 4 (as a relay
 * reading its tape may answer fewer than asked for), `next` as in the contract. */
async function historyStub(total) {
  const EPOCH = "9f2c4a1be07d3e55";
  const queries = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, "http://x");
    const q = Object.fromEntries(u.searchParams);
    queries.push(q);
    const reply = (status, obj) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(obj));
    };
    if (u.pathname !== "/api/stream/history" || q.channel !== FLOW)
      return reply(404, { error: "not_found", message: "no such channel" });
    if (q.epoch && q.epoch !== EPOCH) return reply(409, { error: "epoch_changed", message: "the relay restarted" });
    if (q.limit && Number(q.limit) > 10000) return reply(400, { error: "bad_request", message: "limit" });
    const since = Number(q.since || 0);
    const want = Math.min(Number(q.limit || 1000), 4);
    const seqs = [];
    for (let s = since + 1; s <= total && seqs.length < want; s++) seqs.push(s);
    const more = seqs.length > 0 && seqs[seqs.length - 1] < total;
    reply(200, {
      channel: FLOW,
      envelopes: seqs.map((s) => ({ channel: FLOW, seq: s, epoch: EPOCH, timestamp: "2026-11-25T14:30:00.123Z", data: { n: s } })),
      more,
      next: more ? `channel=${FLOW}&since=${seqs[seqs.length - 1]}&epoch=${EPOCH}` : null,
    });
  });
  await new Promise((r) => server.listen(0, HOST, r));
  return { port: server.address().port, queries, EPOCH, close: () => new Promise((r) => server.close(r)) };
}

test("history() follows next pages up to limit, passes the token, reports HTTP errors", { timeout: TIMEOUT }, async () => {
  const stub = await historyStub(11);
  try {
    const c = new UwRelay(`ws://${HOST}:${stub.port}`, { path: "/api/stream/ws/flow", accessToken: "tok-123", autoConnect: false });
    const envs = await c.history(FLOW, { since: 2, epoch: stub.EPOCH, limit: 6 });
    assert.deepEqual(envs.map((e) => e.seq), [3, 4, 5, 6, 7, 8]);
    assert.deepEqual(stub.queries.map((q) => Number(q.limit)), [6, 2], "asks only for what is still wanted");
    assert.equal(stub.queries[0].since, "2");
    assert.equal(stub.queries[1].since, "6", "the second page is the relay's next");
    assert.ok(stub.queries.every((q) => q.access_token === "tok-123"));

    stub.queries.length = 0;
    const all = await c.history(FLOW);
    assert.deepEqual(all.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], "stops when there is no more");
    assert.equal(stub.queries.length, 3);

    stub.queries.length = 0;
    await c.history(FLOW, { from: new Date(Date.UTC(2026, 10, 25, 14)), to: "2026-11-25T15:00:00Z", limit: 1 });
    assert.equal(stub.queries[0].from, "2026-11-25T14:00:00.000Z");
    assert.equal(stub.queries[0].to, "2026-11-25T15:00:00Z");

    await assert.rejects(c.history(FLOW, { since: 1, epoch: "0123456789abcdef" }),
      (e) => e.status === 409 && /HTTP 409: the relay restarted/.test(e.message));
    await assert.rejects(c.history("nope"), (e) => e.status === 404);
    await assert.rejects(c.history(FLOW, { limit: 0 }), RangeError);
    c.close();
  } finally {
    await stub.close();
  }
});

// ---------------------------------------------------------------- Chromium: another origin

async function browser() {
  if (!browserCtx) ({ ctx: browserCtx, profile: profileDir } = await launchChromium({ profile: tmpdir("uwrelay-chromium-") }));
  return browserCtx;
}

/** A dashboard on its own origin: imports /uwrelay.js from the relay named in its query
 * (`?relay=PORT`) and records what it gets. */
async function dashboard() {
  const page = `<!doctype html><meta charset="utf-8"><title>dashboard</title>
<script type="module">
window.__seqs = [];
const relay = "${HOST}:" + new URLSearchParams(location.search).get("relay");
import("http://" + relay + "/uwrelay.js").then(({ UwRelay }) => {
  window.__loaded = true;
  const c = new UwRelay("ws://" + relay, { path: "/api/stream/ws/flow" });
  c.on("subscribed", (d) => { window.__subscribed = d.channel; });
  c.on("envelope", (e) => window.__seqs.push(e.seq));
}, (e) => { window.__importError = String(e); });
</script>`;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(page);
  });
  await new Promise((r) => server.listen(0, HOST, r));
  return {
    origin: `http://${HOST}:${server.address().port}`,
    // the browser keeps its connections alive: close() alone would wait for them
    close: () => new Promise((r) => { server.close(r); server.closeAllConnections(); }),
  };
}

test("Chromium: /uwrelay.js imported from an allowed origin receives frames; another origin is refused", { timeout: TIMEOUT }, async () => {
  const allowed = await dashboard();
  const other = await dashboard();
  const w = new World();
  const pages = [];
  try {
    await w.start({ allowedOrigins: [allowed.origin] });
    // the relay answers the module request with CORS for the listed origin only
    const a = await httpGet(w.relayPort, "/uwrelay.js", { headers: { Origin: allowed.origin } });
    assert.equal(a.status, 200);
    assert.equal(a.headers["access-control-allow-origin"], allowed.origin);
    assert.match(a.headers["content-type"], /^text\/javascript/);
    const b = await httpGet(w.relayPort, "/uwrelay.js", { headers: { Origin: other.origin } });
    assert.equal(b.status, 403);
    assert.equal(b.headers["access-control-allow-origin"], undefined);

    const ctx = await browser();
    const pa = await ctx.newPage();
    const pb = await ctx.newPage();
    pages.push(pa, pb);
    await pa.goto(`${allowed.origin}/?relay=${w.relayPort}`, { waitUntil: "load" });
    await pb.goto(`${other.origin}/?relay=${w.relayPort}`, { waitUntil: "load" });
    await pa.waitForFunction(() => window.__subscribed === "flow-alerts", null, { timeout: 15_000 });
    await w.publish(FLOW, 3);
    await pa.waitForFunction(() => window.__seqs.length >= 3, null, { timeout: 15_000 });
    assert.deepEqual(await pa.evaluate(() => window.__seqs), [1, 2, 3]);

    await pb.waitForFunction(() => window.__importError || window.__loaded, null, { timeout: 15_000 });
    assert.equal(await pb.evaluate(() => window.__loaded), undefined, "not loaded from a refused origin");
    assert.match(await pb.evaluate(() => window.__importError), /Failed to fetch dynamically imported module/);
  } finally {
    for (const p of pages) await p.close().catch(() => {});
    await allowed.close();
    await other.close();
    if (w.relay) await w.stop();
  }
});
