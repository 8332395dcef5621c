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
 *   - `WebSocket`: the WebSocket constructor (default `globalThis.WebSocket`; for tests).
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
 *   - `gap` ({channel, reason, from, to, message, epoch}): frames that were not recovered.
 *   - `error` ({code, message, channel}): a `$relay` error (the socket stays open), or
 *     `bad_frame` for a message that is not a JSON envelope.
 *   - `subscribed` ({channel, seq, upstream}), `unsubscribed` ({channel, reason}).
 *   - `relay` (env): every `$relay` message, raw. `disconnect` ({code, reason}): a socket closed.
 *
 * @module uwrelay
 */

/** The relay's generic endpoint. */
export const GENERIC_PATH = "/api/stream/ws";

const DEFAULT_BACKOFF = { initialDelay: 500, maxDelay: 15000, jitter: 0.2 };

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
    this._WS = o.WebSocket || g.WebSocket;
    if (!this._WS) throw new Error("uwrelay: no WebSocket implementation");
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
    this._connect();
  }

  /**
   * Subscribes to a channel on the generic endpoint. While disconnected it is
   * remembered and sent when the socket opens.
   */
  subscribe(channel) {
    this._needGeneric();
    if (typeof channel !== "string" || !channel) throw new TypeError("uwrelay: channel name");
    if (this._desired.has(channel)) return;
    this._desired.add(channel);
    if (this._isOpen()) this._send({ action: "subscribe", channel });
  }

  /** Unsubscribes from a channel (and forgets where it was). */
  unsubscribe(channel) {
    this._needGeneric();
    if (!this._desired.delete(channel)) return;
    this._memory.delete(channel);
    if (this._isOpen()) this._send({ action: "unsubscribe", channel });
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
        if (!(this.resume && this._memory.has(ch))) this._urlChannels.add(ch);
      if (this._urlChannels.size) u.searchParams.set("channels", [...this._urlChannels].join(","));
    } else if (this.resume) {
      const m = this._memory.values().next().value;
      if (m) {
        u.searchParams.set("since", String(m.seq));
        u.searchParams.set("epoch", m.epoch);
      }
    }
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
    for (const ch of this._desired) {
      if (this._urlChannels.has(ch)) continue;
      const msg = { action: "subscribe", channel: ch };
      const m = this.resume && this._memory.get(ch);
      if (m) {
        msg.since = m.seq;
        msg.epoch = m.epoch;
      }
      this._send(msg);
    }
    for (const ch of this._urlChannels)
      if (!this._desired.has(ch)) this._send({ action: "unsubscribe", channel: ch });
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
      case "gap":
        this._emit("gap", Object.assign({ epoch: env.epoch }, d));
        break;
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
