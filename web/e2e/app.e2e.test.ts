// Browser tests of the web app served by the real streamgate: projects and cards, a streamed
// answer, one socket under StrictMode, a forced drop, the SSE fallback, stop, and history.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitFor, webRoot, type RunningServer } from '../test/support/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(webRoot, 'e2e/screenshots');
const DIST = join(webRoot, 'dist');

let server: RunningServer;
/** The same server data, serving a development build (React StrictMode double-invokes effects only there). */
let devServer: RunningServer;
let devDist = '';
let browser: Browser;
const contexts: BrowserContext[] = [];
let projectId = '';
/**
 * These tests are one person coming back in new windows: every browser context starts with the same
 * anonymous identity cookie (the server would give a new browser its own), and the test's own HTTP
 * calls present it too.
 */
const PERSON = 'e2e-person-identity-0123456789ab';
const asPerson = { Cookie: `sg_anon=${PERSON}` };

interface Tracked {
  page: Page;
  cdp: CDPSession;
  /** URLs of every WebSocket the page created (counted by the browser, not by page JS). */
  sockets: string[];
}

async function open(
  path = '/',
  opts: { initScript?: string; viewport?: { width: number; height: number }; server?: RunningServer; newVisitor?: boolean } = {},
): Promise<Tracked> {
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 860 } });
  contexts.push(context);
  if (!opts.newVisitor) await context.addCookies([{ name: 'sg_anon', value: PERSON, url: (opts.server ?? server).url }]);
  if (opts.initScript) await context.addInitScript(opts.initScript);
  // Record every stream handle the app creates (to compare its text with fullContent) and
  // every retain() (to see StrictMode's double effect), from the moment the client exists.
  await context.addInitScript(`
    window.__handles = [];
    window.__retains = 0;
    let sg;
    Object.defineProperty(window, '__streamgate', {
      configurable: true,
      get() { return sg; },
      set(v) {
        sg = v;
        const c = v.client;
        const stream = c.stream.bind(c), resume = c.resume.bind(c), retain = c.retain.bind(c);
        c.stream = (req) => { const h = stream(req); window.__handles.push(h); return h; };
        c.resume = (id, seq) => { const h = resume(id, seq); window.__handles.push(h); return h; };
        c.retain = () => { window.__retains++; return retain(); };
      },
    });
  `);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  const sockets: string[] = [];
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketCreated', (e: { url: string }) => sockets.push(e.url));
  page.on('pageerror', (err) => console.error('[page error]', err.message));
  await page.goto((opts.server ?? server).url + path);
  return { page, cdp, sockets };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false, animations: 'disabled' });
}

const status = (page: Page) => page.getByTestId('connection-status');
const lastAnswer = (page: Page) => page.locator('[data-testid="message"][data-role="assistant"]').last();

/**
 * Records, inside the page, the length of the last answer's text every time the DOM changes,
 * and whether the progress panel was shown. Read it back with `readRecorder`.
 */
async function startRecorder(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __rec: { lengths: number[]; progress: number; stages: string[] } };
    w.__rec = { lengths: [], progress: 0, stages: [] };
    const obs = new MutationObserver(() => {
      const answers = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
      const last = answers[answers.length - 1];
      if (!last) return;
      const panel = last.querySelector('[data-testid="progress-panel"]');
      if (panel) {
        w.__rec.progress++;
        const st = panel.getAttribute('data-stage') ?? '';
        if (w.__rec.stages[w.__rec.stages.length - 1] !== st) w.__rec.stages.push(st);
      }
      const body = last.querySelector('[data-testid="message-content"]');
      const len = body?.textContent?.length ?? 0;
      if (w.__rec.lengths[w.__rec.lengths.length - 1] !== len) w.__rec.lengths.push(len);
    });
    obs.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

async function readRecorder(page: Page): Promise<{ lengths: number[]; progress: number; stages: string[] }> {
  return page.evaluate(() => (window as unknown as { __rec: { lengths: number[]; progress: number; stages: string[] } }).__rec);
}

interface HandleInfo {
  text: string;
  fullContent: string | null;
  streamId: string | null;
  status: string;
  transport: string;
  resumes: number;
}

