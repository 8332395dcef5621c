/**
 * uwrelay.js: a small, dependency-free browser client for uwrelay (ES module).
 *
 * It opens a WebSocket to the relay, reconnects with exponential backoff and
 * jitter, resumes every channel where it left off (`since`/`epoch`, see
 * docs/PROTOCOL.md) and drops duplicates, so each data envelope reaches the
 * application exactly once per relay epoch. What the relay says about itself
 * (`$relay` messages) comes out as events.
 *
 * @example
 *   import { UwRelay } from "/uwrelay.js";
 *
 *   // a path endpoint (one channel, read-only)
 *   const flow = new UwRelay("ws://127.0.0.1:8080", { path: "/api/stream/ws/flow" });
 *   flow.on("envelope", (env) => console.log(env.seq, env.data.ticker, env.data.total_premium));
 *   flow.on("state", ({ state }) => console.log("relay:", state));   // connecting|open|reconnecting|closed
 *   flow.on("upstream", ({ state }) => console.log("UW link:", state)); // connected|disconnected|...
 *   flow.on("gap", (g) => console.warn("not recovered:", g.channel, g.reason, g.from, g.to));
 *
 *   // the generic endpoint: pick channels, change them at any time
 *   const c = new UwRelay("ws://127.0.0.1:8080", { channels: ["price:SPY"] });
 *   c.on("channel:price:SPY", (env) => console.log(env.data.close));
 *   c.subscribe("gex:SPY");      // queued while disconnected, re-sent on reconnect
 *   c.unsubscribe("price:SPY");
 *   // ... later
 *   c.close();                   // never reconnects after this
 *
 * Options (all optional):
 *   - `channels`: initial channels; uses the generic endpoint `/api/stream/ws`.
 *   - `path`: endpoint path, e.g. `/api/stream/ws/flow` (default `/api/stream/ws`, or
 *     the path of `url` when it has one). Path endpoints are read-only: subscribe() throws.
 *   - `accessToken`: sent as `?access_token=` (relays with `auth.tokens`).
 *   - `backoff`: `{initialDelay: 500, maxDelay: 15000, jitter: 0.2}` (ms, ms, fraction);
 *     retry n waits `min(initialDelay * 2^(n-1), maxDelay) * (1 ± jitter)`; reset after an open.
 *   - `resume`: `true` (default) resumes with `since`/`epoch` after a reconnect.
 *   - `maxMsgRate`: messages per second sent to the relay (default 10, bursts of twice
 *     that; the relay's `clients.max_msg_rate` defaults to 20).
 *   - `WebSocket`: the WebSocket constructor (default `globalThis.WebSocket`; in Node
 *     without one, e.g. Node 18 and 20, the `ws` package, imported when the client starts).
 *   - `filters`: `{channel: filter}` sent with each channel's subscription (generic endpoint);
 *     `filter`: the path endpoint's `?filter=`. A channel the relay says is filtered (its
 *     `subscribed` notice carries `filter`/`filtered`) skips seqs by design: no `gap` for that.
 *   - `fetch`: the fetch function for `history()` (default `globalThis.fetch`).
 *   - `setTimeout`, `clearTimeout`, `now`, `random`: clock and randomness (for tests).
 *   - `onListenerError(error, eventName)`: called when a listener throws (default
 *     `reportError`, else `console.error`); the client carries on.
 *   - `autoConnect`: `true` (default) starts connecting in a microtask, so listeners
 *     added right after the constructor see every event; `false`: call `start()`.
 *
 * Events (`on(name, fn)` returns a function that removes the listener; `off(name, fn)`):
 *   - `envelope` (env): every data envelope `{channel, seq, epoch, timestamp, data}`.
 *   - `channel:NAME` (env): data envelopes of channel NAME only (e.g. `channel:flow-alerts`).
 *   - `state` ({state, attempt, delay, code, reason}): `connecting`, `open`,
 *     `reconnecting` (with the attempt number and the delay before it), `closed`.
 *   - `upstream` ({state, reason}): the relay's link to UW: `connected`, `disconnected`,
 *     `unauthorized`, `disabled`, or `unknown` while the relay itself is unreachable.
 *     Emitted when it changes (from `$relay` `upstream` notices and from `subscribed`).
 *   - `gap` ({channel, reason, from, to, message, epoch}): frames that were not recovered:
 *     the relay's notices (`too_old`, `epoch`, `trimmed`) and a seq jump on an unfiltered
 *     channel that came without one (`skipped`).
 *   - `error` ({code, message, channel}): a `$relay` error (the socket stays open), or
 *     `bad_frame` for a message that is not a JSON envelope.
 *   - `subscribed` ({channel, seq, upstream}), `unsubscribed` ({channel, reason}).
 *   - `relay` (env): every `$relay` message, raw. `disconnect` ({code, reason}): a socket closed.
 *
 * History (`GET /api/stream/history`, docs/PROTOCOL.md): `await client.history("flow-alerts",
 * {since, epoch, from, to, limit})` resolves to the envelopes, oldest first, following the
 * relay's `next` pages up to `limit` (default 1000) in total; it rejects with an `Error` whose
 * `status` is the HTTP status (409: `epoch` is no longer the channel's).
 *
 * @module uwrelay
 */

