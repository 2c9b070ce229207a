// A small reader of the Prometheus text exposition format (version 0.0.4) and the figures the
// admin page derives from it: sums over label sets, counter rates, histogram quantiles.

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  readonly name: string;
  readonly labels: Labels;
  readonly value: number;
}

export interface Scrape {
  readonly samples: readonly Sample[];
  /** `# TYPE` lines: metric family name → counter, gauge, histogram, summary, untyped. */
  readonly types: ReadonlyMap<string, string>;
  /** `# HELP` lines: metric family name → help text (unescaped). */
  readonly help: ReadonlyMap<string, string>;
}

export class PrometheusParseError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'PrometheusParseError';
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** Parses a sample value: a float, `+Inf`, `-Inf` or `NaN`. */
export function parseValue(s: string): number {
  switch (s) {
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return NaN;
  return Number(s);
}

function unescapeHelp(s: string): string {
  return s.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

/** Parses the whole exposition text. Throws PrometheusParseError on a malformed sample line. */
export function parsePrometheus(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s+(.*))?$/.exec(line);
      if (m) {
        if (m[1] === 'TYPE') types.set(m[2]!, (m[3] ?? 'untyped').trim());
        else help.set(m[2]!, unescapeHelp(m[3] ?? ''));
      }
      continue; // any other comment
    }
    samples.push(parseSampleLine(line, i + 1));
  }
  return { samples, types, help };
}

function parseSampleLine(line: string, lineNo: number): Sample {
  const nm = NAME.exec(line);
  if (!nm) throw new PrometheusParseError(`expected a metric name in ${JSON.stringify(line)}`, lineNo);
  const name = nm[0];
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === '{') {
    pos++;
    for (;;) {
      while (line[pos] === ' ') pos++;
      if (line[pos] === '}') {
        pos++;
        break;
      }
      const ln = LABEL_NAME.exec(line.slice(pos));
      if (!ln) throw new PrometheusParseError(`expected a label name at column ${pos + 1}`, lineNo);
      pos += ln[0].length;
      while (line[pos] === ' ') pos++;
      if (line[pos] !== '=') throw new PrometheusParseError(`expected "=" after label ${ln[0]}`, lineNo);
      pos++;
      while (line[pos] === ' ') pos++;
      if (line[pos] !== '"') throw new PrometheusParseError(`expected a quoted value for label ${ln[0]}`, lineNo);
      pos++;
      let value = '';
      for (;;) {
        const c = line[pos];
        if (c === undefined) throw new PrometheusParseError(`unterminated value of label ${ln[0]}`, lineNo);
        pos++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[pos++];
          if (e === 'n') value += '\n';
          else if (e === '\\' || e === '"') value += e;
          else throw new PrometheusParseError(`bad escape \\${e ?? ''} in label ${ln[0]}`, lineNo);
        } else {
          value += c;
        }
      }
      labels[ln[0]] = value;
      while (line[pos] === ' ') pos++;
      if (line[pos] === ',') {
        pos++;
        continue;
      }
      if (line[pos] === '}') {
        pos++;
        break;
      }
      throw new PrometheusParseError(`expected "," or "}" after label ${ln[0]}`, lineNo);
    }
  }
  const rest = line.slice(pos).trim().split(/\s+/);
  if (rest.length < 1 || rest[0] === '' || rest.length > 2) throw new PrometheusParseError(`expected a value (and optional timestamp) after ${name}`, lineNo);
  const value = parseValue(rest[0]!);
  if (Number.isNaN(value) && rest[0] !== 'NaN') throw new PrometheusParseError(`bad value ${JSON.stringify(rest[0])}`, lineNo);
  return { name, labels, value };
}

function matches(labels: Labels, match: Labels | undefined): boolean {
  if (!match) return true;
  for (const k of Object.keys(match)) if (labels[k] !== match[k]) return false;
  return true;
}

/** The samples named `name` whose labels include every pair of `match`. */
export function select(s: Scrape, name: string, match?: Labels): Sample[] {
  return s.samples.filter((x) => x.name === name && matches(x.labels, match));
}

/** The sum of the matching samples; 0 when there are none. */
export function sumOf(s: Scrape, name: string, match?: Labels): number {
  let t = 0;
  for (const x of select(s, name, match)) t += x.value;
  return t;
}

