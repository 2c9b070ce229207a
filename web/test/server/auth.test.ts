// The SDK's bearer token against streamgate with --auth jwt: the WebSocket subprotocol
// ("bearer", <token>), the Authorization header on REST and SSE, and refusal without a token.
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { StreamClient, type StreamClientOptions, type WebSocketCtor } from '../../src/sdk/client.js';
import { StreamgateError } from '../../src/sdk/rest.js';
import { startServer, waitFor, type RunningServer } from '../support/server.js';

const SECRET = 'test-secret-that-is-at-least-32-bytes-long!';

function b64url(s: string | Buffer): string {
  return Buffer.from(s).toString('base64url');
}

function jwt(sub: string, ttlS = 600): string {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ sub, iat: now, exp: now + ttlS }));
  const sig = createHmac('sha256', SECRET).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

let server: RunningServer;
const clients: StreamClient[] = [];

function client(extra: Partial<StreamClientOptions> = {}): StreamClient {
  const c = new StreamClient({
    baseUrl: server.url,
    WebSocket: WebSocket as unknown as WebSocketCtor,
    backoff: { initialMs: 20, maxMs: 300, factor: 2, jitter: 0.5 },
    heartbeatMs: 0,
    ...extra,
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = await startServer({ args: ['--auth', 'jwt', '--jwt-secret', SECRET] });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

describe('bearer token', () => {
  it('connects the WebSocket, calls REST and streams with a valid token', async () => {
    const c = client({ token: () => jwt('alice') });
    c.connect();
    await waitFor(() => c.getSnapshot().state === 'connected', 'connected with a token', 10_000);
    const p = await c.api.createProject({ name: 'Alice' });
    const h = c.stream({ projectId: p.id, userInput: 'Tokens and titles' });
    const snap = await h.done;
    expect(snap.status).toBe('complete');
    expect(snap.transport).toBe('websocket');
    expect(snap.text).toBe(snap.fullContent);
  });

  it('streams over SSE with the Authorization header', async () => {
    const c = client({ token: jwt('bob'), url: server.url.replace('http', 'ws') + '/no-such-socket', fallbackAfterFailures: 1 });
    const p = await c.api.createProject({ name: 'Bob' });
    c.connect();
    await waitFor(() => c.getSnapshot().state === 'fallback', 'fallback', 10_000);
    const snap = await c.stream({ projectId: p.id, userInput: 'SSE with a token' }).done;
    expect(snap.transport).toBe('sse');
    expect(snap.status).toBe('complete');
    expect(snap.text).toBe(snap.fullContent);
  });

  it('is refused without a token', async () => {
    const c = client({ fallbackAfterFailures: 1 });
    await expect(c.api.listProjects()).rejects.toSatisfy((e: unknown) => e instanceof StreamgateError && e.status === 401 && e.code === 'unauthorized');
    const snap = await c.stream({ projectId: 'p', userInput: 'no token' }).done;
    expect(snap.status).toBe('error');
    expect(snap.error?.code).toBe('unauthorized');
    expect(c.getSnapshot().state).not.toBe('connected');
  });
});