/** The relay's generic endpoint. */
export const GENERIC_PATH = "/api/stream/ws";

const DEFAULT_BACKOFF = { initialDelay: 500, maxDelay: 15000, jitter: 0.2 };
const HISTORY_PATH = "/api/stream/history";
const HISTORY_PAGE_MAX = 10000;   // the relay's largest page

function isNode() {
  const p = globalThis.process;
  return !!(p && p.versions && p.versions.node) && !globalThis.window;
}

/**
 * The `ws` package's WebSocket (Node without a global one). The name is held in a variable
 * so that bundlers building for browsers do not try to resolve it.
 */
async function loadNodeWebSocket() {
  const name = "ws";
  let mod;
  try {
    mod = await import(/* @vite-ignore */ /* webpackIgnore: true */ name);
  } catch (e) {
    throw new Error("uwrelay: this Node has no WebSocket: install the `ws` package " +
      "(npm install ws) or pass options.WebSocket");
  }
  return mod.WebSocket || mod.default;
}

/**
 * Delay before reconnect attempt `attempt` (1, 2, ...), in ms.
 * @param {number} attempt
 * @param {{initialDelay:number, maxDelay:number, jitter:number}} b
 * @param {number} r a random number in [0, 1)
 */
export function backoffDelay(attempt, b, r) {
  const base = Math.min(b.initialDelay * Math.pow(2, Math.max(0, attempt - 1)), b.maxDelay);
  return Math.max(0, base * (1 + b.jitter * (2 * r - 1)));
}

/** A relay client with reconnect, resume and de-duplication. See the module comment. */
export class UwRelay {
  /**
   * @param {string} url relay address: `ws://host:port`, `wss://…`, `http(s)://…` (mapped to
   *   ws(s)), optionally with a path (used when `options.path` is not given)
   * @param {object} [options]
   */
  constructor(url, options = {}) {
    const o = options;
    const g = globalThis;
    this._WS = o.WebSocket || g.WebSocket || null;
    // Node without a global WebSocket: `ws` is imported when the client starts
    if (!this._WS && !isNode()) throw new Error("uwrelay: no WebSocket implementation");
    this._fetch = o.fetch || (g.fetch ? g.fetch.bind(g) : null);
    this._setTimeout = o.setTimeout || ((f, ms) => g.setTimeout(f, ms));
    this._clearTimeout = o.clearTimeout || ((t) => g.clearTimeout(t));
    this._now = o.now || (() => Date.now());
    this._random = o.random || Math.random;
    /** Backoff settings; may be changed at any time (applies to the next retry). */
    this.backoff = Object.assign({}, DEFAULT_BACKOFF, o.backoff || {});
    this.resume = o.resume !== false;
    this.maxMsgRate = o.maxMsgRate > 0 ? o.maxMsgRate : 10;
    this._onListenerError = o.onListenerError ||
      ((e) => (typeof g.reportError === "function" ? g.reportError(e) : console.error(e)));

    const u = new URL(url, g.location ? g.location.href : undefined);
    if (u.protocol === "http:") u.protocol = "ws:";
    else if (u.protocol === "https:") u.protocol = "wss:";
    let path = o.path || (u.pathname && u.pathname !== "/" ? u.pathname : GENERIC_PATH);
    if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
    u.pathname = path;
    for (const k of ["channels", "since", "epoch"]) u.searchParams.delete(k);
    if (o.accessToken) u.searchParams.set("access_token", o.accessToken);
    u.hash = "";
    this._base = u;
    /** True on the generic endpoint (channels chosen by the client). */
    this.generic = o.generic !== undefined ? !!o.generic : path === GENERIC_PATH;

    this._listeners = new Map();
    this._desired = new Set(o.channels || []);   // channels the app wants (generic endpoint)
    this._filters = new Map(Object.entries(o.filters || {}));   // channel -> filter
    this._pathFilter = o.filter;                 // the path endpoint's ?filter=
    this._filtered = new Set();                  // channels the relay says are filtered
    this._memory = new Map();                    // channel -> {seq, epoch}: last seen
    this._ws = null;
    this._urlChannels = new Set();               // channels in the current socket's URL
    this._timer = null;                          // reconnect timer
    this._attempt = 0;
    this._closed = false;
    this._started = false;
    this._state = "idle";
    this._upstream = { state: "unknown" };
    this._outq = [];
    this._tokens = 2 * this.maxMsgRate;
    this._tokensAt = this._now();
    this._flushTimer = null;
    /** Counters: envelopes delivered and duplicates dropped, sockets opened. */
    this.stats = { envelopes: 0, duplicates: 0, opens: 0 };

    if (this.generic === false && o.channels && o.channels.length)
      throw new Error("uwrelay: channels are chosen by the path endpoint " + path);
    if (o.autoConnect !== false) queueMicrotask(() => this.start());
  }

