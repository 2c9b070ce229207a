// The stream router: which handle an event belongs to (by stream id, by request id, or the SSE
// response it came on), and the client's own bookkeeping for each followed stream. It applies
// events to handles and says when a stream got its id or needs its events again after a gap.

import type { ErrorEvent, StreamEvent } from './protocol.js';
import type { StreamError, StreamHandle } from './stream-handle.js';

/** One followed stream: its handle and what the client knows about sending it. */
export interface StreamEntry {
  readonly handle: StreamHandle;
  /** The request (or resume) went out on the current connection, or an SSE request is running. */
  sent: boolean;
  /** cancel() was called; the cancel goes out once the stream has an id and a transport. */
  cancelRequested: boolean;
  /** The aborter of the running SSE request, if any. */
  sse: AbortController | null;
  /** Consecutive SSE failures, for the backoff. */
  sseFailures: number;
  /** A resume is under way after a gap; cleared by the next applied event. */
  resyncPending: boolean;
  /** Resumes refused for now in a row (retryable answers); cleared by the next applied event. */
  retries: number;
}

/** How many retryable refusals of one stream's resume in a row are retried before it ends. */
export const MAX_RESUME_RETRIES = 8;

export interface StreamRouterEvents {
  /** The stream of `entry` got (or came back under) its id from `ev`. */
  named(entry: StreamEntry, ev: StreamEvent): void;
  /** An event was missing or overlapped: ask for the stream's events again from its last seq. */
  resync(entry: StreamEntry): void;
  /**
   * The server could not answer the stream's resume for now (a retryable error such as
   * `unavailable`: a cluster node whose Redis is away): ask again after `retryAfterMs` or a backoff.
   */
  retry(entry: StreamEntry, retryAfterMs: number | undefined): void;
}

export class StreamRouter {
  private readonly entries = new Map<StreamHandle, StreamEntry>();
  private readonly byStream = new Map<string, StreamEntry>();
  private readonly byRequest = new Map<string, StreamEntry>();

  constructor(private readonly on: StreamRouterEvents) {}

  /** Follows `handle`: its request id and (when known) its stream id now route to it. */
  add(handle: StreamHandle): StreamEntry {
    const e: StreamEntry = { handle, sent: false, cancelRequested: false, sse: null, sseFailures: 0, resyncPending: false, retries: 0 };
    this.entries.set(handle, e);
    if (handle.requestId) this.byRequest.set(handle.requestId, e);
    if (handle.streamId) this.byStream.set(handle.streamId, e);
    return e;
  }

  entryOf(handle: StreamHandle): StreamEntry | undefined {
    return this.entries.get(handle);
  }

  byStreamId(streamId: string): StreamEntry | undefined {
    return this.byStream.get(streamId);
  }

  /** Every followed stream (a copy: safe to end streams while iterating). */
  all(): StreamEntry[] {
    return [...this.entries.values()];
  }

  /** The followed streams that have not ended. */
  live(): StreamEntry[] {
    return this.all().filter((e) => !e.handle.finished);
  }

  /**
   * Applies an event of a stream to its handle. `via` is the entry whose SSE response carried
   * it (an SSE response belongs to one stream even before its id is known).
   */
  route(ev: StreamEvent, via: StreamEntry | null): void {
    if (typeof ev.streamId !== 'string' || typeof ev.seq !== 'number') return;
    let e = this.byStream.get(ev.streamId) ?? via;
    if (!e && ev.type === 'stream_start' && ev.requestId) e = this.byRequest.get(ev.requestId) ?? null;
    if (!e) return;
    if (!e.handle.streamId || !this.byStream.has(ev.streamId)) {
      this.byStream.set(ev.streamId, e);
      this.on.named(e, ev);
    }
    const verdict = e.handle.apply(ev);
    if (verdict === 'apply') {
      e.resyncPending = false;
      e.retries = 0;
    }
    if ((verdict === 'gap' || verdict === 'overlap') && !e.resyncPending) {
      e.resyncPending = true;
      this.on.resync(e);
    }
    if (e.handle.finished) this.forget(e);
  }

  /**
   * An error event from the socket. One from a stream's log ends it in order; one answering a
   * resume, cancel or request ends that stream at once. Returns false when no stream claims it.
   */
  routeError(ev: ErrorEvent): boolean {
    const error = { code: ev.code, message: ev.message, retryable: ev.retryable ?? false };
    if (typeof ev.streamId === 'string') {
      if (typeof ev.seq === 'number') {
        this.route(ev as StreamEvent, null);
        return true;
      }
      // An answer to resume/cancel about the stream. Retryable: asked again later, a few times;
      // otherwise (unknown, expired) nothing more will come.
      const e = this.byStream.get(ev.streamId);
      if (!e || e.handle.finished) return false;
      if (error.retryable && e.retries < MAX_RESUME_RETRIES) {
        e.retries++;
        this.on.retry(e, ev.retryAfterMs);
        return true;
      }
      this.end(e, 'error', error);
      return true;
    }
    if (typeof ev.requestId === 'string') {
      const e = this.byRequest.get(ev.requestId);
      if (e && !e.handle.streamId) {
        this.end(e, 'error', error);
        return true;
      }
    }
    return false;
  }

  /** Ends a stream without a server event and stops following it. */
  end(e: StreamEntry, status: 'cancelled' | 'error', error?: StreamError): void {
    e.handle.finish(status, error);
    this.forget(e);
  }

  /** Stops following a stream (its SSE request, if any, is aborted). */
  forget(e: StreamEntry): void {
    this.entries.delete(e.handle);
    if (e.sse) {
      e.sse.abort();
      e.sse = null;
    }
    const h = e.handle;
    if (h.requestId && this.byRequest.get(h.requestId) === e) this.byRequest.delete(h.requestId);
    const sid = h.streamId;
    if (sid && this.byStream.get(sid) === e) this.byStream.delete(sid);
  }
}
