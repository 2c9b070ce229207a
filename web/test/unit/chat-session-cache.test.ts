// The chat session cache: one session per project, bounded, never dropping a session in use.
import { describe, expect, it } from 'vitest';
import { ChatSessionCache } from '../../src/sdk/chat-session-cache.js';
import { StreamClient } from '../../src/sdk/client.js';

const client = () => new StreamClient({ baseUrl: 'http://gw.test', WebSocket: undefined as never, fetch: async () => new Response('{}') });

describe('ChatSessionCache', () => {
  it('gives the same session for a project until it is evicted', () => {
    const cache = new ChatSessionCache(client(), 3);
    const a = cache.get('a');
    expect(cache.get('a')).toBe(a);
    expect(a.projectId).toBe('a');
  });

  it('stays within its bound, dropping the least recently used idle session first', () => {
    const cache = new ChatSessionCache(client(), 3);
    const a = cache.get('a');
    cache.get('b');
    cache.get('c');
    cache.get('a'); // a is now the most recently used
    for (let i = 0; i < 20; i++) {
      cache.get(`extra-${i}`);
      expect(cache.size).toBeLessThanOrEqual(3);
    }
    expect(cache.has('b')).toBe(false);
    expect(cache.has('c')).toBe(false);
    expect(cache.has('extra-19')).toBe(true);
    expect(cache.has('a')).toBe(false); // idle, so it went too in the end
    expect(cache.get('a')).not.toBe(a); // a new session for a project asked for again
  });

  it('keeps sessions that are watched past the bound, and shrinks back once they are idle', () => {
    const cache = new ChatSessionCache(client(), 2);
    // Shown one after the other: each is watched before the next is asked for.
    const watched = [];
    const offs: (() => void)[] = [];
    for (const id of ['w1', 'w2', 'w3']) {
      const s = cache.get(id);
      watched.push(s);
      offs.push(s.subscribe(() => {}));
    }
    expect(cache.size).toBe(3); // every one is in use
    const kept = cache.get('w1');
    expect(kept).toBe(watched[0]);
    offs.forEach((off) => off());
    cache.get('new');
    expect(cache.size).toBe(2);
    expect(cache.has('new')).toBe(true);
    expect(cache.has('w1')).toBe(true); // the most recently used of the old ones
  });
});
