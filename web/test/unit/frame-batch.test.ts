// Frame batching: under a burst of tokens, each chat view hears of a change once per frame.
import { describe, expect, it } from 'vitest';
import { ChatSession } from '../../src/sdk/chat-session.js';
import { StreamClient } from '../../src/sdk/client.js';
import { Store } from '../../src/sdk/store.js';
import { FrameBatch, FrameBatchedStore } from '../../src/react/frame-batch.js';

/** Frames that come only when the test says so. */
function manualFrames() {
  const queue: (() => void)[] = [];
  return {
    request: (cb: () => void) => {
      queue.push(cb);
    },
    /** Runs the callbacks of one frame; returns how many there were. */
    frame(): number {
      const cbs = queue.splice(0);
      for (const cb of cbs) cb();
      return cbs.length;
    },
    get pending() {
      return queue.length;
    },
  };
}

class FakeWS {
  static last: FakeWS;
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor() {
    FakeWS.last = this;
  }
  send(data: string) {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close() {}
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  push(ev: Record<string, unknown>) {
    this.onmessage?.({ data: JSON.stringify(ev) });
  }
}

describe('FrameBatch', () => {
  it('runs each flush once per frame, all in one frame callback', () => {
    const frames = manualFrames();
    const batch = new FrameBatch(frames.request);
    const runs: string[] = [];
    const a = () => runs.push('a');
    const b = () => runs.push('b');
    for (let i = 0; i < 50; i++) {
      batch.schedule(a);
      batch.schedule(b);
    }
    expect(runs).toEqual([]);
    expect(frames.pending).toBe(1);
    frames.frame();
    expect(runs).toEqual(['a', 'b']);
    expect(frames.frame()).toBe(0); // nothing scheduled, no frame asked for
    batch.schedule(a);
    frames.frame();
    expect(runs).toEqual(['a', 'b', 'a']);
  });
});

describe('FrameBatchedStore', () => {
  it('moves its snapshot only at a frame, and only when the source changed', () => {
    const frames = manualFrames();
    const source = new Store({ n: 0 });
    const view = new FrameBatchedStore(source, new FrameBatch(frames.request));
    let heard = 0;
    const off = view.subscribe(() => heard++);
    for (let i = 1; i <= 100; i++) source.set({ n: i });
    expect(view.getSnapshot().n).toBe(0);
    expect(heard).toBe(0);
    frames.frame();
    expect(view.getSnapshot().n).toBe(100);
    expect(heard).toBe(1);
    // A change undone before the frame is no change.
    const same = source.getSnapshot();
    source.set({ n: 5 });
    source.set(same);
    frames.frame();
    expect(heard).toBe(1);
    off();
    source.set({ n: 7 });
    expect(view.getSnapshot().n).toBe(7); // unwatched: reads through
    frames.frame();
    expect(heard).toBe(1);
  });

  it('renders ten chat views once per frame while each receives a burst of 100 tokens', () => {
    const frames = manualFrames();
    const batch = new FrameBatch(frames.request);
    const client = new StreamClient({ baseUrl: 'http://gw.test', WebSocket: FakeWS, fetch: async () => new Response('{}'), heartbeatMs: 0 });
    client.connect();
    const ws = FakeWS.last;
    ws.open();
    const sessions = Array.from({ length: 10 }, (_, i) => new ChatSession(client, `p${i}`));
    const renders = sessions.map(() => 0);
    const views = sessions.map((s, i) => {
      const v = new FrameBatchedStore(s, batch);
      v.subscribe(() => renders[i]!++);
      return v;
    });
    const handles = sessions.map((s) => s.send('a question')!);
    frames.frame();
    expect(renders).toEqual(Array(10).fill(1)); // the question and the pending answer
    const requests = ws.sent.filter((m) => m.action === 'stream');
    requests.forEach((r, i) => ws.push({ type: 'stream_start', streamId: `s${i}`, seq: 1, requestId: r.requestId }));
    let sourceNotifications = 0;
    for (const s of sessions) s.subscribe(() => sourceNotifications++);
    for (let t = 0; t < 100; t++) {
      for (let i = 0; i < 10; i++) ws.push({ type: 'stream_chunk', streamId: `s${i}`, seq: t + 2, content: ` w${t}` });
      if (t === 49) {
        expect(frames.frame()).toBe(1); // one frame callback for all ten views
        expect(renders).toEqual(Array(10).fill(2));
      }
    }
    expect(sourceNotifications).toBe(1000); // every token changed its session...
    expect(renders).toEqual(Array(10).fill(2)); // ...but no view re-rendered between frames
    frames.frame();
    expect(renders).toEqual(Array(10).fill(3));
    views.forEach((v, i) => expect(v.getSnapshot().messages[1]!.content).toBe(handles[i]!.text));
    expect(handles[0]!.text.split(' ').length).toBe(101);
  });
});
