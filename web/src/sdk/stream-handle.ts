// One stream as the caller sees it: its events, the text so far, its status and metrics.
// The client feeds it events; the handle applies them once each, in seq order.

import type { ProgressEvent, ServerMetrics, Stage, StreamEvent, StreamRequest, Usage } from './protocol.js';
import { SeqTracker } from './seq.js';
import { Store } from './store.js';

export type StreamStatusName = 'pending' | 'streaming' | 'complete' | 'cancelled' | 'error';
export type TransportName = 'websocket' | 'sse';

export interface StreamProgress {
  stage: Stage;
  step: string;
  progress: number;
}

export interface StreamMetrics {
  /** Time to open the connection the stream started on, ms (WebSocket open or SSE response). */
  connectionTimeMs: number | null;
  /** From `stream()` to the first text chunk, ms. */
  firstChunkMs: number | null;
  /** Text chunks applied (a merged chunk counts once). */
  chunkCount: number;
  /** Mean time between consecutive chunks, ms. */
  meanChunkIntervalMs: number | null;
  /** From `stream()` to the terminal event, ms. */
  durationMs: number | null;
  /** How many times the stream had to be resumed on a new connection. */
  resumes: number;
}

export interface StreamError {
  code: string;
  message: string;
  retryable: boolean;
}

export interface StreamSnapshot {
  /** Client-side id, known at once. */
  readonly localId: string;
  readonly requestId: string;
  /** The server's id, known after `stream_start`. */
  readonly streamId: string | null;
  readonly status: StreamStatusName;
  /** The concatenation of every text chunk received so far. */
  readonly text: string;
  /** The server's full text, once `stream_complete` arrived. */
  readonly fullContent: string | null;
  readonly progress: StreamProgress | null;
  readonly lastSeq: number;
  readonly error: StreamError | null;
  readonly usage: Usage | null;
  readonly serverMetrics: ServerMetrics | null;
  readonly metrics: StreamMetrics;
  readonly transport: TransportName;
}

export type StreamEventListener = (ev: StreamEvent) => void;

/** What the client lends a handle so that `cancel()` works. */
export interface HandleOwner {
  cancelHandle(h: StreamHandle): Promise<void>;
}

let localCounter = 0;

export class StreamHandle {
  readonly localId: string;
  readonly requestId: string;
  /** The request that started this stream (null for a handle made by `resume`). */
  readonly request: (StreamRequest & { requestId: string }) | null;

  private readonly store: Store<StreamSnapshot>;
  private readonly seq: SeqTracker;
  private readonly eventListeners = new Set<StreamEventListener>();
  private readonly startedAt: number;
  private firstChunkAt: number | null = null;
  private lastChunkAt: number | null = null;
  private resolveDone!: (s: StreamSnapshot) => void;

  /** Resolves with the final snapshot once the stream ends, however it ends. */
  readonly done: Promise<StreamSnapshot>;

