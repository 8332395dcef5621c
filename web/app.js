// The live page: one uwrelay.js client for the selected view, rows newest first, and charts
// of what the view's channel carries (charts.js), filled from the relay's history on open.
// Query parameters: relay=ws://HOST:PORT (default: this page's host), access_token=…,
// view=flow|dark-pool|market-tide, channels=a,b (generic endpoint, any allowed channels),
// ticker=T (flow: show only T's alerts).
import { UwRelay } from "./uwrelay.js";
import { TimeChart, BarChart } from "./charts.js";
import { backfill } from "./backfill.js";

const MAX_ROWS = 200;
const MAX_KEPT = 2000;      // envelopes kept to redraw the table when the ticker filter changes
const HISTORY_LIMIT = 2000; // frames asked from the relay's history on open, per channel
const TOP_TICKERS = 10;
const RATE_WINDOW = 5; // seconds

const VIEWS = {
  "flow": { path: "/api/stream/ws/flow", channel: "flow-alerts" },
  "dark-pool": { path: "/api/stream/ws/dark-pool", channel: "off_lit_trades" },
  "market-tide": { path: "/api/stream/ws/market-movers", channel: "market_tide" },
};

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const relayUrl = params.get("relay") || (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
const accessToken = params.get("access_token") || undefined;

// ---------------------------------------------------------------- formatting

const num = (v) => (v === "" || v === null || v === undefined || typeof v === "boolean" ? NaN : Number(v));

/** $1.25M, $36.5K, $950, -$2.1B */
function money(v) {
  const n = num(v);
  if (!Number.isFinite(n)) return "–";
  const sign = n < 0 ? "-" : "";
  let a = Math.abs(n);
  const units = ["", "K", "M", "B", "T"];
  let u = 0;
  while (a >= 999.5 && u < units.length - 1) {
    a /= 1000;
    u++;
  }
  if (u === 0) return sign + "$" + (a >= 100 || Number.isInteger(a) ? Math.round(a) : a.toFixed(2));
  return sign + "$" + String(Number(a.toPrecision(3))) + units[u];
}

/** 1.23B / -262M / 45.1K without a currency sign */
function compact(v) {
  const s = money(v);
  return s === "–" ? s : s.replace("$", "");
}

function int(v) {
  const n = num(v);
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
}

function px(v, digits = 2) {
  const n = num(v);
  return Number.isFinite(n) ? n.toFixed(digits) : "–";
}

function strikeText(n) {
  return Number.isFinite(n) ? "$" + (Number.isInteger(n) ? n : Number(n.toFixed(3))) : "–";
}

/** A Date from epoch ms (or s), or an ISO string. */
function toDate(v) {
  if (typeof v === "number" || (typeof v === "string" && /^\d+(\.\d+)?$/.test(v))) {
    const n = Number(v);
    return new Date(n < 1e12 ? n * 1000 : n);
  }
  if (typeof v === "string" && v) {
    const d = new Date(v);
    if (!isNaN(d)) return d;
  }
  return null;
}

const pad2 = (n) => String(n).padStart(2, "0");
function clock(d) {
  return d ? pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds()) : "–";
}

/** OCC option symbol, e.g. DIA241018C00415000 → {root, expiry: "2024-10-18", type: "C", strike: 415} */
function parseOcc(sym) {
  const m = /^(.*?)(\d{2})(\d{2})(\d{2})([CP])(\d{8})$/.exec(String(sym || "").replace(/\s+/g, ""));
  if (!m) return null;
  return { root: m[1], expiry: `20${m[2]}-${m[3]}-${m[4]}`, type: m[5], strike: Number(m[6]) / 1000 };
}

function dte(iso) {
  const d = new Date(iso + "T00:00:00");
  if (isNaN(d)) return "";
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  return Math.round((d - today) / 86400000) + "d";
}

const spaced = (s) => String(s || "").replace(/([a-z])([A-Z])/g, "$1 $2");

