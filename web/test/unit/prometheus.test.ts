// The admin page's Prometheus text parser, histogram quantile estimate and derived figures.
import { describe, expect, it } from 'vitest';
import {
  counterRate,
  groupBy,
  histogramDelta,
  histogramOf,
  histogramQuantile,
  parsePrometheus,
  parseValue,
  PrometheusParseError,
  sumOf,
} from '../../src/admin/prometheus.js';
import { toPoint } from '../../src/admin/admin-store.js';
import { sparklinePath } from '../../src/admin/Sparkline.js';
import { formatSeconds } from '../../src/admin/format.js';

const TEXT = `# HELP streamgate_connections_active Open client connections by transport.
# TYPE streamgate_connections_active gauge
streamgate_connections_active{transport="websocket"} 3
streamgate_connections_active{transport="sse"} 1
# TYPE streamgate_streams_running gauge
streamgate_streams_running 2
# TYPE streamgate_streams_total counter
streamgate_streams_total{outcome="started"} 10
streamgate_streams_total{outcome="completed"} 7
streamgate_streams_total{outcome="cancelled"} 1
streamgate_streams_total{outcome="failed"} 0
# TYPE streamgate_chunks_total counter
streamgate_chunks_total 1200
# TYPE streamgate_events_sent_total counter
streamgate_events_sent_total 1300
# TYPE streamgate_upstream_errors_total counter
streamgate_upstream_errors_total{provider="openai",code="rate_limited"} 2
streamgate_upstream_errors_total{provider="openai",code="upstream_timeout"} 1
streamgate_upstream_errors_total{code="rate_limited",provider="anthropic"} 4
# TYPE streamgate_time_to_first_token_seconds histogram
streamgate_time_to_first_token_seconds_bucket{le="0.1"} 0
streamgate_time_to_first_token_seconds_bucket{le="0.25"} 4
streamgate_time_to_first_token_seconds_bucket{le="0.5"} 8
streamgate_time_to_first_token_seconds_bucket{le="1"} 10
streamgate_time_to_first_token_seconds_bucket{le="+Inf"} 10
streamgate_time_to_first_token_seconds_sum 3.1
streamgate_time_to_first_token_seconds_count 10
`;

describe('parsePrometheus', () => {
  it('reads samples, labels, TYPE and HELP lines', () => {
    const s = parsePrometheus(TEXT);
    expect(s.types.get('streamgate_connections_active')).toBe('gauge');
    expect(s.types.get('streamgate_time_to_first_token_seconds')).toBe('histogram');
    expect(s.help.get('streamgate_connections_active')).toBe('Open client connections by transport.');
    expect(s.samples[0]).toEqual({ name: 'streamgate_connections_active', labels: { transport: 'websocket' }, value: 3 });
    expect(sumOf(s, 'streamgate_connections_active')).toBe(4);
    expect(sumOf(s, 'streamgate_connections_active', { transport: 'sse' })).toBe(1);
    expect(sumOf(s, 'streamgate_streams_running')).toBe(2);
    expect(sumOf(s, 'no_such_metric')).toBe(0);
  });

  it('groups by labels whatever their order', () => {
    const s = parsePrometheus(TEXT);
    const g = groupBy(s, 'streamgate_upstream_errors_total', ['provider', 'code']);
    expect(Object.fromEntries(g)).toEqual({ 'openai/rate_limited': 2, 'openai/upstream_timeout': 1, 'anthropic/rate_limited': 4 });
    expect(Object.fromEntries(groupBy(s, 'streamgate_streams_total', ['outcome']))).toEqual({ started: 10, completed: 7, cancelled: 1, failed: 0 });
  });

  it('handles escapes, spaces, timestamps, special values, CRLF and blank lines', () => {
    const s = parsePrometheus(
      [
        '# a free comment',
        'm{path="C:\\\\dir",msg="say \\"hi\\"\\nbye", empty=""} 1.5e3 1700000000000',
        '',
        'm_inf +Inf',
        'm_ninf -Inf',
        'm_nan NaN',
        'm_trailing{a="1",} -0.25',
        '# HELP m_help line\\nbreak and back\\\\slash',
        'name_with:colon 7\r',
      ].join('\r\n'),
    );
    expect(s.samples[0]!.labels).toEqual({ path: 'C:\\dir', msg: 'say "hi"\nbye', empty: '' });
    expect(s.samples[0]!.value).toBe(1500);
    expect(sumOf(s, 'm_inf')).toBe(Infinity);
    expect(sumOf(s, 'm_ninf')).toBe(-Infinity);
    expect(Number.isNaN(sumOf(s, 'm_nan'))).toBe(true);
    expect(s.samples.find((x) => x.name === 'm_trailing')).toEqual({ name: 'm_trailing', labels: { a: '1' }, value: -0.25 });
    expect(s.help.get('m_help')).toBe('line\nbreak and back\\slash');
    expect(sumOf(s, 'name_with:colon')).toBe(7);
  });

  it('rejects malformed sample lines with their line number', () => {
    expect(() => parsePrometheus('ok 1\nbad{a=1} 2')).toThrowError(PrometheusParseError);
    expect(() => parsePrometheus('ok 1\nbad{a=1} 2')).toThrowError(/line 2/);
    expect(() => parsePrometheus('m{a="x} 1')).toThrowError(/unterminated/);
    expect(() => parsePrometheus('m{a="x"')).toThrowError();
    expect(() => parsePrometheus('m abc')).toThrowError(/bad value/);
    expect(() => parsePrometheus('m')).toThrowError(/expected a value/);
    expect(() => parsePrometheus('9m 1')).toThrowError(/metric name/);
  });

  it('parses values like Go does', () => {
    expect(parseValue('42')).toBe(42);
    expect(parseValue('-1.5E-3')).toBe(-0.0015);
    expect(parseValue('.5')).toBe(0.5);
    expect(parseValue('+Inf')).toBe(Infinity);
    expect(Number.isNaN(parseValue('0x10'))).toBe(true);
  });
});

