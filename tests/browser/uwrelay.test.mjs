// Unit tests of web/uwrelay.js: reconnect, backoff, resume and de-duplication.
// A fake WebSocket and a fake clock are injected through the options, so this runs the same on
// Node 18 and 20 without node:test's mock.timers. Run: node --test tests/browser/

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";

// web/package.json says "type": "module"; the data: URL import is a fallback for a checkout
// without it.
const SRC = new URL("../../web/uwrelay.js", import.meta.url);
let mod;
try {
  mod = await import(SRC);
  if (!mod.UwRelay) throw new Error("not an ES module here");
} catch {
  mod = await import("data:text/javascript;base64," + fs.readFileSync(SRC).toString("base64"));
}
const { UwRelay, connect, backoffDelay, createFeedStore } = mod;

const E1 = "9f2c4a1be07d3e55";
const E2 = "0123456789abcdef";

// ---------------------------------------------------------------- fakes

/** A fake clock: setTimeout/clearTimeout/now driven by advance(). */
class Clock {
  constructor() {
    this.t = 0;
    this.timers = new Map();
    this.nextId = 1;
    this.setTimeout = (fn, ms) => {
      const id = this.nextId++;
      this.timers.set(id, { at: this.t + Math.max(0, ms), fn, ms });
      return id;
    };
    this.clearTimeout = (id) => { this.timers.delete(id); };
    this.now = () => this.t;
  }
  /** Runs every timer due within `ms`, in time order. */
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let best = null;
      for (const [id, tm] of this.timers)
        if (tm.at <= end && (!best || tm.at < best[1].at || (tm.at === best[1].at && id < best[0])))
          best = [id, tm];
      if (!best) break;
      this.timers.delete(best[0]);
      this.t = best[1].at;
      best[1].fn();
    }
    this.t = end;
  }
  /** Delays (ms) of the pending timers. */
  pending() { return [...this.timers.values()].map((t) => t.ms); }
}

/** Builds a fake WebSocket class that records its instances. */
function fakeWebSocketClass() {
  const sockets = [];
  class FakeWS {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closedByClient = null;
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      sockets.push(this);
    }
    send(text) {
      if (this.readyState !== 1) throw new Error("send on a socket that is not open");
      this.sent.push(JSON.parse(text));
    }
    close(code, reason) {
      this.closedByClient = { code, reason };
      this.readyState = 3;
    }
    // --- test side
    open() { this.readyState = 1; this.onopen && this.onopen({}); }
    recv(obj) { this.onmessage && this.onmessage({ data: typeof obj === "string" ? obj : JSON.stringify(obj) }); }
    drop(code = 1006, reason = "") {
      this.readyState = 3;
      this.onerror && this.onerror({});
      this.onclose && this.onclose({ code, reason, wasClean: code !== 1006 });
    }
    get query() { return new URL(this.url).searchParams; }
    get path() { return new URL(this.url).pathname; }
  }
  FakeWS.sockets = sockets;
  FakeWS.last = () => sockets[sockets.length - 1];
  return FakeWS;
}

/** A client on fakes; resolves after the constructor's microtask so a socket exists. */
async function make(opts = {}, url = "ws://relay.test:8080") {
  const clock = new Clock();
  const WS = fakeWebSocketClass();
  const events = [];
  const client = new UwRelay(url, Object.assign({
    WebSocket: WS, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout,
    now: clock.now, random: () => 0.5,
  }, opts));
  for (const name of ["state", "upstream", "gap", "error", "subscribed", "unsubscribed", "envelope"])
    client.on(name, (arg) => events.push([name, arg]));
  await Promise.resolve();
  return { client, clock, WS, events, of: (name) => events.filter((e) => e[0] === name).map((e) => e[1]) };
}

const env = (channel, seq, epoch = E1, data = {}) =>
  ({ channel, seq, epoch, timestamp: "2026-11-25T14:30:00.123Z", data });
const relay = (data, epoch = E1) =>
  ({ channel: "$relay", epoch, timestamp: "2026-11-25T14:30:00.123Z", data });