  // ------------------------------------------------------------ events

  /** Adds a listener; returns a function that removes it. */
  on(name, fn) {
    let set = this._listeners.get(name);
    if (!set) this._listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => this.off(name, fn);
  }

  /** Removes a listener added with on(). */
  off(name, fn) {
    const set = this._listeners.get(name);
    if (set) set.delete(fn);
  }

  _emit(name, arg) {
    const set = this._listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(arg);
      } catch (e) {
        // a broken listener must not break the client
        this._onListenerError(e, name);
      }
    }
  }

  // ------------------------------------------------------------ public API

  /** Current connection state: `idle`, `connecting`, `open`, `reconnecting`, `closed`. */
  get state() { return this._state; }
  /** Last known state of the relay's link to UW: `{state, reason}`. */
  get upstream() { return Object.assign({}, this._upstream); }
  /** Channels wanted on the generic endpoint (path endpoints: the channels seen). */
  get channels() { return this.generic ? [...this._desired] : [...this._memory.keys()]; }
  /** The current WebSocket, or null (for debugging and tests). */
  get socket() { return this._ws; }
  /** The endpoint URL without resume parameters. */
  get url() { return this._base.toString(); }

  /** Last `{seq, epoch}` seen on a channel, or undefined. */
  lastSeen(channel) {
    const m = this._memory.get(channel);
    return m ? Object.assign({}, m) : undefined;
  }

  /** Starts connecting (only needed with `autoConnect: false`). */
  start() {
    if (this._started || this._closed) return;
    this._started = true;
    if (this._WS) {
      this._connect();
      return;
    }
    loadNodeWebSocket().then((WS) => {
      this._WS = WS;
      this._connect();
    }, (e) => {
      this._emit("error", { code: "no_websocket", message: String(e && e.message || e) });
      this.close();
    });
  }

  /**
   * Subscribes to a channel on the generic endpoint. While disconnected it is
   * remembered and sent when the socket opens. `options.filter`: a server-side filter.
   */
  subscribe(channel, options = {}) {
    this._needGeneric();
    if (typeof channel !== "string" || !channel) throw new TypeError("uwrelay: channel name");
    const f = options && options.filter;
    if (this._desired.has(channel) && (f === undefined || this._filters.get(channel) === f)) return;
    if (f !== undefined) this._filters.set(channel, f);
    this._desired.add(channel);
    if (this._isOpen()) this._send(this._subscribeMsg(channel, false));
  }

  /** Unsubscribes from a channel (and forgets where it was). */
  unsubscribe(channel) {
    this._needGeneric();
    if (!this._desired.delete(channel)) return;
    this._memory.delete(channel);
    this._filters.delete(channel);
    if (this._isOpen()) this._send({ action: "unsubscribe", channel });
  }

  /**
   * Envelopes of `channel` from the relay's history API, oldest first. Follows the
   * relay's `next` pages until `limit` (default 1000) envelopes or the end.
   * @param {string} channel
   * @param {{since?: number, epoch?: string, from?: string|Date, to?: string|Date, limit?: number}} [opts]
   * @returns {Promise<object[]>}
   */
  async history(channel, opts = {}) {
    if (typeof channel !== "string" || !channel) throw new TypeError("uwrelay: channel name");
    const limit = opts.limit === undefined ? 1000 : opts.limit;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError("uwrelay: limit must be a positive integer");
    if (!this._fetch) throw new Error("uwrelay: no fetch implementation (pass options.fetch)");
    const iso = (t) => (t instanceof Date ? t.toISOString() : String(t));
    let params = [["channel", channel]];
    if (opts.since !== undefined && opts.since !== null) {
      params.push(["since", String(opts.since)]);
      if (opts.epoch) params.push(["epoch", opts.epoch]);
    }
    if (opts.from !== undefined) params.push(["from", iso(opts.from)]);
    if (opts.to !== undefined) params.push(["to", iso(opts.to)]);
    const out = [];
    while (out.length < limit) {
      const q = new URLSearchParams(params.filter(([k]) => k !== "limit" && k !== "access_token"));
      q.set("limit", String(Math.min(limit - out.length, HISTORY_PAGE_MAX)));
      const token = this._base.searchParams.get("access_token");
      if (token) q.set("access_token", token);
      const url = this._httpBase() + HISTORY_PATH + "?" + q.toString();
      const res = await this._fetch(url, { headers: { Accept: "application/json" } });
      let body = null;
      try { body = await res.json(); } catch (e) { body = null; }
      if (!res.ok) {
        const why = body && (body.message || body.error);
        const err = new Error(`uwrelay: history of ${channel}: HTTP ${res.status}${why ? ": " + why : ""}`);
        err.status = res.status;
        err.body = body;
        throw err;
      }
      if (!body || !Array.isArray(body.envelopes)) throw new Error("uwrelay: history: no envelopes in the answer");
      out.push(...body.envelopes);
      if (!body.more || !body.next || !body.envelopes.length) break;
      params = [...new URLSearchParams(body.next)];
    }
    return out.slice(0, limit);
  }

  /** http(s)://host:port of the relay. */
  _httpBase() {
    return (this._base.protocol === "wss:" ? "https://" : "http://") + this._base.host;
  }

  /** Reconnects at once if a retry is pending (e.g. when the browser goes back online). */
  reconnectNow() {
    if (this._closed || this._ws || !this._timer) return;
    this._clearTimeout(this._timer);
    this._timer = null;
    this._connect();
  }

  /** Closes the socket for good: no reconnect after this. */
  close() {
    if (this._closed) return;
    this._closed = true;
    if (this._timer) this._clearTimeout(this._timer);
    this._timer = null;
    this._dropQueue();
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onmessage = ws.onerror = ws.onclose = null;
      if (ws.readyState === 0) {
        // closing a socket that is still connecting makes browsers log an error: wait for it
        ws.onopen = () => ws.close(1000, "client closed");
      } else {
        ws.onopen = null;
        try { ws.close(1000, "client closed"); } catch (e) { /* already closing */ }
      }
    }
    this._setState("closed", {});
  }

  // ------------------------------------------------------------ connection

  _needGeneric() {
    if (!this.generic) throw new Error("uwrelay: " + this._base.pathname + " is a read-only path endpoint");
  }

  _isOpen() {
    return !!this._ws && this._ws.readyState === 1;
  }

  _setState(state, extra) {
    this._state = state;
    this._emit("state", Object.assign({ state }, extra));
  }

  _setUpstream(state, reason) {
    if (!state) return;
    reason = reason || undefined;
    // same state: a notice without a reason (as in `subscribed`) keeps the known reason
    if (this._upstream.state === state && (reason === undefined || this._upstream.reason === reason)) return;
    this._upstream = reason ? { state, reason } : { state };
    this._emit("upstream", Object.assign({}, this._upstream));
  }

  /** The URL for the next socket, with what resume needs. */
  _buildUrl() {
    const u = new URL(this._base.toString());
    this._urlChannels = new Set();
    if (this.generic) {
      // channels with history are resumed by subscribe messages (each has its own since)
      for (const ch of this._desired)
        if (!(this.resume && this._memory.has(ch)) && !this._filters.has(ch)) this._urlChannels.add(ch);
      if (this._urlChannels.size) u.searchParams.set("channels", [...this._urlChannels].join(","));
    } else if (this.resume) {
      const m = this._memory.values().next().value;
      if (m) {
        u.searchParams.set("since", String(m.seq));
        u.searchParams.set("epoch", m.epoch);
      }
    }
    if (!this.generic && this._pathFilter !== undefined)
      u.searchParams.set("filter", typeof this._pathFilter === "string" ? this._pathFilter
        : JSON.stringify(this._pathFilter));
    // URLSearchParams encodes ',' and ':'; the relay reads the raw query, keep them readable
    return u.toString().replace(/%2C/gi, ",").replace(/%3A/gi, ":");
  }

  _connect() {
    if (this._closed) return;
    this._timer = null;
    const url = this._buildUrl();
    if (this._attempt === 0) this._setState("connecting", { url });
    let ws;
    try {
      ws = new this._WS(url);
    } catch (e) {
      this._emit("error", { code: "connect_failed", message: String(e && e.message || e) });
      this._scheduleReconnect({});
      return;
    }
    this._ws = ws;
    ws.onopen = () => {
      if (ws !== this._ws) return;
      this._attempt = 0;
      this.stats.opens++;
      this._tokens = 2 * this.maxMsgRate;   // the relay's rate limit is per socket
      this._tokensAt = this._now();
      this._setState("open", { url });
      this._syncSubscriptions();
    };
    ws.onmessage = (ev) => {
      if (ws !== this._ws) return;
      this._onMessage(ev.data);
    };
    ws.onerror = () => { /* a close event follows */ };
    ws.onclose = (ev) => {
      if (ws !== this._ws) return;
      this._ws = null;
      this._dropQueue();
      const info = { code: ev && ev.code, reason: ev && ev.reason };
      this._emit("disconnect", info);
      if (this._closed) return;
      this._setUpstream("unknown");
      this._scheduleReconnect(info);
    };
  }

  _scheduleReconnect(info) {
    if (this._closed) return;
    this._attempt++;
    const delay = backoffDelay(this._attempt, this.backoff, this._random());
    this._setState("reconnecting", Object.assign({ attempt: this._attempt, delay }, info));
    this._timer = this._setTimeout(() => this._connect(), delay);
  }

  /** After an open on the generic endpoint: subscribe what the URL did not, with since/epoch. */
  _syncSubscriptions() {
    if (!this.generic) return;
    for (const ch of this._desired)
      if (!this._urlChannels.has(ch)) this._send(this._subscribeMsg(ch, this.resume));
    for (const ch of this._urlChannels)
      if (!this._desired.has(ch)) this._send({ action: "unsubscribe", channel: ch });
  }

  _subscribeMsg(channel, resume) {
    const msg = { action: "subscribe", channel };
    const m = resume && this._memory.get(channel);
    if (m) {
      msg.since = m.seq;
      msg.epoch = m.epoch;
    }
    if (this._filters.has(channel)) msg.filter = this._filters.get(channel);
    return msg;
  }

  // ------------------------------------------------------------ sending (rate-limited)

  _send(obj) {
    this._outq.push(JSON.stringify(obj));
    this._flush();
  }

  _flush() {
    this._flushTimer = null;
    const now = this._now();
    const rate = this.maxMsgRate;
    this._tokens = Math.min(2 * rate, this._tokens + ((now - this._tokensAt) * rate) / 1000);
    this._tokensAt = now;
    while (this._outq.length && this._tokens >= 1 && this._isOpen()) {
      this._ws.send(this._outq.shift());
      this._tokens -= 1;
    }
    if (this._outq.length && this._isOpen() && !this._flushTimer) {
      const wait = Math.ceil(((1 - this._tokens) * 1000) / rate);
      this._flushTimer = this._setTimeout(() => this._flush(), Math.max(1, wait));
    }
  }

  _dropQueue() {
    this._outq = [];
    if (this._flushTimer) this._clearTimeout(this._flushTimer);
    this._flushTimer = null;
  }

  // ------------------------------------------------------------ receiving

  _onMessage(raw) {
    let env;
    try {
      if (typeof raw !== "string" && raw && typeof raw.byteLength === "number")
        raw = new TextDecoder().decode(raw);   // ws (Node) hands over Buffers in some setups
      env = typeof raw === "string" ? JSON.parse(raw) : null;
    } catch (e) {
      env = null;
    }
    if (!env || typeof env !== "object" || typeof env.channel !== "string") {
      this._emit("error", { code: "bad_frame", message: "not a JSON envelope" });
      return;
    }
    if (env.channel === "$relay") this._onRelay(env);
    else this._onData(env);
  }

  _onData(env) {
    const ch = env.channel;
    // frames still in flight after an unsubscribe
    if (this.generic && !this._desired.has(ch)) return;
    if (typeof env.seq === "number") {
      const m = this._memory.get(ch);
      if (m && m.epoch === env.epoch && env.seq <= m.seq) {
        this.stats.duplicates++;
        return;
      }
      // The relay announces what it cannot replay; a hole without a notice is reported too.
      // Not on filtered channels (their seq jumps over what the filter left out), nor after
      // a cluster edge's `subscribed` with seq 0.
      if (m && m.epoch === env.epoch && env.seq > m.seq + 1 && m.seq > 0 && !this._filtered.has(ch))
        this._emit("gap", { type: "gap", channel: ch, reason: "skipped", from: m.seq + 1,
          to: env.seq - 1, message: "frames missing without a notice", epoch: env.epoch });
      // first frame, or a new epoch: (re)start this channel's memory
      this._memory.set(ch, { seq: env.seq, epoch: env.epoch });
    }
    this.stats.envelopes++;
    this._emit("envelope", env);
    this._emit("channel:" + ch, env);
  }

  _onRelay(env) {
    const d = env.data && typeof env.data === "object" ? env.data : {};
    this._emit("relay", env);
    switch (d.type) {
      case "subscribed": {
        const ch = d.channel;
        const m = this._memory.get(ch);
        // Nothing seen yet on this channel (or a new epoch): start from the relay's
        // current seq, so a disconnect before the first frame still resumes from here.
        if (typeof ch === "string" && typeof d.seq === "number" && env.epoch &&
            (!m || m.epoch !== env.epoch) && (!this.generic || this._desired.has(ch)))
          this._memory.set(ch, { seq: d.seq, epoch: env.epoch });
        if (d.filter || d.filtered) this._filtered.add(ch);
        else this._filtered.delete(ch);
        if (d.upstream) this._setUpstream(d.upstream);
        this._emit("subscribed", d);
        break;
      }
      case "unsubscribed":
        if (d.reason && this.generic && d.channel) {
          // the relay ended it (e.g. a reload stopped allowing it): do not ask again
          this._desired.delete(d.channel);
          this._memory.delete(d.channel);
        }
        this._emit("unsubscribed", d);
        break;
      case "upstream":
        this._setUpstream(d.state, d.state === "connected" ? undefined : d.reason);
        break;
      case "gap": {
        // announced: what follows the hole is not reported again as skipped
        const m = this._memory.get(d.channel);
        if (m && m.epoch === env.epoch && typeof d.to === "number" && d.to > m.seq)
          this._memory.set(d.channel, { seq: d.to, epoch: env.epoch });
        this._emit("gap", Object.assign({ epoch: env.epoch }, d));
        break;
      }
      case "error":
        if (this.generic && d.channel &&
            (d.code === "channel_not_allowed" || d.code === "too_many_channels")) {
          this._desired.delete(d.channel);
          this._memory.delete(d.channel);
        }
        this._emit("error", d);
        break;
      default:
        break;
    }
  }
}

/**
 * Same as `new UwRelay(url, options)`.
 * @returns {UwRelay}
 */
export function connect(url, options) {
  return new UwRelay(url, options);
}

/**
 * A tiny external store of the latest envelopes (newest first), shaped for React's
 * `useSyncExternalStore` (see web/README.md for a `useUwRelay` hook built on it).
 * @param {UwRelay} client
 * @param {{limit?: number, channel?: string}} [opts] keep at most `limit` (default 200);
 *   only `channel`'s envelopes when given
 * @returns {{subscribe(fn: () => void): () => void, getSnapshot(): object[], clear(): void, dispose(): void}}
 */
export function createFeedStore(client, opts = {}) {
  const limit = opts.limit > 0 ? opts.limit : 200;
  const fns = new Set();
  let items = [];
  const notify = () => { for (const fn of [...fns]) fn(); };
  const stop = client.on(opts.channel ? "channel:" + opts.channel : "envelope", (env) => {
    items = [env, ...items.slice(0, limit - 1)];
    notify();
  });
  return {
    subscribe(fn) { fns.add(fn); return () => fns.delete(fn); },
    getSnapshot() { return items; },
    clear() { items = []; notify(); },
    dispose() { stop(); fns.clear(); },
  };
}

export default UwRelay;
