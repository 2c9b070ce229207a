// StreamClient: one WebSocket per client, streams that survive reconnects without gaps or
// duplicates, and a fetch-based SSE fallback when the WebSocket cannot be had. It decides which
// transport each stream uses; the WebSocket transport (ws-transport.ts), the SSE transport
// (sse-transport.ts) and the router (router.ts) do the rest.

import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import type { ClientErrorListener, ConnectionSnapshot, ConnectionState, StreamClientOptions } from './client-options.js';
import { isTerminal, type ServerEvent, type StreamEvent, type StreamRequest } from './protocol.js';
import { RestApi, type FetchLike } from './rest.js';
import { StreamRouter, type StreamEntry } from './router.js';
import { SSE_DROPPED, SseTransport, type SseOutcome } from './sse-transport.js';
import { Store } from './store.js';
import { StreamHandle, type HandleOwner, type TransportName } from './stream-handle.js';
import { WebSocketTransport, type SocketClosed, type WebSocketCtor, type WebSocketLike } from './ws-transport.js';

export type { ClientErrorListener, ConnectionSnapshot, ConnectionState, StreamClientOptions, WebSocketCtor, WebSocketLike };

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

  /** Read at each attempt: an environment without one streams over SSE only. */
  private WS: WebSocketCtor | undefined;
  private readonly fetchImpl: FetchLike;
  private readonly tokenFn: () => string | undefined;
  private readonly anonymousKey: string | undefined;
  private readonly fallbackAfter: number;
  private readonly backoff: BackoffOptions;
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

  private readonly socket: WebSocketTransport;
  private readonly sse: SseTransport;
  private readonly router: StreamRouter;
  private wanted = false;
  private refCount = 0;
  private probing = false;
  private releaseTimer: ReturnType<typeof setTimeout> | null = null;

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
    this.fallbackAfter = Math.max(1, opts.fallbackAfterFailures ?? 2);
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
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
    this.socket = new WebSocketTransport(
      {
        create: () => this.createSocket(),
        connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
        immediateCloseMs: opts.immediateCloseMs ?? 500,
        heartbeatMs: opts.heartbeatMs ?? 25_000,
        heartbeatTimeoutMs: opts.heartbeatTimeoutMs ?? 10_000,
        backoff: this.backoff,
        now: this.now,
        random: this.random,
      },
      {
        // While streams run over SSE a WebSocket retry does not change what the user sees.
        connecting: () => {
          if (this.socket.failures < this.fallbackAfter) this.setConn({ state: 'connecting' });
        },
        open: (ms) => this.onSocketOpen(ms),
        event: (ev) => this.onSocketEvent(ev),
        closed: (info) => this.onSocketClosed(info),
        stable: () => this.setConn({ failures: 0 }),
      },
    );
    this.sse = new SseTransport({ baseUrl: this.baseUrl, fetch: this.fetchImpl, headers: (extra) => this.api.headers(extra), now: this.now });
    this.router = new StreamRouter({
      named: (e, ev) => {
        if (!e.cancelRequested || isTerminal(ev)) return;
        queueMicrotask(() => {
          if (!e.handle.finished) this.sendCancel(e);
        });
      },
      resync: (e) => this.resync(e),
      retry: (e, retryAfterMs) => {
        const delay = retryAfterMs ?? backoffDelay(e.retries - 1, this.backoff, this.random);
        setTimeout(() => {
          if (!e.handle.finished && this.router.entryOf(e.handle) === e) this.resync(e);
        }, delay);
      },
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
    for (const e of this.router.live()) if (e.handle.transport === 'sse' && !e.sse) this.startSse(e);
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
    if (this.releaseTimer) {
      clearTimeout(this.releaseTimer);
      this.releaseTimer = null;
    }
    this.socket.stop();
    for (const e of this.router.all()) {
      e.sent = false;
      if (e.sse) {
        e.sse.abort();
        e.sse = null;
      }
    }
    this.setConn({ state: 'offline', connectionId: null, failures: 0 });
  }

  /** Disconnects and ends every live stream locally (the server streams go on). */
  close(): void {
    this.disconnect();
    for (const e of this.router.all()) this.router.end(e, 'error', { code: 'client_closed', message: 'the client was closed', retryable: false });
  }

  /**
   * Drops the WebSocket as a network failure would (no close handshake awaited); the client
   * reconnects and resumes its streams. For tests and for a "reconnect now" button.
   */
  dropConnection(): void {
    // An SSE response cut the same way resumes with Last-Event-ID.
    for (const e of this.router.all()) e.sse?.abort(SSE_DROPPED);
    this.socket.drop();
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
    const e = this.router.add(h);
    const size = utf8Length(JSON.stringify({ action: 'stream', ...request }));
    if (size > this.maxPayloadBytes) {
      this.router.end(e, 'error', { code: 'payload_too_large', message: `request is ${size} bytes; the limit is ${this.maxPayloadBytes}`, retryable: false });
      return h;
    }
    if (!this.wanted) this.connect();
    if (useSse) this.startSse(e);
    else this.sendStart(e);
    return h;
  }

  /**
   * Follows an existing stream from `lastSeq` (0 = from the start). The handle's text holds
   * only what comes after `lastSeq`.
   */
  resume(streamId: string, lastSeq = 0): StreamHandle {
    const existing = this.router.byStreamId(streamId);
    if (existing && !existing.handle.finished) return existing.handle;
    const useSse = this.inFallback();
    const h = new StreamHandle(
      this,
      { request: null, requestId: '', streamId, lastSeq, transport: useSse ? 'sse' : 'websocket', now: this.now },
      this.now,
    );
    const e = this.router.add(h);
    if (!this.wanted) this.connect();
    if (useSse) this.startSse(e);
    else this.sendResume(e);
    return h;
  }

  /** Cancels a stream by id, whether or not this client follows it. */
  async cancel(streamId: string): Promise<void> {
    const e = this.router.byStreamId(streamId);
    if (e) return this.cancelHandle(e.handle);
    if (this.socket.send({ action: 'cancel', streamId })) return;
    await this.api.cancelStream(streamId);
  }

  /** @internal (HandleOwner) */
  async cancelHandle(h: StreamHandle): Promise<void> {
    const e = this.router.entryOf(h);
    if (h.finished || !e) return;
    if (!h.streamId && !e.sent) {
      this.router.end(e, 'cancelled');
      return;
    }
    // Without a stream id the request is out: the cancel follows as soon as the server names it.
    e.cancelRequested = true;
    if (h.streamId) this.sendCancel(e);
    await h.done;
  }

  /** Streams this client is following. */
  liveStreams(): StreamHandle[] {
    return this.router.live().map((e) => e.handle);
  }

  // ---- WebSocket -------------------------------------------------------------------------

  private inFallback(): boolean {
    if (this.socket.isOpen) return false;
    if (!this.WS) return true;
    return this.socket.failures >= this.fallbackAfter;
  }

  private openSocket(): void {
    if (this.WS) {
      this.socket.start();
      return;
    }
    this.setConn({ lastError: 'WebSocket is not available' });
    this.enterFallback();
  }

  private createSocket(): WebSocketLike {
    const WS = this.WS;
    if (!WS) throw new Error('WebSocket is not available');
    const token = this.tokenFn();
    const protocols = token ? ['bearer', token] : undefined;
    if (this.anonymousKey) return new WS(this.url, protocols, { headers: { 'X-Streamgate-Anonymous-Key': this.anonymousKey } });
    return protocols ? new WS(this.url, protocols) : new WS(this.url);
  }

  private onSocketOpen(connectionTimeMs: number): void {
    const prev = this.conn.getSnapshot();
    this.setConn({ state: 'connected', connectionTimeMs, opens: prev.opens + 1, lastError: null });
    // Every live stream on this transport: start it, or resume from its last seen seq.
    for (const e of this.router.live()) {
      if (e.handle.transport !== 'websocket') continue;
      if (e.handle.streamId) this.sendResume(e, true);
      else this.sendStart(e);
    }
  }

  private onSocketClosed(info: SocketClosed): void {
    for (const e of this.router.all()) if (e.handle.transport === 'websocket') e.sent = false;
    if (info.code === 1009) {
      // The server refused a frame as too large: resending the same request would loop.
      for (const e of this.router.live()) {
        const h = e.handle;
        if (h.transport === 'websocket' && !h.streamId && h.request) {
          this.router.end(e, 'error', { code: 'payload_too_large', message: 'the server refused the request as too large', retryable: false });
        }
      }
    }
    this.setConn({ connectionId: null, lastError: info.failed ? info.reason : null });
    if (!this.wanted) {
      this.setConn({ state: 'offline' });
      return;
    }
    this.setConn({ failures: info.failures });
    // Past the threshold the streams move to SSE while the WebSocket keeps being retried.
    if (info.failures >= this.fallbackAfter) this.enterFallback();
    else this.setConn({ state: 'connecting' });
  }

  private onSocketEvent(ev: ServerEvent): void {
    for (const l of [...this.frameListeners]) l(ev);
    switch (ev.type) {
      case 'connected':
        this.setConn({ connectionId: ev.connectionId });
        return;
      case 'pong':
        return;
      case 'error':
        if (!this.router.routeError(ev)) for (const l of [...this.errorListeners]) l(ev);
        return;
      default:
        this.router.route(ev, null);
    }
  }

  private enterFallback(): void {
    // Streams waiting on the WebSocket continue over SSE.
    for (const e of this.router.live()) if (e.handle.transport === 'websocket') this.startSse(e);
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
    if (!this.wanted || this.socket.isOpen || !this.inFallback()) return;
    this.setConn({ state: ok ? 'fallback' : 'offline' });
  }

  // ---- sending on the WebSocket ------------------------------------------------------------

  private sendStart(e: StreamEntry): void {
    const req = e.handle.request;
    if (!req || e.sent) return;
    if (this.socket.send({ action: 'stream', ...req })) {
      e.sent = true;
      e.handle.setConnectionTime(this.conn.getSnapshot().connectionTimeMs);
    }
  }

  /** Asks for the stream's events again from its last seq, on the transport it uses. */
  private resync(e: StreamEntry): void {
    if (e.handle.transport === 'sse') this.startSse(e);
    else if (this.socket.isOpen) this.sendResume(e);
  }

  private sendResume(e: StreamEntry, isReconnect = false): void {
    const h = e.handle;
    const sid = h.streamId;
    if (!sid) return;
    if (this.socket.send({ action: 'resume', streamId: sid, lastSeq: h.lastSeq })) {
      if (isReconnect && !e.sent && h.lastSeq > 0) h.noteResume();
      e.sent = true;
      h.setConnectionTime(this.conn.getSnapshot().connectionTimeMs);
      if (e.cancelRequested) this.socket.send({ action: 'cancel', streamId: sid });
    }
  }

  private sendCancel(e: StreamEntry): void {
    const h = e.handle;
    const sid = h.streamId;
    if (!sid) return;
    if (h.transport === 'websocket' && this.socket.send({ action: 'cancel', streamId: sid })) return;
    // No open socket (or the stream runs over SSE): cancel over HTTP.
    this.api.cancelStream(sid).then(
      () => {
        if (h.finished) return;
        if (h.transport === 'websocket' && this.socket.isOpen) return; // the event will come
        this.router.end(e, 'cancelled');
      },
      (err: unknown) => {
        const code = (err as { code?: string }).code;
        if (!h.finished && (code === 'not_found' || (err as { status?: number }).status === 404)) this.router.end(e, 'cancelled');
        // Otherwise the cancel is retried when the stream resumes (cancelRequested stays set).
      },
    );
  }

  // ---- SSE -----------------------------------------------------------------------------------

  private startSse(e: StreamEntry): void {
    const h = e.handle;
    if (h.finished) return;
    e.sse?.abort();
    h.setTransport('sse');
    e.sent = true;
    const ctrl = new AbortController();
    e.sse = ctrl;
    const resuming = h.streamId !== null;
    const resumed = resuming && h.lastSeq > 0;
    void this.sse
      .run({ streamId: h.streamId, lastSeq: h.lastSeq, request: h.request }, ctrl.signal, {
        response: (ms) => {
          h.setConnectionTime(ms);
          if (resumed) h.noteResume();
        },
        event: (ev) => {
          e.sseFailures = 0;
          if (ev.type === 'error' && typeof ev.streamId !== 'string') {
            this.router.end(e, 'error', { code: ev.code, message: ev.message, retryable: ev.retryable ?? false });
            return;
          }
          this.router.route(ev as StreamEvent, e);
        },
        reachable: (ok) => this.noteHttp(ok),
        isOver: () => h.finished,
      })
      .then((outcome) => this.onSseEnd(e, ctrl, outcome, resuming));
  }

  private onSseEnd(e: StreamEntry, ctrl: AbortController, outcome: SseOutcome, resuming: boolean): void {
    const h = e.handle;
    if (outcome.kind === 'stopped') {
      if (e.sse === ctrl) e.sse = null;
      return;
    }
    if (outcome.kind === 'refused') {
      if (h.finished) return;
      if (resuming && outcome.status === 404 && e.cancelRequested) this.router.end(e, 'cancelled');
      else this.router.end(e, 'error', { code: outcome.error.code, message: outcome.error.message, retryable: outcome.error.retryable });
      return;
    }
    e.sseFailures++;
    const delay = outcome.retryAfterMs ?? backoffDelay(e.sseFailures - 1, this.backoff, this.random);
    setTimeout(() => {
      if (e.sse !== ctrl || h.finished) return;
      if (ctrl.signal.aborted && ctrl.signal.reason !== SSE_DROPPED) return;
      e.sse = null;
      if (!this.wanted) {
        e.sent = false;
        return;
      }
      if (this.socket.isOpen) {
        // The WebSocket is back: follow the stream there.
        h.setTransport('websocket');
        e.sent = false;
        if (h.streamId) this.sendResume(e, true);
        else this.sendStart(e);
        return;
      }
      this.startSse(e);
    }, delay);
  }

  // ---- helpers -------------------------------------------------------------------------

  /**
   * In a browser: when the network comes back or the tab becomes visible again, retry the
   * WebSocket at once instead of waiting out the backoff.
   */
  private readonly onEnvironment = (): void => {
    if (!this.wanted || this.socket.hasSocket) return;
    const doc = (globalThis as { document?: { visibilityState?: string } }).document;
    if (doc?.visibilityState === 'hidden') return;
    this.openSocket();
  };

  private watchEnvironment(on: boolean): void {
    type Target = { addEventListener?: (t: string, f: () => void) => void; removeEventListener?: (t: string, f: () => void) => void };
    const g = globalThis as Target & { document?: Target };
    if (on) {
      g.addEventListener?.('online', this.onEnvironment);
      g.document?.addEventListener?.('visibilitychange', this.onEnvironment);
    } else {
      g.removeEventListener?.('online', this.onEnvironment);
      g.document?.removeEventListener?.('visibilitychange', this.onEnvironment);
    }
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

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

export type { TransportName };
