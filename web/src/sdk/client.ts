// StreamClient: one WebSocket per client, streams that survive reconnects without gaps or
// duplicates, and a fetch-based SSE fallback when the WebSocket cannot be had.

import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { isTerminal, parseServerEvent, type ClientAction, type ErrorEvent, type ServerEvent, type StreamEvent, type StreamRequest } from './protocol.js';
import { errorFromResponse, RestApi, type FetchLike } from './rest.js';
import { SseParser } from './sse-parser.js';
import { Store } from './store.js';
import { StreamHandle, type HandleOwner, type TransportName } from './stream-handle.js';

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

const WS_OPEN = 1;
/** The abort reason that marks an SSE response cut by dropConnection(), not by the caller. */
const DROPPED = 'streamgate:dropped';
const WS_CONNECTING = 0;

let requestCounter = 0;
function newRequestId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `req-${Date.now().toString(36)}-${(++requestCounter).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

function defaultOrigin(): string {
  const loc = (globalThis as { location?: { origin?: string } }).location;
  return loc?.origin && loc.origin !== 'null' ? loc.origin : 'http://127.0.0.1:8080';
}

export class StreamClient implements HandleOwner {
  readonly baseUrl: string;
  readonly url: string;
  /** REST calls (projects, cards, history, stream status) with the same base and token. */
  readonly api: RestApi;

  private readonly WS: WebSocketCtor | undefined;
  private readonly fetchImpl: FetchLike;
  private readonly tokenFn: () => string | undefined;
  private readonly anonymousKey: string | undefined;
  private readonly connectTimeoutMs: number;
  private readonly immediateCloseMs: number;
  private readonly fallbackAfter: number;
  private readonly backoff: BackoffOptions;
  private readonly heartbeatMs: number;
  private readonly heartbeatTimeoutMs: number;
  private readonly releaseDelayMs: number;
  private readonly maxPayloadBytes: number;
  private readonly now: () => number;
  private readonly random: () => number;

  private readonly conn = new Store<ConnectionSnapshot>({
    state: 'offline',
    connectionId: null,
    failures: 0,
    lastError: null,
    connectionTimeMs: null,
    opens: 0,
  });

  private ws: WebSocketLike | null = null;
  private wsCreatedAt = 0;
  private wsOpenedAt: number | null = null;
  private wanted = false;
  private refCount = 0;
  private failures = 0;
  private probing = false;
  private lastFrameAt = 0;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private stableTimer: ReturnType<typeof setTimeout> | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private releaseTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;

  private readonly handles = new Set<StreamHandle>();
  private readonly byStream = new Map<string, StreamHandle>();
  private readonly byRequest = new Map<string, StreamHandle>();
  private readonly errorListeners = new Set<ClientErrorListener>();
  private readonly frameListeners = new Set<(ev: ServerEvent) => void>();

  constructor(opts: StreamClientOptions = {}) {
    this.baseUrl = (opts.baseUrl ?? defaultOrigin()).replace(/\/+$/, '');
    this.url = opts.url ?? this.baseUrl.replace(/^http/, 'ws') + '/ws';
    this.WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    const f = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
    if (!f) throw new Error('StreamClient needs a fetch implementation');
    this.fetchImpl = (input, init) => f(input, init);
    const tok = opts.token;
    this.tokenFn = typeof tok === 'function' ? tok : () => tok;
    this.anonymousKey = opts.anonymousKey;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.immediateCloseMs = opts.immediateCloseMs ?? 500;
    this.fallbackAfter = Math.max(1, opts.fallbackAfterFailures ?? 2);
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.heartbeatMs = opts.heartbeatMs ?? 25_000;
    this.heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? 10_000;
    this.releaseDelayMs = opts.releaseDelayMs ?? 100;
    this.maxPayloadBytes = opts.maxPayloadBytes ?? 128 * 1024;
    const perf = (globalThis as { performance?: { now(): number } }).performance;
    this.now = opts.now ?? (perf ? () => perf.now() : () => Date.now());
    this.random = opts.random ?? Math.random;
    this.api = new RestApi({
      baseUrl: this.baseUrl,
      fetch: this.fetchImpl,
      token: this.tokenFn,
      ...(this.anonymousKey ? { anonymousKey: this.anonymousKey } : {}),
    });
  }

  // ---- connection state (useSyncExternalStore-ready) -----------------------------------

  readonly subscribe = (l: () => void): (() => void) => this.conn.subscribe(l);
  readonly getSnapshot = (): ConnectionSnapshot => this.conn.getSnapshot();

  get state(): ConnectionState {
    return this.conn.getSnapshot().state;
  }

  /** Errors that belong to no stream and no request (e.g. `unknown_action`). */
  onError(l: ClientErrorListener): () => void {
    this.errorListeners.add(l);
    return () => {
      this.errorListeners.delete(l);
    };
  }

  /** Every server event received on the WebSocket, before routing (for logging and tests). */
  onFrame(l: (ev: ServerEvent) => void): () => void {
    this.frameListeners.add(l);
    return () => {
      this.frameListeners.delete(l);
    };
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /** Opens the WebSocket (idempotent) and keeps it open, reconnecting as needed. */
  connect(): void {
    if (this.releaseTimer) {
      clearTimeout(this.releaseTimer);
      this.releaseTimer = null;
    }
    if (this.wanted) return;
    this.wanted = true;
    this.watchEnvironment(true);
    // Streams left on SSE by an earlier disconnect() pick up where they were.
    for (const h of this.handles) if (!h.finished && h.transport === 'sse' && !h.sseAbort) this.startSse(h);
    this.openSocket();
  }

  /**
   * Ref-counted connect: the socket stays open while anyone holds a retain. Releasing the
   * last one closes it after `releaseDelayMs`, so an unmount that is followed at once by a
   * mount (React StrictMode) keeps the same socket.
   */
  retain(): () => void {
    this.refCount++;
    this.connect();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.refCount--;
      if (this.refCount > 0) return;
      if (this.releaseTimer) clearTimeout(this.releaseTimer);
      this.releaseTimer = setTimeout(() => {
        this.releaseTimer = null;
        if (this.refCount === 0) this.disconnect();
      }, this.releaseDelayMs);
    };
  }

  /** Closes the socket and stops reconnecting. Live streams wait and resume on `connect()`. */
  disconnect(): void {
    this.wanted = false;
    this.watchEnvironment(false);
    this.clearTimers();
    if (this.releaseTimer) {
      clearTimeout(this.releaseTimer);
      this.releaseTimer = null;
    }
    const ws = this.ws;
    this.ws = null;
    this.wsOpenedAt = null;
    if (ws) {
      detach(ws);
      try {
        ws.close(1000, 'client disconnect');
      } catch {
        // already closing
      }
    }
    for (const h of this.handles) {
      h.sent = false;
      if (h.sseAbort) {
        h.sseAbort.abort();
        h.sseAbort = null;
      }
    }
    this.failures = 0;
    this.setConn({ state: 'offline', connectionId: null, failures: 0 });
  }

  /** Disconnects and ends every live stream locally (the server streams go on). */
  close(): void {
    this.disconnect();
    for (const h of [...this.handles]) {
      h.finish('error', { code: 'client_closed', message: 'the client was closed', retryable: false });
      this.forget(h);
    }
  }

  /**
   * Drops the WebSocket as a network failure would (no close handshake awaited); the client
   * reconnects and resumes its streams. For tests and for a "reconnect now" button.
   */
  dropConnection(): void {
    for (const h of this.handles) {
      // An SSE response cut the same way resumes with Last-Event-ID.
      if (h.sseAbort) h.sseAbort.abort(DROPPED);
    }
    const ws = this.ws;
    if (!ws) return;
    this.onSocketGone(ws, 'dropped by client', false);
    try {
      ws.close(4000, 'dropped');
    } catch {
      // ignore
    }
  }

  // ---- streams -----------------------------------------------------------------------------

  /** Starts a stream; returns its handle at once. */
  stream(req: StreamRequest): StreamHandle {
    const request = { ...req, requestId: req.requestId ?? newRequestId() };
    const useSse = this.inFallback();
    const h = new StreamHandle(
      this,
      { request, requestId: request.requestId, streamId: null, lastSeq: 0, transport: useSse ? 'sse' : 'websocket', now: this.now },
      this.now,
    );
    this.handles.add(h);
    this.byRequest.set(request.requestId, h);
    const size = utf8Length(JSON.stringify({ action: 'stream', ...request }));
    if (size > this.maxPayloadBytes) {
      h.finish('error', { code: 'payload_too_large', message: `request is ${size} bytes; the limit is ${this.maxPayloadBytes}`, retryable: false });
      this.forget(h);
      return h;
    }
    if (!this.wanted) this.connect();
    if (useSse) this.startSse(h);
    else this.sendStart(h);
    return h;
  }

  /**
   * Follows an existing stream from `lastSeq` (0 = from the start). The handle's text holds
   * only what comes after `lastSeq`.
   */
  resume(streamId: string, lastSeq = 0): StreamHandle {
    const existing = this.byStream.get(streamId);
    if (existing && !existing.finished) return existing;
    const useSse = this.inFallback();
    const h = new StreamHandle(
      this,
      { request: null, requestId: '', streamId, lastSeq, transport: useSse ? 'sse' : 'websocket', now: this.now },
      this.now,
    );
    this.handles.add(h);
    this.byStream.set(streamId, h);
    if (!this.wanted) this.connect();
    if (useSse) this.startSse(h);
    else this.sendResume(h);
    return h;
  }

  /** Cancels a stream by id, whether or not this client follows it. */
  async cancel(streamId: string): Promise<void> {
    const h = this.byStream.get(streamId);
    if (h) return this.cancelHandle(h);
    if (this.ws && this.ws.readyState === WS_OPEN) {
      this.sendAction({ action: 'cancel', streamId });
      return;
    }
    await this.api.cancelStream(streamId);
  }

  /** @internal (HandleOwner) */
  async cancelHandle(h: StreamHandle): Promise<void> {
    if (h.finished) return;
    if (!h.streamId) {
      if (!h.sent) {
        h.finish('cancelled');
        this.forget(h);
        return;
      }
      // The request is out; the cancel follows as soon as the server names the stream.
      h.cancelRequested = true;
      await h.done;
      return;
    }
    h.cancelRequested = true;
    this.sendCancel(h);
    await h.done;
  }

  /** Streams this client is following. */
  liveStreams(): StreamHandle[] {
    return [...this.handles].filter((h) => !h.finished);
  }

  // ---- WebSocket -------------------------------------------------------------------------

  private inFallback(): boolean {
    if (this.ws && this.ws.readyState === WS_OPEN) return false;
    if (!this.WS) return true;
    return this.failures >= this.fallbackAfter;
  }

  private openSocket(): void {
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    if (!this.wanted || this.ws) return;
    if (!this.WS) {
      this.failures = Math.max(this.failures, this.fallbackAfter);
      this.setConn({ lastError: 'WebSocket is not available' });
      this.enterFallback();
      return;
    }
    // While streams run over SSE a WebSocket retry does not change what the user sees.
    if (this.failures < this.fallbackAfter) this.setConn({ state: 'connecting' });
    const token = this.tokenFn();
    let ws: WebSocketLike;
    this.wsCreatedAt = this.now();
    this.wsOpenedAt = null;
    try {
      const protocols = token ? ['bearer', token] : undefined;
      ws = this.anonymousKey
        ? new this.WS(this.url, protocols, { headers: { 'X-Streamgate-Anonymous-Key': this.anonymousKey } })
        : protocols
          ? new this.WS(this.url, protocols)
          : new this.WS(this.url);
    } catch (err) {
      this.failures++;
      this.setConn({ lastError: err instanceof Error ? err.message : String(err) });
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.connectTimer = setTimeout(() => {
      // Why: a SYN that is silently dropped would leave us "connecting" forever.
      if (this.ws === ws && ws.readyState === WS_CONNECTING) {
        this.onSocketGone(ws, 'connect timeout', true);
        try {
          ws.close();
        } catch {
          // ignore
        }
      }
    }, this.connectTimeoutMs);
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.onSocketOpen(ws);
    };
    ws.onmessage = (ev: { data: unknown }) => {
      if (this.ws !== ws) return;
      this.onSocketFrame(ev.data);
    };
    ws.onclose = (ev: { code?: number; reason?: string }) => {
      if (this.ws !== ws) return;
      const code = ev?.code ?? 1006;
      this.onSocketGone(ws, `closed ${code}${ev?.reason ? ` ${ev.reason}` : ''}`, null, code);
    };
    ws.onerror = () => {
      // The close event that follows carries the outcome.
    };
  }

  private onSocketOpen(ws: WebSocketLike): void {
    if (this.connectTimer) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    const t = this.now();
    this.wsOpenedAt = t;
    this.lastFrameAt = t;
    const prev = this.conn.getSnapshot();
    this.setConn({ state: 'connected', connectionTimeMs: Math.round(t - this.wsCreatedAt), opens: prev.opens + 1, lastError: null });
    // Why: only a socket that stays up proves the server healthy; one that closes at once
    // keeps counting as a failure so the backoff grows.
    this.stableTimer = setTimeout(() => {
      if (this.ws === ws) {
        this.failures = 0;
        this.setConn({ failures: 0 });
      }
    }, this.immediateCloseMs);
    if (this.heartbeatMs > 0) {
      this.heartbeatTimer = setInterval(() => this.heartbeat(ws), this.heartbeatMs);
    }
    // Every live stream on this transport: start it, or resume from its last seen seq.
    for (const h of this.handles) {
      if (h.finished || h.transport !== 'websocket') continue;
      if (h.streamId) this.sendResume(h, true);
      else this.sendStart(h);
    }
  }

  private heartbeat(ws: WebSocketLike): void {
    if (this.ws !== ws) return;
    const t = this.now();
    if (t - this.lastFrameAt > this.heartbeatMs + this.heartbeatTimeoutMs) {
      this.onSocketGone(ws, 'heartbeat timeout', false);
      try {
        ws.close(4001, 'heartbeat timeout');
      } catch {
        // ignore
      }
      return;
    }
    this.sendAction({ action: 'ping' });
  }

  /**
   * The socket is gone (closed, timed out or dropped). `failed`: null means "decide from how
   * long it was open".
   */
  private onSocketGone(ws: WebSocketLike, reason: string, failed: boolean | null, code?: number): void {
    if (this.ws !== ws) return;
    detach(ws);
    this.ws = null;
    const openedAt = this.wsOpenedAt;
    this.wsOpenedAt = null;
    this.clearTimers();
    const isFailure = failed ?? (openedAt === null || this.now() - openedAt < this.immediateCloseMs);
    for (const h of this.handles) {
      if (h.transport === 'websocket') h.sent = false;
    }
    if (code === 1009) {
      // The server refused a frame as too large: resending the same request would loop.
      for (const h of [...this.handles]) {
        if (!h.finished && h.transport === 'websocket' && !h.streamId && h.request) {
          h.finish('error', { code: 'payload_too_large', message: 'the server refused the request as too large', retryable: false });
          this.forget(h);
        }
      }
    }
    this.setConn({ connectionId: null, lastError: isFailure ? reason : null });
    if (!this.wanted) {
      this.setConn({ state: 'offline' });
      return;
    }
    if (isFailure) this.failures++;
    else this.failures = 0;
    this.setConn({ failures: this.failures });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.wanted) return;
    // Past the threshold the streams move to SSE while the WebSocket keeps being retried.
    if (this.failures >= this.fallbackAfter) this.enterFallback();
    else this.setConn({ state: 'connecting' });
    const delay = backoffDelay(Math.max(0, this.failures - 1), this.backoff, this.random);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.openSocket();
    }, delay);
  }

  private enterFallback(): void {
    // Streams waiting on the WebSocket continue over SSE.
    for (const h of this.handles) {
      if (!h.finished && h.transport === 'websocket') this.startSse(h);
    }
    if (this.probing) return;
    this.probing = true;
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), 5000);
    this.fetchImpl(this.baseUrl + '/healthz', { signal: ctrl.signal, headers: this.api.headers() })
      .then(
        () => this.noteHttp(true),
        () => this.noteHttp(false),
      )
      .finally(() => {
        clearTimeout(timer);
        this.probing = false;
      });
  }

  /** HTTP reachability decides between "fallback" and "offline" while the WebSocket is down. */
  private noteHttp(ok: boolean): void {
    if (!this.wanted) return;
    if (this.ws && this.ws.readyState === WS_OPEN) return;
    if (!this.inFallback()) return;
    this.setConn({ state: ok ? 'fallback' : 'offline' });
  }

  private onSocketFrame(data: unknown): void {
    this.lastFrameAt = this.now();
    const text = typeof data === 'string' ? data : decodeFrame(data);
    if (text === null) return;
    const ev = parseServerEvent(text);
    if (!ev) return;
    for (const l of [...this.frameListeners]) l(ev);
    switch (ev.type) {
      case 'connected':
        this.setConn({ connectionId: ev.connectionId });
        return;
      case 'pong':
        return;
      case 'error':
        if (typeof ev.streamId === 'string') {
          if (typeof ev.seq === 'number') break; // from the stream's log: ends it in order
          // An answer to resume/cancel about the stream (unknown, expired): nothing more will come.
          const h = this.byStream.get(ev.streamId);
          if (h && !h.finished) {
            h.finish('error', { code: ev.code, message: ev.message, retryable: ev.retryable ?? false });
            this.forget(h);
            return;
          }
          for (const l of [...this.errorListeners]) l(ev);
          return;
        }
        if (typeof ev.requestId === 'string') {
          const h = this.byRequest.get(ev.requestId);
          if (h && !h.streamId) {
            h.finish('error', { code: ev.code, message: ev.message, retryable: ev.retryable ?? false });
            this.forget(h);
            return;
          }
        }
        for (const l of [...this.errorListeners]) l(ev);
        return;
      default:
        break;
    }
    this.routeStreamEvent(ev as StreamEvent, null);
  }

  // ---- events ------------------------------------------------------------------------------

  /** Routes an event of a stream to its handle. `via` is the handle an SSE response belongs to. */
  private routeStreamEvent(ev: StreamEvent, via: StreamHandle | null): void {
    if (typeof ev.streamId !== 'string' || typeof ev.seq !== 'number') return;
    let h = this.byStream.get(ev.streamId) ?? null;
    if (!h && via) h = via;
    if (!h && ev.type === 'stream_start' && ev.requestId) h = this.byRequest.get(ev.requestId) ?? null;
    if (!h) return;
    if (!h.streamId || !this.byStream.has(ev.streamId)) {
      this.byStream.set(ev.streamId, h);
      if (h.cancelRequested && !isTerminal(ev)) {
        queueMicrotask(() => {
          if (!h.finished) this.sendCancel(h);
        });
      }
    }
    const verdict = h.apply(ev);
    if ((verdict === 'gap' || verdict === 'overlap') && !h.resyncPending) {
      h.resyncPending = true;
      this.resync(h);
    }
    if (h.finished) this.forget(h);
  }

  private resync(h: StreamHandle): void {
    if (h.transport === 'websocket') {
      if (this.ws && this.ws.readyState === WS_OPEN) this.sendResume(h);
    } else {
      this.startSse(h);
    }
  }

  private forget(h: StreamHandle): void {
    this.handles.delete(h);
    if (h.sseAbort) {
      h.sseAbort.abort();
      h.sseAbort = null;
    }
    if (h.requestId && this.byRequest.get(h.requestId) === h) this.byRequest.delete(h.requestId);
    const sid = h.streamId;
    if (sid && this.byStream.get(sid) === h) this.byStream.delete(sid);
  }

  // ---- sending -------------------------------------------------------------------------

  private sendAction(a: ClientAction): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WS_OPEN) return false;
    try {
      ws.send(JSON.stringify(a));
      return true;
    } catch {
      return false;
    }
  }

  private sendStart(h: StreamHandle): void {
    if (!h.request || h.sent) return;
    if (this.sendAction({ action: 'stream', ...h.request })) {
      h.sent = true;
      h.setConnectionTime(this.conn.getSnapshot().connectionTimeMs);
    }
  }

  private sendResume(h: StreamHandle, isReconnect = false): void {
    const sid = h.streamId;
    if (!sid) return;
    if (this.sendAction({ action: 'resume', streamId: sid, lastSeq: h.lastSeq })) {
      if (isReconnect && h.sent === false && h.lastSeq > 0) h.noteResume();
      h.sent = true;
      h.setConnectionTime(this.conn.getSnapshot().connectionTimeMs);
      if (h.cancelRequested) this.sendAction({ action: 'cancel', streamId: sid });
    }
  }

  private sendCancel(h: StreamHandle): void {
    const sid = h.streamId;
    if (!sid) return;
    if (h.transport === 'websocket' && this.sendAction({ action: 'cancel', streamId: sid })) return;
    // No open socket (or the stream runs over SSE): cancel over HTTP.
    this.api.cancelStream(sid).then(
      () => {
        if (!h.finished && h.transport === 'websocket' && this.ws && this.ws.readyState === WS_OPEN) return; // the event will come
        if (!h.finished) {
          h.finish('cancelled');
          this.forget(h);
        }
      },
      (err: unknown) => {
        const code = (err as { code?: string }).code;
        if (!h.finished && (code === 'not_found' || (err as { status?: number }).status === 404)) {
          h.finish('cancelled');
          this.forget(h);
        }
        // Otherwise the cancel is retried when the stream resumes (cancelRequested stays set).
      },
    );
  }

  // ---- SSE fallback --------------------------------------------------------------------

  private startSse(h: StreamHandle): void {
    if (h.finished) return;
    if (h.sseAbort) h.sseAbort.abort();
    h.setTransport('sse');
    h.sent = true;
    const ctrl = new AbortController();
    h.sseAbort = ctrl;
    void this.runSse(h, ctrl);
  }

  private async runSse(h: StreamHandle, ctrl: AbortController): Promise<void> {
    const started = this.now();
    const resuming = h.streamId !== null;
    let res: Response;
    try {
      if (resuming) {
        res = await this.fetchImpl(`${this.baseUrl}/v1/streams/${encodeURIComponent(h.streamId!)}/events`, {
          method: 'GET',
          headers: this.api.headers({ Accept: 'text/event-stream', 'Last-Event-ID': String(h.lastSeq) }),
          signal: ctrl.signal,
          cache: 'no-store',
        });
      } else {
        res = await this.fetchImpl(`${this.baseUrl}/v1/streams`, {
          method: 'POST',
          headers: this.api.headers({ Accept: 'text/event-stream', 'Content-Type': 'application/json' }),
          body: JSON.stringify(h.request),
          signal: ctrl.signal,
          cache: 'no-store',
        });
      }
    } catch {
      if (ctrl.signal.aborted && ctrl.signal.reason !== DROPPED) return;
      if (!ctrl.signal.aborted) this.noteHttp(false);
      this.retrySse(h, ctrl, undefined);
      return;
    }
    if (ctrl.signal.aborted) {
      if (ctrl.signal.reason === DROPPED) this.retrySse(h, ctrl, undefined);
      return;
    }
    if (!res.ok) {
      const err = await errorFromResponse(res);
      if (ctrl.signal.aborted) return;
      this.noteHttp(true);
      if (err.retryable) {
        this.retrySse(h, ctrl, err.retryAfterMs);
      } else if (resuming && res.status === 404 && h.cancelRequested) {
        h.finish('cancelled');
        this.forget(h);
      } else {
        h.finish('error', { code: err.code, message: err.message, retryable: err.retryable });
        this.forget(h);
      }
      return;
    }
    this.noteHttp(true);
    h.setConnectionTime(Math.round(this.now() - started));
    if (resuming && h.lastSeq > 0) h.noteResume();
    const body = res.body;
    if (!body) {
      this.retrySse(h, ctrl, undefined);
      return;
    }
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser({
      onEvent: (m) => {
        const ev = parseServerEvent(m.data);
        if (!ev) return;
        h.sseFailures = 0;
        if (ev.type === 'error' && typeof ev.streamId !== 'string') {
          h.finish('error', { code: ev.code, message: ev.message, retryable: ev.retryable ?? false });
          this.forget(h);
          return;
        }
        this.routeStreamEvent(ev as StreamEvent, h);
      },
    });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
        if (h.finished || ctrl.signal.aborted) break;
      }
    } catch {
      // dropped: handled below
    } finally {
      try {
        await reader.cancel();
      } catch {
        // ignore
      }
    }
    parser.end();
    if (h.finished || (ctrl.signal.aborted && ctrl.signal.reason !== DROPPED)) {
      if (h.sseAbort === ctrl) h.sseAbort = null;
      return;
    }
    // The response ended before the terminal event: resume from the last seq.
    this.retrySse(h, ctrl, undefined);
  }

  private retrySse(h: StreamHandle, ctrl: AbortController, retryAfterMs: number | undefined): void {
    h.sseFailures++;
    const delay = retryAfterMs ?? backoffDelay(h.sseFailures - 1, this.backoff, this.random);
    setTimeout(() => {
      if (h.sseAbort !== ctrl || h.finished) return;
      if (ctrl.signal.aborted && ctrl.signal.reason !== DROPPED) return;
      h.sseAbort = null;
      if (!this.wanted) {
        h.sent = false;
        return;
      }
      if (this.ws && this.ws.readyState === WS_OPEN) {
        // The WebSocket is back: follow the stream there.
        h.setTransport('websocket');
        h.sent = false;
        if (h.streamId) this.sendResume(h, true);
        else this.sendStart(h);
        return;
      }
      this.startSse(h);
    }, delay);
  }

  // ---- helpers -------------------------------------------------------------------------

  /**
   * In a browser: when the network comes back or the tab becomes visible again, retry the
   * WebSocket at once instead of waiting out the backoff.
   */
  private readonly onEnvironment = (): void => {
    if (!this.wanted || this.ws) return;
    const doc = (globalThis as { document?: { visibilityState?: string } }).document;
    if (doc?.visibilityState === 'hidden') return;
    this.openSocket();
  };

  private watchEnvironment(on: boolean): void {
    const g = globalThis as { addEventListener?: (t: string, f: () => void) => void; removeEventListener?: (t: string, f: () => void) => void; document?: { addEventListener?: (t: string, f: () => void) => void; removeEventListener?: (t: string, f: () => void) => void } };
    if (on) {
      g.addEventListener?.('online', this.onEnvironment);
      g.document?.addEventListener?.('visibilitychange', this.onEnvironment);
    } else {
      g.removeEventListener?.('online', this.onEnvironment);
      g.document?.removeEventListener?.('visibilitychange', this.onEnvironment);
    }
  }

  private clearTimers(): void {
    for (const t of [this.connectTimer, this.stableTimer, this.reconnectTimer]) if (t) clearTimeout(t);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.connectTimer = this.stableTimer = this.reconnectTimer = null;
    this.heartbeatTimer = null;
  }

  private setConn(patch: Partial<ConnectionSnapshot>): void {
    const prev = this.conn.getSnapshot();
    let changed = false;
    for (const k of Object.keys(patch) as (keyof ConnectionSnapshot)[]) {
      if (!Object.is(prev[k], patch[k])) {
        changed = true;
        break;
      }
    }
    if (changed) this.conn.set({ ...prev, ...patch });
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

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

export type { TransportName };
