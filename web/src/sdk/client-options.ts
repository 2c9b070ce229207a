// The client's options and its observable connection state.

import type { BackoffOptions } from './backoff.js';
import type { ErrorEvent } from './protocol.js';
import type { FetchLike } from './rest.js';
import type { WebSocketCtor } from './ws-transport.js';

export type ConnectionState = 'connecting' | 'connected' | 'fallback' | 'offline';

export interface ConnectionSnapshot {
  readonly state: ConnectionState;
  /** The server's id for the current WebSocket (from the `connected` event). */
  readonly connectionId: string | null;
  /** Consecutive failed WebSocket attempts. */
  readonly failures: number;
  /** Why the last WebSocket attempt ended, if it failed. */
  readonly lastError: string | null;
  /** Time to open the current (or last) WebSocket, ms. */
  readonly connectionTimeMs: number | null;
  /** How many times the WebSocket opened (1 on the first connection). */
  readonly opens: number;
}

export interface StreamClientOptions {
  /** HTTP base for REST and SSE, e.g. "https://host". Default: the page's origin. */
  baseUrl?: string;
  /** WebSocket URL. Default: `baseUrl` with ws(s) scheme and path `/ws`. */
  url?: string;
  /** Bearer token (or a function returning the current one). */
  token?: string | (() => string | undefined);
  /**
   * Without auth, the identity of a program that keeps no cookies: sent as
   * `X-Streamgate-Anonymous-Key` on every call (22 to 128 characters of A-Z a-z 0-9 - _; keep it
   * secret, it is the key to this identity's projects and history). Browsers need none: the server
   * gives them a cookie.
   */
  anonymousKey?: string;
  /** The WebSocket implementation; default `globalThis.WebSocket`. Pass `ws` in Node. */
  WebSocket?: WebSocketCtor;
  /** The fetch implementation; default `globalThis.fetch`. */
  fetch?: FetchLike;
  /** Give up on a WebSocket that has not opened after this long, ms. Default 10 000. */
  connectTimeoutMs?: number;
  /** A socket the server closes sooner than this after opening counts as a failure, ms. Default 500. */
  immediateCloseMs?: number;
  /** Consecutive WebSocket failures before streams move to SSE. Default 2. */
  fallbackAfterFailures?: number;
  /** Reconnect delays. */
  backoff?: Partial<BackoffOptions>;
  /** Send `ping` this often to notice a dead connection, ms; 0 disables. Default 25 000. */
  heartbeatMs?: number;
  /** A socket with no frame this long after a ping is dropped, ms. Default 10 000. */
  heartbeatTimeoutMs?: number;
  /** After the last `retain()` is released, wait this long before closing, ms. Default 100. */
  releaseDelayMs?: number;
  /** Requests larger than this are refused locally (the server closes with 1009). Default 128 KiB. */
  maxPayloadBytes?: number;
  /** Monotonic clock, ms. */
  now?: () => number;
  random?: () => number;
}

export type ClientErrorListener = (ev: ErrorEvent) => void;