const subscribed = (channel, seq, upstream = "connected", epoch = E1) =>
  relay({ type: "subscribed", channel, seq, upstream }, epoch);

// ---------------------------------------------------------------- backoff

test("backoff grows exponentially and is capped at maxDelay", async () => {
  const { clock, WS, of } = await make({ path: "/api/stream/ws/flow" });
  assert.equal(WS.sockets.length, 1);
  const expected = [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000];
  for (let i = 0; i < expected.length; i++) {
    WS.last().drop();                       // refused: never opened
    assert.deepEqual(clock.pending(), [expected[i]], "retry " + (i + 1));
    clock.advance(expected[i] - 1);
    assert.equal(WS.sockets.length, i + 1, "no retry before the delay");
    clock.advance(1);
    assert.equal(WS.sockets.length, i + 2, "retry after the delay");
  }
  const rec = of("state").filter((s) => s.state === "reconnecting");
  assert.deepEqual(rec.map((s) => s.delay), expected);
  assert.deepEqual(rec.map((s) => s.attempt), expected.map((_, i) => i + 1));
});

test("jitter spreads the delay both ways within the bounds", async () => {
  const b = { initialDelay: 1000, maxDelay: 8000, jitter: 0.2 };
  assert.equal(backoffDelay(1, b, 0), 800);
  assert.equal(backoffDelay(1, b, 0.5), 1000);
  assert.ok(Math.abs(backoffDelay(1, b, 0.999999) - 1200) < 0.01);
  assert.equal(backoffDelay(3, b, 0), 3200);
  assert.equal(backoffDelay(10, b, 0), 6400);   // capped, then jittered
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < 2000; i++) {
    const d = backoffDelay(4, b, Math.random());
    lo = Math.min(lo, d);
    hi = Math.max(hi, d);
  }
  assert.ok(lo >= 6400 && hi <= 9600, `jittered delays within ±20%: ${lo}..${hi}`);
  assert.ok(lo < 7200 && hi > 8800, "and they do spread both ways");

  // through the client, with its injected random source
  const rs = [0, 0.999999];
  const { clock, WS } = await make({ path: "/api/stream/ws/flow", random: () => rs.shift() });
  WS.last().drop();
  assert.deepEqual(clock.pending(), [400]);
  clock.advance(400);
  WS.last().drop();
  assert.ok(Math.abs(clock.pending()[0] - 1200) < 0.01);
});

test("backoff resets after a successful open", async () => {
  const { clock, WS } = await make({ path: "/api/stream/ws/flow" });
  WS.last().drop();
  clock.advance(500);
  WS.last().drop();
  assert.deepEqual(clock.pending(), [1000]);
  clock.advance(1000);
  WS.last().open();
  WS.last().drop(1001, "relay restarting");
  assert.deepEqual(clock.pending(), [500], "first retry delay again");
});

test("close codes 4001 (too slow) and 1001 (relay restarting) reconnect", async () => {
  for (const code of [4001, 1001, 1006, 1000]) {
    const { clock, WS } = await make({ path: "/api/stream/ws/flow" });
    WS.last().open();
    WS.last().drop(code, "x");
    clock.advance(500);
    assert.equal(WS.sockets.length, 2, "reconnected after close code " + code);
  }
});

