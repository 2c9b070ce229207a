// The admin page's data: polls /v1/admin/metrics and /v1/admin/connections every 2 s, keeps the
// last samples for the sparklines, and asks for the admin key when the server answers 403.
// State lives in an external store (read with useSyncExternalStore), so callbacks never see a
// stale copy.

import type { RestApi } from '../sdk/rest.js';
import { errorFromResponse } from '../sdk/rest.js';
import { Store } from '../sdk/store.js';
import {
  counterRate,
  groupBy,
  histogramDelta,
  histogramOf,
  histogramQuantile,
  parsePrometheus,
  sumOf,
  type Histogram,
  type Scrape,
} from './prometheus.js';

export interface AdminConnection {
  connectionId: string;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
  sub: string;
}

export interface Latency {
  /** Seconds; null without observations. */
  p50: number | null;
  p99: number | null;
  count: number;
}

/** One poll, reduced to what the page shows. */
export interface Point {
  t: number;
  websocket: number;
  sse: number;
  running: number;
  outboundBytes: number;
  streams: Record<string, number>;
  chunks: number;
  events: number;
  merged: number;
  slowCloses: number;
  authFailures: number;
  rateLimited: number;
  /** Per second since the previous poll (0 on the first). */
  chunkRate: number;
  eventRate: number;
  /** Since the server started. */
  ttft: Latency;
  interChunk: Latency;
  lateness: Latency;
  /** Over the observations made since the previous poll (null when there were none). */
  recent: { ttftP50: number | null; interChunkP99: number | null; latenessP99: number | null };
  upstreamRequests: Record<string, number>;
  /** "provider/code" → failed streams. */
  upstreamErrors: Record<string, number>;
}

export type AdminStatus = 'loading' | 'ok' | 'need-key' | 'refused' | 'error';

export interface AdminState {
  status: AdminStatus;
  /** The last error (network or server), shown above the figures while they are stale. */
  error: string | null;
  points: readonly Point[];
  connections: readonly AdminConnection[];
  /** When the last successful poll finished. */
  updatedAt: number | null;
  hasKey: boolean;
}

export const HISTORY = 60;
const KEY_STORAGE = 'streamgate.adminKey';

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/**
 * The admin URL the server logs at start-up ends in `#key=<key>` (a fragment never reaches a server
 * or a proxy's log): keep the key for this tab and take it out of the address bar and history.
 */
