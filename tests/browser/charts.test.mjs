// The live page's charts and the status page in headless Chromium, against the real relay and
// the UW simulator on 127.0.0.1. Assertions are on the chart library's data (uPlot's u.data)
// compared with the envelopes a separate WebSocket client received, not on pixels; each view
// is also kept as a screenshot in UWRELAY_ARTIFACTS (the README's images come from here).
//
//   node --test tests/browser/charts.test.mjs      # from the repository root, after npm ci
//
// Environment as in page.test.mjs: UWRELAY_BIN, UWSIM_BIN, UWRELAY_ARTIFACTS, CHROMIUM.
// The relay always serves the page itself here (the charting library is embedded in it).
// UWRELAY_LOAD_SECONDS shortens the 60 s load test (for a quick local run only).

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { HOST, REPO, RELAY_BIN, SIM_BIN, ARTIFACTS, CHROMIUM, freePort, httpGet, launchChromium, sleep, waitFor as waitForBase } from "./lib.mjs";

const waitFor = (fn, opts = {}) => waitForBase(fn, { timeout: 15_000, ...opts });

const TOKEN = "browser-test-token";
const LOAD_SECONDS = Number(process.env.UWRELAY_LOAD_SECONDS || 60);
const FLOW = "flow-alerts";

const procs = new Set();
process.on("exit", () => { for (const c of procs) try { c.kill("SIGKILL"); } catch { /* gone */ } });

function run(name, argv, env, dir) {
  const log = fs.createWriteStream(path.join(dir, name + ".log"));
  const child = spawn(argv[0], argv.slice(1), { env, cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  const p = { name, child, lines: [], logPath: path.join(dir, name + ".log") };
  p.exited = new Promise((r) => child.on("exit", () => { procs.delete(child); r(); }));
  let buf = "";
  child.stdout.on("data", (d) => {
    log.write(d);
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) { p.lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); }
  });
  child.stderr.on("data", (d) => log.write(d));
  p.alive = () => child.exitCode === null && child.signalCode === null;
  p.stop = async () => {
    if (p.alive()) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await p.exited;
      clearTimeout(t);
    }
    await new Promise((r) => log.end(r));
  };
  p.tail = () => { try { return fs.readFileSync(p.logPath, "utf8").slice(-3000); } catch { return ""; } };
  procs.add(child);
  return p;
}

let ctx = null, profile = null;
async function browser() {
  if (!ctx) ({ ctx: ctx, profile: profile } = await launchChromium({ viewport: { width: 1400, height: 860 } }));
  return ctx;
}