test("never reconnects after close()", async () => {
  // close() while open
  let { client, clock, WS, of } = await make({ path: "/api/stream/ws/flow" });
  WS.last().open();
  client.close();
  assert.equal(WS.last().closedByClient.code, 1000);
  WS.last().drop(1000);                     // the close event arrives later: ignored
  clock.advance(120000);
  assert.equal(WS.sockets.length, 1);
  assert.equal(client.state, "closed");
  assert.equal(of("state").at(-1).state, "closed");

  // close() while waiting to retry
  ({ client, clock, WS } = await make({ path: "/api/stream/ws/flow" }));
  WS.last().drop();
  assert.equal(clock.pending().length, 1);
  client.close();
  assert.equal(clock.pending().length, 0, "retry timer cleared");
  clock.advance(120000);
  assert.equal(WS.sockets.length, 1);

  // close() while the socket is still connecting: closed once it opens, no events after
  ({ client, clock, WS, of } = await make({ path: "/api/stream/ws/flow" }));
  const n = of("state").length;
  client.close();
  assert.equal(WS.last().closedByClient, null, "not closed while connecting");
  WS.last().open();
  assert.equal(WS.last().closedByClient.code, 1000, "closed as soon as it opened");
  WS.last().recv(env("flow-alerts", 1));
  WS.last().drop(1000);
  clock.advance(120000);
  assert.equal(WS.sockets.length, 1);
  assert.deepEqual(of("state").slice(n).map((s) => s.state), ["closed"]);
  assert.equal(of("envelope").length, 0);

  // close() before the first socket exists
  const WS3 = fakeWebSocketClass();
  const c3 = new UwRelay("ws://x:1", { WebSocket: WS3 });
  c3.close();
  await Promise.resolve();
  assert.equal(WS3.sockets.length, 0);
  c3.start();
  assert.equal(WS3.sockets.length, 0);
});

test("reconnectNow() skips the wait; a socket that throws is retried", async () => {
  const { client, clock, WS } = await make({ path: "/api/stream/ws/flow" });
  WS.last().drop();
  client.reconnectNow();
  assert.equal(WS.sockets.length, 2);
  assert.equal(clock.pending().length, 0);
  client.reconnectNow();                    // no-op while a socket is up
  assert.equal(WS.sockets.length, 2);

  let n = 0;
  class Throwing { constructor() { if (n++ === 0) throw new Error("bad url"); this.readyState = 0; } }
  const errs = [];
  const c2 = new UwRelay("ws://x:1", { WebSocket: Throwing, setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout, random: () => 0.5 });
  c2.on("error", (e) => errs.push(e));
  await Promise.resolve();
  assert.equal(errs[0].code, "connect_failed");
  assert.equal(c2.state, "reconnecting");
  clock.advance(500);
  assert.equal(n, 2);
  c2.close();
});

// ---------------------------------------------------------------- URLs

test("URLs: generic endpoint with ?channels=, path endpoints, access token, http -> ws", async () => {
  let { WS, client } = await make({ channels: ["price:SPY", "gex:SPY"], accessToken: "tok-123" });
  assert.equal(WS.last().path, "/api/stream/ws");
  assert.equal(WS.last().query.get("channels"), "price:SPY,gex:SPY");
  assert.ok(WS.last().url.includes("channels=price:SPY,gex:SPY"), WS.last().url);
  assert.equal(WS.last().query.get("access_token"), "tok-123");
  assert.equal(client.generic, true);

  ({ WS, client } = await make({}, "http://relay.test:8080/api/stream/ws/dark-pool"));
  assert.equal(new URL(WS.last().url).protocol, "ws:");
  assert.equal(WS.last().path, "/api/stream/ws/dark-pool");
  assert.equal(client.generic, false);
  assert.throws(() => client.subscribe("gex:SPY"), /read-only/);

  ({ WS } = await make({ path: "/api/stream/ws/flow" }, "https://relay.test/"));
  assert.equal(WS.last().url, "wss://relay.test/api/stream/ws/flow");

  assert.throws(() => new UwRelay("ws://x:1", { path: "/api/stream/ws/flow", channels: ["a"],
    WebSocket: fakeWebSocketClass() }), /path endpoint/);
  assert.ok(connect("ws://x:1", { WebSocket: fakeWebSocketClass(), autoConnect: false }) instanceof UwRelay);
});

// ---------------------------------------------------------------- resume

