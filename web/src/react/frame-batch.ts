// Re-render at most once per animation frame: a view of an external store whose snapshot moves
// only when a frame comes. Every view that changed flushes in the same frame callback, so React
// renders them all in one pass, however many tokens arrived since the last frame.

/** Runs a callback once at the next frame. */
export type RequestFrame = (callback: () => void) => void;

/** `requestAnimationFrame` where there is one; elsewhere (Node, workers) a 16 ms timer. */
export const nextAnimationFrame: RequestFrame = (callback) => {
  const raf = (globalThis as { requestAnimationFrame?: (cb: () => void) => unknown }).requestAnimationFrame;
  if (typeof raf === 'function') raf(() => callback());
  else setTimeout(callback, 16);
};

/** Collects flushes until the next frame and runs each once, all in one frame callback. */
export class FrameBatch {
  private readonly pending = new Set<() => void>();
  private scheduled = false;

  constructor(private readonly requestFrame: RequestFrame = nextAnimationFrame) {}

  /** Runs `flush` at the next frame, once however often it is asked for before then. */
  schedule(flush: () => void): void {
    this.pending.add(flush);
    if (this.scheduled) return;
    this.scheduled = true;
    this.requestFrame(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    const flushes = [...this.pending];
    this.pending.clear();
    for (const f of flushes) f();
  }
}

export interface ExternalStore<T> {
  subscribe(listener: () => void): () => void;
  getSnapshot(): T;
}

/**
 * The snapshot of `source` as of the last frame, for useSyncExternalStore: listeners hear of a
 * change at most once per frame. Unwatched, it reads the source directly.
 */
export class FrameBatchedStore<T> implements ExternalStore<T> {
  private snapshot: T;
  private readonly listeners = new Set<() => void>();
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly source: ExternalStore<T>,
    private readonly batch: FrameBatch,
  ) {
    this.snapshot = source.getSnapshot();
  }

  readonly getSnapshot = (): T => {
    if (!this.unsubscribe) this.snapshot = this.source.getSnapshot();
    return this.snapshot;
  };

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    if (!this.unsubscribe) {
      this.snapshot = this.source.getSnapshot();
      this.unsubscribe = this.source.subscribe(() => this.batch.schedule(this.flush));
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.unsubscribe) {
        this.unsubscribe();
        this.unsubscribe = null;
      }
    };
  };

  private readonly flush = (): void => {
    if (!this.unsubscribe) return;
    const next = this.source.getSnapshot();
    if (Object.is(next, this.snapshot)) return;
    this.snapshot = next;
    for (const l of [...this.listeners]) l();
  };
}

/** The batch every chat view shares, so that they all render in the same frame callback. */
export const animationFrameBatch = new FrameBatch();
