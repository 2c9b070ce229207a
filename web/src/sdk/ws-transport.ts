// The WebSocket transport: one socket at a time, opened with a connect timeout, kept alive with
// pings, and reopened with backoff when it goes away. It knows nothing of streams: it hands
// every parsed server event to its owner and says when the socket opens and when it is gone.

import { backoffDelay, type BackoffOptions } from './backoff.js';
import { parseServerEvent, type ClientAction, type ServerEvent } from './protocol.js';

/**
 * The part of the WebSocket interface the client uses; the browser's and `ws`'s both fit.
 * Handler parameters are `any` because the DOM and `ws` declare different event types.
 */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/**
 * A WebSocket constructor. The third argument is what Node's `ws` package takes (`{ headers }`);
 * browsers' WebSocket ignores it (a browser sends its cookie instead).
 */
export type WebSocketCtor = new (
  url: string,
  protocols?: string | string[],
  options?: { headers?: Record<string, string> },
) => WebSocketLike;

export interface SocketClosed {
  /** Why, e.g. "closed 1006", "connect timeout", "heartbeat timeout", "dropped by client". */
  readonly reason: string;
  /** Counted as a failed attempt (it never opened, or closed sooner than `immediateCloseMs`). */
  readonly failed: boolean;
  /** The close code, when the socket closed with one. */
  readonly code: number | undefined;
  /** Consecutive failed attempts, this one included. */
  readonly failures: number;
}

export interface WebSocketTransportEvents {
  /** A new socket is being opened (the first one or a reconnect). */
  connecting(): void;
  /** The socket opened after `connectionTimeMs`. */
  open(connectionTimeMs: number): void;
  /** A server event arrived. */
  event(ev: ServerEvent): void;
  /** The socket is gone; when still started, the next attempt is already scheduled. */
  closed(info: SocketClosed): void;
  /** The socket stayed up long enough to count as healthy: failures went back to 0. */
  stable(): void;
}

export interface WebSocketTransportOptions {
  /** Creates the socket (URL, subprotocols and headers are the caller's business). */
  create: () => WebSocketLike;
  connectTimeoutMs: number;
  immediateCloseMs: number;
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  backoff: BackoffOptions;
  now: () => number;
  random: () => number;
}

const WS_CONNECTING = 0;
const WS_OPEN = 1;

