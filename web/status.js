// The operator's page: GET /api/stream/status every 2 s, drawn. The frames-per-second chart
// comes from the status API's "recent" samples (one a second, the last five minutes), so it
// is full on open; per-channel rates are the differences between two polls.
// Query parameters: relay=http://HOST:PORT (default: this page's host), access_token=….
import { TimeChart, short } from "./charts.js";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const base = (params.get("relay") || location.origin).replace(/^ws/, "http").replace(/\/+$/, "");
const accessToken = params.get("access_token");

let rates = null;     // TimeChart: frames in and out per second
let clients = null;   // TimeChart: WebSocket clients
let prevChannels = null, prevAt = 0;
let lastOk = 0;

const pad2 = (n) => String(n).padStart(2, "0");
const clock = (ms) => { const d = new Date(ms); return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`; };
const ago = (iso) => {
  if (!iso) return "–";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  const txt = s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
  return `${new Date(iso).toLocaleTimeString()} (${txt} ago)`;
};
const int = (v) => (typeof v === "number" ? v.toLocaleString("en-US") : "–");

/** Fills a <dl> with [term, value, className?] rows. */
function kv(el, rows) {
  el.textContent = "";
  for (const [k, v, cls] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v === null || v === undefined || v === "" ? "–" : String(v);
    dd.dataset.k = k;
    if (cls) dd.className = cls;
    el.append(dt, dd);
  }
}

function tableRows(tbody, rows) {
  tbody.textContent = "";
  for (const { cells, data } of rows) {
    const tr = document.createElement("tr");
    Object.assign(tr.dataset, data || {});
    for (const c of cells) {
      const [text, cls] = Array.isArray(c) ? c : [c];
      const td = document.createElement("td");
      td.textContent = text === null || text === undefined ? "–" : String(text);
      td.title = td.textContent;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
}

function setPill(id, state, text) {
  const el = $(id);
  el.dataset.state = state;
  el.textContent = text;
}

function drawUw(st) {
  const uw = st.uw_connection || {};
  const word = st.status;   // connected | disconnected | unauthorized | disabled (an edge: the ingest's)
  setPill("uw-state", word === "connected" ? "up" : "down",
    "UW link: " + (word === "connected" ? "connected" : uw.state === "waiting_to_retry" ? "down, retrying" : word));
  kv($("uw"), [
    ["State", uw.state, word === "connected" ? "good" : "bad"],
    ["Reason", st.reason, st.reason ? "bad" : ""],
    ["Connected since", uw.connected_since ? ago(uw.connected_since) : null],
    ["Last frame", uw.last_frame_at ? ago(uw.last_frame_at) : null],
    ["Next retry in", typeof uw.next_retry_in === "number" ? uw.next_retry_in.toFixed(1) + " s" : null],
    ["Reconnect attempts", uw.reconnect_attempts],
    ["Connects / losses", `${int(uw.connects)} / ${int(uw.disconnects)}`],
    ["Last error", uw.last_error],
    ["Channels joined", uw.channel_count],
    ["Frames from UW", int(uw.frames_in)],
    ["Malformed / oversize", `${int(uw.malformed_frames)} / ${int(uw.oversize_frames)}`],
    ["Join budget", uw.budget ? `${uw.budget.tokens} of ${uw.budget.burst} (${uw.budget.rate}/s), ${uw.budget.queued_joins} joins waiting` : null],
    ["URL", uw.url],
  ]);
  const evs = ((st.recent || {}).link_events || []).slice().reverse();
  tableRows($("link-events"), evs.map((e) => ({
    data: { event: e.event },
    cells: [clock(e.t), [e.event, e.event === "connected" ? "good" : "bad"], e.reason],
  })));
  $("no-events").hidden = evs.length > 0;
}

function drawRates(st) {
  if (!st.recent || !globalThis.uPlot) return;
  if (!rates) {
    const css = (n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim();
    rates = new TimeChart($("chart-rates"), { title: "", height: 200, series: [
      { label: "In (from UW)", color: css("--accent"), fmt: (v) => v.toFixed(1) + "/s" },
      { label: "Out (to browsers)", color: css("--call"), fmt: (v) => short(v) + "/s" },
      { label: "UW link down", color: css("--put"), shade: true, fmt: (v) => (v ? "down" : "") },
    ] });
    clients = new TimeChart($("chart-clients"), { title: "", height: 120, series: [
      { label: "Clients", color: css("--warn"), fmt: (v) => String(v) },
      { label: "Slow-consumer closes", color: css("--put"), scale: "y2", bars: true, fmt: (v) => String(v) },
    ] });
    window.__uwrelayStatusCharts = { rates, clients };
  }
  rates.reset();
  clients.reset();
  for (const s of recentSamples(st)) {
    const t = s.t / 1000, span = Math.max(1, s.span_ms) / 1000;
    rates.push(t, [s.frames_in / span, s.frames_out / span, s.up ? null : 1]);
    clients.push(t, [s.clients, s.slow_closed || null]);
  }
  rates.flush();
  clients.flush();
}

/** The status API's recent samples as objects ({t, span_ms, frames_in, ...}). */
function recentSamples(st) {
  const rec = st.recent || {};
  const fields = rec.fields || [];
  return (rec.samples || []).map((s) => Object.fromEntries(fields.map((k, i) => [k, s[i]])));
}

function drawClients(st) {
  const c = st.connections || {};
  const all = recentSamples(st);
  const lastMin = all.slice(-60);
  const slow5 = all.reduce((a, s) => a + (s.slow_closed || 0), 0);
  kv($("clients"), [
    ["WebSocket clients", st.total_clients],
    ["Subscriptions", st.total_subscriptions],
    ["Connections open", c.open],
    ["Pending (no request yet)", c.pending],
    ["Slow-consumer closes", `${int(st.slow_consumers_closed)} (${slow5} in 5 min)`, slow5 ? "bad" : ""],
    ["Frames out", int(st.frames_out)],
    ["Out, last minute", lastMin.length ? (lastMin.reduce((a, s) => a + s.frames_out, 0) /
      Math.max(1, lastMin.reduce((a, s) => a + s.span_ms, 0) / 1000)).toFixed(1) + "/s" : null],
    ["Refused per address", c.refused_per_ip],
    ["Bad requests", c.bad_requests],
    ["Frames in memory", `${int(st.frames_in_memory)} (${short(st.frame_bytes_in_memory)}B)`],
  ]);
}

function drawChannels(st, now) {
  const chans = st.channels || {};
  const dt = prevChannels ? (now - prevAt) / 1000 : 0;
  const rows = Object.keys(chans).sort().map((name) => {
    const c = chans[name];
    const before = prevChannels && prevChannels[name];
    const rate = before && dt > 0 ? Math.max(0, c.frames_in - before.frames_in) / dt : null;
    return {
      data: { channel: name },
      cells: [name, [c.subscribers, "n"], [rate === null ? "…" : rate.toFixed(1), "n"], [int(c.frames_in), "n"],
        [c.seq, "n"], [c.joined ? "joined" : c.upstream, c.joined ? "good" : c.upstream === "ack_failed" ? "bad" : ""]],
    };
  });
  tableRows($("channels"), rows);
  prevChannels = chans;
  prevAt = now;
}

function drawSources(st) {
  const srcs = Object.values(st.sources || {});
  $("sources-card").hidden = !srcs.length;
  tableRows($("sources"), srcs.map((s) => ({
    data: { channel: s.channel },
    cells: [s.channel, s.polling ? "yes" : "no", s.interval + " s", s.last_poll ? ago(s.last_poll) : null,
      [int(s.rows_published), "n"], [int(s.errors), s.errors ? "n bad" : "n"], [s.last_error, s.last_error ? "bad" : ""]],
  })));
}

function drawCluster(st) {
  const cl = st.cluster || { role: "standalone" };
  $("cluster-card").hidden = cl.role === "standalone";
  if (cl.role === "standalone") return;
  const rd = cl.redis || {};
  const rows = [
    ["Role", cl.role + (cl.role === "ingest" ? (cl.leader ? " (leader: holds the UW link)" : " (standing by)") : "")],
    ["Node", cl.node],
    ["Redis", rd.address],
    ["Redis link", rd.connected ? "connected" : "down", rd.connected ? "good" : "bad"],
    ["Redis connects / drops", `${int(rd.connects)} / ${int(rd.drops)}`],
    ["Redis last error", rd.last_error],
  ];
  if (cl.role === "ingest")
    rows.push(["Lock holder", cl.lock_holder], ["Leader since", cl.leader_since ? ago(cl.leader_since) : null],
      ["Takeovers", cl.takeovers], ["Appended / failed", `${int(cl.appended)} / ${int(cl.append_failed)}`]);
  else if (cl.uw_link)
    rows.push(["UW link (at the ingest)", cl.uw_link.state + (cl.uw_link.reason ? `: ${cl.uw_link.reason}` : "")],
      ["Ingest node", cl.uw_link.holder], ["Frames read", int(cl.frames_read)], ["Gaps", cl.gaps]);
  kv($("cluster"), rows);
}

async function poll() {
  const q = accessToken ? "?access_token=" + encodeURIComponent(accessToken) : "";
  const now = Date.now();
  try {
    const r = await fetch(`${base}/api/stream/status${q}`, { cache: "no-store" });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const st = await r.json();
    lastOk = now;
    $("error-notice").hidden = true;
    drawUw(st);
    drawRates(st);
    drawClients(st);
    drawChannels(st, now);
    drawSources(st);
    drawCluster(st);
    $("version").textContent = `uwrelay ${st.version}, up ${Math.round(st.uptime_seconds)} s, epoch ${st.epoch}`;
    setPill("poll", "open", "updated " + new Date(now).toLocaleTimeString());
  } catch (e) {
    setPill("poll", "down", "relay unreachable");
    setPill("uw-state", "unknown", "UW link: unknown");
    const el = $("error-notice");
    el.textContent = `Cannot read ${base}/api/stream/status: ${e.message}` +
      (lastOk ? ` (last answer ${Math.round((now - lastOk) / 1000)} s ago)` : "");
    el.hidden = false;
  }
}

async function loop() {
  await poll();
  setTimeout(loop, POLL_MS);
}

window.addEventListener("resize", () => { rates && rates.resize(); clients && clients.resize(); });
// uPlot is a deferred classic script; modules run after it, so it is there now
loop();