test("generic endpoint: resubscribes with since/epoch after a reconnect", async () => {
  const { client, clock, WS } = await make({ channels: ["price:SPY", "gex:SPY", "news"] });
  const s1 = WS.last();
  s1.open();
  assert.deepEqual(s1.sent, [], "the URL subscribed them");
  s1.recv(subscribed("price:SPY", 40));
  s1.recv(subscribed("gex:SPY", 7));
  // news: never confirmed (e.g. still pending)
  s1.recv(env("price:SPY", 41));
  s1.recv(env("price:SPY", 42));
  assert.deepEqual(client.lastSeen("price:SPY"), { seq: 42, epoch: E1 });
  assert.deepEqual(client.lastSeen("gex:SPY"), { seq: 7, epoch: E1 }, "baseline from subscribed");
  s1.drop(1006);
  clock.advance(500);
  const s2 = WS.last();
  assert.notEqual(s2, s1);
  assert.equal(s2.query.get("channels"), "news", "only the channel without history in the URL");
  assert.equal(s2.query.get("since"), null);
  s2.open();
  assert.deepEqual(s2.sent, [
    { action: "subscribe", channel: "price:SPY", since: 42, epoch: E1 },
    { action: "subscribe", channel: "gex:SPY", since: 7, epoch: E1 },
  ]);
});

test("resume: false reconnects without since", async () => {
  const { clock, WS } = await make({ channels: ["price:SPY"], resume: false });
  WS.last().open();
  WS.last().recv(subscribed("price:SPY", 4));
  WS.last().recv(env("price:SPY", 5));
  WS.last().drop();
  clock.advance(500);
  assert.equal(WS.last().query.get("channels"), "price:SPY");
  WS.last().open();
  assert.deepEqual(WS.last().sent, []);
});

