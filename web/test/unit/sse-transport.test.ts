// The SSE transport alone: one response per run, from a scripted fetch.
import { describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../src/sdk/protocol.js';
import { SSE_DROPPED, SseTransport, type SseOutcome } from '../../src/sdk/sse-transport.js';

type Json = Record<string, unknown>;

/** An event-stream body; with `openUntil`, it stays open until that signal aborts (as fetch's body does). */
function body(events: Json[], openUntil?: AbortSignal): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    start(ctrl) {
      for (const e of events) ctrl.enqueue(enc.encode(`id: ${String(e.seq)}\nevent: ${String(e.type)}\ndata: ${JSON.stringify(e)}\n\n`));
      if (!openUntil) ctrl.close();
      else openUntil.addEventListener('abort', () => ctrl.error(new DOMException('aborted', 'AbortError')));
    },
  });
}

function setup(respond: (url: string, init: RequestInit) => Promise<Response>) {
  const calls: { url: string; init: RequestInit }[] = [];
  let t = 0;
  const sse = new SseTransport({
    baseUrl: 'http://gw.test',
    fetch: async (url, init) => {
      calls.push({ url: String(url), init: init! });
      t += 7;
      return respond(String(url), init!);
    },
    headers: (extra) => ({ Authorization: 'Bearer t', ...extra }),
    now: () => t,
  });
  const seen: ServerEvent[] = [];
  const log: string[] = [];
  let over = false;
  const on = {
    response: (ms: number) => log.push(`response ${ms}`),
    event: (ev: ServerEvent) => {
      seen.push(ev);
      if (ev.type === 'stream_complete') over = true;
    },
    reachable: (ok: boolean) => log.push(`reachable ${ok}`),
    isOver: () => over,
  };
  return { sse, calls, seen, log, on };
}

const request = { projectId: 'p1', userInput: 'q', requestId: 'rq' };

describe('SseTransport', () => {
  it('POSTs a new stream and reads its events to the terminal one', async () => {
    const { sse, calls, seen, log, on } = setup(async () =>
      new Response(body([{ type: 'stream_start', streamId: 's1', seq: 1 }, { type: 'stream_chunk', streamId: 's1', seq: 2, content: 'A' }, { type: 'stream_complete', streamId: 's1', seq: 3, fullContent: 'A' }]), { status: 200 }),
    );
    const out = await sse.run({ streamId: null, lastSeq: 0, request }, new AbortController().signal, on);
    expect(out).toEqual<SseOutcome>({ kind: 'stopped' });
    expect(seen.map((e) => e.type)).toEqual(['stream_start', 'stream_chunk', 'stream_complete']);
    expect(log).toEqual(['reachable true', 'response 7']);
    expect(calls[0]!.url).toBe('http://gw.test/v1/streams');
    expect(calls[0]!.init.method).toBe('POST');
    expect(calls[0]!.init.headers).toEqual({ Authorization: 'Bearer t', Accept: 'text/event-stream', 'Content-Type': 'application/json' });
    expect(JSON.parse(calls[0]!.init.body as string)).toEqual(request);
  });

  it('follows a known stream with GET and Last-Event-ID', async () => {
    const { sse, calls, on } = setup(async () => new Response(body([{ type: 'stream_complete', streamId: 's 1', seq: 9, fullContent: '' }]), { status: 200 }));
    await sse.run({ streamId: 's 1', lastSeq: 8, request: null }, new AbortController().signal, on);
    expect(calls[0]!.url).toBe('http://gw.test/v1/streams/s%201/events');
    expect(calls[0]!.init.method).toBe('GET');
    expect((calls[0]!.init.headers as Record<string, string>)['Last-Event-ID']).toBe('8');
  });

  it('asks for a retry when the response ends before the terminal event', async () => {
    const { sse, seen, on } = setup(async () => new Response(body([{ type: 'stream_chunk', streamId: 's1', seq: 2, content: 'A' }]), { status: 200 }));
    const out = await sse.run({ streamId: 's1', lastSeq: 1, request: null }, new AbortController().signal, on);
    expect(out).toEqual({ kind: 'retry', retryAfterMs: undefined });
    expect(seen).toHaveLength(1);
  });

  it('asks for a retry, with the server delay, on a retryable HTTP error', async () => {
    const { sse, log, on } = setup(async () =>
      new Response(JSON.stringify({ type: 'error', code: 'too_many_streams', message: 'busy', retryable: true, retryAfterMs: 1500 }), { status: 429 }),
    );
    const out = await sse.run({ streamId: null, lastSeq: 0, request }, new AbortController().signal, on);
    expect(out).toEqual({ kind: 'retry', retryAfterMs: 1500 });
    expect(log).toEqual(['reachable true']);
  });

  it('reports a refusal that retrying would not help', async () => {
    const { sse, on } = setup(async () => new Response(JSON.stringify({ type: 'error', code: 'not_found', message: 'no such stream', retryable: false }), { status: 404 }));
    const out = await sse.run({ streamId: 's1', lastSeq: 3, request: null }, new AbortController().signal, on);
    expect(out.kind).toBe('refused');
    if (out.kind !== 'refused') return;
    expect(out.status).toBe(404);
    expect(out.error.code).toBe('not_found');
  });

  it('says the server is unreachable when fetch throws, and asks for a retry', async () => {
    const { sse, log, on } = setup(async () => {
      throw new TypeError('fetch failed');
    });
    const out = await sse.run({ streamId: null, lastSeq: 0, request }, new AbortController().signal, on);
    expect(out).toEqual({ kind: 'retry', retryAfterMs: undefined });
    expect(log).toEqual(['reachable false']);
  });

  it('stops on an abort, but asks for a retry when the abort is a drop', async () => {
    for (const [reason, kind] of [
      [undefined, 'stopped'],
      [SSE_DROPPED, 'retry'],
    ] as const) {
      const ctrl = new AbortController();
      const { sse, seen, on } = setup(async (_url, init) => new Response(body([{ type: 'stream_chunk', streamId: 's1', seq: 2, content: 'A' }], init.signal!), { status: 200 }));
      const ran = sse.run({ streamId: 's1', lastSeq: 1, request: null }, ctrl.signal, {
        ...on,
        event: (ev) => {
          on.event(ev);
          ctrl.abort(reason);
        },
      });
      expect((await ran).kind).toBe(kind);
      expect(seen).toHaveLength(1);
    }
  });
});