async function lastHandle(page: Page): Promise<HandleInfo> {
  return page.evaluate(() => {
    const hs = (window as unknown as { __handles: { getSnapshot(): Record<string, unknown> & { metrics: { resumes: number } } }[] }).__handles;
    const s = hs[hs.length - 1]!.getSnapshot();
    return {
      text: s.text as string,
      fullContent: s.fullContent as string | null,
      streamId: s.streamId as string | null,
      status: s.status as string,
      transport: s.transport as string,
      resumes: s.metrics.resumes,
    };
  });
}

async function ask(page: Page, text: string): Promise<void> {
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('send-button').click();
}

async function waitAnswerStatus(page: Page, status: string, timeout = 30_000): Promise<void> {
  await lastAnswer(page).and(page.locator(`[data-status="${status}"]`)).waitFor({ timeout });
}

beforeAll(async () => {
  if (!existsSync(join(DIST, 'index.html'))) throw new Error(`${DIST} is not built: run scripts/web.sh build`);
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  mkdirSync(SHOTS, { recursive: true });
  // A slower pace than the SDK tests, so a person (and this test) can watch the text grow.
  server = await startServer({ webRoot: DIST, ttftMs: 400, tokensPerSecond: 60 });
  devDist = mkdtempSync(join(tmpdir(), 'sg-web-dev-'));
  const vite = spawnSync('npx', ['--no-install', 'vite', 'build', '--mode', 'development', '--outDir', devDist, '--emptyOutDir', '--logLevel', 'error'], {
    cwd: webRoot,
    env: { ...process.env, NODE_ENV: 'development' },
    encoding: 'utf8',
  });
  if (vite.status !== 0) throw new Error(`development build failed:\n${vite.stdout}\n${vite.stderr}`);
  devServer = await startServer({ webRoot: devDist });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await server?.stop();
  await devServer?.stop();
  if (devDist) rmSync(devDist, { recursive: true, force: true });
});