// A cell is text, or [text, className], or [text, className, title].
const cp = (t) => (t === "C" || t === "call" ? ["Call", "call"] : t === "P" || t === "put" ? ["Put", "put"] : ["–"]);
const signed = (v) => [money(v), num(v) < 0 ? "neg" : num(v) > 0 ? "pos" : ""];
const premiumCell = (v) => [money(v), num(v) >= 1e6 ? "big" : num(v) >= 250e3 ? "mid" : ""];

/** Column schemas per channel kind (the part of the name before ':'). */
const SCHEMAS = {
  "flow-alerts": {
    valid: (d) => d && d.ticker !== undefined && parseOcc(d.option_chain),
    time: (d) => d.executed_at ?? d.start_time,
    cols: [
      ["Ticker", (d) => [d.ticker, "tk"]],
      ["C/P", (d) => cp(parseOcc(d.option_chain).type)],
      ["Strike", (d) => [strikeText(parseOcc(d.option_chain).strike), "n"]],
      ["Expiry", (d) => { const e = parseOcc(d.option_chain).expiry; return [e + " · " + dte(e), "", d.option_chain]; }],
      ["Premium", (d) => { const c = premiumCell(d.total_premium); c[1] += " n"; return c; }],
      ["Size", (d) => [int(d.total_size), "n"]],
      ["Price", (d) => [px(d.price), "n"]],
      ["Spot", (d) => [px(d.underlying_price), "n"]],
      ["Rule", (d) => [spaced(d.rule_name), "rule"]],
      ["Flags", (d) => [[d.has_sweep && "SWEEP", d.has_floor && "FLOOR", d.has_multileg && "MULTI"]
        .filter(Boolean).join(" "), "flags"]],
    ],
  },
  "option_trades": {
    valid: (d) => d && (d.option_symbol || d.underlying_symbol),
    time: (d) => d.executed_at ?? d.created_at,
    cols: [
      ["Ticker", (d) => [d.underlying_symbol || (parseOcc(d.option_symbol) || {}).root, "tk"]],
      ["C/P", (d) => cp(d.option_type || (parseOcc(d.option_symbol) || {}).type)],
      ["Strike", (d) => [strikeText(num(d.strike) || (parseOcc(d.option_symbol) || {}).strike), "n"]],
      ["Expiry", (d) => { const e = d.expiry || (parseOcc(d.option_symbol) || {}).expiry || ""; return [e ? e + " · " + dte(e) : "–", "", d.option_symbol]; }],
      ["Premium", (d) => { const c = premiumCell(d.premium); c[1] += " n"; return c; }],
      ["Size", (d) => [int(d.size), "n"]],
      ["Price", (d) => [px(d.price), "n"]],
      ["Bid × Ask", (d) => [px(d.nbbo_bid) + " × " + px(d.nbbo_ask), "n"]],
      ["Side", (d) => { const t = (d.tags || []).find((x) => /_side$/.test(x)) || ""; return [t.replace("_side", ""), "side-" + t]; }],
      ["Exch", (d) => d.exchange || "–"],
    ],
  },
  "price": {
    valid: (d) => d && d.close !== undefined,
    time: (d) => d.time,
    cols: [
      ["Ticker", (d, env) => [env.channel.split(":")[1] || "–", "tk"]],
      ["Last", (d) => [px(d.close), "n"]],
      ["Volume", (d) => [int(d.vol), "n"]],
    ],
  },
  "gex": {
    valid: (d) => d && d.gamma_per_one_percent_move_oi !== undefined,
    time: (d) => d.timestamp,
    cols: [
      ["Ticker", (d) => [d.ticker, "tk"]],
      ["Price", (d) => [px(d.price), "n"]],
      ["Gamma / 1%", (d) => [compact(d.gamma_per_one_percent_move_oi), "n " + (num(d.gamma_per_one_percent_move_oi) < 0 ? "neg" : "pos")]],
      ["Delta / 1%", (d) => [compact(d.delta_per_one_percent_move_oi), "n"]],
      ["Charm / 1%", (d) => [compact(d.charm_per_one_percent_move_oi), "n"]],
      ["Vanna / 1%", (d) => [compact(d.vanna_per_one_percent_move_oi), "n"]],
    ],
  },
  "off_lit_trades": {
    valid: (d) => d && d.ticker !== undefined && d.price !== undefined,
    time: (d) => d.executed_at,
    cols: [
      ["Ticker", (d) => [d.ticker, "tk"]],
      ["Price", (d) => [px(d.price), "n"]],
      ["Size", (d) => [int(d.size), "n"]],
      ["Premium", (d) => { const c = premiumCell(d.premium); c[1] += " n"; return c; }],
      ["Bid × Ask", (d) => [px(d.nbbo_bid) + " × " + px(d.nbbo_ask), "n"]],
      ["Center", (d) => d.market_center || "–"],
    ],
  },
  "market_tide": {
    valid: (d) => d && d.net_call_premium !== undefined,
    time: (d) => d.timestamp,
    cols: [
      ["Net call premium", (d) => { const c = signed(d.net_call_premium); c[1] += " n"; return c; }],
      ["Net put premium", (d) => { const c = signed(d.net_put_premium); c[1] += " n"; return c; }],
      ["Net volume", (d) => [int(d.net_volume), "n " + (num(d.net_volume) < 0 ? "neg" : "pos")]],
    ],
  },
  "news": {
    valid: (d) => d && d.headline !== undefined,
    time: (d) => d.timestamp,
    cols: [
      ["Headline", (d) => [d.headline, "wide"]],
      ["Tickers", (d) => (d.tickers || []).join(" ")],
      ["Source", (d) => d.source || "–"],
    ],
  },
};
SCHEMAS.lit_trades = SCHEMAS.off_lit_trades;
const RAW = { cols: [["Channel · data", null]] };

