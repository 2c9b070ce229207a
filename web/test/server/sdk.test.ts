// The SDK against the real streamgate binary: streaming, cancel, reconnect-and-resume at
// random points, and the SSE fallback.
import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { StreamClient, type StreamClientOptions, type WebSocketCtor } from '../../src/sdk/client.js';
import { StreamgateError } from '../../src/sdk/rest.js';
import type { StreamEvent } from '../../src/sdk/protocol.js';
import type { StreamHandle, StreamSnapshot } from '../../src/sdk/stream-handle.js';
import { startServer, waitFor, type RunningServer } from '../support/server.js';

let server: RunningServer;
let projectId: string;
const clients: StreamClient[] = [];
/** The clients of this suite are one program: one anonymous identity across all their connections. */
const PROGRAM_KEY = 'sdk-tests-program-key-0123456789';

function client(extra: Partial<StreamClientOptions> = {}): StreamClient {
  const c = new StreamClient({
    baseUrl: server.url,
    anonymousKey: PROGRAM_KEY,
    WebSocket: WebSocket as unknown as WebSocketCtor,
    backoff: { initialMs: 20, maxMs: 500, factor: 2, jitter: 0.5 },
    heartbeatMs: 0,
    ...extra,
  });
  clients.push(c);
  return c;
}

