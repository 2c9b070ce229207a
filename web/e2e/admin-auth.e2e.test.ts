// Browser tests of the /admin metrics page (admin key prompt, live figures and charts while a
// stream runs, a refused key) and of the app against a server with --auth jwt (a token from
// ?token=, and a clear "not authorized" state without one).
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitFor, webRoot, type RunningServer } from '../test/support/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(webRoot, 'e2e/screenshots');
const DIST = join(webRoot, 'dist');
const ADMIN_KEY = 'e2e-admin-key-4f9c2a';
const JWT_SECRET = 'e2e-jwt-secret-0123456789abcdefghijklmno'; // 40 characters

let adminServer: RunningServer;
let authServer: RunningServer;
let browser: Browser;
/** The running binary answers /v1/admin/* (an older build answers 404). */
let hasAdminApi = false;
const contexts: BrowserContext[] = [];
/** The user of these tests: one anonymous identity for the browser tabs and the test's own calls. */
const USER_KEY = 'admin-e2e-user-identity-0123456';

function b64url(s: string): string {
  return Buffer.from(s).toString('base64url');
}

/** An HS256 JWT with `sub` and `exp`, signed with the server's secret. */
function jwt(sub: string, ttlS = 600): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + ttlS }));
  const sig = createHmac('sha256', JWT_SECRET).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

async function open(server: RunningServer, path: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  contexts.push(context);
  await context.addCookies([{ name: 'sg_anon', value: USER_KEY, url: server.url }]);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error('[page error]', err.message));
  await page.goto(server.url + path);
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false, animations: 'disabled' });
}

const status = (page: Page) => page.getByTestId('connection-status');
const lastAnswer = (page: Page) => page.locator('[data-testid="message"][data-role="assistant"]').last();
const num = async (page: Page, testId: string, attr = 'data-value') => Number((await page.getByTestId(testId).getAttribute(attr)) ?? 'NaN');

beforeAll(async () => {
  if (!existsSync(join(DIST, 'index.html'))) throw new Error(`${DIST} is not built: run scripts/web.sh build`);
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  mkdirSync(SHOTS, { recursive: true });
  adminServer = await startServer({ webRoot: DIST, ttftMs: 150, tokensPerSecond: 30, args: ['--admin-key', ADMIN_KEY] });
  authServer = await startServer({ webRoot: DIST, args: ['--auth', 'jwt', '--jwt-secret', JWT_SECRET] });
  const probe = await fetch(`${adminServer.url}/v1/admin/metrics`, { headers: { 'X-Admin-Key': ADMIN_KEY } });
  hasAdminApi = probe.status !== 404;
  if (!hasAdminApi) console.warn('[admin e2e] the streamgate binary has no /v1/admin API (an older build): the admin tests are skipped');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await adminServer?.stop();
  await authServer?.stop();
});