export class WebSocketTransport {
  private ws: WebSocketLike | null = null;
  private createdAt = 0;
  private openedAt: number | null = null;
  private lastFrameAt = 0;
  private started = false;
  private failureCount = 0;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private stableTimer: ReturnType<typeof setTimeout> | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly opts: WebSocketTransportOptions,
    private readonly on: WebSocketTransportEvents,
  ) {}

  /** An open socket exists. */
  get isOpen(): boolean {
    return this.ws !== null && this.ws.readyState === WS_OPEN;
  }

  /** A socket exists, open or opening. */
  get hasSocket(): boolean {
    return this.ws !== null;
  }

  /** Consecutive failed attempts. */
  get failures(): number {
    return this.failureCount;
  }

  /** Opens a socket (idempotent) and keeps one open until `stop()`. */
  start(): void {
    this.started = true;
    this.openNow();
  }

  /** Closes the socket and stops reconnecting; the failure count starts again from 0. */
  stop(): void {
    this.started = false;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    this.openedAt = null;
    this.failureCount = 0;
    if (ws) {
      detach(ws);
      try {
        ws.close(1000, 'client disconnect');
      } catch {
        // already closing
      }
    }
  }

  /** Opens a socket now instead of waiting out the backoff (when started and none exists). */
  openNow(): void {
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    if (!this.started || this.ws) return;
    this.on.connecting();
    let ws: WebSocketLike;
    this.createdAt = this.opts.now();
    this.openedAt = null;
    try {
      ws = this.opts.create();
    } catch (err) {
      this.failureCount++;
      this.on.closed({ reason: err instanceof Error ? err.message : String(err), failed: true, code: undefined, failures: this.failureCount });
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.connectTimer = setTimeout(() => {
      // Why: a SYN that is silently dropped would leave us "connecting" forever.
      if (this.ws === ws && ws.readyState === WS_CONNECTING) {
        this.gone(ws, 'connect timeout', true);
        closeQuietly(ws);
      }
    }, this.opts.connectTimeoutMs);
    ws.onopen = () => {
      if (this.ws === ws) this.opened(ws);
    };
    ws.onmessage = (ev: { data: unknown }) => {
      if (this.ws === ws) this.frame(ev.data);
    };
    ws.onclose = (ev: { code?: number; reason?: string }) => {
      if (this.ws !== ws) return;
      const code = ev?.code ?? 1006;
      this.gone(ws, `closed ${code}${ev?.reason ? ` ${ev.reason}` : ''}`, null, code);
    };
    ws.onerror = () => {
      // The close event that follows carries the outcome.
    };
  }

  /** Drops the socket as a network failure would (no close handshake awaited); reconnects. */
  drop(): void {
    const ws = this.ws;
    if (!ws) return;
    this.gone(ws, 'dropped by client', false);
    closeQuietly(ws, 4000, 'dropped');
  }

  /** Sends an action on the open socket; false when there is none or the send failed. */
  send(a: ClientAction): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WS_OPEN) return false;
    try {
      ws.send(JSON.stringify(a));
      return true;
    } catch {
      return false;
    }
  }

  private opened(ws: WebSocketLike): void {
    if (this.connectTimer) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    const t = this.opts.now();
    this.openedAt = t;
    this.lastFrameAt = t;
    // Why: only a socket that stays up proves the server healthy; one that closes at once
    // keeps counting as a failure so the backoff grows.
    this.stableTimer = setTimeout(() => {
      if (this.ws !== ws) return;
      this.failureCount = 0;
      this.on.stable();
    }, this.opts.immediateCloseMs);
    if (this.opts.heartbeatMs > 0) {
      this.heartbeatTimer = setInterval(() => this.heartbeat(ws), this.opts.heartbeatMs);
    }
    this.on.open(Math.round(t - this.createdAt));
  }

  private frame(data: unknown): void {
    this.lastFrameAt = this.opts.now();
    const text = typeof data === 'string' ? data : decodeFrame(data);
    if (text === null) return;
    const ev = parseServerEvent(text);
    if (ev) this.on.event(ev);
  }

  private heartbeat(ws: WebSocketLike): void {
    if (this.ws !== ws) return;
    if (this.opts.now() - this.lastFrameAt > this.opts.heartbeatMs + this.opts.heartbeatTimeoutMs) {
      this.gone(ws, 'heartbeat timeout', false);
      closeQuietly(ws, 4001, 'heartbeat timeout');
      return;
    }
    this.send({ action: 'ping' });
  }

  /**
   * The socket is gone (closed, timed out or dropped). `failed`: null means "decide from how
   * long it was open".
   */
  private gone(ws: WebSocketLike, reason: string, failed: boolean | null, code?: number): void {
    if (this.ws !== ws) return;
    detach(ws);
    this.ws = null;
    const openedAt = this.openedAt;
    this.openedAt = null;
    this.clearTimers();
    const isFailure = failed ?? (openedAt === null || this.opts.now() - openedAt < this.opts.immediateCloseMs);
    if (this.started) this.failureCount = isFailure ? this.failureCount + 1 : 0;
    this.on.closed({ reason, failed: isFailure, code, failures: this.failureCount });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.started) return;
    const delay = backoffDelay(Math.max(0, this.failureCount - 1), this.opts.backoff, this.opts.random);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.openNow();
    }, delay);
  }

  private clearTimers(): void {
    for (const t of [this.connectTimer, this.stableTimer, this.reconnectTimer]) if (t) clearTimeout(t);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.connectTimer = this.stableTimer = this.reconnectTimer = null;
    this.heartbeatTimer = null;
  }
}

function closeQuietly(ws: WebSocketLike, code?: number, reason?: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closing
  }
}

function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  // Not null: Node's `ws` throws an 'error' event that has no listener (e.g. closing a socket
  // that is still connecting).
  ws.onerror = () => {};
}

function decodeFrame(data: unknown): string | null {
  try {
    if (data instanceof ArrayBuffer) return new TextDecoder().decode(new Uint8Array(data));
    if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data as ArrayBufferView);
    if (Array.isArray(data)) return data.map((d) => decodeFrame(d) ?? '').join('');
  } catch {
    return null;
  }
  return typeof data === 'object' && data !== null ? String(data) : null;
}