const NUMERIC = /^(Strike|Premium|Size|Price|Spot|Last|Volume|Bid × Ask|Net .*|.* \/ 1%)$/;
const kindOf = (channel) => channel.split(":")[0];

// ---------------------------------------------------------------- state

let client = null;
let view = null;         // {key, channels[], generic, schema}
let pending = [];        // envelopes waiting for the next paint
let paintQueued = false;
let received = 0;
let ticks = [0];         // frames per second, last RATE_WINDOW seconds
let gapCount = 0;
let kept = [];           // the last MAX_KEPT envelopes of the view, oldest first
let tickerFilter = null; // flow: show only this ticker's rows
let charts = null;       // the view's charts and what they aggregate
let fromHistory = 0;
let loading = null;      // channel -> envelopes that arrived live while its history loads
let lastSeen = new Map(); // channel -> {epoch, seq}: nothing older is drawn twice
let viewGen = 0;         // bumps on each setView, so a late history answer is dropped

function schemaFor(channels) {
  const kinds = new Set(channels.map(kindOf));
  return kinds.size === 1 && SCHEMAS[[...kinds][0]] ? SCHEMAS[[...kinds][0]] : RAW;
}

function renderHead() {
  const head = $("head");
  head.textContent = "";
  for (const h of ["Time", ...view.schema.cols.map((c) => c[0])]) {
    const th = document.createElement("th");
    th.textContent = h;
    if (NUMERIC.test(h)) th.className = "n";
    head.appendChild(th);
  }
}

function cell(tr, v) {
  const td = document.createElement("td");
  const [text, cls, title] = Array.isArray(v) ? v : [v];
  td.textContent = text === undefined || text === null || text === "" ? (cls === "flags" ? "" : "–") : String(text);
  if (cls) td.className = cls.trim();
  if (title) td.title = title;
  tr.appendChild(td);
}