after(async () => {
  if (ctx) await ctx.close().catch(() => {});
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

/** A simulator, a relay serving the page, and pages opened on it; torn down by close(). */
class World {
  constructor(name) {
    this.name = name;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "uwrelay-charts-"));
    this.procs = [];
    this.pages = [];
    this.sockets = [];
    this.console = [];
  }

  async start({ relayYaml = [] } = {}) {
    for (const [bin, v] of [[SIM_BIN, "UWSIM_BIN"], [RELAY_BIN, "UWRELAY_BIN"]])
      try { fs.accessSync(bin, fs.constants.X_OK); } catch { assert.fail(`${bin} is not executable (build it, or set ${v})`); }
    const sim = run("uwsim", [SIM_BIN, "--port", "0", "--token", TOKEN], process.env, this.dir);
    this.procs.push(sim);
    const m = await waitFor(() => sim.lines.map((l) => /uwsim: ready ws=(\d+)/.exec(l)).find(Boolean) ||
      (!sim.alive() && Promise.reject(new Error("uwsim exited: " + sim.tail()))), { what: "uwsim ready" });
    this.simPort = Number(m[1]);
    this.sim = sim;
    this.port = await freePort();
    const cfg = [
      `listen: {address: ${HOST}, port: ${this.port}}`,
      `upstream: {url: "ws://${HOST}:${this.simPort}/socket", leave_delay: 0, reconnect: {initial_delay: 0.2, max_delay: 1, jitter: 0.1}}`,
      "log: {level: info}",
      ...relayYaml,
      "",
    ].join("\n");
    fs.writeFileSync(path.join(this.dir, "uwrelay.yaml"), cfg);
    const env = Object.assign({}, process.env, { UW_API_TOKEN: TOKEN });
    delete env.UW_KEY;
    this.relay = run("uwrelay", [RELAY_BIN, "-c", path.join(this.dir, "uwrelay.yaml")], env, this.dir);
    this.procs.push(this.relay);
    await waitFor(async () => {
      if (!this.relay.alive()) throw new Error("uwrelay exited: " + this.relay.tail());
      return (await httpGet(this.port, "/healthz", { timeout: 1000 })).status === 200;
    }, { what: "relay /healthz" });
    await waitFor(async () => (await this.status()).status === "connected", { what: "relay connected upstream" });
  }

  async status() { return JSON.parse((await httpGet(this.port, "/api/stream/status")).body); }

  async ctl(name, params = {}) {
    const q = new URLSearchParams(params).toString();
    const r = await httpGet(this.simPort, `/ctl/${name}${q ? "?" + q : ""}`);
    assert.equal(r.status, 200, `sim /ctl/${name}: ${r.status} ${r.body}`);
    return JSON.parse(r.body);
  }

  async joined(channel) {
    await waitFor(async () => ((await this.ctl("stats")).joined || {})[channel] === 1, { what: `${channel} joined at the sim` });
  }

  /** A plain WebSocket subscriber that records every data envelope (the test's reference). */
  async subscriber(channels) {
    const ws = new WebSocket(`ws://${HOST}:${this.port}/api/stream/ws?channels=${channels.join(",")}`,
      { headers: { Origin: `http://${HOST}:${this.port}` } });
    const got = [];
    ws.on("message", (b) => {
      const env = JSON.parse(b.toString());
      if (env.channel !== "$relay") got.push(env);
    });
    await new Promise((res, rej) => { ws.once("open", res); ws.once("error", rej); });
    this.sockets.push(ws);
    for (const ch of channels) await this.joined(ch);
    return got;
  }

  async publish(channel, count) {
    const r = await this.ctl("publish", { channel, count });
    assert.ok(r.connections >= 1, "published to the relay's upstream connection");
  }

  async open(pathAndQuery = "") {
    const page = await (await browser()).newPage();
    page.setDefaultTimeout(15_000);
    page.on("console", (m) => { if (m.type() === "error") this.console.push(m.text()); });
    page.on("pageerror", (e) => this.console.push("pageerror: " + e.message));
    const resp = await page.goto(`http://${HOST}:${this.port}/${pathAndQuery}`, { waitUntil: "load" });
    assert.equal(resp.status(), 200);
    this.pages.push(page);
    return page;
  }

  async snap(page, label) {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, label + ".png"), timeout: 10_000 });
  }

  async close(ok) {
    for (const ws of this.sockets) ws.terminate();
    for (const p of this.pages) await p.close().catch(() => {});
    for (const p of this.procs.slice().reverse()) await p.stop().catch(() => {});
    if (!ok) {
      for (const p of this.procs) process.stderr.write(`\n----- ${p.name} -----\n${p.tail()}\n`);
      process.stderr.write(`----- console -----\n${this.console.join("\n")}\n----- in ${this.dir} -----\n`);
    } else {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

function e2e(name, fn, timeout = 120_000) {
  test(name, { timeout }, async (t) => {
    const w = new World(name);
    let ok = false;
    try {
      await fn(w, t);
      ok = true;
    } finally {
      await w.close(ok);
    }
  });
}

const num = (v) => Number(v);
const occType = (sym) => /([CP])\d{8}$/.exec(sym)[1];

/** What the flow charts should hold for these alerts: premium per ticker and in total. */
function flowTotals(envs) {
  const byTicker = new Map();
  let calls = 0, puts = 0;
  for (const e of envs) {
    const d = e.data, p = num(d.total_premium), c = occType(d.option_chain) === "C";
    const t = byTicker.get(d.ticker) || [0, 0];
    t[c ? 0 : 1] += p;
    byTicker.set(d.ticker, t);
    if (c) calls += p; else puts += p;
  }
  return { byTicker, calls, puts };
}

const close = (a, b) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b));