describe('histograms', () => {
  it('collects buckets sorted by le, with sum and count', () => {
    const h = histogramOf(parsePrometheus(TEXT), 'streamgate_time_to_first_token_seconds')!;
    expect(h.buckets.map((b) => b.le)).toEqual([0.1, 0.25, 0.5, 1, Infinity]);
    expect(h.count).toBe(10);
    expect(h.sum).toBeCloseTo(3.1);
    expect(histogramOf(parsePrometheus(TEXT), 'nope')).toBeNull();
  });

  it('estimates quantiles by linear interpolation inside the bucket', () => {
    const h = histogramOf(parsePrometheus(TEXT), 'streamgate_time_to_first_token_seconds')!;
    // rank 5 of 10 lies in (0.25, 0.5] which holds observations 5..8: 0.25 + 0.25 * (1/4).
    expect(histogramQuantile(0.5, h.buckets)).toBeCloseTo(0.3125, 10);
    // rank 9.9 lies in (0.5, 1] holding 9..10: 0.5 + 0.5 * (1.9/2).
    expect(histogramQuantile(0.99, h.buckets)).toBeCloseTo(0.975, 10);
    // rank 2 lies in (0.1, 0.25] holding 1..4: 0.1 + 0.15 * (2/4).
    expect(histogramQuantile(0.2, h.buckets)).toBeCloseTo(0.175, 10);
  });

  it('interpolates from 0 in the first bucket and caps the +Inf bucket at the highest bound', () => {
    const first = [
      { le: 0.5, count: 4 },
      { le: 1, count: 4 },
      { le: Infinity, count: 4 },
    ];
    expect(histogramQuantile(0.5, first)).toBeCloseTo(0.25, 10);
    const tail = [
      { le: 0.1, count: 1 },
      { le: 1, count: 2 },
      { le: Infinity, count: 10 },
    ];
    expect(histogramQuantile(0.99, tail)).toBe(1);
    expect(histogramQuantile(0.5, tail)).toBe(1);
  });

  it('has no answer without observations or without a +Inf bucket', () => {
    expect(histogramQuantile(0.5, [])).toBeNull();
    expect(histogramQuantile(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }])).toBeNull();
    expect(histogramQuantile(0.5, [{ le: 1, count: 3 }])).toBeNull();
    expect(histogramQuantile(-1, [{ le: 1, count: 1 }, { le: Infinity, count: 1 }])).toBe(-Infinity);
    expect(histogramQuantile(2, [{ le: 1, count: 1 }, { le: Infinity, count: 1 }])).toBe(Infinity);
  });

  it('tolerates unsorted and non-monotonic buckets', () => {
    const bs = [
      { le: Infinity, count: 4 },
      { le: 2, count: 3 }, // less than the bucket before it: clamped to 4
      { le: 1, count: 4 },
    ];
    expect(histogramQuantile(0.5, bs)).toBeCloseTo(0.5, 10);
  });

  it('takes the observations between two readings', () => {
    const a = { buckets: [{ le: 0.1, count: 2 }, { le: 1, count: 5 }, { le: Infinity, count: 5 }], sum: 1, count: 5 };
    const b = { buckets: [{ le: 0.1, count: 2 }, { le: 1, count: 9 }, { le: Infinity, count: 9 }], sum: 3, count: 9 };
    const d = histogramDelta(a, b);
    expect(d.count).toBe(4);
    expect(d.sum).toBe(2);
    expect(d.buckets.map((x) => x.count)).toEqual([0, 4, 4]);
    expect(histogramQuantile(0.5, d.buckets)).toBeCloseTo(0.55, 10);
    // A restart (count went down) keeps the new reading as it is.
    expect(histogramDelta(b, a)).toBe(a);
    expect(histogramDelta(null, b)).toBe(b);
  });
});