  constructor(
    private readonly owner: HandleOwner,
    init: {
      request: (StreamRequest & { requestId: string }) | null;
      requestId: string;
      streamId: string | null;
      lastSeq: number;
      transport: TransportName;
      now: () => number;
    },
    private readonly now: () => number,
  ) {
    this.localId = `h${++localCounter}`;
    this.request = init.request;
    this.requestId = init.requestId;
    this.startedAt = init.now();
    this.seq = new SeqTracker(init.lastSeq);
    this.store = new Store<StreamSnapshot>({
      localId: this.localId,
      requestId: init.requestId,
      streamId: init.streamId,
      status: init.streamId ? 'streaming' : 'pending',
      text: '',
      fullContent: null,
      progress: null,
      lastSeq: init.lastSeq,
      error: null,
      usage: null,
      serverMetrics: null,
      metrics: {
        connectionTimeMs: null,
        firstChunkMs: null,
        chunkCount: 0,
        meanChunkIntervalMs: null,
        durationMs: null,
        resumes: 0,
      },
      transport: init.transport,
    });
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  readonly subscribe = (l: () => void): (() => void) => this.store.subscribe(l);
  readonly getSnapshot = (): StreamSnapshot => this.store.getSnapshot();

  get streamId(): string | null {
    return this.store.getSnapshot().streamId;
  }
  get text(): string {
    return this.store.getSnapshot().text;
  }
  get status(): StreamStatusName {
    return this.store.getSnapshot().status;
  }
  get lastSeq(): number {
    return this.seq.lastSeq;
  }
  get finished(): boolean {
    const s = this.store.getSnapshot().status;
    return s === 'complete' || s === 'cancelled' || s === 'error';
  }
  get transport(): TransportName {
    return this.store.getSnapshot().transport;
  }

  /** Listens to every applied event (after dedupe), in seq order. */
  onEvent(l: StreamEventListener): () => void {
    this.eventListeners.add(l);
    return () => {
      this.eventListeners.delete(l);
    };
  }

  /** Asks the server to stop this stream; resolves once the stream has ended. */
  cancel(): Promise<void> {
    return this.owner.cancelHandle(this);
  }

  /** Iterates the applied events until the terminal one. */
  async *events(): AsyncGenerator<StreamEvent, void, undefined> {
    const queue: StreamEvent[] = [];
    let wake: (() => void) | null = null;
    const off = this.onEvent((ev) => {
      queue.push(ev);
      wake?.();
    });
    const doneP = this.done.then(() => {
      wake?.();
    });
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (this.finished) return;
        await Promise.race([new Promise<void>((r) => (wake = r)), doneP]);
        wake = null;
      }
    } finally {
      off();
    }
  }

  // ---- fed by the client -------------------------------------------------------------

  /** @internal */
  setTransport(t: TransportName): void {
    this.store.update((s) => (s.transport === t ? s : { ...s, transport: t }));
  }

  /** @internal */
  setConnectionTime(ms: number | null): void {
    if (ms === null) return;
    this.store.update((s) => (s.metrics.connectionTimeMs !== null ? s : { ...s, metrics: { ...s.metrics, connectionTimeMs: ms } }));
  }

  /** @internal */
  noteResume(): void {
    this.store.update((s) => ({ ...s, metrics: { ...s.metrics, resumes: s.metrics.resumes + 1 } }));
  }

  /**
   * @internal Applies one event of this stream. Returns the seq verdict so the client can
   * ask for a resume after a gap.
   */
  apply(ev: StreamEvent): 'apply' | 'duplicate' | 'gap' | 'overlap' | 'ignored' {
    if (this.finished) return 'ignored';
    const firstSeq = ev.type === 'stream_chunk' ? ev.firstSeq : undefined;
    const verdict = this.seq.accept(ev.seq, firstSeq);
    if (verdict !== 'apply') return verdict;
    const t = this.now();
    this.store.update((s) => {
      let next: StreamSnapshot = { ...s, lastSeq: this.seq.lastSeq };
      if (next.streamId === null) next = { ...next, streamId: ev.streamId };
      if (next.status === 'pending') next = { ...next, status: 'streaming' };
      switch (ev.type) {
        case 'stream_start':
          break;
        case 'progress':
          next = { ...next, progress: progressOf(ev) };
          break;
        case 'stream_chunk': {
          if (this.firstChunkAt === null) this.firstChunkAt = t;
          this.lastChunkAt = t;
          const count = s.metrics.chunkCount + 1;
          next = {
            ...next,
            text: s.text + ev.content,
            metrics: {
              ...s.metrics,
              chunkCount: count,
              firstChunkMs: s.metrics.firstChunkMs ?? Math.round(t - this.startedAt),
              meanChunkIntervalMs: count > 1 ? (this.lastChunkAt - this.firstChunkAt) / (count - 1) : null,
            },
          };
          break;
        }
        case 'stream_complete':
          next = {
            ...next,
            status: 'complete',
            fullContent: ev.fullContent,
            usage: ev.usage ?? null,
            serverMetrics: ev.metrics ?? null,
            metrics: { ...next.metrics, durationMs: Math.round(t - this.startedAt) },
          };
          break;
        case 'stream_cancelled':
          next = { ...next, status: 'cancelled', metrics: { ...next.metrics, durationMs: Math.round(t - this.startedAt) } };
          break;
        case 'error':
          next = {
            ...next,
            status: 'error',
            error: { code: ev.code, message: ev.message, retryable: ev.retryable ?? false },
            metrics: { ...next.metrics, durationMs: Math.round(t - this.startedAt) },
          };
          break;
      }
      return next;
    });
    for (const l of [...this.eventListeners]) l(ev);
    if (this.finished) this.resolveDone(this.store.getSnapshot());
    return 'apply';
  }

  /**
   * @internal Ends the stream without a server event: an error answering the request, a
   * cancel confirmed over HTTP, or a cancel before the request ever left.
   */
  finish(status: 'cancelled' | 'error', error?: StreamError): void {
    if (this.finished) return;
    const t = this.now();
    this.store.update((s) => ({
      ...s,
      status,
      error: error ?? null,
      metrics: { ...s.metrics, durationMs: Math.round(t - this.startedAt) },
    }));
    this.resolveDone(this.store.getSnapshot());
  }
}

function progressOf(ev: ProgressEvent): StreamProgress {
  return { stage: ev.stage, step: ev.step, progress: ev.progress };
}