/** The flow charts' data as uPlot holds it. */
const flowChartData = (page) => page.evaluate(() => {
  const c = window.__uwrelayCharts;
  return {
    categories: c.bars.categories, bars: c.bars.u.data.map((a) => Array.from(a)),
    cp: c.cp.u.data.map((a) => Array.from(a)),
  };
});

// ---------------------------------------------------------------- tests

e2e("serves the charting library, its licence and the status page from the binary", async (w) => {
  await w.start();
  const want = { "/uPlot.iife.min.js": "text/javascript", "/uPlot.min.css": "text/css",
    "/uPlot.LICENSE.txt": "text/plain", "/status.html": "text/html", "/status.js": "text/javascript",
    "/charts.js": "text/javascript", "/backfill.js": "text/javascript" };
  for (const [p, type] of Object.entries(want)) {
    const r = await httpGet(w.port, p);
    assert.equal(r.status, 200, p);
    assert.ok(r.headers["content-type"].startsWith(type), `${p}: ${r.headers["content-type"]}`);
    assert.doesNotMatch(r.body, /(src|href)\s*=\s*["']?(https?:)?\/\//i, p + " loads nothing external");
  }
  const lock = JSON.parse(fs.readFileSync(path.join(REPO, "third_party/uplot/package-lock.json"), "utf8"));
  const version = lock.packages["node_modules/uplot"].version;
  assert.match((await httpGet(w.port, "/uPlot.iife.min.js")).body, new RegExp(`uPlot \\(v${version.replace(/\./g, "\\.")}\\)`),
    "the embedded copy is the locked version");
  assert.match((await httpGet(w.port, "/uPlot.LICENSE.txt")).body, /MIT License[\s\S]*Leon Sorokin/);
});

e2e("flow: premium by ticker and calls against puts from history on open, then live; a ticker's bars filter the table", async (w) => {
  await w.start();
  const ref = await w.subscriber([FLOW]);          // keeps the channel joined, records what is sent
  await w.publish(FLOW, 40);
  await waitFor(() => ref.length === 40, { what: "40 alerts at the reference client" });

  const page = await w.open();
  await page.waitForSelector('#history-state[data-state="done"]', { state: "attached" });
  assert.equal(await page.getAttribute("#history-state", "data-count"), "40", "the page filled from history");
  await page.waitForFunction(() => document.querySelectorAll("#rows tr").length === 40);
  let want = flowTotals(ref);
  let got = await waitFor(async () => {
    const d = await flowChartData(page);
    return d.cp[0].length === 40 && d.categories.length ? d : null;
  }, { what: "flow charts drawn from history" });
  assert.ok(close(got.cp[1].at(-1), want.calls), `cumulative calls ${got.cp[1].at(-1)} vs ${want.calls}`);
  assert.ok(close(got.cp[2].at(-1), want.puts), `cumulative puts ${got.cp[2].at(-1)} vs ${want.puts}`);
  const ranked = [...want.byTicker].sort((a, b) => (b[1][0] + b[1][1]) - (a[1][0] + a[1][1])).slice(0, 10);
  assert.equal(got.categories.length, Math.min(10, want.byTicker.size));
  for (let i = 0; i < got.categories.length; i++) {
    const [c, p] = want.byTicker.get(got.categories[i]);
    assert.ok(close(got.bars[1][i], c) && close(got.bars[2][i], p), `bars of ${got.categories[i]}`);
    assert.ok(close(got.bars[1][i] + got.bars[2][i], ranked[i][1][0] + ranked[i][1][1]), `rank ${i}`);
  }

  // live: the charts move as alerts arrive
  await w.publish(FLOW, 20);
  await waitFor(() => ref.length === 60, { what: "60 alerts at the reference client" });
  got = await waitFor(async () => {
    const d = await flowChartData(page);
    return d.cp[0].length === 60 ? d : null;
  }, { what: "flow charts updated live" });
  want = flowTotals(ref);
  assert.ok(close(got.cp[1].at(-1), want.calls) && close(got.cp[2].at(-1), want.puts), "cumulative premiums after live alerts");
  await page.waitForFunction(() => document.querySelectorAll("#rows tr").length === 60);
  await page.waitForTimeout(300);   // the bar ranking is redrawn at most 4 times a second
  got = await flowChartData(page);
  const first = got.categories[0];
  assert.ok(close(got.bars[1][0] + got.bars[2][0], want.byTicker.get(first)[0] + want.byTicker.get(first)[1]));
  await w.snap(page, "live-flow");

  // a click on the top ticker's bars filters the table to it, a second click (or ×) clears it
  const at = await page.evaluate(() => window.__uwrelayCharts.bars.centerOf(0));
  await page.mouse.move(at.x, at.y);
  await page.mouse.click(at.x, at.y);
  await page.waitForSelector("#filter:not([hidden])");
  assert.equal(await page.textContent("#filter-tk"), first);
  const wantRows = ref.filter((e) => e.data.ticker === first).length;
  await page.waitForFunction((n) => document.querySelectorAll("#rows tr").length === n, wantRows);
  const tickers = await page.$$eval("#rows tr", (trs) => trs.map((tr) => tr.cells[1].textContent));
  assert.deepEqual([...new Set(tickers)], [first], "only the clicked ticker's alerts");
  assert.match(page.url(), new RegExp(`[?&]ticker=${first}\\b`));
  // a live alert of another ticker stays out, one of this ticker comes in
  await w.publish(FLOW, 10);
  await waitFor(() => ref.length === 70, { what: "70 alerts" });
  const wantAfter = ref.filter((e) => e.data.ticker === first).length;
  await page.waitForFunction((n) => document.querySelectorAll("#rows tr").length === n, wantAfter);
  await w.snap(page, "live-flow-filtered");
  await page.click("#filter-clear");
  await page.waitForFunction(() => document.querySelectorAll("#rows tr").length === 70);
  assert.equal(await page.isHidden("#filter"), true);
  assert.deepEqual(w.console, [], "no console errors");
});

/** Opens a view of `channel` after `n` frames were sent, then `m` live ones; returns uPlot's data. */
async function chartFromHistoryAndLive(w, channel, query, values, n = 30, m = 10) {
  const ref = await w.subscriber([channel]);
  await w.publish(channel, n);
  await waitFor(() => ref.length === n, { what: `${n} frames of ${channel}` });
  const page = await w.open(query);
  await page.waitForSelector('#history-state[data-state="done"]', { state: "attached" });
  assert.equal(await page.getAttribute("#history-state", "data-count"), String(n), `${channel}: filled from history`);
  const data = () => page.evaluate(() => window.__uwrelayCharts.chart.u.data.map((a) => Array.from(a)));
  let d = await waitFor(async () => { const x = await data(); return x[0].length === n ? x : null; },
    { what: `${channel} chart from history` });
  for (let i = 0; i < n; i++) {
    const v = values(ref[i].data);
    for (let k = 0; k < v.length; k++)
      if (v[k] !== undefined) assert.ok(close(d[k + 1][i], v[k]), `${channel} point ${i} series ${k}: ${d[k + 1][i]} vs ${v[k]}`);
  }
  await w.publish(channel, m);
  // the reference subscriber and the page are two sockets: either may see the last frame first
  await waitFor(() => ref.length === n + m, { what: `${n + m} frames of ${channel}` });
  d = await waitFor(async () => { const x = await data(); return x[0].length === n + m ? x : null; },
    { what: `${channel} chart updated live` });
  const last = values(ref[n + m - 1].data);
  for (let k = 0; k < last.length; k++)
    if (last[k] !== undefined) assert.ok(close(d[k + 1][n + m - 1], last[k]), `${channel} live point series ${k}`);
  assert.ok(d[0].every((t, i) => i === 0 || t >= d[0][i - 1]), "time ascends");
  return { page, ref, d };
}

/** A few seconds of a steady feed, for a screenshot that looks like a session (bursts sent
 * with /ctl/publish share a timestamp); the chart must have grown by what was sent. */
async function demo(w, page, channel, rate, label, seconds = 6) {
  const before = await page.evaluate(() => window.__uwrelayCharts.chart.length);
  await w.ctl("rate", { channel, rate });
  await sleep(seconds * 1000);
  await w.ctl("rate", { channel, rate: 0 });
  await page.waitForFunction((n) => window.__uwrelayCharts.chart.length >= n, before + rate * (seconds - 2));
  await w.snap(page, label);
}

e2e("market tide: net call and net put premium and volume, from history then live", async (w) => {
  await w.start();
  const { page, ref } = await chartFromHistoryAndLive(w, "market_tide", "?view=market-tide",
    (d) => [num(d.net_call_premium), num(d.net_put_premium), num(d.net_volume)]);
  // the simulator's tide is cumulative: it drifts instead of jumping about
  const calls = ref.map((e) => num(e.data.net_call_premium));
  const steps = calls.slice(1).map((v, i) => Math.abs(v - calls[i]));
  assert.ok(Math.max(...steps) < 2e6, `tide steps ${Math.max(...steps)} stay small (cumulative)`);
  await demo(w, page, "market_tide", 3, "live-market-tide");
  assert.deepEqual(w.console, []);
});

e2e("price and GEX of a ticker: time series from history then live", async (w) => {
  await w.start();
  const price = await chartFromHistoryAndLive(w, "price:SPY", "?channels=price:SPY",
    (d) => [num(d.close)]);
  const closes = price.ref.map((e) => num(e.data.close));
  const maxStep = Math.max(...closes.slice(1).map((v, i) => Math.abs(v / closes[i] - 1)));
  assert.ok(maxStep < 0.002, `price walks (largest step ${(maxStep * 100).toFixed(3)}%)`);
  const vols = price.ref.map((e) => num(e.data.vol));
  assert.ok(vols.every((v, i) => i === 0 || v >= vols[i - 1]), "day volume only grows");
  // the volume bars are what each tick added
  assert.ok(close(price.d[2][5], vols[5] - vols[4]), "volume bar = increment of the day's volume");
  await demo(w, price.page, "price:SPY", 5, "live-price");
  await price.page.close();
  w.pages.pop();

  const gex = await chartFromHistoryAndLive(w, "gex:SPY", "?channels=gex:SPY",
    (d) => [num(d.gamma_per_one_percent_move_oi), num(d.price)]);
  await demo(w, gex.page, "gex:SPY", 5, "live-gex");
  assert.deepEqual(w.console, []);
});

e2e("status page: UW link, rates, channels and clients; an upstream cut and recovery show", async (w) => {
  await w.start();
  const ref = await w.subscriber([FLOW]);
  await w.ctl("rate", { channel: FLOW, rate: 20 });
  const page = await w.open("status.html");
  await page.waitForSelector('#uw-state[data-state="up"]');
  await page.waitForSelector('#poll[data-state="open"]');
  // the rates chart is the status API's recent samples: frames in, as the sim sends them
  const rates = () => page.evaluate(() => window.__uwrelayStatusCharts.rates.u.data.map((a) => Array.from(a)));
  await waitFor(async () => { const d = await rates(); return d[0].length >= 3 && d[1].at(-1) > 5; },
    { timeout: 20_000, what: "frames/s in on the status page" });
  await page.waitForSelector(`#channels tr[data-channel="${FLOW}"]`);
  const cells = await page.$$eval(`#channels tr[data-channel="${FLOW}"] td`, (tds) => tds.map((t) => t.textContent));
  assert.equal(cells[1], "1", "one subscriber");
  assert.equal(cells[5], "joined");
  await waitFor(async () => {
    const r = Number((await page.$$eval(`#channels tr[data-channel="${FLOW}"] td`, (tds) => tds[2].textContent)));
    return r > 10 && r < 30;
  }, { timeout: 10_000, what: "a channel rate near 20/s" });
  assert.equal(await page.textContent('#clients dd[data-k="WebSocket clients"]'), "1");
  await w.snap(page, "status");

  // UW goes away for a while, then comes back
  await w.ctl("refuse", { count: -1, status: 503 });
  await w.ctl("cut");
  await page.waitForSelector('#uw-state[data-state="down"]', { timeout: 10_000 });
  await page.waitForSelector('#link-events tr[data-event="disconnected"]', { timeout: 10_000 });
  await waitFor(async () => (await rates())[3].some((v) => v === 1), { what: "the outage on the rates chart" });
  await w.snap(page, "status-upstream-down");
  await w.ctl("refuse", { count: 0 });
  await page.waitForSelector('#uw-state[data-state="up"]', { timeout: 15_000 });
  // the first connect's row is there from the start: wait for the page to list the new one
  const events = await waitFor(async () => {
    const ev = await page.$$eval("#link-events tr", (trs) => trs.map((tr) => tr.dataset.event));
    return ev.filter((e) => e === "connected").length === 2 ? ev : null;
  }, { timeout: 10_000, what: "the reconnect in the link events" });
  assert.deepEqual(events.slice(0, 2), ["connected", "disconnected"], "newest first: lost, then back");
  assert.equal(await page.textContent('#uw dd[data-k="Connects / losses"]'), "2 / 1");
  assert.ok(ref.length > 0);
  await w.snap(page, "status-recovered");
  assert.deepEqual(w.console, []);
});

e2e(`50 flow alerts a second for ${LOAD_SECONDS} s: the page keeps up with bounded rows and points`, async (w, t) => {
  await w.start();
  const page = await w.open();
  await page.waitForSelector('#history-state[data-state="done"]', { state: "attached" });
  await w.joined(FLOW);
  // the page's own view of how it keeps up: the main thread's longest stall, measured in the page
  await page.evaluate(() => {
    window.__lag = { max: 0, window: 0, last: performance.now() };
    setInterval(() => {
      const now = performance.now(), late = now - window.__lag.last - 100;
      window.__lag.max = Math.max(window.__lag.max, late);
      window.__lag.window = Math.max(window.__lag.window, late);
      window.__lag.last = now;
    }, 100);
  });
  const t0 = Date.now();
  await w.ctl("rate", { channel: FLOW, rate: 50 });
  const samples = [];
  while (Date.now() - t0 < LOAD_SECONDS * 1000) {
    await sleep(5000);
    const sim = (await w.ctl("stats")).frames_sent;
    const p = await page.evaluate(() => ({
      envelopes: window.__uwrelayClient.stats.envelopes,
      rows: document.querySelectorAll("#rows tr").length,
      points: window.__uwrelayCharts.cp.length,
      bars: window.__uwrelayCharts.bars.categories.length,
      lag: Math.round(window.__lag.window),   // the longest stall in these 5 s
      maxLag: Math.round(window.__lag.max),
    }));
    await page.evaluate(() => { window.__lag.window = 0; });
    samples.push({ s: Math.round((Date.now() - t0) / 1000), sim, ...p, behind: sim - p.envelopes });
  }
  await w.ctl("rate", { channel: FLOW, rate: 0 });
  await w.snap(page, "live-flow-under-load");
  t.diagnostic(JSON.stringify(samples));
  for (const s of samples) process.stderr.write(`load: ${JSON.stringify(s)}\n`);
  const last = samples.at(-1);
  assert.ok(last.envelopes > 40 * LOAD_SECONDS, `about 50/s reached the page (${last.envelopes} in ${LOAD_SECONDS} s)`);
  // no growing backlog: how far the page is behind the simulator stays about what is in flight
  // between two polls (a second's worth), at the start as at the end
  for (const s of samples) assert.ok(s.behind < 100, `behind by ${s.behind} frames at ${s.s} s`);
  for (const s of samples) {
    assert.ok(s.rows <= 200, `rows bounded (${s.rows})`);
    assert.ok(s.points <= 2000, `chart points bounded (${s.points})`);
  }
  if (LOAD_SECONDS >= 60) assert.equal(last.points, 2000, "the calls/puts chart reached its bound and stays there");
  // On a shared 2-core machine headless Chromium is itself descheduled now and then: the bound
  // is generous (5 s); the typical window is reported above and in docs/BENCHMARKS.md.
  assert.ok(last.maxLag < 5000, `the page's main thread never stalled 5 s (longest ${last.maxLag} ms)`);
  assert.deepEqual(w.console, []);
}, 180_000);