function rowFor(env) {
  const tr = document.createElement("tr");
  const d = env.data;
  tr.dataset.channel = env.channel;
  if (env.seq !== undefined) tr.dataset.seq = env.seq;
  if (env.epoch) tr.dataset.epoch = env.epoch;
  if (d && d.sim_seq !== undefined) tr.dataset.simSeq = d.sim_seq;
  const own = SCHEMAS[kindOf(env.channel)];
  let ok = false;
  try {
    ok = own === view.schema && !!own.valid(d);
  } catch (e) {
    ok = false;
  }
  const when = ok ? toDate(view.schema.time(d)) || toDate(env.timestamp) : toDate(env.timestamp);
  cell(tr, [clock(when), "time", when ? when.toISOString() : ""]);
  if (ok) {
    try {
      for (const [, f] of view.schema.cols) cell(tr, f(d, env));
      return tr;
    } catch (e) {
      while (tr.children.length > 1) tr.lastChild.remove();
    }
  }
  // not a payload this view knows: compact JSON rather than nothing
  tr.classList.add("raw");
  const td = document.createElement("td");
  td.colSpan = view.schema.cols.length;
  const ch = document.createElement("span");
  ch.className = "rawch";
  ch.textContent = env.channel;
  const code = document.createElement("code");
  let json = JSON.stringify(d);
  if (json === undefined) json = String(d);
  code.textContent = json.length > 600 ? json.slice(0, 600) + "…" : json;
  td.title = json.length > 4000 ? json.slice(0, 4000) + "…" : json;
  td.append(ch, " ", code);
  tr.appendChild(td);
  return tr;
}

function tickerOf(env) {
  const d = env.data;
  return d && typeof d === "object" ? d.ticker ?? d.underlying_symbol ?? null : null;
}

const passes = (env) => !tickerFilter || tickerOf(env) === tickerFilter;

// Charts are redrawn at most 10 times a second (each redraw is a few ms for 2000 points; at
// 60 a second they would take a good part of a slow machine's main thread for no visible gain).
const CHART_MS = 100;
let chartsAt = 0, chartsTimer = null;

function flushCharts() {
  if (!charts) return;
  const now = performance.now();
  if (now - chartsAt >= CHART_MS) {
    chartsAt = now;
    charts.flush();
  } else if (!chartsTimer) {
    chartsTimer = setTimeout(() => { chartsTimer = null; queuePaint(); }, CHART_MS - (now - chartsAt));
  }
}

function paint() {
  paintQueued = false;
  flushCharts();
  if (!pending.length) return;
  const batch = pending.filter(passes).slice(-MAX_ROWS);
  pending = [];
  const frag = document.createDocumentFragment();
  for (let i = batch.length - 1; i >= 0; i--) {
    const tr = rowFor(batch[i]);
    tr.classList.add("new");
    frag.appendChild(tr);
  }
  const rows = $("rows");
  rows.insertBefore(frag, rows.firstChild);
  while (rows.rows.length > MAX_ROWS) rows.lastChild.remove();
  $("empty").hidden = rows.rows.length > 0;
  showCount();
}

function showCount() {
  $("count").textContent = `${received} received` +
    (fromHistory ? `, ${fromHistory} from history` : "") +
    (client && client.stats.duplicates ? `, ${client.stats.duplicates} duplicates dropped` : "");
}

function queuePaint() {
  if (!paintQueued) {
    paintQueued = true;
    requestAnimationFrame(paint);
  }
}

/** One envelope, live or from history, into the table and the charts (once per seq). */
function take(env) {
  const m = lastSeen.get(env.channel);
  if (typeof env.seq === "number") {
    if (m && m.epoch === env.epoch && env.seq <= m.seq) return false;
    lastSeen.set(env.channel, { epoch: env.epoch, seq: env.seq });
  }
  kept.push(env);
  if (kept.length > MAX_KEPT * 1.5) kept = kept.slice(-MAX_KEPT);
  pending.push(env);
  // more than a screenful waiting (a background tab): only the newest can be shown anyway
  if (pending.length > MAX_ROWS * 4) pending = pending.slice(-MAX_ROWS * 2);
  if (charts) charts.add(env);
  queuePaint();
  return true;
}

