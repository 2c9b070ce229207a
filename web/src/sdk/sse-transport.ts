// The SSE transport: one stream over one fetch response. A new stream is a POST to /v1/streams,
// a known one is followed with GET /v1/streams/{id}/events and Last-Event-ID. It reads events
// until the response ends and says how it ended; what happens next is the caller's decision.

import { parseServerEvent, type ServerEvent, type StreamRequest } from './protocol.js';
import { errorFromResponse, type FetchLike, type StreamgateError } from './rest.js';
import { SseParser } from './sse-parser.js';

/** The abort reason that marks a response cut on purpose to be resumed (a simulated drop). */
export const SSE_DROPPED = 'streamgate:dropped';

/** What to open: an existing stream from `lastSeq` when `streamId` is known, else `request` as a new one. */
export interface SseTarget {
  readonly streamId: string | null;
  readonly lastSeq: number;
  readonly request: (StreamRequest & { requestId: string }) | null;
}

export type SseOutcome =
  /** Cut by the caller (not as a drop), or the caller said the stream is over. */
  | { kind: 'stopped' }
  /** The request failed or the response ended early: follow the stream again later. */
  | { kind: 'retry'; retryAfterMs: number | undefined }
  /** The server refused the request and retrying would not help. */
  | { kind: 'refused'; status: number; error: StreamgateError };

export interface SseRunEvents {
  /** The response started, `connectionTimeMs` after the request. */
  response(connectionTimeMs: number): void;
  /** A server event arrived. */
  event(ev: ServerEvent): void;
  /** Whether HTTP reached the server (a response, even an error) or not (the fetch threw). */
  reachable(ok: boolean): void;
  /** True once the stream needs no more events (its terminal event was applied). */
  isOver(): boolean;
}

export interface SseTransportOptions {
  baseUrl: string;
  fetch: FetchLike;
  /** The headers of every call (token, anonymous key), with `extra` added. */
  headers: (extra: Record<string, string>) => Record<string, string>;
  now: () => number;
}

export class SseTransport {
  constructor(private readonly opts: SseTransportOptions) {}

  /** Runs one response to its end. Abort `signal` with `SSE_DROPPED` to have it end as `retry`. */
  async run(target: SseTarget, signal: AbortSignal, on: SseRunEvents): Promise<SseOutcome> {
    const dropped = () => signal.aborted && signal.reason === SSE_DROPPED;
    const started = this.opts.now();
    let res: Response;
    try {
      res = await this.open(target, signal);
    } catch {
      if (signal.aborted) return dropped() ? retry() : { kind: 'stopped' };
      on.reachable(false);
      return retry();
    }
    if (signal.aborted) return dropped() ? retry() : { kind: 'stopped' };
    if (!res.ok) {
      const error = await errorFromResponse(res);
      if (signal.aborted) return { kind: 'stopped' };
      on.reachable(true);
      return error.retryable ? retry(error.retryAfterMs) : { kind: 'refused', status: res.status, error };
    }
    on.reachable(true);
    on.response(Math.round(this.opts.now() - started));
    const body = res.body;
    if (!body) return retry();
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let over = false;
    const parser = new SseParser({
      onEvent: (m) => {
        if (over) return;
        const ev = parseServerEvent(m.data);
        if (ev) on.event(ev);
        over = on.isOver();
      },
    });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
        if (over || signal.aborted) break;
      }
    } catch {
      // dropped: decided below
    } finally {
      try {
        await reader.cancel();
      } catch {
        // ignore
      }
    }
    parser.end();
    if (over || on.isOver() || (signal.aborted && !dropped())) return { kind: 'stopped' };
    // The response ended before the terminal event: the caller resumes from the last seq.
    return retry();
  }

  private open(target: SseTarget, signal: AbortSignal): Promise<Response> {
    if (target.streamId !== null) {
      return this.opts.fetch(`${this.opts.baseUrl}/v1/streams/${encodeURIComponent(target.streamId)}/events`, {
        method: 'GET',
        headers: this.opts.headers({ Accept: 'text/event-stream', 'Last-Event-ID': String(target.lastSeq) }),
        signal,
        cache: 'no-store',
      });
    }
    return this.opts.fetch(`${this.opts.baseUrl}/v1/streams`, {
      method: 'POST',
      headers: this.opts.headers({ Accept: 'text/event-stream', 'Content-Type': 'application/json' }),
      body: JSON.stringify(target.request),
      signal,
      cache: 'no-store',
    });
  }
}

function retry(retryAfterMs?: number): SseOutcome {
  return { kind: 'retry', retryAfterMs };
}
