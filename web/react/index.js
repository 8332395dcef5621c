/**
 * react.js: `useUwrelay`, a React hook over the uwrelay client (React 18+, not a dependency
 * of the client itself: import "uwrelay/react" only in a React app).
 *
 * @example
 *   import { useUwrelay } from "uwrelay/react";
 *
 *   function Flow() {
 *     const { items, state, upstream } = useUwrelay("ws://127.0.0.1:8080", { path: "/api/stream/ws/flow" });
 *     return <ul>{items.map((e) => <li key={e.epoch + e.seq}>{e.data.ticker}</li>)}</ul>;
 *   }
 *
 * @module uwrelay/react
 */
import { useEffect, useMemo, useState, useSyncExternalStore } from "react";
import { UwRelay, createFeedStore } from "../uwrelay.js";

const EMPTY = [];
const noStore = () => () => {};
const noSnapshot = () => EMPTY;

/**
 * The latest envelopes (newest first, at most `limit`), the connection state, the relay's
 * upstream state and the last gap. One client per (url, options); it is closed on unmount or
 * when they change. Options: those of `UwRelay`, plus `limit` (default 200) and `channel`
 * (keep only that channel's envelopes).
 */
export function useUwrelay(url, options = {}) {
  const { limit = 200, channel, ...clientOptions } = options;
  // a new client only when what it is built from changes, not on every render
  const key = JSON.stringify([url, clientOptions]);
  const [client, setClient] = useState(null);
  const [state, setState] = useState("connecting");
  const [upstream, setUpstream] = useState("unknown");
  const [gap, setGap] = useState(null);

  useEffect(() => {
    const c = new UwRelay(url, clientOptions);
    const offs = [
      c.on("state", (s) => setState(s.state)),
      c.on("upstream", (u) => setUpstream(u.state)),
      c.on("gap", (g) => setGap(g)),
    ];
    setClient(c);
    return () => {
      offs.forEach((off) => off());
      c.close();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  const store = useMemo(() => (client ? createFeedStore(client, { limit, channel }) : null),
    [client, limit, channel]);
  useEffect(() => () => { if (store) store.dispose(); }, [store]);
  const items = useSyncExternalStore(store ? store.subscribe : noStore,
    store ? store.getSnapshot : noSnapshot, noSnapshot);
  return { items, state, upstream, gap, client };
}

export default useUwrelay;