describe('web app', () => {
  it('creates a project with two cards, streams an answer with progress, and shows metrics', async () => {
    const { page } = await open('/');
    await expect.poll(() => status(page).getAttribute('data-state')).toBe('connected');
    await expect.poll(() => status(page).textContent()).toContain('Real-time streaming connected');
    await page.getByTestId('empty-state').waitFor();
    await shot(page, '01-empty');

    await page.getByTestId('new-project-name').fill('Food blog');
    await page.getByTestId('new-project-submit').click();
    await page.getByTestId('cards-editor').waitFor();
    projectId = (await page.getByTestId('project-view').getAttribute('data-project-id')) ?? '';
    expect(projectId).not.toBe('');

    await page.getByTestId('project-description-input').fill('Recipes and kitchen stories');
    await page.getByTestId('project-save').click();
    await expect.poll(() => page.getByTestId('project-item').first().textContent()).toContain('Recipes and kitchen stories');

    await page.getByTestId('new-card-kind-instruction').click();
    await page.getByTestId('new-card-content').fill('Suggest five titles under 60 characters');
    await page.getByTestId('add-card').click();
    await page.getByTestId('new-card-kind-style').click();
    await page.getByTestId('new-card-content').fill('Warm and practical, no clickbait');
    await page.getByTestId('add-card').click();
    await expect.poll(() => page.getByTestId('card-item').count()).toBe(2);
    expect(await page.getByTestId('card-item').nth(1).getAttribute('data-kind')).toBe('style');
    await shot(page, '02-project-cards');

    // The cards are stored on the server.
    const cards = (await (await fetch(`${server.url}/v1/projects/${projectId}/cards`, { headers: asPerson })).json()) as { items: unknown[] };
    expect(cards.items).toHaveLength(2);

    await page.getByTestId('tab-chat').click();
    await page.getByTestId('chat-intro').waitFor();
    await startRecorder(page);
    await ask(page, 'A beginner guide to sourdough baking at home');
    await page.getByTestId('progress-panel').waitFor();
    await shot(page, '03-progress');
    await page.getByTestId('streaming-indicator').waitFor();
    await shot(page, '04-streaming');
    await waitAnswerStatus(page, 'complete');
    await shot(page, '05-complete');

    const rec = await readRecorder(page);
    expect(rec.progress).toBeGreaterThan(0);
    const h = await lastHandle(page);
    expect(h.status).toBe('complete');
    expect(h.text).toBe(h.fullContent);
    const finalLen = rec.lengths[rec.lengths.length - 1]!;
    const intermediate = new Set(rec.lengths.filter((l) => l > 0 && l < finalLen));
    expect(intermediate.size).toBeGreaterThanOrEqual(3);

    const metrics = await lastAnswer(page).getByTestId('metrics-line').textContent();
    expect(metrics).toMatch(/^first chunk in \d+ ms · \d+ chunks · \d+ ms$/);
    // The demo answer is a numbered list of titles, each with a copy button.
    expect(await lastAnswer(page).getByTestId('copy-title').count()).toBeGreaterThan(0);
    expect(await lastAnswer(page).getByTestId('streaming-indicator').count()).toBe(0);
  });

  it('opens exactly one WebSocket under React StrictMode (development build)', async () => {
    const { page, sockets } = await open('/', { server: devServer });
    await expect.poll(() => status(page).getAttribute('data-state')).toBe('connected');
    // StrictMode really ran the effect twice (mount, unmount, mount)...
    expect(await page.evaluate(() => (window as unknown as { __retains: number }).__retains)).toBeGreaterThanOrEqual(2);
    await page.getByTestId('new-project-name').fill('Strict mode');
    await page.getByTestId('new-project-submit').click();
    await page.getByTestId('tab-chat').click();
    await ask(page, 'Quick weeknight dinners');
    await waitAnswerStatus(page, 'complete');
    const h = await lastHandle(page);
    expect(h.text).toBe(h.fullContent);
    await page.getByTestId('tab-cards').click();
    await page.getByTestId('tab-chat').click();
    // ...and still one socket, never closed and reopened.
    expect(await status(page).getAttribute('data-state')).toBe('connected');
    expect(sockets).toHaveLength(1);
    expect(sockets[0]).toMatch(/\/ws$/);
  });

  it('opens exactly one WebSocket with the production build', async () => {
    const { page, sockets } = await open(`/#/p/${projectId}`);
    await expect.poll(() => status(page).getAttribute('data-state')).toBe('connected');
    await ask(page, 'Quick weeknight dinners');
    await waitAnswerStatus(page, 'complete');
    expect(sockets).toHaveLength(1);
  });

  it('finishes with the full text after the server drops the socket mid-answer', async () => {
    const { page, sockets } = await open(`/#/p/${projectId}`);
    await expect.poll(() => status(page).getAttribute('data-state')).toBe('connected');
    const connectionId = await status(page).getAttribute('data-connection-id');
    expect(connectionId).toBeTruthy();
    await ask(page, 'Baking bread with kids');
    await waitFor(async () => ((await lastAnswer(page).getByTestId('message-content').textContent().catch(() => '')) ?? '').length > 20, 'answer text', 20_000);
    const res = await fetch(`${server.url}/@connections/${connectionId}`, {
      method: 'DELETE',
      headers: { 'X-Admin-Key': server.adminKey },
    });
    expect(res.status).toBeLessThan(300);
    await waitAnswerStatus(page, 'complete');
    const h = await lastHandle(page);
    expect(h.text).toBe(h.fullContent);
    expect(h.resumes).toBeGreaterThanOrEqual(1);
    expect(sockets).toHaveLength(2);
    expect(await status(page).getAttribute('data-state')).toBe('connected');
  });

  it('streams over SSE when WebSocket is blocked and says so', async () => {
    const blockWs = `
      window.WebSocket = class BlockedWebSocket {
        constructor() {
          this.readyState = 0;
          this.onopen = this.onmessage = this.onclose = this.onerror = null;
          setTimeout(() => {
            this.readyState = 3;
            this.onerror && this.onerror(new Event('error'));
            this.onclose && this.onclose({ code: 1006, reason: '', wasClean: false });
          }, 0);
        }
        send() { throw new Error('blocked'); }
        close() {}
      };
    `;
    const { page, sockets } = await open(`/#/p/${projectId}`, { initScript: blockWs });
    await expect.poll(() => status(page).getAttribute('data-state'), { timeout: 15_000 }).toBe('fallback');
    expect(await status(page).textContent()).toContain('Fallback mode (SSE)');
    await startRecorder(page);
    await ask(page, 'Sourdough troubleshooting');
    await page.getByTestId('streaming-indicator').waitFor();
    await shot(page, '06-fallback-streaming');
    await waitAnswerStatus(page, 'complete');
    const h = await lastHandle(page);
    expect(h.transport).toBe('sse');
    expect(h.text).toBe(h.fullContent);
    expect(await lastAnswer(page).getAttribute('data-transport')).toBe('sse');
    const rec = await readRecorder(page);
    const finalLen = rec.lengths[rec.lengths.length - 1]!;
    expect(new Set(rec.lengths.filter((l) => l > 0 && l < finalLen)).size).toBeGreaterThanOrEqual(3);
    expect(sockets).toHaveLength(0);
  });

  it('shows a pulsing "Connecting..." while the socket has not opened', async () => {
    const hangingWs = `
      window.WebSocket = class HangingWebSocket {
        constructor() { this.readyState = 0; this.onopen = this.onmessage = this.onclose = this.onerror = null; }
        send() { throw new Error('not open'); }
        close() { this.readyState = 3; }
      };
    `;
    const { page } = await open(`/#/p/${projectId}`, { initScript: hangingWs });
    await expect.poll(() => status(page).getAttribute('data-state')).toBe('connecting');
    expect(await status(page).textContent()).toContain('Connecting...');
    const animation = await status(page).locator('.dot').evaluate((el) => getComputedStyle(el).animationName);
    expect(animation).toBe('pulse');
  });

  it('stops an answer and the server cancels the stream', async () => {
    const { page } = await open(`/#/p/${projectId}`);
    await expect.poll(() => status(page).getAttribute('data-state')).toBe('connected');
    await ask(page, 'Cast iron care');
    await waitFor(async () => ((await lastAnswer(page).getByTestId('message-content').textContent().catch(() => '')) ?? '').length > 0, 'answer text', 20_000);
    await page.getByTestId('stop-button').click();
    await waitAnswerStatus(page, 'cancelled');
    await page.getByTestId('send-button').waitFor();
    await shot(page, '07-stopped');
    const streamId = await lastAnswer(page).getAttribute('data-stream-id');
    expect(streamId).toBeTruthy();
    const info = (await (await fetch(`${server.url}/v1/streams/${streamId}`, { headers: asPerson })).json()) as { state: string };
    expect(info.state).toBe('cancelled');
  });

  it('shows the history after a reload', async () => {
    const { page } = await open(`/#/p/${projectId}`);
    await page.locator('[data-testid="message"][data-role="user"]').first().waitFor();
    const before = await page.locator('[data-testid="message"]').allTextContents();
    await page.reload();
    await page.locator('[data-testid="message"][data-role="user"]').first().waitFor();
    await expect.poll(() => page.locator('[data-testid="message"]').count()).toBe(before.length);
    const users = await page.locator('[data-testid="message"][data-role="user"]').allTextContents();
    expect(users).toContain('A beginner guide to sourdough baking at home');
    expect(users).toContain('Cast iron care');
    const statuses = await page.locator('[data-testid="message"][data-role="assistant"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-status')));
    expect(statuses).toContain('complete');
    expect(statuses).toContain('cancelled');
    await shot(page, '08-history');
  });

  it('continues an answer that was still streaming when the page reloaded', async () => {
    const { page } = await open(`/#/p/${projectId}`);
    await expect.poll(() => status(page).getAttribute('data-state')).toBe('connected');
    await ask(page, 'Reload in the middle');
    await waitFor(async () => ((await lastAnswer(page).getByTestId('message-content').textContent().catch(() => '')) ?? '').length > 20, 'answer text', 20_000);
    const streamId = await lastAnswer(page).getAttribute('data-stream-id');
    expect(streamId).toBeTruthy();
    await page.reload();
    const answer = page.locator(`[data-testid="message"][data-stream-id="${streamId}"]`);
    await answer.waitFor();
    await answer.and(page.locator('[data-status="complete"]')).waitFor({ timeout: 30_000 });
    const h = await lastHandle(page);
    expect(h.streamId).toBe(streamId);
    expect(h.text).toBe(h.fullContent);
    expect(await answer.getByTestId('copy-title').count()).toBeGreaterThan(0);
  });

  it('is readable at phone width', async () => {
    const { page } = await open(`/#/p/${projectId}`, { viewport: { width: 390, height: 844 } });
    await page.locator('[data-testid="message"][data-role="assistant"]').first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, '09-phone-chat');
    await page.getByTestId('menu-button').click();
    await page.getByTestId('project-list').waitFor();
    await shot(page, '10-phone-projects');
  });

  it('keeps a reader who scrolled up where they are, and offers a jump to the latest', async () => {
    const { page } = await open(`/#/p/${projectId}`, { viewport: { width: 1000, height: 700 } });
    await expect.poll(() => status(page).getAttribute('data-state')).toBe('connected');
    await page.locator('[data-testid="message"][data-role="assistant"]').first().waitFor();
    const messages = page.getByTestId('messages');
    await ask(page, 'Long walks on the beach');
    await page.getByTestId('streaming-indicator').waitFor();
    // Following the answer: pinned to the bottom.
    const gap = () => messages.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
    await expect.poll(gap).toBeLessThan(48);
    await messages.evaluate((el) => {
      el.scrollTop = 0;
      el.dispatchEvent(new Event('scroll'));
    });
    await page.getByTestId('jump-to-latest').waitFor();
    await waitAnswerStatus(page, 'complete');
    expect(await messages.evaluate((el) => el.scrollTop)).toBe(0);
    await page.getByTestId('jump-to-latest').click();
    await expect.poll(gap).toBeLessThan(48);
    await expect.poll(() => page.getByTestId('jump-to-latest').count()).toBe(0);
  });

  it('copies a suggested title to the clipboard', async () => {
    const { page } = await open(`/#/p/${projectId}`);
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    const button = lastAnswer(page).getByTestId('copy-title').first();
    await button.waitFor();
    const expected = await button.getAttribute('data-copy-text');
    expect(expected).toBeTruthy();
    expect(expected).not.toContain('*');
    await button.click();
    await expect.poll(() => button.textContent()).toContain('Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(expected);
  });

  it('shows a failed answer with its error and a retry button', async () => {
    const { page } = await open(`/#/p/${projectId}`);
    await expect.poll(() => status(page).getAttribute('data-state')).toBe('connected');
    await ask(page, 'x'.repeat(140 * 1024));
    const error = lastAnswer(page).getByTestId('message-error');
    await error.waitFor();
    expect(await error.textContent()).toContain('payload_too_large');
    expect(await lastAnswer(page).getAttribute('data-status')).toBe('failed');
    await lastAnswer(page).getByTestId('retry-button').waitFor();
    // The chat is usable again at once.
    await page.getByTestId('send-button').waitFor();
  });

  it('renders model text safely (no HTML injection)', async () => {
    const { page } = await open(`/#/p/${projectId}`);
    await expect.poll(() => status(page).getAttribute('data-state')).toBe('connected');
    await ask(page, '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script>');
    await waitAnswerStatus(page, 'complete');
    const userBubble = page.locator('[data-testid="message"][data-role="user"]').last();
    expect(await userBubble.textContent()).toContain('<img src=x');
    expect(await page.locator('.messages img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it('gives a new visitor an identity of their own that survives a reload', async () => {
    const { page } = await open('/', { newVisitor: true });
    await expect.poll(() => status(page).getAttribute('data-state')).toBe('connected');
    // None of the other person's projects or history.
    await page.getByTestId('empty-state').waitFor();
    expect(await page.getByTestId('project-item').count()).toBe(0);
    const cookies = await page.context().cookies();
    const mine = cookies.find((c) => c.name === 'sg_anon');
    expect(mine?.httpOnly).toBe(true);
    expect(mine?.sameSite).toBe('Lax');
    expect(mine?.value).not.toBe(PERSON);
    expect(await page.evaluate(() => document.cookie)).not.toContain('sg_anon');
    await page.getByTestId('new-project-name').fill('A visitor of my own');
    await page.getByTestId('new-project-submit').click();
    await page.getByTestId('cards-editor').waitFor();
    await page.reload();
    await expect.poll(() => page.getByTestId('project-item').first().textContent()).toContain('A visitor of my own');
    expect(await page.getByTestId('project-item').count()).toBe(1);
  });
});