describe('derived figures', () => {
  it('computes counter rates and survives a reset', () => {
    expect(counterRate(100, 160, 2)).toBe(30);
    expect(counterRate(100, 40, 2)).toBe(20);
    expect(counterRate(1, 2, 0)).toBe(0);
  });

  it('reduces two scrapes to points with rates and quantiles', () => {
    const s1 = parsePrometheus(TEXT);
    const p1 = toPoint(s1, 10_000, null);
    expect(p1).toMatchObject({ websocket: 3, sse: 1, running: 2, chunks: 1200, chunkRate: 0, eventRate: 0 });
    expect(p1.streams).toEqual({ cancelled: 1, completed: 7, failed: 0, started: 10 });
    expect(p1.upstreamErrors['anthropic/rate_limited']).toBe(4);
    expect(p1.ttft.p50).toBeCloseTo(0.3125, 10);
    expect(p1.ttft.count).toBe(10);
    expect(p1.interChunk).toEqual({ p50: null, p99: null, count: 0 });
    const s2 = parsePrometheus(TEXT.replace('streamgate_chunks_total 1200', 'streamgate_chunks_total 1300').replace('streamgate_events_sent_total 1300', 'streamgate_events_sent_total 1350'));
    const p2 = toPoint(s2, 12_000, { scrape: s1, point: p1 });
    expect(p2.chunkRate).toBe(50);
    expect(p2.eventRate).toBe(25);
    // No new first tokens between the two scrapes.
    expect(p2.recent.ttftP50).toBeNull();
    // Two more first tokens, both in (0.5, 1]: the recent median lies in that bucket.
    const s3 = parsePrometheus(
      TEXT.replace('_bucket{le="1"} 10', '_bucket{le="1"} 12').replace('_bucket{le="+Inf"} 10', '_bucket{le="+Inf"} 12').replace('_count 10', '_count 12'),
    );
    const p3 = toPoint(s3, 14_000, { scrape: s2, point: p2 });
    expect(p3.recent.ttftP50).toBeCloseTo(0.75, 10);
    expect(p3.ttft.count).toBe(12);
  });

  it('draws sparklines right-aligned and scaled to the maximum', () => {
    const { line, max } = sparklinePath([0, 2, 4], 5);
    expect(max).toBe(4);
    expect(line.startsWith('M60.0,')).toBe(true);
    expect(line.endsWith('L120.0,1.5')).toBe(true);
    expect(sparklinePath([], 60).line).toBe('');
    expect(sparklinePath([1, null, 1], 3).line).toBe('M0.0,1.5l0,0M120.0,1.5l0,0');
    expect(sparklinePath([1, 1, null], 3).line).toBe('M0.0,1.5L60.0,1.5');
  });

  it('formats seconds', () => {
    expect(formatSeconds(null)).toBe('–');
    expect(formatSeconds(0.0005)).toBe('500 µs');
    expect(formatSeconds(0.0123)).toBe('12.3 ms');
    expect(formatSeconds(0.3125)).toBe('313 ms');
    expect(formatSeconds(2.5)).toBe('2.50 s');
  });
});
