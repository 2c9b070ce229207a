// Chat render bench: N chat views in one Chromium page, each streaming an answer from the real
// server at a fixed token rate, all at once. Prints the main thread's busy time (CDP
// Performance metrics), dropped animation frames, renders of each chat view and DOM commits per frame.
// It measures and prints; it asserts nothing about time. Run: npm run bench:render
//   BENCH_VIEWS (10), BENCH_TPS (100 tokens/s per answer), BENCH_ROUNDS (3 measured, after 1 warm-up),
//   BENCH_PROFILE=1 also prints the functions with the most self time (a CPU profile of the rounds;
//   it slows the page, so its busy time is not comparable with a run without it).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, it } from 'vitest';
import { startServer, webRoot, type RunningServer } from '../test/support/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const VIEWS = Number(process.env.BENCH_VIEWS ?? 10);
const TPS = Number(process.env.BENCH_TPS ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Recording {
  frames: number[];
  renders: number;
  mutationBatches: number;
  maxBatchesPerFrame: number;
  maxRendersPerViewFrame: number;
  framesWithRepeatRenders: number;
  longTasks: number;
  longTaskMs: number;
}

let server: RunningServer;
let browser: Browser;
let dist = '';

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (set CHROMIUM_PATH)`);
  dist = mkdtempSync(join(tmpdir(), 'sg-render-bench-'));
  // Profiled, the page is built unminified so that the profile names functions.
  const minify = process.env.BENCH_PROFILE === '1' ? ['--minify', 'false'] : [];
  const vite = spawnSync('npx', ['--no-install', 'vite', 'build', '--config', 'bench/vite.config.ts', '--outDir', dist, '--logLevel', 'error', ...minify], {
    cwd: webRoot,
    // The production React build, as users get it (vitest sets NODE_ENV=test, which would give the development one).
    env: { ...process.env, NODE_ENV: 'production' },
    encoding: 'utf8',
  });
  if (vite.status !== 0) throw new Error(`bench page build failed:\n${vite.stdout}\n${vite.stderr}`);
  server = await startServer({ webRoot: dist, ttftMs: 100, tokensPerSecond: TPS, args: ['--max-streams-per-connection', String(VIEWS + 2)] });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (dist) rmSync(dist, { recursive: true, force: true });
});

/**
 * Frames that were due but not produced: an interval between two frames spans round(dt / period)
 * periods of the display (measured idle), all but one of them dropped.
 */
function droppedFrames(frames: number[], periodMs: number): { dropped: number; produced: number } {
  let dropped = 0;
  for (let i = 1; i < frames.length; i++) dropped += Math.max(0, Math.round((frames[i]! - frames[i - 1]!) / periodMs) - 1);
  return { dropped, produced: frames.length };
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** The 15 functions with the most self time in a CPU profile. */
function selfTimes(p: CpuProfile): { name: string; ms: number }[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const total = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const f = byId.get(id)?.callFrame;
    const name = f ? `${f.functionName || '(anonymous)'} ${f.url.split('/').pop() ?? ''}:${f.lineNumber + 1}` : '?';
    total.set(name, (total.get(name) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  });
  return [...total].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms).slice(0, 15);
}

function gitRevision(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: webRoot, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

it(`${VIEWS} chat views, ${TPS} tokens/s each`, async () => {
  const context = await browser.newContext({ viewport: { width: 1600, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error('[page error]', err.message));
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  await page.goto(server.url + '/');
  await page.waitForFunction(() => '__bench' in window);
  await page.evaluate((n) => (window as unknown as { __bench: { setup(n: number): Promise<void> } }).__bench.setup(n), VIEWS);
  // One unmeasured round so that code is compiled and the socket is warm.
  await page.evaluate(() => (window as unknown as { __bench: { round(l: string): Promise<string[]> } }).__bench.round('warm-up'));

  const metric = async () => {
    const { metrics } = (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
    return Object.fromEntries(metrics.map((m) => [m.name, m.value])) as Record<string, number>;
  };
  const periodMs = await page.evaluate(() => (window as unknown as { __bench: { idleFramePeriod(ms: number): Promise<number> } }).__bench.idleFramePeriod(1000));
  const profile = process.env.BENCH_PROFILE === '1';
  if (profile) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.start');
  }
  const before = await metric();
  const t0 = Date.now();
  await page.evaluate(() => (window as unknown as { __bench: { start(): void } }).__bench.start());
  const statuses: string[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    statuses.push(...(await page.evaluate((l) => (window as unknown as { __bench: { round(l: string): Promise<string[]> } }).__bench.round(l), `round ${r + 1}`)));
  }
  const rec = (await page.evaluate(() => (window as unknown as { __bench: { stop(): unknown } }).__bench.stop())) as Recording;
  const wallMs = Date.now() - t0;
  const after = await metric();
  const hot = profile ? selfTimes(((await cdp.send('Profiler.stop')) as { profile: CpuProfile }).profile) : [];
  await context.close();

  const d = (k: string) => ((after[k] ?? 0) - (before[k] ?? 0)) * 1000;
  const frames = droppedFrames(rec.frames, periodMs);
  const complete = statuses.filter((s) => s === 'complete').length;
  const load = loadavg().map((x) => x.toFixed(2)).join(' ');
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  const chromiumVersion = browser.version();
  const lines = [
    `chat render bench @ ${gitRevision()} · ${new Date().toISOString()} · ${cpu} x${cpus().length} · load ${load} · Chromium ${chromiumVersion}`,
    `${VIEWS} views x ${ROUNDS} rounds at ${TPS} tokens/s: ${complete}/${statuses.length} answers complete in ${wallMs} ms`,
    `main thread busy ${d('TaskDuration').toFixed(0)} ms (script ${d('ScriptDuration').toFixed(0)}, layout ${d('LayoutDuration').toFixed(0)}, style ${d('RecalcStyleDuration').toFixed(0)}) = ${((d('TaskDuration') / wallMs) * 100).toFixed(1)}% of wall`,
    `frames ${frames.produced} produced, ${frames.dropped} dropped (display period ${periodMs.toFixed(1)} ms idle); long tasks ${rec.longTasks} (${rec.longTaskMs.toFixed(0)} ms)`,
    `chat view renders ${rec.renders} (one view at most ${rec.maxRendersPerViewFrame} in a frame; ${rec.framesWithRepeatRenders} frames with a view rendered twice or more)`,
    `DOM commit tasks ${rec.mutationBatches} (at most ${rec.maxBatchesPerFrame} in a frame)`,
  ];
  for (const h of hot) lines.push(`  self ${h.ms.toFixed(0).padStart(6)} ms  ${h.name}`);
  console.log(lines.join('\n'));
}, 600_000);