test("duplicates never reach the app", async () => {
  const { client, clock, WS, of } = await make({ channels: ["flow-alerts"] });
  const got = [];
  client.on("channel:flow-alerts", (e) => got.push(e.seq));
  WS.last().open();
  WS.last().recv(subscribed("flow-alerts", 0));
  for (const s of [1, 2, 3, 3, 2, 4]) WS.last().recv(env("flow-alerts", s));
  WS.last().drop();
  clock.advance(500);
  WS.last().open();
  assert.deepEqual(WS.last().sent, [{ action: "subscribe", channel: "flow-alerts", since: 4, epoch: E1 }]);
  WS.last().recv(subscribed("flow-alerts", 7));
  // a relay replaying a little too much must not produce duplicates
  for (const s of [3, 4, 5, 6, 7, 8]) WS.last().recv(env("flow-alerts", s));
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(of("envelope").map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(client.stats.duplicates, 4);
  // channels are independent
  client.subscribe("price:SPY");
  WS.last().recv(env("price:SPY", 2));
  assert.deepEqual(got.length, 8);
  assert.equal(of("envelope").at(-1).channel, "price:SPY");
});

test("a new epoch resets the channel's memory", async () => {
  const { client, clock, WS, of } = await make({ path: "/api/stream/ws/flow" });
  WS.last().open();
  WS.last().recv(subscribed("flow-alerts", 0));
  for (let s = 1; s <= 10; s++) WS.last().recv(env("flow-alerts", s));
  WS.last().drop(1001, "relay restarting");
  clock.advance(500);
  assert.equal(WS.last().query.get("since"), "10");
  assert.equal(WS.last().query.get("epoch"), E1);
  WS.last().open();
  // the relay restarted: new epoch, seq starts again
  WS.last().recv(subscribed("flow-alerts", 2, "connected", E2));
  WS.last().recv(relay({ type: "gap", channel: "flow-alerts", reason: "epoch",
    message: "the relay restarted since that epoch" }, E2));
  WS.last().recv(env("flow-alerts", 3, E2));
  WS.last().recv(env("flow-alerts", 3, E2));
  WS.last().recv(env("flow-alerts", 4, E2));
  assert.deepEqual(of("envelope").map((e) => [e.seq, e.epoch]).slice(10),
    [[3, E2], [4, E2]]);
  assert.deepEqual(client.lastSeen("flow-alerts"), { seq: 4, epoch: E2 });
  const gaps = of("gap");
  assert.equal(gaps.length, 1);
  assert.equal(gaps[0].reason, "epoch");
  assert.equal(gaps[0].channel, "flow-alerts");
  assert.equal(gaps[0].epoch, E2);

  // a data frame from an unknown epoch without any notice resets the memory too
  WS.last().recv(env("flow-alerts", 1, "aaaaaaaaaaaaaaaa"));
  assert.deepEqual(client.lastSeen("flow-alerts"), { seq: 1, epoch: "aaaaaaaaaaaaaaaa" });
  WS.last().drop();
  clock.advance(500);
  assert.equal(WS.last().query.get("since"), "1");
  assert.equal(WS.last().query.get("epoch"), "aaaaaaaaaaaaaaaa");
});

test("path endpoint: resumes through ?since=&epoch= on the URL", async () => {
  const { clock, WS, of } = await make({ path: "/api/stream/ws/flow" });
  assert.equal(WS.last().query.get("since"), null, "nothing to resume at first");
  WS.last().open();
  WS.last().recv(subscribed("flow-alerts", 12));
  WS.last().drop();                         // dropped before any data: resume from 12
  clock.advance(500);
  assert.equal(WS.last().path, "/api/stream/ws/flow");
  assert.equal(WS.last().query.get("since"), "12");
  assert.equal(WS.last().query.get("epoch"), E1);
  WS.last().open();
  assert.deepEqual(WS.last().sent, [], "nothing sent on a read-only endpoint");
  WS.last().recv(subscribed("flow-alerts", 15));
  for (let s = 13; s <= 16; s++) WS.last().recv(env("flow-alerts", s));
  WS.last().drop(4001, "too slow");
  clock.advance(500);
  assert.equal(WS.last().query.get("since"), "16");
  assert.deepEqual(of("envelope").map((e) => e.seq), [13, 14, 15, 16]);
});

// ---------------------------------------------------------------- subscriptions

test("subscribe/unsubscribe while disconnected are queued and sent on reconnect", async () => {
  const { client, clock, WS } = await make({ channels: ["price:SPY"] });
  WS.last().open();
  WS.last().recv(subscribed("price:SPY", 3));
  client.subscribe("gex:QQQ");
  assert.deepEqual(WS.last().sent, [{ action: "subscribe", channel: "gex:QQQ" }], "sent at once when open");
  WS.last().recv(subscribed("gex:QQQ", 0));
  WS.last().drop();

  // while waiting to retry
  client.subscribe("option_trades:TSLA");
  client.unsubscribe("gex:QQQ");
  client.subscribe("price:SPY");            // already wanted: no-op
  assert.deepEqual(client.channels, ["price:SPY", "option_trades:TSLA"]);
  clock.advance(500);
  const s2 = WS.last();
  assert.equal(s2.query.get("channels"), "option_trades:TSLA");
  // while connecting (URL already built)
  client.subscribe("news");
  client.unsubscribe("option_trades:TSLA");
  s2.open();
  assert.deepEqual(s2.sent, [
    { action: "subscribe", channel: "price:SPY", since: 3, epoch: E1 },
    { action: "subscribe", channel: "news" },
    { action: "unsubscribe", channel: "option_trades:TSLA" },
  ]);
  // frames still in flight for a channel that was unsubscribed are not delivered
  const got = [];
  client.on("envelope", (e) => got.push(e.channel));
  s2.recv(env("option_trades:TSLA", 1));
  s2.recv(env("news", 1));
  assert.deepEqual(got, ["news"]);
  client.unsubscribe("news");
  assert.deepEqual(s2.sent.at(-1), { action: "unsubscribe", channel: "news" });
  assert.equal(client.lastSeen("news"), undefined, "unsubscribe forgets the position");
});

test("outgoing messages are paced below the relay's message rate limit", async () => {
  const chans = Array.from({ length: 50 }, (_, i) => "price:T" + i);
  const { clock, WS } = await make({ channels: chans, maxMsgRate: 10 });
  const s1 = WS.last();
  s1.open();
  chans.forEach((c, i) => s1.recv(subscribed(c, i)));
  s1.drop();
  clock.advance(500);
  const s2 = WS.last();
  s2.open();
  assert.equal(s2.sent.length, 20, "a burst of twice the rate");
  clock.advance(1000);
  assert.ok(s2.sent.length >= 29 && s2.sent.length <= 31, "then about 10/s: " + s2.sent.length);
  clock.advance(3000);
  assert.equal(s2.sent.length, 50);
  assert.deepEqual(s2.sent.map((m) => m.channel), chans);
  assert.ok(s2.sent.every((m, i) => m.since === i && m.epoch === E1));
  // a drop clears the queue; the next socket starts over from the wanted set
  s2.drop();
  clock.advance(500);
  WS.last().open();
  assert.equal(WS.last().sent.length, 20);
});

// ---------------------------------------------------------------- events

test("state, upstream, gap, error and subscribed events", async () => {
  const { client, clock, WS, of } = await make({ channels: ["price:SPY", "bogus!"] });
  assert.deepEqual(of("state").map((s) => s.state), ["connecting"]);
  WS.last().open();
  WS.last().recv(subscribed("price:SPY", 0, "disconnected"));
  WS.last().recv(relay({ type: "error", code: "channel_not_allowed", channel: "bogus!",
    message: "channel is not a valid UW channel name" }));
  WS.last().recv(relay({ type: "upstream", state: "connected" }));
  WS.last().recv(relay({ type: "upstream", state: "connected" }));   // no change: no event
  WS.last().recv(relay({ type: "upstream", state: "disconnected", reason: "uw closed" }));
  WS.last().recv(subscribed("price:SPY", 0, "disconnected"));         // keeps the reason
  WS.last().recv(relay({ type: "gap", channel: "price:SPY", reason: "too_old", from: 3, to: 5,
    message: "these frames are no longer held: not recovered" }));
  WS.last().recv("not json");
  WS.last().drop(1001);
  clock.advance(500);
  WS.last().open();

  assert.deepEqual(of("state").map((s) => s.state), ["connecting", "open", "reconnecting", "open"]);
  assert.equal(of("state")[2].code, 1001);
  assert.deepEqual(of("upstream"), [
    { state: "disconnected" }, { state: "connected" },
    { state: "disconnected", reason: "uw closed" }, { state: "unknown" },
  ]);
  assert.deepEqual(client.upstream, { state: "unknown" });
  assert.deepEqual(of("gap"), [{ epoch: E1, type: "gap", channel: "price:SPY", reason: "too_old",
    from: 3, to: 5, message: "these frames are no longer held: not recovered" }]);
  assert.deepEqual(of("error").map((e) => e.code), ["channel_not_allowed", "bad_frame"]);
  assert.deepEqual(client.channels, ["price:SPY"], "a refused channel is not asked for again");
  assert.equal(of("subscribed").length, 2);
  assert.ok(!WS.last().url.includes("bogus"));

  WS.last().recv(relay({ type: "unsubscribed", channel: "price:SPY", reason: "no longer allowed" }));
  assert.deepEqual(client.channels, []);
  assert.equal(of("unsubscribed").length, 1);
  client.close();
  assert.deepEqual(of("state").at(-1), { state: "closed" });
});

test("a throwing listener does not break the client; off() removes listeners", async () => {
  const errors = [];
  const { client, WS } = await make({ path: "/api/stream/ws/flow",
    onListenerError: (e, name) => errors.push([e.message, name]) });
  const seen = [];
  client.on("envelope", () => { throw new Error("app bug"); });
  const fn = (e) => seen.push(e.seq);
  const off2 = client.on("channel:flow-alerts", fn);
  client.on("envelope", fn);
  WS.last().open();
  WS.last().recv(env("flow-alerts", 1));
  client.off("envelope", fn);
  off2();
  WS.last().recv(env("flow-alerts", 2));
  assert.deepEqual(seen, [1, 1]);
  assert.deepEqual(errors, [["app bug", "envelope"], ["app bug", "envelope"]]);
  assert.equal(client.stats.envelopes, 2);
});

test("createFeedStore keeps the newest envelopes first, bounded", async () => {
  const { client, WS } = await make({ channels: ["a", "b"] });
  const store = createFeedStore(client, { limit: 3 });
  const onlyB = createFeedStore(client, { channel: "b" });
  let calls = 0;
  const unsub = store.subscribe(() => calls++);
  WS.last().open();
  for (let s = 1; s <= 5; s++) WS.last().recv(env(s % 2 ? "a" : "b", s));
  assert.deepEqual(store.getSnapshot().map((e) => e.seq), [5, 4, 3]);
  assert.deepEqual(onlyB.getSnapshot().map((e) => e.seq), [4, 2]);
  assert.equal(calls, 5);
  const snap = store.getSnapshot();
  assert.equal(store.getSnapshot(), snap, "stable snapshot between changes");
  unsub();
  store.clear();
  assert.deepEqual(store.getSnapshot(), []);
  assert.equal(calls, 5);
  store.dispose();
  WS.last().recv(env("a", 7));
  assert.deepEqual(store.getSnapshot(), []);
});

// ---------------------------------------------------------------- filters, skipped seqs, Node

test("a seq jump without a notice is a 'skipped' gap; after the relay's own gap notice it is not", async () => {
  const { WS, of } = await make({ path: "/api/stream/ws/flow" });
  WS.last().open();
  WS.last().recv(subscribed("flow-alerts", 4));
  WS.last().recv(env("flow-alerts", 5));
  WS.last().recv(env("flow-alerts", 8));          // 6 and 7 never came
  assert.deepEqual(of("gap"), [{ type: "gap", channel: "flow-alerts", reason: "skipped", from: 6, to: 7,
    message: "frames missing without a notice", epoch: E1 }]);
  WS.last().recv(relay({ type: "gap", channel: "flow-alerts", reason: "too_old", from: 9, to: 20,
    message: "not recovered" }));
  WS.last().recv(env("flow-alerts", 21));         // what follows an announced hole
  assert.deepEqual(of("gap").map((g) => g.reason), ["skipped", "too_old"]);
  assert.deepEqual(of("envelope").map((e) => e.seq), [5, 8, 21]);
});

test("filters: sent with the subscription; a filtered channel's seq jumps are not gaps", async () => {
  const { client, WS, of } = await make({ channels: ["news"], filters: { "flow-alerts": "tickers=SPY" } });
  client.subscribe("flow-alerts");
  const s1 = WS.last();
  assert.equal(s1.query.get("channels"), "news", "a filtered channel goes by message, with its filter");
  s1.open();
  assert.deepEqual(s1.sent, [{ action: "subscribe", channel: "flow-alerts", filter: "tickers=SPY" }]);
  client.subscribe("price:SPY", { filter: { min: 1 } });
  assert.deepEqual(s1.sent.at(-1), { action: "subscribe", channel: "price:SPY", filter: { min: 1 } });
  s1.recv(relay({ type: "subscribed", channel: "flow-alerts", seq: 10, upstream: "connected", filter: "tickers=SPY" }));
  s1.recv(env("flow-alerts", 12));
  s1.recv(env("flow-alerts", 17));
  s1.recv(subscribed("news", 3));
  s1.recv(env("news", 6));                       // unfiltered: reported
  assert.deepEqual(of("gap").map((g) => [g.channel, g.from, g.to]), [["news", 4, 5]]);
  // after a reconnect the filter goes again, with since/epoch
  s1.drop(1006);
  client.reconnectNow();                         // skips the backoff wait
  const s2 = WS.last();
  s2.open();
  assert.deepEqual(s2.sent.find((m) => m.channel === "flow-alerts"),
    { action: "subscribe", channel: "flow-alerts", since: 17, epoch: E1, filter: "tickers=SPY" });
  client.close();
});

test("path endpoint filter goes in ?filter=", async () => {
  const { WS } = await make({ path: "/api/stream/ws/flow", filter: "tickers=SPY,QQQ" });
  assert.equal(WS.last().query.get("filter"), "tickers=SPY,QQQ");
});

test("binary message data (ws in Node) is decoded as UTF-8 text", async () => {
  const { WS, of } = await make({ path: "/api/stream/ws/flow" });
  WS.last().open();
  WS.last().onmessage({ data: new TextEncoder().encode(JSON.stringify(env("flow-alerts", 1, E1, { t: "é" }))) });
  assert.deepEqual(of("envelope").map((e) => [e.seq, e.data.t]), [[1, "é"]]);
});