function onEnvelope(env) {
  received++;
  ticks[ticks.length - 1]++;
  if (loading && loading.has(env.channel)) {
    loading.get(env.channel).push(env);
    return;
  }
  take(env);
}

// ---------------------------------------------------------------- status display

function setPill(id, state, text, title) {
  const el = $(id);
  el.dataset.state = state;
  el.textContent = text;
  if (title !== undefined) el.title = title;
}

function onState(s) {
  if (s.state === "connecting") setPill("state", "connecting", "connecting to relay…");
  else if (s.state === "open") setPill("state", "open", "connected");
  else if (s.state === "reconnecting")
    setPill("state", "reconnecting", `reconnecting to relay (try ${s.attempt}, ${(s.delay / 1000).toFixed(1)} s)…`,
      s.code ? `socket closed, code ${s.code}${s.reason ? ": " + s.reason : ""}` : "relay unreachable");
  else if (s.state === "closed") setPill("state", "closed", "closed");
}

// A replaying relay: the status line says so, and where the replay stands (from
// /api/stream/status, every 2 s while it lasts).
let replayTimer = null;
function showReplay() {
  const base = relayUrl.replace(/^ws/, "http").replace(/\/+$/, "");
  const opts = accessToken ? { headers: { Authorization: "Bearer " + accessToken } } : {};
  fetch(base + "/api/stream/status", opts).then((r) => r.json()).then((st) => {
    const rp = st.replay;
    if (!rp) return;
    const speed = rp.speed === "max" ? "max speed" : rp.speed + "×";
    const where = rp.position ? rp.position.replace("T", " ").replace(/\.\d+Z$/, " UTC") : "start";
    setPill("upstream", rp.state === "failed" ? "down" : "up",
      `replay ${rp.state === "done" ? "finished" : speed}: ${where}, ${rp.frames} frames`,
      `Replaying ${rp.file}` + (rp.error ? ": " + rp.error : ""));
  }).catch(() => {});
}

function onUpstream(u) {
  if (u.state === "replay") {
    showReplay();
    if (!replayTimer) replayTimer = setInterval(showReplay, 2000);
    return;
  }
  if (replayTimer) {
    clearInterval(replayTimer);
    replayTimer = null;
  }
  const word = {
    connected: ["up", "upstream connected"],
    disconnected: ["down", "relay says upstream is down"],
    unauthorized: ["down", "upstream down: token refused by UW"],
    disabled: ["down", "upstream down: relay has no UW token"],
  }[u.state] || ["unknown", "upstream: unknown"];
  setPill("upstream", word[0], word[1] + (u.reason && u.state === "disconnected" ? ` (${u.reason})` : ""),
    "The relay's link to Unusual Whales" + (u.reason ? ": " + u.reason : ""));
}

function onGap(g) {
  gapCount++;
  const what = g.reason === "epoch" ? "the relay restarted" :
    g.reason === "too_old" ? `frames ${g.from}–${g.to} are no longer held` : g.reason || "unknown reason";
  $("gap-text").textContent = `Data missed on ${g.channel} and not recovered: ${what}.` +
    (gapCount > 1 ? ` (${gapCount} gaps)` : "");
  $("gap-notice").hidden = false;
}

function onError(e) {
  const el = $("error-notice");
  el.textContent = `Relay: ${e.message || e.code}${e.channel ? " (" + e.channel + ")" : ""}`;
  el.hidden = false;
}

function tick() {
  const secs = ticks.length - 1 || 1;
  const sum = ticks.slice(0, -1).reduce((a, b) => a + b, 0);
  const el = $("rate");
  el.textContent = (sum / secs).toFixed(1) + "/s";
  el.dataset.rate = (sum / secs).toFixed(2);
  showCount();
  ticks.push(0);
  if (ticks.length > RATE_WINDOW + 1) ticks.shift();
}

