// Type declarations of uwrelay.js (the uwrelay client package). The JSDoc at the top of
// uwrelay.js is the reference for behaviour.

/** A data envelope, as the relay sends it (docs/PROTOCOL.md). */
export interface Envelope<T = any> {
  channel: string;
  /** Per-channel sequence number within `epoch`. */
  seq: number;
  /** 16 lowercase hex digits; a new epoch means seq started again. */
  epoch: string;
  /** Receive time, ISO 8601 UTC with milliseconds. */
  timestamp: string;
  /** UW's payload, unchanged. */
  data: T;
}

/** A `$relay` message: what the relay says about itself. */
export interface RelayMessage {
  channel: "$relay";
  epoch: string;
  timestamp: string;
  data: { type: string; [key: string]: unknown };
}

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";
export type UpstreamState =
  | "connected" | "disconnected" | "unauthorized" | "disabled" | "unknown" | (string & {});

export interface StateEvent {
  state: ConnectionState;
  url?: string;
  /** Reconnect attempt number (`reconnecting`). */
  attempt?: number;
  /** Milliseconds before the attempt (`reconnecting`). */
  delay?: number;
  code?: number;
  reason?: string;
}

export interface UpstreamEvent {
  state: UpstreamState;
  reason?: string;
}

export interface GapEvent {
  type?: "gap";
  channel: string;
  /** `too_old`, `epoch`, `trimmed` (from the relay) or `skipped` (seen by the client). */
  reason: "too_old" | "epoch" | "trimmed" | "skipped" | (string & {});
  /** First and last seq lost, when known. */
  from?: number;
  to?: number;
  message?: string;
  epoch: string;
}

export interface ErrorEvent {
  code: string;
  message?: string;
  channel?: string;
}

export interface SubscribedEvent {
  type?: "subscribed";
  channel: string;
  seq: number;
  upstream?: UpstreamState;
  /** Set when the relay filters this channel for this subscriber (seq then jumps by design). */
  filter?: unknown;
  filtered?: boolean;
}

export interface UnsubscribedEvent {
  type?: "unsubscribed";
  channel: string;
  reason?: string;
}

export interface DisconnectEvent {
  code?: number;
  reason?: string;
}

export interface EventMap {
  envelope: Envelope;
  state: StateEvent;
  upstream: UpstreamEvent;
  gap: GapEvent;
  error: ErrorEvent;
  subscribed: SubscribedEvent;
  unsubscribed: UnsubscribedEvent;
  relay: RelayMessage;
  disconnect: DisconnectEvent;
}

export interface Backoff {
  /** ms before the first retry (default 500). */
  initialDelay: number;
  /** ms, the cap (default 15000). */
  maxDelay: number;
  /** Fraction spread both ways (default 0.2). */
  jitter: number;
}

/** A server-side filter: the query string form or an object, as docs/PROTOCOL.md describes. */
export type Filter = string | Record<string, unknown>;

/** The least a WebSocket constructor must offer (browsers' WebSocket, Node 22's, `ws`). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: any) => any) | null;
  onmessage: ((ev: { data: any }) => any) | null;
  onerror: ((ev: any) => any) | null;
  onclose: ((ev: { code?: number; reason?: string }) => any) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface UwRelayOptions {
  /** Initial channels (generic endpoint `/api/stream/ws`). */
  channels?: string[];
  /** Endpoint path, e.g. `/api/stream/ws/flow` (default: the URL's path or `/api/stream/ws`). */
  path?: string;
  /** Subscriber token, sent as `?access_token=`. */
  accessToken?: string;
  backoff?: Partial<Backoff>;
  /** Resume with since/epoch after a reconnect (default true). */
  resume?: boolean;
  /** Messages per second sent to the relay (default 10). */
  maxMsgRate?: number;
  /** Filters per channel, sent with each subscription (generic endpoint). */
  filters?: Record<string, Filter>;
  /** The path endpoint's `?filter=`. */
  filter?: Filter;
  /** Default: `globalThis.WebSocket`, else (Node) the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** For `history()`; default `globalThis.fetch`. */
  fetch?: (url: string, init?: any) => Promise<{ ok: boolean; status: number; json(): Promise<any> }>;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: any) => void;
  now?: () => number;
  random?: () => number;
  onListenerError?: (error: unknown, eventName: string) => void;
  /** Default true: connect in a microtask. False: call `start()`. */
  autoConnect?: boolean;
  /** Force the generic (true) or path (false) endpoint behaviour. */
  generic?: boolean;
}

export interface HistoryOptions {
  /** Frames after this seq (of `epoch`, when given; 409 if the epoch is no longer current). */
  since?: number;
  epoch?: string;
  /** from <= timestamp < to (ISO 8601 or Date). */
  from?: string | Date;
  to?: string | Date;
  /** At most this many in total (default 1000); pages are followed up to it. */
  limit?: number;
}

/** Rejection of `history()`: `status` is the HTTP status. */
export interface HistoryError extends Error {
  status: number;
  body: unknown;
}

export interface SubscribeOptions {
  filter?: Filter;
}

export declare const GENERIC_PATH: "/api/stream/ws";

/** Delay in ms before reconnect attempt `attempt` (1, 2, ...); `r` in [0, 1). */
export declare function backoffDelay(attempt: number, b: Backoff, r: number): number;

export declare class UwRelay {
  constructor(url: string, options?: UwRelayOptions);
  backoff: Backoff;
  resume: boolean;
  maxMsgRate: number;
  readonly generic: boolean;
  readonly stats: { envelopes: number; duplicates: number; opens: number };
  readonly state: ConnectionState;
  readonly upstream: UpstreamEvent;
  readonly channels: string[];
  readonly socket: WebSocketLike | null;
  readonly url: string;

  on<K extends keyof EventMap>(name: K, fn: (arg: EventMap[K]) => void): () => void;
  on(name: `channel:${string}`, fn: (env: Envelope) => void): () => void;
  off<K extends keyof EventMap>(name: K, fn: (arg: EventMap[K]) => void): void;
  off(name: `channel:${string}`, fn: (env: Envelope) => void): void;

  lastSeen(channel: string): { seq: number; epoch: string } | undefined;
  start(): void;
  subscribe(channel: string, options?: SubscribeOptions): void;
  unsubscribe(channel: string): void;
  history(channel: string, options?: HistoryOptions): Promise<Envelope[]>;
  reconnectNow(): void;
  close(): void;
}

export declare function connect(url: string, options?: UwRelayOptions): UwRelay;

export interface FeedStore {
  subscribe(fn: () => void): () => void;
  getSnapshot(): Envelope[];
  clear(): void;
  dispose(): void;
}

/** The latest envelopes, newest first, shaped for React's `useSyncExternalStore`. */
export declare function createFeedStore(client: UwRelay,
  opts?: { limit?: number; channel?: string }): FeedStore;

export default UwRelay;