/** Whether the scrape has any sample named `name`. */
export function has(s: Scrape, name: string): boolean {
  return s.samples.some((x) => x.name === name);
}

/** Sums of `name` grouped by the values of `keys` (joined with "/"), e.g. by provider and code. */
export function groupBy(s: Scrape, name: string, keys: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const x of select(s, name)) {
    const k = keys.map((key) => x.labels[key] ?? '').join('/');
    out.set(k, (out.get(k) ?? 0) + x.value);
  }
  return out;
}

/**
 * Per-second rate of a counter between two readings `dtSeconds` apart. A counter that went
 * down was reset (the server restarted): the new value is all that was counted since.
 */
export function counterRate(prev: number, cur: number, dtSeconds: number): number {
  if (!(dtSeconds > 0)) return 0;
  const d = cur >= prev ? cur - prev : cur;
  return d / dtSeconds;
}

export interface Bucket {
  /** Upper bound (`le`), Infinity for `+Inf`. */
  readonly le: number;
  /** Cumulative count of observations <= le. */
  readonly count: number;
}

export interface Histogram {
  /** Sorted by `le`, ending with +Inf when the server sent it. */
  readonly buckets: readonly Bucket[];
  readonly sum: number;
  readonly count: number;
}

/** The histogram family `name` (its `_bucket`, `_sum`, `_count`), summed over other labels. */
export function histogramOf(s: Scrape, name: string, match?: Labels): Histogram | null {
  const byLe = new Map<number, number>();
  for (const x of select(s, `${name}_bucket`, match)) {
    const le = x.labels.le;
    if (le === undefined) continue;
    const bound = parseValue(le);
    if (Number.isNaN(bound)) continue;
    byLe.set(bound, (byLe.get(bound) ?? 0) + x.value);
  }
  if (byLe.size === 0) return null;
  const buckets = [...byLe.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  const inf = buckets.find((b) => b.le === Infinity);
  const count = has(s, `${name}_count`) ? sumOf(s, `${name}_count`, match) : (inf?.count ?? 0);
  return { buckets, sum: sumOf(s, `${name}_sum`, match), count };
}

/** Observations made between two readings of the same histogram (b - a, bucket by bucket). */
export function histogramDelta(a: Histogram | null, b: Histogram): Histogram {
  if (!a || b.count < a.count) return b; // no earlier reading, or the server restarted
  const prev = new Map(a.buckets.map((x) => [x.le, x.count]));
  return {
    buckets: b.buckets.map((x) => ({ le: x.le, count: Math.max(0, x.count - (prev.get(x.le) ?? 0)) })),
    sum: b.sum - a.sum,
    count: b.count - a.count,
  };
}

/**
 * Estimates the q-quantile (0 <= q <= 1) from cumulative buckets the way Prometheus'
 * histogram_quantile does: find the bucket holding rank q·total and interpolate linearly
 * inside it (from 0 for the first bucket). A rank in the +Inf bucket gives the highest finite
 * bound. Null when there are no observations.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | null {
  if (buckets.length === 0 || Number.isNaN(q)) return null;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  // Counts must not go down; clamp the way Prometheus fixes non-monotonic buckets.
  let running = 0;
  const bs = sorted.map((b) => {
    running = Math.max(running, b.count);
    return { le: b.le, count: running };
  });
  const last = bs[bs.length - 1]!;
  if (last.le !== Infinity) return null; // a histogram without +Inf is not one
  const total = last.count;
  if (total <= 0) return null;
  if (bs.length < 2) return null;
  const rank = q * total;
  let i = bs.findIndex((b) => b.count >= rank);
  if (i < 0) i = bs.length - 1;
  if (i === bs.length - 1) return bs[bs.length - 2]!.le;
  const b = bs[i]!;
  if (i === 0 && b.le <= 0) return b.le;
  const start = i === 0 ? 0 : bs[i - 1]!.le;
  const prevCount = i === 0 ? 0 : bs[i - 1]!.count;
  const inBucket = b.count - prevCount;
  if (inBucket <= 0) return b.le;
  return start + (b.le - start) * ((rank - prevCount) / inBucket);
}
