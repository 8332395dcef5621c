// backfill.js: what the relay already holds of a channel, for a page that has just opened.
// Used by the live page (app.js) before it draws live frames.

/** Envelopes of channel, oldest first, at most `limit`: from the client's history() (the
 * relay's history API, which reaches back into the tape when the relay keeps one), else, on a
 * relay without that API, from a resume at seq 0 on a socket of our own (memory only). Market
 * tide asks for the trading day so far, the others for their most recent frames. */
export async function backfill({ client, relayUrl, accessToken, channel, path, limit }) {
  if (client && typeof client.history === "function") {
    const opts = { limit };
    if (channel === "market_tide") {
      const day = new Date();
      day.setHours(0, 0, 0, 0);
      opts.from = day;
    }
    try {
      return await client.history(channel, opts);
    } catch (e) {
      if (e && e.status !== 404) return [];   // refused or malformed: no history, live only
    }
  }
  return resumeFromZero(relayUrl, accessToken, channel, path, limit);
}

/** Opens a socket with since=0, keeps what the relay replays up to the seq it reported in
 * `subscribed`, and closes. Bounded in time: whatever came in 5 s. */
function resumeFromZero(relayUrl, accessToken, channel, path, limit) {
  return new Promise((resolve) => {
    const u = new URL(relayUrl.replace(/\/+$/, "") + (path || "/api/stream/ws"));
    if (!path) u.searchParams.set("channels", channel);
    u.searchParams.set("since", "0");
    if (accessToken) u.searchParams.set("access_token", accessToken);
    const got = [];
    let upTo = null, ws;
    const done = () => {
      clearTimeout(timer);
      try { ws.close(); } catch { /* already closed */ }
      resolve(got.slice(-limit));
    };
    const timer = setTimeout(done, 5000);
    try {
      ws = new WebSocket(u.toString().replace(/%2C/gi, ",").replace(/%3A/gi, ":"));
    } catch {
      done();
      return;
    }
    ws.onmessage = (e) => {
      let env;
      try { env = JSON.parse(e.data); } catch { return; }
      if (env.channel === "$relay") {
        const d = env.data || {};
        if (d.type === "subscribed" && d.channel === channel) {
          upTo = typeof d.seq === "number" ? d.seq : 0;
          if (upTo === 0) done();
        } else if (d.type === "error") done();
        return;
      }
      if (env.channel !== channel) return;
      got.push(env);
      if (upTo !== null && env.seq >= upTo) done();
    };
    ws.onerror = done;
    ws.onclose = done;
  });
}
