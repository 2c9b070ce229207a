// StreamClient logic against a scripted fake WebSocket and fetch (no network, fake timers).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StreamClient, type StreamClientOptions } from '../../src/sdk/client.js';

type Json = Record<string, unknown>;

class FakeWS {
  static all: FakeWS[] = [];
  readyState = 0;
  sent: Json[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    FakeWS.all.push(this);
  }
  send(data: string) {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(JSON.parse(data) as Json);
  }
  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code: 1000, reason: '' });
  }
  // server side
  open(connectionId = `c${FakeWS.all.indexOf(this)}`) {
    this.readyState = 1;
    this.onopen?.({});
    this.push({ type: 'connected', connectionId, serverTime: Date.now() });
  }
  push(ev: Json) {
    this.onmessage?.({ data: JSON.stringify(ev) });
  }
  serverClose(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
  fail() {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code: 1006, reason: '' });
  }
  last(action: string): Json | undefined {
    return [...this.sent].reverse().find((m) => m.action === action);
  }
}

const latest = () => FakeWS.all[FakeWS.all.length - 1]!;

function sseResponse(events: Json[], keepOpen = false): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(ctrl) {
      for (const e of events) ctrl.enqueue(enc.encode(`id: ${String(e.seq)}\nevent: ${String(e.type)}\ndata: ${JSON.stringify(e)}\n\n`));
      if (!keepOpen) ctrl.close();
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}

interface FetchCall {
  url: string;
  init: RequestInit | undefined;
}

function makeClient(extra: Partial<StreamClientOptions> = {}, fetchImpl?: (url: string, init?: RequestInit) => Promise<Response>) {
  const calls: FetchCall[] = [];
  const f = async (url: string, init?: RequestInit) => {
    calls.push({ url, init });
    if (fetchImpl) return fetchImpl(url, init);
    return new Response('{}', { status: 200 });
  };
  const client = new StreamClient({
    baseUrl: 'http://gw.test',
    WebSocket: FakeWS,
    fetch: f,
    backoff: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 },
    heartbeatMs: 0,
    now: () => Date.now(),
    ...extra,
  });
  return { client, calls };
}

const start = (streamId: string, requestId: unknown) => ({ type: 'stream_start', streamId, seq: 1, sessionId: 'p1', requestId });
const chunk = (streamId: string, seq: number, content: string, firstSeq?: number) => ({ type: 'stream_chunk', streamId, seq, content, sessionId: 'p1', ...(firstSeq ? { firstSeq } : {}) });
const complete = (streamId: string, seq: number, fullContent: string) => ({
  type: 'stream_complete',
  streamId,
  seq,
  fullContent,
  usage: { inputTokens: 1, outputTokens: 2 },
  metrics: { firstChunkMs: 1, totalChunks: 3, durationMs: 9 },
});

