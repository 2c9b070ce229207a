// Starts the real streamgate binary on port 0 for a test, reads the port from its JSON log,
// and stops it again. Shared by the SDK tests and the browser tests.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const webRoot = join(repoRoot, 'web');

/** The server binary: $STREAMGATE_BIN, else build/release/streamgate in the repository. */
export function serverBinary(): string {
  return process.env.STREAMGATE_BIN ?? join(repoRoot, 'build/release/streamgate');
}

export interface RunningServer {
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  dataDir: string;
  proc: ChildProcess;
  /** Every log line the server wrote to stderr so far. */
  logs: string[];
  /** The management API key the server generated and logged ("" when `--admin-key` was given). */
  adminKey: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra command-line arguments. */
  args?: string[];
  /** Serve this directory at / (default: the server's own default, ./web/dist under cwd). */
  webRoot?: string;
  ttftMs?: number;
  tokensPerSecond?: number;
  startTimeoutMs?: number;
}

export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const bin = serverBinary();
  if (!existsSync(bin)) {
    throw new Error(`streamgate binary not found at ${bin}: build it first (make build) or set STREAMGATE_BIN`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'sg-web-test-'));
  const args = [
    '--listen',
    '127.0.0.1:0',
    '--data-dir',
    dataDir,
    '--demo-ttft-ms',
    String(opts.ttftMs ?? 20),
    '--demo-tokens-per-second',
    String(opts.tokensPerSecond ?? 400),
    ...(opts.webRoot ? ['--web-root', opts.webRoot] : []),
    ...(opts.args ?? []),
  ];
  const proc = spawn(bin, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitP = new Promise<void>((r) =>
    proc.once('exit', (code, signal) => {
      exited = { code, signal };
      r();
    }),
  );

  let adminKey = '';
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`streamgate did not log "listening" within ${opts.startTimeoutMs ?? 15000} ms:\n${logs.join('\n')}`));
    }, opts.startTimeoutMs ?? 15000);
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        if (logs.length > 2000) logs.splice(0, 1000);
        try {
          const o = JSON.parse(line) as { msg?: string; port?: number; adminKey?: string };
          if (typeof o.adminKey === 'string') adminKey = o.adminKey;
          if (o.msg === 'listening' && typeof o.port === 'number') {
            clearTimeout(timer);
            resolvePort(o.port);
          }
        } catch {
          // not a JSON line
        }
      }
    };
    proc.stderr!.on('data', onData);
    proc.stdout!.on('data', (d: Buffer) => logs.push(d.toString('utf8').trimEnd()));
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`streamgate exited (code ${code}, signal ${signal}) before listening:\n${logs.join('\n')}`));
    });
  });

  const url = `http://127.0.0.1:${port}`;
  return {
    port,
    url,
    dataDir,
    proc,
    logs,
    adminKey,
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        const killTimer = setTimeout(() => proc.kill('SIGKILL'), 8000);
        await exitP;
        clearTimeout(killTimer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000, intervalMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
