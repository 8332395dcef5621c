// Type declarations of react.js (`uwrelay/react`).
import type { ConnectionState, Envelope, GapEvent, UpstreamState, UwRelay, UwRelayOptions } from "../uwrelay.js";

export interface UseUwrelayOptions extends UwRelayOptions {
  /** Envelopes kept (default 200). */
  limit?: number;
  /** Keep only this channel's envelopes. */
  channel?: string;
}

export interface UseUwrelayResult {
  /** Newest first. */
  items: Envelope[];
  state: ConnectionState;
  upstream: UpstreamState;
  /** The last gap reported, or null. */
  gap: GapEvent | null;
  /** Null until the first effect ran. */
  client: UwRelay | null;
}

/** The latest envelopes of a uwrelay endpoint and its connection state, for a React component. */
export declare function useUwrelay(url: string, options?: UseUwrelayOptions): UseUwrelayResult;
export default useUwrelay;
