// The chat view renders at most once per animation frame: a fast answer on a busy page (many
// stream events per frame) changes the message list in at most one task between two frames.
// It asserts counts, not times.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, webRoot, type RunningServer } from '../test/support/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const DIST = join(webRoot, 'dist');

let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(join(DIST, 'index.html'))) throw new Error(`${DIST} is not built: run scripts/web.sh build`);
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  // Tokens every 1.7 ms, so that several stream events arrive between two frames.
  server = await startServer({ webRoot: DIST, ttftMs: 50, tokensPerSecond: 600 });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

interface FrameCounts {
  frames: number;
  /** Frames in which two or more stream events arrived. */
  burstFrames: number;
  maxEventsPerFrame: number;
  /** The most tasks that changed the message list between two frames. */
  maxListCommitsPerFrame: number;
  listCommits: number;
  status: string;
}

describe('chat rendering', () => {
  it('changes the message list at most once per animation frame under a burst of tokens', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    await page.goto(server.url + '/');
    const projectId = await page.evaluate(async () => {
      const sg = (window as unknown as { __streamgate: { client: { api: { createProject(p: { name: string }): Promise<{ id: string }> } } } }).__streamgate;
      return (await sg.client.api.createProject({ name: 'Burst' })).id;
    });
    // A new load (not just a hash change), so that the project list includes the new project.
    await page.goto(`${server.url}/?burst#/p/${projectId}`);
    await page.getByTestId('chat-intro').waitFor();

    const counts = await page.evaluate(async () => {
      type Ev = { type: string };
      const client = (window as unknown as { __streamgate: { client: { onFrame(l: (ev: Ev) => void): () => void } } }).__streamgate.client;
      const list = document.querySelector('[data-testid="messages"]')!;
      const c = { frames: 0, burstFrames: 0, maxEventsPerFrame: 0, maxListCommitsPerFrame: 0, listCommits: 0, status: '' };
      let events = 0;
      let streaming = false;
      let commits = 0;
      let running = true;
      const frame = () => {
        c.frames++;
        if (events >= 2) c.burstFrames++;
        c.maxEventsPerFrame = Math.max(c.maxEventsPerFrame, events);
        events = 0;
        commits = 0;
        // Keep the main thread busy in every third frame while tokens come, as a slow device
        // would: the events that arrive meanwhile queue up and run as separate tasks before
        // the next frame, which is the burst under test.
        if (streaming && c.frames % 3 === 0) {
          const until = performance.now() + 30;
          while (performance.now() < until);
        }
        if (running) requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
      const off = client.onFrame((ev) => {
        if (ev.type !== 'stream_chunk') return;
        events++;
        streaming = true;
      });
      // One callback per task that changed the list (mutation records of a task are delivered together).
      const obs = new MutationObserver(() => {
        c.listCommits++;
        commits++;
        c.maxListCommitsPerFrame = Math.max(c.maxListCommitsPerFrame, commits);
      });
      obs.observe(list, { subtree: true, childList: true, characterData: true, attributes: true });
      const input = document.querySelector<HTMLTextAreaElement>('[data-testid="chat-input"]')!;
      const setValue = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value')!.set!;
      setValue.call(input, 'A burst of tokens about resilient networks');
      input.dispatchEvent(new Event('input', { bubbles: true }));
      await new Promise((r) => requestAnimationFrame(r));
      document.querySelector<HTMLButtonElement>('[data-testid="send-button"]')!.click();
      // Until the answer is complete and shown.
      await new Promise<void>((resolve) => {
        const check = () => {
          const last = [...document.querySelectorAll('[data-testid="message"][data-role="assistant"]')].pop();
          const st = last?.getAttribute('data-status') ?? '';
          if (st === 'complete' || st === 'failed' || st === 'cancelled') {
            c.status = st;
            resolve();
          } else requestAnimationFrame(check);
        };
        requestAnimationFrame(check);
      });
      running = false;
      off();
      obs.disconnect();
      return c;
    });
    await context.close();

    const got = counts as FrameCounts;
    expect(got.status).toBe('complete');
    // The burst really was one: several events arrived between two frames, more than once.
    expect(got.maxEventsPerFrame).toBeGreaterThanOrEqual(3);
    expect(got.burstFrames).toBeGreaterThanOrEqual(2);
    // ...and yet the list changed in at most one task per frame.
    expect(got.listCommits).toBeGreaterThan(0);
    expect(got.maxListCommitsPerFrame).toBe(1);
  });
});