// ---------------------------------------------------------------- views

function clearTable() {
  pending = [];
  $("rows").textContent = "";
  $("empty").hidden = false;
}

/** Shows only `tk`'s rows (null: all): the table is redrawn from the kept envelopes. */
function setFilter(tk) {
  tickerFilter = tk || null;
  $("filter").hidden = !tickerFilter;
  $("filter-tk").textContent = tickerFilter || "";
  clearTable();
  pending = kept.filter(passes).slice(-MAX_ROWS);
  queuePaint();
  const q = new URLSearchParams(location.search);
  if (tickerFilter) q.set("ticker", tickerFilter);
  else q.delete("ticker");
  history.replaceState(null, "", "?" + q.toString().replace(/%(2C|3A|2F)/gi, (m) => decodeURIComponent(m)));
}

// ---------------------------------------------------------------- charts per view

const timeOf = (schema, env) => {
  let d = null;
  try { d = schema && schema.time(env.data); } catch { d = null; }
  const when = toDate(d) || toDate(env.timestamp);
  return when ? when.getTime() / 1000 : Date.now() / 1000;
};

/** Flow alerts: premium by ticker (top N, calls beside puts) and cumulative calls against puts. */
function flowCharts() {
  const byTicker = new Map();   // ticker -> [call premium, put premium]
  let calls = 0, puts = 0, barsAt = 0, dirty = false, trailing = null;
  const bars = new BarChart($("chart-tickers"), {
    title: `Premium by ticker (top ${TOP_TICKERS})`, height: 230,
    series: [{ label: "Calls", color: css("--call") }, { label: "Puts", color: css("--put") }],
    onPick: (tk) => setFilter(tk === tickerFilter ? null : tk),
  });
  const cp = new TimeChart($("chart-cp"), {
    title: "Calls vs puts: premium since the page opened", height: 200,
    series: [{ label: "Calls", color: css("--call") }, { label: "Puts", color: css("--put") }],
  });
  const top = () => [...byTicker].sort((a, b) => (b[1][0] + b[1][1]) - (a[1][0] + a[1][1])).slice(0, TOP_TICKERS);
  return {
    bars, cp, byTicker,
    add(env) {
      const d = env.data;
      const occ = d && parseOcc(d.option_chain);
      const prem = num(d && d.total_premium);
      if (!occ || !Number.isFinite(prem) || typeof d.ticker !== "string") return;
      const t = byTicker.get(d.ticker) || [0, 0];
      t[occ.type === "C" ? 0 : 1] += prem;
      byTicker.set(d.ticker, t);
      if (occ.type === "C") calls += prem;
      else puts += prem;
      dirty = true;
      cp.push(timeOf(SCHEMAS["flow-alerts"], env), [calls, puts]);
    },
    flush() {
      const now = performance.now();
      // the ranking need not move 50 times a second; the last change is drawn in any case
      if (dirty && now - barsAt < 250) {
        if (!trailing) trailing = setTimeout(() => { trailing = null; queuePaint(); }, 250 - (now - barsAt));
      } else if (dirty) {
        dirty = false;
        barsAt = now;
        const t = top();
        bars.set(t.map(([k]) => k), [t.map(([, v]) => v[0]), t.map(([, v]) => v[1])]);
      }
      bars.flush();
      cp.flush();
      const all = calls + puts;
      $("cp-ratio").innerHTML = all ? `<b class="call">Calls ${money(calls)} (${Math.round(100 * calls / all)}%)</b>` +
        ` · <b class="put">Puts ${money(puts)} (${Math.round(100 * puts / all)}%)</b>` : "";
    },
    resize() { bars.resize(); cp.resize(); },
    destroy() { clearTimeout(trailing); bars.destroy(); cp.destroy(); },
  };
}