/** A TCP port on loopback that nothing listens on (connections are refused). */
async function refusedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function xorshift(seed: number): () => number {
  let x = seed | 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** Drops the client's socket once: from the client, or from the server's management API. */
function dropper(c: StreamClient, byServer: boolean) {
  const connectionId = c.getSnapshot().connectionId;
  const d = {
    byServer: byServer && connectionId !== null,
    fired: false,
    now() {
      if (d.fired) return;
      d.fired = true;
      if (d.byServer)
        void fetch(`${server.url}/@connections/${encodeURIComponent(connectionId!)}`, {
          method: 'DELETE',
          headers: { 'X-Admin-Key': server.adminKey },
        });
      else c.dropConnection();
    },
  };
  return d;
}

/** The handle's final snapshot, or a failure naming the run if it does not end in time. */
function finished(h: StreamHandle, what: string, ms = 20_000): Promise<StreamSnapshot> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    h.done.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish: ${JSON.stringify(h.getSnapshot())}`)), ms);
    }),
  ]);
}

beforeAll(async () => {
  server = await startServer();
  const c = client();
  const p = await c.api.createProject({ name: 'SDK tests', description: 'titles for the SDK test suite' });
  projectId = p.id;
  await c.api.createCard(projectId, { kind: 'instruction', content: 'Keep titles short and concrete', order: 0 });
  await c.api.createCard(projectId, { kind: 'style', content: 'Friendly, no clickbait', order: 1 });
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    // What the server said helps more than a timeout.
    const exit = server.proc.exitCode !== null || server.proc.signalCode !== null ? ` (server exited: code ${server.proc.exitCode}, signal ${server.proc.signalCode})` : '';
    console.error(`--- last streamgate log lines${exit} ---\n${server.logs.slice(-40).join('\n')}`);
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

describe('SDK against streamgate', () => {
  it('streams an answer whose chunks add up to fullContent', async () => {
    const c = client();
    const seen: StreamEvent[] = [];
    const h = c.stream({ projectId, userInput: 'A beginner guide to sourdough baking' });
    h.onEvent((ev) => seen.push(ev));
    const snap = await h.done;
    expect(snap.status).toBe('complete');
    expect(snap.fullContent).toBeTruthy();
    expect(snap.text).toBe(snap.fullContent);
    expect(snap.metrics.chunkCount).toBeGreaterThan(1);
    expect(snap.metrics.firstChunkMs).not.toBeNull();
    expect(snap.transport).toBe('websocket');
    expect(c.getSnapshot().state).toBe('connected');
    // seq is gapless from 1 (a merged chunk covers firstSeq..seq)
    let prev = 0;
    for (const e of seen) {
      const first = e.type === 'stream_chunk' && typeof e.firstSeq === 'number' ? e.firstSeq : e.seq;
      expect(first, `event after seq ${prev}`).toBe(prev + 1);
      prev = e.seq;
    }
    expect(seen[0]!.type).toBe('stream_start');
    const stages = seen.filter((e) => e.type === 'progress').map((e) => (e as { stage: string }).stage);
    expect(stages.length).toBeGreaterThan(0);
    expect(new Set(stages).size).toBeGreaterThan(1);
  });

  it('follows an existing stream with resume(streamId, 0)', async () => {
    const c1 = client();
    const h1 = c1.stream({ projectId, userInput: 'Weekend hiking trips' });
    const sid = await waitFor(() => h1.streamId, 'stream_start');
    const c2 = client();
    const h2 = c2.resume(sid, 0);
    const [a, b] = await Promise.all([h1.done, h2.done]);
    expect(b.status).toBe('complete');
    expect(b.text).toBe(a.fullContent);
  });

  it('cancels a stream on the server', async () => {
    const c = client();
    const h = c.stream({ projectId, userInput: 'How we cut our cloud bill in half' });
    await waitFor(() => h.streamId, 'stream_start');
    await h.cancel();
    expect(h.status).toBe('cancelled');
    const info = await c.api.getStream(h.streamId!);
    expect(info.state).toBe('cancelled');
  });

  it('reports a request error on the handle', async () => {
    const c = client();
    const h = c.stream({ projectId, userInput: '' });
    const snap = await h.done;
    expect(snap.status).toBe('error');
    expect(snap.error?.code).toBe('bad_request');
  });

  it('resumes 100 streams after drops at random points with text == fullContent', async () => {
    // Drops come faster than a "server that closes at once" would: keep this client on the
    // WebSocket so every run exercises resume, not the SSE fallback.
    const c = client({ immediateCloseMs: 20, fallbackAfterFailures: 1000 });
    const random = xorshift(0x2545f491);
    let resumed = 0;
    let serverDrops = 0;
    // 25 rounds of 4 concurrent streams (the per-connection limit): one drop per round, at a
    // random event of the first stream, cuts all four and all four must resume.
    for (let round = 0; round < 25; round++) {
      await waitFor(() => c.getSnapshot().state === 'connected' || (c.connect(), false), 'connected');
      const drop = dropper(c, round % 2 === 1);
      const hs = [0, 1, 2, 3].map((i) => c.stream({ projectId, userInput: `Round ${round}.${i}: a practical guide to home espresso` }));
      // 0 = right after the requests left, before any stream_start.
      const dropAfter = Math.floor(random() * 160);
      if (dropAfter === 0) drop.now();
      let applied = 0;
      hs[0]!.onEvent(() => {
        if (++applied === dropAfter) drop.now();
      });
      for (const [i, h] of hs.entries()) {
        const snap = await finished(h, `round ${round}.${i} (drop after ${dropAfter})`);
        expect(snap.status, `round ${round}.${i}`).toBe('complete');
        expect(snap.text, `round ${round}.${i} (drop after ${dropAfter})`).toBe(snap.fullContent);
        if (snap.metrics.resumes > 0) resumed++;
      }
      if (drop.byServer && drop.fired) serverDrops++;
    }
    // Most drops land inside the answers; those streams must really have resumed.
    expect(resumed).toBeGreaterThan(40);
    expect(serverDrops).toBeGreaterThan(5);
  }, 240_000);

  it('applies merged chunks (firstSeq..seq) once, also across resumes', async () => {
    // Unpaced tokens with merging whenever a write waits: the server merges chunks.
    const fast = await startServer({ tokensPerSecond: 0, args: ['--outbound-merge-bytes', '0'] });
    try {
      const c = new StreamClient({
        baseUrl: fast.url,
        anonymousKey: PROGRAM_KEY,
        WebSocket: WebSocket as unknown as WebSocketCtor,
        backoff: { initialMs: 10, maxMs: 200, factor: 2, jitter: 0.5 },
        heartbeatMs: 0,
        immediateCloseMs: 5,
        fallbackAfterFailures: 1000,
      });
      clients.push(c);
      const p = await c.api.createProject({ name: 'merge' });
      let merged = 0;
      c.onFrame((ev) => {
        if (ev.type === 'stream_chunk' && typeof ev.firstSeq === 'number' && ev.firstSeq < ev.seq) merged++;
      });
      const random = xorshift(0x1234567);
      for (let run = 0; run < 30; run++) {
        await waitFor(() => c.getSnapshot().state === 'connected' || (c.connect(), false), 'connected');
        const h = c.stream({ projectId: p.id, userInput: `Merge run ${run}: weekend hiking trips near the city` });
        const dropAfter = run % 3 === 0 ? -1 : 1 + Math.floor(random() * 30);
        let applied = 0;
        h.onEvent(() => {
          if (++applied === dropAfter) c.dropConnection();
        });
        const snap = await finished(h, `merge run ${run}`);
        expect(snap.status).toBe('complete');
        expect(snap.text, `merge run ${run}`).toBe(snap.fullContent);
      }
      expect(merged).toBeGreaterThan(0);
    } finally {
      await fast.stop();
    }
  }, 120_000);

  it('falls back to SSE when the WebSocket endpoint refuses, and streams the same answer', async () => {
    const port = await refusedPort();
    const c = client({ url: `ws://127.0.0.1:${port}/ws`, fallbackAfterFailures: 2 });
    c.connect();
    await waitFor(() => c.getSnapshot().state === 'fallback', 'fallback state', 10_000);
    const h = c.stream({ projectId, userInput: 'Fallback answer please' });
    const snap = await h.done;
    expect(snap.transport).toBe('sse');
    expect(snap.status).toBe('complete');
    expect(snap.text).toBe(snap.fullContent);
    expect(snap.metrics.chunkCount).toBeGreaterThan(1);
  });

  it('resumes a dropped SSE response with Last-Event-ID', async () => {
    const port = await refusedPort();
    const c = client({ url: `ws://127.0.0.1:${port}/ws`, fallbackAfterFailures: 1 });
    c.connect();
    await waitFor(() => c.getSnapshot().state === 'fallback', 'fallback state', 10_000);
    const h = c.stream({ projectId, userInput: 'SSE resume test' });
    let n = 0;
    h.onEvent(() => {
      if (++n === 5) c.dropConnection();
    });
    const snap = await h.done;
    expect(snap.status).toBe('complete');
    expect(snap.text).toBe(snap.fullContent);
    expect(snap.metrics.resumes).toBeGreaterThan(0);
  });

  it('cancels a stream that runs over SSE', async () => {
    const port = await refusedPort();
    const c = client({ url: `ws://127.0.0.1:${port}/ws`, fallbackAfterFailures: 1 });
    c.connect();
    await waitFor(() => c.getSnapshot().state === 'fallback', 'fallback state', 10_000);
    const h = c.stream({ projectId, userInput: 'Cancel me over SSE' });
    await waitFor(() => h.streamId, 'stream_start');
    await h.cancel();
    expect(h.status).toBe('cancelled');
    await waitFor(async () => (await c.api.getStream(h.streamId!)).state === 'cancelled', 'server-side cancelled state', 5000);
  });

  it('lists the conversation in the project history', async () => {
    const c = client();
    const page = await c.api.listMessages(projectId, { limit: 50 });
    expect(page.items.length).toBeGreaterThan(0);
    expect(page.items.some((m) => m.role === 'user')).toBe(true);
    expect(page.items.some((m) => m.role === 'assistant' && m.status === 'complete')).toBe(true);
  });

  it("keeps this program's projects and history from a program with another key", async () => {
    const other = client({ anonymousKey: 'another-program-key-0123456789' });
    const err = await other.api.listMessages(projectId, { limit: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamgateError);
    expect((err as StreamgateError).status).toBe(404);
    expect((await other.api.listProjects()).some((p) => p.id === projectId)).toBe(false);
    // Streaming on the same project id is refused as if it did not exist.
    other.connect();
    const h = other.stream({ projectId, userInput: 'let me in' });
    const snap = await finished(h, 'foreign project stream');
    expect(snap.status).toBe('error');
    expect(snap.error?.code).toBe('not_found');
  });
});

describe('connect timeout with the ws package', () => {
  it('gives up on a server that accepts TCP but never answers the upgrade, without crashing', async () => {
    const { createServer: tcpServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const silent = tcpServer((s) => sockets.push(s)); // accepts, says nothing
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const c = client({ url: `ws://127.0.0.1:${port}/ws`, connectTimeoutMs: 300, fallbackAfterFailures: 2 });
      c.connect();
      await waitFor(() => c.getSnapshot().lastError === 'connect timeout', 'connect timeout', 5000);
      await waitFor(() => c.getSnapshot().state === 'fallback', 'fallback after two timeouts', 5000);
      const snap = await c.stream({ projectId, userInput: 'after a silent server' }).done;
      expect(snap.transport).toBe('sse');
      expect(snap.text).toBe(snap.fullContent);
      c.close();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