describe('admin page', () => {
  it('opens from the URL the server logs with its generated key, and keeps the key out of the address bar', async () => {
    const own = await startServer({ webRoot: DIST });
    try {
      expect(own.adminKey.length).toBeGreaterThanOrEqual(22);
      const logged = own.logs.find((l) => l.includes('"adminUrl"'));
      const url = (JSON.parse(logged!) as { adminUrl: string }).adminUrl;
      expect(url).toBe(`${own.url}/admin#key=${own.adminKey}`);
      // Without the key the API refuses even this loopback client.
      expect((await fetch(`${own.url}/v1/admin/metrics`)).status).toBe(403);
      const admin = await open(own, url.slice(own.url.length));
      await admin.getByTestId('stat-connections').waitFor({ timeout: 10_000 });
      expect(await admin.getByTestId('admin-key-form').count()).toBe(0);
      expect(await admin.evaluate(() => window.location.hash)).toBe('');
      expect(await admin.evaluate(() => sessionStorage.getItem('streamgate.adminKey'))).toBe(own.adminKey);
    } finally {
      await own.stop();
    }
  });

  it('asks for the key, then shows connections and charts that follow a stream', async (ctx) => {
    if (!hasAdminApi) ctx.skip();
    const admin = await open(adminServer, '/admin');
    const form = admin.getByTestId('admin-key-form');
    await form.waitFor({ timeout: 10_000 });
    expect(await admin.getByTestId('admin-refused').count()).toBe(0);
    await admin.getByTestId('admin-key-input').fill(ADMIN_KEY);
    await admin.getByTestId('admin-key-submit').click();
    await admin.getByTestId('stat-connections').waitFor({ timeout: 10_000 });
    expect(await admin.evaluate(() => sessionStorage.getItem('streamgate.adminKey'))).toBe(ADMIN_KEY);
    // The admin page polls over HTTP only: no WebSocket of its own.
    expect(await num(admin, 'stat-connections')).toBe(0);
    await admin.getByTestId('no-connections').waitFor();

    // A user opens the app in another tab and asks for titles.
    const project = (await (
      await fetch(`${adminServer.url}/v1/projects`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Cookie: `sg_anon=${USER_KEY}` },
        body: JSON.stringify({ name: 'Admin e2e' }),
      })
    ).json()) as { id: string };
    const user = await open(adminServer, `/#/p/${project.id}`);
    await expect.poll(() => status(user).getAttribute('data-state'), { timeout: 10_000 }).toBe('connected');
    const connectionId = await status(user).getAttribute('data-connection-id');

    await expect.poll(() => num(admin, 'stat-connections'), { timeout: 10_000 }).toBe(1);
    expect(await admin.getByTestId('stat-connections-value').textContent()).toBe('1');
    await admin.locator(`[data-testid="connection-row"][data-connection-id="${connectionId}"]`).waitFor({ timeout: 10_000 });

    await user.getByTestId('chat-input').fill('Metrics for the curious');
    await user.getByTestId('send-button').click();
    // While it streams, the page sees it running and chunks flowing.
    await expect.poll(() => num(admin, 'stat-running'), { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
    await expect.poll(() => num(admin, 'stat-chunk-rate'), { timeout: 15_000 }).toBeGreaterThan(0);
    await lastAnswer(user).and(user.locator('[data-status="complete"]')).waitFor({ timeout: 30_000 });

    await expect.poll(() => num(admin, 'outcome-completed'), { timeout: 10_000 }).toBe(1);
    await expect.poll(() => num(admin, 'stat-running'), { timeout: 10_000 }).toBe(0);
    // The sparklines hold several samples and saw the chunk rate go up.
    expect(await num(admin, 'spark-chunk-rate', 'data-points')).toBeGreaterThanOrEqual(3);
    expect(await num(admin, 'spark-chunk-rate', 'data-max')).toBeGreaterThan(0);
    expect(await num(admin, 'spark-event-rate', 'data-max')).toBeGreaterThan(0);
    expect(await num(admin, 'spark-connections', 'data-max')).toBe(1);
    expect(await admin.getByTestId('spark-chunk-rate').locator('path.sparkline-line').getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+$/);
    // Latency quantiles from the histograms: the demo's first token comes after ~150 ms.
    expect(await num(admin, 'latency-ttft', 'data-count')).toBe(1);
    const p50 = await num(admin, 'latency-ttft', 'data-p50');
    expect(p50).toBeGreaterThan(0.05);
    expect(p50).toBeLessThan(2);
    expect(await num(admin, 'latency-inter-chunk', 'data-count')).toBeGreaterThan(3);
    await admin.getByTestId('upstream-no-errors').waitFor();
    await shot(admin, '11-admin');

    // Readable at phone width: nothing wider than the screen.
    await admin.setViewportSize({ width: 390, height: 844 });
    await admin.getByTestId('stat-connections').waitFor();
    const overflow = await admin.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await user.context().close();
  });

  it('shows the refusal for a wrong key', async (ctx) => {
    if (!hasAdminApi) ctx.skip();
    const admin = await open(adminServer, '/admin');
    await admin.getByTestId('admin-key-form').waitFor({ timeout: 10_000 });
    await admin.getByTestId('admin-key-input').fill('not-the-key');
    await admin.getByTestId('admin-key-submit').click();
    const refused = admin.getByTestId('admin-refused');
    await refused.waitFor({ timeout: 10_000 });
    expect(await refused.textContent()).toContain('refused');
    expect(await admin.getByTestId('admin-page').getAttribute('data-status')).toBe('refused');
    expect(await admin.getByTestId('stat-connections').count()).toBe(0);
  });

  it('is linked from the app header', async () => {
    const page = await open(authServer, '/');
    const link = page.getByTestId('admin-link');
    await link.waitFor();
    expect(await link.getAttribute('href')).toBe('/admin');
  });
});

describe('app with --auth jwt', () => {
  it('takes ?token= once, hides it from the address bar, and streams with it', async () => {
    const token = jwt('e2e-user');
    const page = await open(authServer, `/?token=${encodeURIComponent(token)}`);
    await expect.poll(() => status(page).getAttribute('data-state'), { timeout: 10_000 }).toBe('connected');
    expect(page.url()).not.toContain('token');
    expect(await page.evaluate(() => sessionStorage.getItem('streamgate.token'))).toBe(token);

    await page.getByTestId('new-project-name').fill('Signed in');
    await page.getByTestId('new-project-submit').click();
    await page.getByTestId('tab-chat').click();
    await page.getByTestId('chat-input').fill('Titles behind a token');
    await page.getByTestId('send-button').click();
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor({ timeout: 30_000 });
    expect((await lastAnswer(page).getByTestId('message-content').textContent())?.length ?? 0).toBeGreaterThan(20);

    // A reload keeps the token for this tab (the URL no longer carries it).
    await page.reload();
    await expect.poll(() => status(page).getAttribute('data-state'), { timeout: 10_000 }).toBe('connected');
    await page.getByTestId('project-item').first().waitFor({ timeout: 10_000 });
  });

  it('says "not authorized" without a token instead of spinning, and accepts a pasted one', async () => {
    const page = await open(authServer, '/');
    const panel = page.getByTestId('not-authorized');
    await panel.waitFor({ timeout: 10_000 });
    expect(await panel.textContent()).toContain('Not authorized');
    expect(await status(page).getAttribute('data-state')).toBe('unauthorized');
    expect(await status(page).textContent()).toContain('Not authorized');
    expect(await page.getByTestId('loading').count()).toBe(0);
    await shot(page, '12-not-authorized');

    await page.getByTestId('token-input').fill(jwt('pasted-user'));
    await Promise.all([page.waitForEvent('load', { timeout: 10_000 }), page.getByTestId('token-submit').click()]);
    await expect.poll(() => status(page).getAttribute('data-state'), { timeout: 10_000 }).toBe('connected');
    expect(await page.getByTestId('not-authorized').count()).toBe(0);
  });

  it('says "not authorized" for an expired token', async () => {
    const page = await open(authServer, `/?token=${jwt('late-user', -3600)}`);
    await page.getByTestId('not-authorized').waitFor({ timeout: 10_000 });
    await waitFor(async () => (await status(page).getAttribute('data-state')) === 'unauthorized', 'unauthorized status', 5000);
  });
});
