// The stream router alone: real handles, events fed by hand, no transport.
import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../src/sdk/protocol.js';
import { MAX_RESUME_RETRIES, StreamRouter, type StreamEntry } from '../../src/sdk/router.js';
import { StreamHandle } from '../../src/sdk/stream-handle.js';

const owner = { cancelHandle: async () => undefined };
const now = () => 0;

function newHandle(requestId: string, streamId: string | null = null, lastSeq = 0): StreamHandle {
  const request = streamId ? null : { projectId: 'p', userInput: 'q', requestId };
  return new StreamHandle(owner, { request, requestId: streamId ? '' : requestId, streamId, lastSeq, transport: 'websocket', now }, now);
}

function setup() {
  const named: string[] = [];
  const resyncs: StreamEntry[] = [];
  const retries: StreamEntry[] = [];
  const router = new StreamRouter({
    named: (e, ev) => named.push(`${e.handle.requestId || e.handle.streamId}->${ev.streamId}`),
    resync: (e) => resyncs.push(e),
    retry: (e) => retries.push(e),
  });
  return { router, named, resyncs, retries };
}

const ev = (e: Record<string, unknown>) => e as unknown as StreamEvent;
const start = (streamId: string, requestId: string) => ev({ type: 'stream_start', streamId, seq: 1, requestId });
const chunk = (streamId: string, seq: number, content: string) => ev({ type: 'stream_chunk', streamId, seq, content });
const complete = (streamId: string, seq: number, fullContent: string) => ev({ type: 'stream_complete', streamId, seq, fullContent });

describe('StreamRouter', () => {
  it('routes stream_start by request id, then every event by stream id', () => {
    const { router, named } = setup();
    const a = newHandle('ra');
    const b = newHandle('rb');
    router.add(a);
    router.add(b);
    router.route(start('sb', 'rb'), null);
    router.route(start('sa', 'ra'), null);
    router.route(chunk('sa', 2, 'A'), null);
    router.route(chunk('sb', 2, 'B'), null);
    router.route(chunk('sb', 3, 'b'), null);
    expect(a.text).toBe('A');
    expect(b.text).toBe('Bb');
    expect(named).toEqual(['rb->sb', 'ra->sa']);
  });

  it('ignores events of streams it does not follow', () => {
    const { router } = setup();
    const a = newHandle('ra');
    router.add(a);
    router.route(chunk('other', 2, 'X'), null);
    router.route(start('s2', 'unknown-request'), null);
    expect(a.text).toBe('');
    expect(router.byStreamId('other')).toBeUndefined();
  });

  it('routes an event to the SSE response it came on before the stream has an id', () => {
    const { router } = setup();
    const a = newHandle('ra');
    const e = router.add(a);
    router.route(ev({ type: 'progress', streamId: 's1', seq: 1, stage: 'analyzing', step: 'x', progress: 5 }), e);
    expect(a.streamId).toBe('s1');
    expect(router.byStreamId('s1')).toBe(e);
  });

  it('asks for one resync per gap and clears it when the missing event arrives', () => {
    const { router, resyncs } = setup();
    const a = newHandle('ra');
    const e = router.add(a);
    router.route(start('s1', 'ra'), null);
    router.route(chunk('s1', 3, 'C'), null);
    router.route(chunk('s1', 4, 'D'), null);
    expect(resyncs).toEqual([e]);
    expect(e.resyncPending).toBe(true);
    router.route(chunk('s1', 2, 'B'), null);
    expect(e.resyncPending).toBe(false);
    router.route(chunk('s1', 5, 'F'), null);
    expect(resyncs).toHaveLength(2);
    expect(a.text).toBe('B');
  });

  it('forgets a stream once it ends', () => {
    const { router } = setup();
    const a = newHandle('ra');
    router.add(a);
    router.route(start('s1', 'ra'), null);
    router.route(complete('s1', 2, 'done'), null);
    expect(a.status).toBe('complete');
    expect(router.all()).toEqual([]);
    expect(router.byStreamId('s1')).toBeUndefined();
  });

  it('follows a resumed stream by the id it was given', () => {
    const { router, named } = setup();
    const h = newHandle('', 's7', 4);
    router.add(h);
    router.route(chunk('s7', 4, 'old'), null);
    router.route(chunk('s7', 5, 'new'), null);
    expect(h.text).toBe('new');
    expect(named).toEqual([]);
  });

  it('ends the stream an error names, and leaves unclaimed errors to the caller', () => {
    const { router } = setup();
    const a = newHandle('ra');
    const b = newHandle('rb');
    const c = newHandle('rc');
    router.add(a);
    router.add(b);
    router.add(c);
    router.route(start('sb', 'rb'), null);
    router.route(start('sc', 'rc'), null);
    // answering the request (no stream id yet)
    expect(router.routeError({ type: 'error', code: 'too_many_streams', message: 'limit', retryable: true, requestId: 'ra' })).toBe(true);
    expect(a.getSnapshot().error).toEqual({ code: 'too_many_streams', message: 'limit', retryable: true });
    // answering a resume about the stream
    expect(router.routeError({ type: 'error', code: 'not_found', message: 'gone', streamId: 'sb' })).toBe(true);
    expect(b.getSnapshot().error?.code).toBe('not_found');
    // from the stream's log: applied in seq order
    expect(router.routeError({ type: 'error', code: 'upstream_error', message: 'boom', streamId: 'sc', seq: 2 } as never)).toBe(true);
    expect(c.status).toBe('error');
    expect(router.routeError({ type: 'error', code: 'unknown_action' as never, message: '?' })).toBe(false);
    expect(router.routeError({ type: 'error', code: 'not_found', message: '?', streamId: 'nobody' })).toBe(false);
    expect(router.all()).toEqual([]);
  });

  it('retries a resume refused for now, a bounded number of times, and clears the count on progress', () => {
    const { router, retries } = setup();
    const h = newHandle('', 'sr', 3);
    const e = router.add(h);
    const busy = { type: 'error', code: 'unavailable', message: 'retry', retryable: true, streamId: 'sr' } as const;
    expect(router.routeError(busy)).toBe(true);
    expect(retries).toEqual([e]);
    expect(h.finished).toBe(false);
    // an applied event is progress: the count starts again
    router.route(ev({ type: 'stream_chunk', streamId: 'sr', seq: 4, content: 'x' }), null);
    expect(e.retries).toBe(0);
    for (let i = 0; i < MAX_RESUME_RETRIES; i++) expect(router.routeError(busy)).toBe(true);
    expect(retries).toHaveLength(1 + MAX_RESUME_RETRIES);
    expect(h.finished).toBe(false);
    // one more in a row ends it with the server's error
    expect(router.routeError(busy)).toBe(true);
    expect(h.finished).toBe(true);
    expect(h.getSnapshot().error).toEqual({ code: 'unavailable', message: 'retry', retryable: true });
  });

  it('aborts the running SSE request of a stream it forgets', () => {
    const { router } = setup();
    const e = router.add(newHandle('ra'));
    const ctrl = new AbortController();
    e.sse = ctrl;
    router.end(e, 'cancelled');
    expect(ctrl.signal.aborted).toBe(true);
    expect(e.handle.status).toBe('cancelled');
    expect(router.live()).toEqual([]);
  });
});