/** One time chart fed by `values(data)`, for market tide, price and GEX. */
function lineCharts(title, series, schema, values) {
  const chart = new TimeChart($("chart-main"), { title, height: 260, series });
  return {
    chart,
    add(env) {
      let v = null;
      try { v = schema.valid(env.data) ? values(env.data, chart) : null; } catch { v = null; }
      if (v) chart.push(timeOf(schema, env), v);
    },
    flush() { chart.flush(); },
    resize() { chart.resize(); },
    destroy() { chart.destroy(); },
  };
}

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

function chartsFor(channels) {
  if (channels.length !== 1 || !globalThis.uPlot) return null;
  const [kind, tk] = channels[0].split(":");
  const n = (v) => { const x = num(v); return Number.isFinite(x) ? x : null; };
  if (kind === "flow-alerts") return flowCharts();
  if (kind === "market_tide")
    return lineCharts("Market tide: net premium through the day", [
      { label: "Net call premium", color: css("--call") },
      { label: "Net put premium", color: css("--put") },
      { label: "Net volume", color: css("--accent"), scale: "y2", bars: true },
    ], SCHEMAS.market_tide, (d) => [n(d.net_call_premium), n(d.net_put_premium), n(d.net_volume)]);
  if (kind === "price" && tk) {
    let lastVol = null;   // UW's vol is the day's running total: the chart shows what each tick added
    return lineCharts(`${tk} price`, [
      { label: "Last", color: css("--accent"), fmt: (v) => v.toFixed(2) },
      { label: "Volume", color: "#8593a3", scale: "y2", bars: true },
    ], SCHEMAS.price, (d) => {
      const vol = n(d.vol);
      const added = vol !== null && lastVol !== null && vol >= lastVol ? vol - lastVol : null;
      if (vol !== null) lastVol = vol;
      return [n(d.close), added];
    });
  }
  if (kind === "gex" && tk)
    return lineCharts(`${tk} gamma exposure (per 1% move, by open interest)`, [
      { label: "Gamma / 1%", color: css("--warn") },
      { label: "Price", color: css("--accent"), scale: "y2", fmt: (v) => v.toFixed(2) },
    ], SCHEMAS.gex, (d) => [n(d.gamma_per_one_percent_move_oi), n(d.price)]);
  return null;
}

function setCharts(channels) {
  if (charts) charts.destroy();
  $("chart-main").textContent = "";
  $("chart-tickers").textContent = "";
  $("chart-cp").textContent = "";
  $("cp-ratio").textContent = "";
  charts = chartsFor(channels);
  const flow = channels.length === 1 && channels[0] === "flow-alerts" && !!charts;
  $("flow-side").hidden = !flow;
  $("chart-main").hidden = !charts || flow;
  if (charts) charts.resize();
  window.__uwrelayCharts = charts;     // for tests and the console
}

// ---------------------------------------------------------------- history on open

async function loadHistory(channels, path) {
  const gen = viewGen;
  loading = new Map(channels.map((ch) => [ch, []]));
  const st = $("history-state");
  st.dataset.state = "loading";
  st.textContent = "loading history…";
  let n = 0;
  for (const ch of channels) {
    let envs = [];
    try {
      envs = await backfill({ client, relayUrl, accessToken, channel: ch, path, limit: HISTORY_LIMIT });
    } catch {
      envs = [];
    }
    if (gen !== viewGen) return;
    for (const env of envs) if (env && env.channel === ch && take(env)) n++;
    const live = loading.get(ch) || [];
    loading.delete(ch);
    for (const env of live) take(env);
  }
  loading = null;
  fromHistory += n;
  st.dataset.state = "done";
  st.dataset.count = String(n);
  st.textContent = n ? `${n} from history` : "";
  showCount();
}