beforeEach(() => {
  FakeWS.all = [];
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('StreamClient over WebSocket', () => {
  it('streams: start, progress, chunks, complete', async () => {
    const { client } = makeClient();
    const states: string[] = [];
    client.subscribe(() => {
      const st = client.getSnapshot().state;
      if (states[states.length - 1] !== st) states.push(st);
    });
    client.connect();
    expect(client.state).toBe('connecting');
    const ws = latest();
    expect(ws.url).toBe('ws://gw.test/ws');
    ws.open();
    expect(client.state).toBe('connected');
    expect(client.getSnapshot().connectionId).toBe('c0');

    const h = client.stream({ projectId: 'p1', userInput: 'hi' });
    const req = ws.last('stream')!;
    expect(req).toMatchObject({ action: 'stream', projectId: 'p1', userInput: 'hi' });
    expect(typeof req.requestId).toBe('string');
    ws.push(start('s1', req.requestId));
    ws.push({ type: 'progress', streamId: 's1', seq: 2, stage: 'analyzing', step: 'Analyzing prompt cards...', progress: 10 });
    ws.push(chunk('s1', 3, 'Hello'));
    ws.push(chunk('s1', 4, ', world'));
    ws.push(complete('s1', 5, 'Hello, world'));
    const snap = await h.done;
    expect(snap.status).toBe('complete');
    expect(snap.text).toBe('Hello, world');
    expect(snap.fullContent).toBe('Hello, world');
    expect(snap.progress).toEqual({ stage: 'analyzing', step: 'Analyzing prompt cards...', progress: 10 });
    expect(snap.metrics.chunkCount).toBe(2);
    expect(snap.streamId).toBe('s1');
    expect(states).toEqual(['connecting', 'connected']);
  });

  it('queues a stream until the socket opens', () => {
    const { client } = makeClient();
    client.stream({ projectId: 'p', userInput: 'x' });
    const ws = latest();
    expect(ws.sent).toEqual([]);
    ws.open();
    expect(ws.last('stream')).toMatchObject({ userInput: 'x' });
  });

  it('resumes every live stream after a drop, with no gap and no duplicate', async () => {
    const { client } = makeClient();
    client.connect();
    let ws = latest();
    ws.open();
    vi.advanceTimersByTime(600); // stable
    const h = client.stream({ projectId: 'p1', userInput: 'q' });
    ws.push(start('s1', ws.last('stream')!.requestId));
    ws.push(chunk('s1', 2, 'A'));
    ws.push(chunk('s1', 3, 'B'));
    ws.serverClose(1006);
    expect(client.state).toBe('connecting');
    vi.advanceTimersByTime(100);
    ws = latest();
    expect(FakeWS.all).toHaveLength(2);
    ws.open();
    expect(ws.last('resume')).toEqual({ action: 'resume', streamId: 's1', lastSeq: 3 });
    // The server replays from the log; a duplicate that raced the drop is dropped too.
    ws.push(chunk('s1', 3, 'B'));
    ws.push(chunk('s1', 6, 'CDE', 4)); // merged 4..6
    ws.push(chunk('s1', 5, 'D')); // already inside the merge
    ws.push(chunk('s1', 7, 'F'));
    ws.push(complete('s1', 8, 'ABCDEF'));
    const snap = await h.done;
    expect(snap.text).toBe('ABCDEF');
    expect(snap.metrics.resumes).toBe(1);
  });

  it('asks for a resume when it sees a gap instead of applying it', () => {
    const { client } = makeClient();
    client.connect();
    const ws = latest();
    ws.open();
    const h = client.stream({ projectId: 'p', userInput: 'q' });
    ws.push(start('s1', ws.last('stream')!.requestId));
    ws.push(chunk('s1', 2, 'A'));
    ws.push(chunk('s1', 4, 'C'));
    expect(h.text).toBe('A');
    expect(ws.last('resume')).toEqual({ action: 'resume', streamId: 's1', lastSeq: 2 });
    ws.push(chunk('s1', 3, 'B'));
    ws.push(chunk('s1', 4, 'C'));
    expect(h.text).toBe('ABC');
  });

  it('counts a socket the server closes at once as a failure and backs off', () => {
    const { client } = makeClient({ fallbackAfterFailures: 5 });
    client.connect();
    latest().open();
    vi.advanceTimersByTime(100);
    latest().serverClose(1000); // open for 100 ms < 500 ms
    expect(client.getSnapshot().failures).toBe(1);
    vi.advanceTimersByTime(99);
    expect(FakeWS.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeWS.all).toHaveLength(2);
    latest().open();
    latest().serverClose(1000);
    expect(client.getSnapshot().failures).toBe(2);
    vi.advanceTimersByTime(199);
    expect(FakeWS.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeWS.all).toHaveLength(3);
    // A socket that stays up resets the count.
    latest().open();
    vi.advanceTimersByTime(500);
    expect(client.getSnapshot().failures).toBe(0);
  });

  it('gives up on a socket that does not open within the connect timeout', () => {
    const { client } = makeClient({ connectTimeoutMs: 10_000, fallbackAfterFailures: 5 });
    client.connect();
    vi.advanceTimersByTime(9_999);
    expect(FakeWS.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(client.getSnapshot().failures).toBe(1);
    expect(client.getSnapshot().lastError).toBe('connect timeout');
    vi.advanceTimersByTime(100);
    expect(FakeWS.all).toHaveLength(2);
  });

  it('sends the bearer token as the WebSocket subprotocol and as an Authorization header', async () => {
    const { client, calls } = makeClient({ token: 'tok123' });
    client.connect();
    expect(latest().protocols).toEqual(['bearer', 'tok123']);
    await client.api.listProjects().catch(() => undefined);
    expect((calls[0]!.init!.headers as Record<string, string>).Authorization).toBe('Bearer tok123');
  });

  it('cancels before and after the server named the stream', async () => {
    const { client } = makeClient();
    client.connect();
    const ws = latest();
    ws.open();
    const h = client.stream({ projectId: 'p', userInput: 'q' });
    const cancelled = h.cancel();
    expect(ws.last('cancel')).toBeUndefined();
    ws.push(start('s9', ws.last('stream')!.requestId));
    await Promise.resolve();
    expect(ws.last('cancel')).toEqual({ action: 'cancel', streamId: 's9' });
    ws.push({ type: 'stream_cancelled', streamId: 's9', seq: 2 });
    await cancelled;
    expect(h.status).toBe('cancelled');
  });

  it('ends a stream locally when cancelled before its request left', async () => {
    const { client } = makeClient();
    const h = client.stream({ projectId: 'p', userInput: 'q' });
    await h.cancel();
    expect(h.status).toBe('cancelled');
    latest().open();
    expect(latest().last('stream')).toBeUndefined();
  });

  it('fails the matching request on an error that carries its requestId', async () => {
    const { client } = makeClient();
    client.connect();
    const ws = latest();
    ws.open();
    const h = client.stream({ projectId: 'p', userInput: 'q', requestId: 'r-1' });
    ws.push({ type: 'error', code: 'too_many_streams', message: 'limit 4', retryable: true, requestId: 'r-1' });
    const snap = await h.done;
    expect(snap.status).toBe('error');
    expect(snap.error).toEqual({ code: 'too_many_streams', message: 'limit 4', retryable: true });
  });

  it('ends a stream on an error event with its streamId', async () => {
    const { client } = makeClient();
    client.connect();
    const ws = latest();
    ws.open();
    const h = client.stream({ projectId: 'p', userInput: 'q' });
    ws.push(start('s1', ws.last('stream')!.requestId));
    ws.push({ type: 'error', streamId: 's1', seq: 2, code: 'upstream_error', message: 'boom', retryable: false });
    expect((await h.done).error?.code).toBe('upstream_error');
  });

  it('refuses an oversized request locally', async () => {
    const { client } = makeClient({ maxPayloadBytes: 1000 });
    const h = client.stream({ projectId: 'p', userInput: 'x'.repeat(2000) });
    expect((await h.done).error?.code).toBe('payload_too_large');
  });
});

describe('StreamClient retain/release (React StrictMode)', () => {
  it('keeps one socket through release+retain in the same tick, closes after the last release', () => {
    const { client } = makeClient({ releaseDelayMs: 100 });
    const r1 = client.retain();
    r1(); // StrictMode: effect cleanup...
    const r2 = client.retain(); // ...and the effect again
    expect(FakeWS.all).toHaveLength(1);
    latest().open();
    vi.advanceTimersByTime(1000);
    expect(FakeWS.all).toHaveLength(1);
    expect(latest().readyState).toBe(1);
    r2();
    r2(); // double release is harmless
    vi.advanceTimersByTime(99);
    expect(latest().readyState).toBe(1);
    vi.advanceTimersByTime(1);
    expect(latest().readyState).toBe(3);
    expect(client.state).toBe('offline');
    vi.advanceTimersByTime(5000);
    expect(FakeWS.all).toHaveLength(1); // no reconnect after an intended close
  });
});

describe('StreamClient SSE fallback', () => {
  it('moves to SSE after repeated WebSocket failures and streams over fetch', async () => {
    const events = [start('s1', 'rq'), chunk('s1', 2, 'Hel'), chunk('s1', 3, 'lo'), complete('s1', 4, 'Hello')];
    const { client, calls } = makeClient({ fallbackAfterFailures: 2 }, async (url, init) => {
      if (url.endsWith('/healthz')) return new Response('ok');
      if (url.endsWith('/v1/streams') && init?.method === 'POST') return sseResponse(events);
      return new Response('{}', { status: 404 });
    });
    const h = client.stream({ projectId: 'p1', userInput: 'q', requestId: 'rq' });
    latest().fail();
    vi.advanceTimersByTime(100);
    latest().fail();
    await vi.advanceTimersByTimeAsync(0);
    const snap = await h.done;
    expect(snap.text).toBe('Hello');
    expect(snap.transport).toBe('sse');
    expect(client.state).toBe('fallback');
    const post = calls.find((c) => c.url === 'http://gw.test/v1/streams')!;
    expect((post.init!.headers as Record<string, string>).Accept).toBe('text/event-stream');
    expect(JSON.parse(post.init!.body as string)).toMatchObject({ projectId: 'p1', userInput: 'q', requestId: 'rq' });
  });

  it('resumes a dropped SSE response with Last-Event-ID', async () => {
    let gets = 0;
    const { client, calls } = makeClient({ WebSocket: undefined as never }, async (url, init) => {
      if (url.endsWith('/healthz')) return new Response('ok');
      if (init?.method === 'POST') return sseResponse([start('s1', 'rq'), chunk('s1', 2, 'A'), chunk('s1', 3, 'B')]);
      gets++;
      return sseResponse([chunk('s1', 3, 'B'), chunk('s1', 4, 'C'), complete('s1', 5, 'ABC')]);
    });
    // No WebSocket at all in this environment: straight to SSE.
    (client as unknown as { WS: undefined }).WS = undefined;
    const h = client.stream({ projectId: 'p1', userInput: 'q', requestId: 'rq' });
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(200);
    const snap = await h.done;
    expect(snap.text).toBe('ABC');
    expect(gets).toBe(1);
    const get = calls.find((c) => c.url === 'http://gw.test/v1/streams/s1/events')!;
    expect((get.init!.headers as Record<string, string>)['Last-Event-ID']).toBe('3');
  });

  it('shows offline when neither WebSocket nor HTTP answers', async () => {
    const { client } = makeClient({ fallbackAfterFailures: 1 }, async () => {
      throw new TypeError('fetch failed');
    });
    client.connect();
    latest().fail();
    await vi.advanceTimersByTimeAsync(0);
    expect(client.state).toBe('offline');
  });

  it('reports a non-retryable HTTP error as the stream error', async () => {
    const { client } = makeClient({ fallbackAfterFailures: 1 }, async (url) => {
      if (url.endsWith('/healthz')) return new Response('ok');
      return new Response(JSON.stringify({ type: 'error', code: 'bad_request', message: 'userInput is required', retryable: false, field: 'userInput' }), { status: 400 });
    });
    client.connect();
    latest().fail();
    const h = client.stream({ projectId: 'p1', userInput: '' });
    await vi.advanceTimersByTimeAsync(0);
    const snap = await h.done;
    expect(snap.error).toEqual({ code: 'bad_request', message: 'userInput is required', retryable: false });
  });
});

describe('StreamClient errors about a stream', () => {
  it('asks again, after a backoff, when a resume is refused for now', async () => {
    const { client } = makeClient();
    client.connect();
    const ws = latest();
    ws.open();
    const h = client.resume('busy', 2);
    const resumes = () => ws.sent.filter((m) => m.action === 'resume').length;
    expect(resumes()).toBe(1);
    ws.push({ type: 'error', code: 'unavailable', message: "the cluster's shared log is unreachable; retry", retryable: true, streamId: 'busy' });
    expect(resumes()).toBe(1); // not at once
    vi.advanceTimersByTime(5_000);
    expect(resumes()).toBe(2);
    expect(ws.last('resume')).toEqual({ action: 'resume', streamId: 'busy', lastSeq: 2 });
    ws.push(chunk('busy', 3, 'C'));
    ws.push(complete('busy', 4, 'ABC'));
    const snap = await h.done;
    expect(snap.status).toBe('complete');
  });

  it('ends a resumed stream the server no longer knows', async () => {
    const { client } = makeClient();
    client.connect();
    const ws = latest();
    ws.open();
    const h = client.resume('gone', 0);
    expect(ws.last('resume')).toEqual({ action: 'resume', streamId: 'gone', lastSeq: 0 });
    ws.push({ type: 'error', code: 'not_found', message: 'no stream gone (unknown or expired)', retryable: false, streamId: 'gone' });
    const snap = await h.done;
    expect(snap.status).toBe('error');
    expect(snap.error?.code).toBe('not_found');
  });
});
