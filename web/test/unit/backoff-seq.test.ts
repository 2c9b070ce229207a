import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF } from '../../src/sdk/backoff.js';
import { SeqTracker } from '../../src/sdk/seq.js';

describe('backoffDelay', () => {
  const opts = { initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.5 };

  it('grows exponentially up to the cap', () => {
    const top = (a: number) => backoffDelay(a, opts, () => 0.999999);
    expect([0, 1, 2, 3, 4, 5, 6, 10, 100].map(top)).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });

  it('keeps the jittered delay within [nominal*(1-jitter), nominal]', () => {
    for (let a = 0; a < 8; a++) {
      const nominal = Math.min(opts.maxMs, opts.initialMs * 2 ** a);
      for (const r of [0, 0.25, 0.5, 0.75, 0.999]) {
        const d = backoffDelay(a, opts, () => r);
        expect(d).toBeGreaterThanOrEqual(Math.floor(nominal * 0.5));
        expect(d).toBeLessThanOrEqual(nominal);
      }
    }
  });

  it('spreads clients apart with random jitter', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) seen.add(backoffDelay(3, opts));
    expect(seen.size).toBeGreaterThan(10);
  });

  it('has no jitter at 0 and tolerates odd inputs', () => {
    expect(backoffDelay(2, { ...opts, jitter: 0 }, () => 0.3)).toBe(400);
    expect(backoffDelay(-3, opts, () => 1)).toBe(100);
    expect(backoffDelay(1e9, DEFAULT_BACKOFF, () => 1)).toBe(DEFAULT_BACKOFF.maxMs);
  });
});

describe('SeqTracker', () => {
  it('applies contiguous events and drops replays', () => {
    const t = new SeqTracker();
    expect(t.accept(1)).toBe('apply');
    expect(t.accept(2)).toBe('apply');
    expect(t.accept(2)).toBe('duplicate');
    expect(t.accept(1)).toBe('duplicate');
    expect(t.accept(3)).toBe('apply');
    expect(t.lastSeq).toBe(3);
  });

  it('takes a merged chunk as one step from firstSeq to seq', () => {
    const t = new SeqTracker(4);
    expect(t.accept(9, 5)).toBe('apply');
    expect(t.lastSeq).toBe(9);
    expect(t.accept(9, 5)).toBe('duplicate');
    expect(t.accept(7, 6)).toBe('duplicate');
  });

  it('refuses a gap or an overlapping merge without advancing', () => {
    const t = new SeqTracker(4);
    expect(t.accept(6)).toBe('gap');
    expect(t.accept(8, 3)).toBe('overlap');
    expect(t.lastSeq).toBe(4);
    expect(t.accept(5)).toBe('apply');
  });

  it('starts from a resume point', () => {
    const t = new SeqTracker(10);
    expect(t.accept(10)).toBe('duplicate');
    expect(t.accept(11)).toBe('apply');
  });
});