let detach = [];
function openClient(options) {
  detach.forEach((off) => off());
  if (client) client.close();
  client = new UwRelay(relayUrl, Object.assign({ accessToken }, options));
  detach = [
    client.on("envelope", onEnvelope),
    client.on("state", onState),
    client.on("upstream", onUpstream),
    client.on("gap", onGap),
    client.on("error", onError),
  ];
  window.__uwrelayClient = client;       // for tests and the console
  onUpstream({ state: "unknown" });
  $("endpoint").textContent = client.url.replace(/[?&]access_token=[^&]*/, "");
}

function setView(key, channels) {
  gapCount = 0;
  $("gap-notice").hidden = true;
  $("error-notice").hidden = true;
  if (VIEWS[key]) {
    view = { key, channels: [VIEWS[key].channel], generic: false };
    view.schema = schemaFor(view.channels);
    openClient({ path: VIEWS[key].path });
  } else {
    key = "ticker";
    const keep = view && view.generic && client && client.state !== "closed";
    const old = view && view.generic ? view.channels : [];
    view = { key, channels, generic: true, schema: schemaFor(channels) };
    if (keep) {
      // same socket: change the subscriptions
      for (const ch of old) if (!channels.includes(ch)) client.unsubscribe(ch);
      for (const ch of channels) client.subscribe(ch);
    } else {
      openClient({ channels });
    }
  }
  $("channel-select").value = key;
  renderHead();
  clearTable();
  viewGen++;
  kept = [];
  lastSeen = new Map();
  fromHistory = 0;
  tickerFilter = null;
  $("filter").hidden = true;
  setCharts(view.channels);
  loadHistory(view.channels, view.generic ? null : VIEWS[key].path);
  const q = new URLSearchParams(location.search);
  q.delete("view");
  q.delete("channels");
  if (view.generic) q.set("channels", channels.join(","));
  else q.set("view", key);
  history.replaceState(null, "", "?" + q.toString().replace(/%(2C|3A|2F)/gi, (m) => decodeURIComponent(m)));
}

function tickerChannel() {
  const t = $("ticker-input").value.trim().toUpperCase();
  if (!/^[A-Z0-9._-]{1,32}$/.test(t)) return null;
  return $("ticker-kind").value + ":" + t;
}

function init() {
  $("channel-select").addEventListener("change", (ev) => {
    const v = ev.target.value;
    if (v === "ticker") {
      const ch = tickerChannel();
      if (ch) setView("ticker", [ch]);
      else {
        ev.target.value = view.key;    // nothing to watch yet: ask for a ticker
        $("ticker-input").classList.add("bad");
        $("ticker-input").focus();
      }
      return;
    }
    setView(v);
  });
  $("ticker-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const ch = tickerChannel();
    const input = $("ticker-input");
    input.classList.toggle("bad", !ch);
    if (ch) setView("ticker", [ch]);
  });
  $("ticker-kind").addEventListener("change", () => {
    if (view && view.generic && tickerChannel()) setView("ticker", [tickerChannel()]);
  });
  $("clear").addEventListener("click", clearTable);
  $("filter-clear").addEventListener("click", () => setFilter(null));
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => charts && charts.resize(), 100);
  });
  $("gap-dismiss").addEventListener("click", () => { $("gap-notice").hidden = true; gapCount = 0; });
  window.addEventListener("online", () => client && client.reconnectNow());
  setInterval(tick, 1000);

  const chans = (params.get("channels") || "").split(",").map((s) => s.trim()).filter(Boolean);
  if (chans.length) {
    const one = chans.length === 1 && /^(option_trades|gex|price):(.+)$/.exec(chans[0]);
    if (one) {
      $("ticker-kind").value = one[1];
      $("ticker-input").value = one[2];
    }
    setView("ticker", chans);
  } else {
    setView(VIEWS[params.get("view")] ? params.get("view") : "flow");
  }
  const tk = (params.get("ticker") || "").trim().toUpperCase();
  if (tk && /^[A-Z0-9._-]{1,32}$/.test(tk) && view.key === "flow") setFilter(tk);
}

init();
