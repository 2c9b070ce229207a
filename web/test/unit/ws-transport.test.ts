// The WebSocket transport alone: a scripted fake socket, fake timers, no streams.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ServerEvent } from '../../src/sdk/protocol.js';
import { WebSocketTransport, type SocketClosed, type WebSocketLike } from '../../src/sdk/ws-transport.js';

class FakeSocket implements WebSocketLike {
  readyState = 0;
  sent: string[] = [];
  closedWith: [number | undefined, string | undefined] | null = null;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  send(data: string) {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(data);
  }
  close(code?: number, reason?: string) {
    this.closedWith = [code, reason];
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  serverClose(code: number, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

function setup(over: { heartbeatMs?: number; create?: () => WebSocketLike } = {}) {
  const sockets: FakeSocket[] = [];
  const log: string[] = [];
  const events: ServerEvent[] = [];
  const closes: SocketClosed[] = [];
  const t = new WebSocketTransport(
    {
      create:
        over.create ??
        (() => {
          const s = new FakeSocket();
          sockets.push(s);
          return s;
        }),
      connectTimeoutMs: 1000,
      immediateCloseMs: 500,
      heartbeatMs: over.heartbeatMs ?? 0,
      heartbeatTimeoutMs: 300,
      backoff: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 },
      now: () => Date.now(),
      random: () => 0.5,
    },
    {
      connecting: () => log.push('connecting'),
      open: (ms) => log.push(`open ${ms}`),
      event: (ev) => events.push(ev),
      closed: (c) => closes.push(c),
      stable: () => log.push('stable'),
    },
  );
  return { t, sockets, log, events, closes };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('WebSocketTransport', () => {
  it('opens one socket, reports the open time and hands over parsed events', () => {
    const { t, sockets, log, events } = setup();
    t.start();
    t.start();
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(40);
    sockets[0]!.open();
    expect(log).toEqual(['connecting', 'open 40']);
    expect(t.isOpen).toBe(true);
    sockets[0]!.onmessage?.({ data: JSON.stringify({ type: 'pong' }) });
    sockets[0]!.onmessage?.({ data: new TextEncoder().encode(JSON.stringify({ type: 'connected', connectionId: 'c1', serverTime: 1 })) });
    sockets[0]!.onmessage?.({ data: 'not json' });
    expect(events.map((e) => e.type)).toEqual(['pong', 'connected']);
    expect(t.send({ action: 'ping' })).toBe(true);
    expect(sockets[0]!.sent).toEqual(['{"action":"ping"}']);
  });

  it('refuses to send without an open socket', () => {
    const { t, sockets } = setup();
    expect(t.send({ action: 'ping' })).toBe(false);
    t.start();
    expect(t.send({ action: 'ping' })).toBe(false);
    expect(sockets[0]!.sent).toEqual([]);
  });

  it('counts a socket closed soon after opening as a failure and backs off longer each time', () => {
    const { t, sockets, closes } = setup();
    t.start();
    sockets[0]!.open();
    sockets[0]!.serverClose(1011, 'bye');
    expect(closes).toEqual([{ reason: 'closed 1011 bye', failed: true, code: 1011, failures: 1 }]);
    vi.advanceTimersByTime(99);
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(2);
    sockets[1]!.serverClose(1006);
    expect(closes[1]).toMatchObject({ failed: true, failures: 2 });
    vi.advanceTimersByTime(199);
    expect(sockets).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(3);
  });

  it('resets the failures once a socket stays up, and a later close is not a failure', () => {
    const { t, sockets, log, closes } = setup();
    t.start();
    sockets[0]!.serverClose(1006);
    vi.advanceTimersByTime(100);
    sockets[1]!.open();
    expect(t.failures).toBe(1);
    vi.advanceTimersByTime(500);
    expect(log).toContain('stable');
    expect(t.failures).toBe(0);
    sockets[1]!.serverClose(1001);
    expect(closes[1]).toEqual({ reason: 'closed 1001', failed: false, code: 1001, failures: 0 });
  });

  it('gives up on a socket that does not open within the connect timeout', () => {
    const { t, sockets, closes } = setup();
    t.start();
    vi.advanceTimersByTime(999);
    expect(closes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(closes).toEqual([{ reason: 'connect timeout', failed: true, code: undefined, failures: 1 }]);
    expect(sockets[0]!.closedWith).not.toBeNull();
  });

  it('pings, and drops a socket that stays silent past the heartbeat timeout', () => {
    const { t, sockets, closes } = setup({ heartbeatMs: 1000 });
    t.start();
    sockets[0]!.open();
    vi.advanceTimersByTime(1000);
    expect(sockets[0]!.sent).toEqual(['{"action":"ping"}']);
    vi.advanceTimersByTime(1000); // 2000 ms silent > 1000 + 300
    expect(closes).toEqual([{ reason: 'heartbeat timeout', failed: false, code: undefined, failures: 0 }]);
    expect(sockets[0]!.closedWith).toEqual([4001, 'heartbeat timeout']);
  });

  it('reconnects after drop() but not after stop()', () => {
    const { t, sockets, closes } = setup();
    t.start();
    sockets[0]!.open();
    vi.advanceTimersByTime(600);
    t.drop();
    expect(closes).toEqual([{ reason: 'dropped by client', failed: false, code: undefined, failures: 0 }]);
    expect(sockets[0]!.closedWith).toEqual([4000, 'dropped']);
    vi.advanceTimersByTime(100);
    expect(sockets).toHaveLength(2);
    sockets[1]!.open();
    t.stop();
    expect(sockets[1]!.closedWith).toEqual([1000, 'client disconnect']);
    // A late close event of the stopped socket is not reported and schedules nothing.
    sockets[1]!.serverClose(1006);
    vi.advanceTimersByTime(10_000);
    expect(sockets).toHaveLength(2);
    expect(closes).toHaveLength(1);
  });

  it('reports a socket that cannot even be created as a failure and retries', () => {
    let calls = 0;
    const { t, closes } = setup({
      create: () => {
        calls++;
        throw new Error('bad url');
      },
    });
    t.start();
    expect(closes).toEqual([{ reason: 'bad url', failed: true, code: undefined, failures: 1 }]);
    vi.advanceTimersByTime(100);
    expect(calls).toBe(2);
    expect(t.failures).toBe(2);
  });

  it('opens at once on openNow() instead of waiting out the backoff', () => {
    const { t, sockets } = setup();
    t.start();
    sockets[0]!.serverClose(1006);
    t.openNow();
    expect(sockets).toHaveLength(2);
    vi.advanceTimersByTime(1000);
    expect(sockets).toHaveLength(2);
  });
});