export function adoptAdminKeyFromUrl(): void {
  const m = /(?:^#|&)key=([^&]+)/.exec(window.location.hash);
  if (!m) return;
  const key = decodeURIComponent(m[1]!).trim();
  if (key) storage()?.setItem(KEY_STORAGE, key);
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
}

const HISTOGRAMS = {
  ttft: 'streamgate_time_to_first_token_seconds',
  interChunk: 'streamgate_inter_chunk_seconds',
  lateness: 'streamgate_chunk_lateness_seconds',
} as const;

function latency(h: Histogram | null): Latency {
  if (!h) return { p50: null, p99: null, count: 0 };
  return { p50: histogramQuantile(0.5, h.buckets), p99: histogramQuantile(0.99, h.buckets), count: h.count };
}

function recordOf(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...m.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** Reduces a scrape to a Point, with rates and recent quantiles against the previous scrape. */
export function toPoint(s: Scrape, t: number, prev: { scrape: Scrape; point: Point } | null): Point {
  const chunks = sumOf(s, 'streamgate_chunks_total');
  const events = sumOf(s, 'streamgate_events_sent_total');
  const dt = prev ? (t - prev.point.t) / 1000 : 0;
  const ttftH = histogramOf(s, HISTOGRAMS.ttft);
  const interH = histogramOf(s, HISTOGRAMS.interChunk);
  const lateH = histogramOf(s, HISTOGRAMS.lateness);
  const recent = (h: Histogram | null, name: string, q: number): number | null => {
    if (!h || !prev) return null;
    return histogramQuantile(q, histogramDelta(histogramOf(prev.scrape, name), h).buckets);
  };
  return {
    t,
    websocket: sumOf(s, 'streamgate_connections_active', { transport: 'websocket' }),
    sse: sumOf(s, 'streamgate_connections_active', { transport: 'sse' }),
    running: sumOf(s, 'streamgate_streams_running'),
    outboundBytes: sumOf(s, 'streamgate_outbound_queue_bytes'),
    streams: recordOf(groupBy(s, 'streamgate_streams_total', ['outcome'])),
    chunks,
    events,
    merged: sumOf(s, 'streamgate_merged_chunks_total'),
    slowCloses: sumOf(s, 'streamgate_slow_client_closes_total'),
    authFailures: sumOf(s, 'streamgate_auth_failures_total'),
    rateLimited: sumOf(s, 'streamgate_rate_limited_total'),
    chunkRate: prev ? counterRate(prev.point.chunks, chunks, dt) : 0,
    eventRate: prev ? counterRate(prev.point.events, events, dt) : 0,
    ttft: latency(ttftH),
    interChunk: latency(interH),
    lateness: latency(lateH),
    recent: {
      ttftP50: recent(ttftH, HISTOGRAMS.ttft, 0.5),
      interChunkP99: recent(interH, HISTOGRAMS.interChunk, 0.99),
      latenessP99: recent(lateH, HISTOGRAMS.lateness, 0.99),
    },
    upstreamRequests: recordOf(groupBy(s, 'streamgate_upstream_requests_total', ['provider'])),
    upstreamErrors: recordOf(groupBy(s, 'streamgate_upstream_errors_total', ['provider', 'code'])),
  };
}

export class AdminStore {
  private readonly store: Store<AdminState>;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private abort: AbortController | null = null;
  private running = false;
  private last: { scrape: Scrape; point: Point } | null = null;
  /** Bumped by stop() and setKey() so a poll already in flight cannot overwrite newer state. */
  private generation = 0;

  constructor(
    private readonly api: RestApi,
    private readonly fetchImpl: typeof fetch = (input, init) => fetch(input, init),
    private readonly intervalMs = 2000,
  ) {
    this.store = new Store<AdminState>({
      status: 'loading',
      error: null,
      points: [],
      connections: [],
      updatedAt: null,
      hasKey: !!this.key(),
    });
  }

  readonly subscribe = (l: () => void) => this.store.subscribe(l);
  readonly getSnapshot = () => this.store.getSnapshot();

  private key(): string | null {
    return storage()?.getItem(KEY_STORAGE) ?? null;
  }

  /** Starts polling (idempotent); returns the stop function, for a React effect. */
  start(): () => void {
    if (!this.running) {
      this.running = true;
      void this.poll();
    }
    return () => this.stop();
  }

  stop(): void {
    this.running = false;
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort?.abort();
    this.abort = null;
  }

  /** Keeps the key for this tab and polls again at once. */
  setKey(key: string): void {
    const k = key.trim();
    if (k) storage()?.setItem(KEY_STORAGE, k);
    else storage()?.removeItem(KEY_STORAGE);
    this.store.update((s) => ({ ...s, status: s.points.length ? s.status : 'loading', hasKey: !!k, error: null }));
    this.stop();
    this.start();
  }

  forgetKey(): void {
    storage()?.removeItem(KEY_STORAGE);
    this.stop();
    this.store.update((s) => ({ ...s, status: 'need-key', hasKey: false }));
  }

  private headers(): Record<string, string> {
    const h = this.api.headers();
    const k = this.key();
    if (k) h['X-Admin-Key'] = k;
    return h;
  }

  private async get(path: string, accept: string, signal: AbortSignal): Promise<Response> {
    return this.fetchImpl(this.api.url(path), { headers: { ...this.headers(), Accept: accept }, signal, cache: 'no-store' });
  }

  private async poll(): Promise<void> {
    const gen = this.generation;
    const ctrl = new AbortController();
    this.abort = ctrl;
    const deadline = setTimeout(() => ctrl.abort(), Math.max(5000, this.intervalMs * 2));
    let again = true;
    try {
      const [mres, cres] = await Promise.all([
        this.get('/v1/admin/metrics', 'text/plain', ctrl.signal),
        this.get('/v1/admin/connections', 'application/json', ctrl.signal),
      ]);
      if (gen !== this.generation) return;
      if (mres.status === 403 || cres.status === 403 || mres.status === 401 || cres.status === 401) {
        // Refused: wait for a key rather than asking the server every 2 s.
        again = false;
        const err = await errorFromResponse(mres.ok ? cres : mres);
        if (gen !== this.generation) return;
        const hasKey = !!this.key();
        this.store.update((s) => ({ ...s, status: hasKey ? 'refused' : 'need-key', error: err.message, hasKey }));
        return;
      }
      if (!mres.ok) throw await errorFromResponse(mres);
      if (!cres.ok) throw await errorFromResponse(cres);
      const text = await mres.text();
      const body = (await cres.json()) as { items?: AdminConnection[] };
      if (gen !== this.generation) return;
      const scrape = parsePrometheus(text);
      const point = toPoint(scrape, Date.now(), this.last);
      this.last = { scrape, point };
      const connections = [...(body.items ?? [])].sort((a, b) => b.connectedAt - a.connectedAt);
      this.store.update((s) => ({
        ...s,
        status: 'ok',
        error: null,
        points: [...s.points, point].slice(-HISTORY),
        connections,
        updatedAt: point.t,
        hasKey: !!this.key(),
      }));
    } catch (err) {
      if (gen !== this.generation) return;
      const message = err instanceof Error ? (err.name === 'AbortError' ? 'the server did not answer in time' : err.message) : String(err);
      this.store.update((s) => ({ ...s, status: s.points.length ? s.status : 'error', error: message }));
    } finally {
      clearTimeout(deadline);
      if (this.abort === ctrl) this.abort = null;
      if (again && this.running && gen === this.generation) {
        this.timer = setTimeout(() => {
          this.timer = null;
          void this.poll();
        }, this.intervalMs);
      }
    }
  }
}
