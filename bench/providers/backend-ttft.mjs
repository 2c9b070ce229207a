// Time to first token through streamgate's streaming backend provider (type = "http") versus calling
// the same backend directly. Prints p50/p99 of the per-request difference; measures only, asserts nothing.
//   node bench/providers/backend-ttft.mjs [--requests 1000] [--ttft-ms 20] [--bin build/release/streamgate]
// Requests run one at a time, alternating direct and through streamgate, on 127.0.0.1 only.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startChild } from './child.mjs';

const args = process.argv.slice(2);
const opt = (name, d) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : d;
};
const N = Number(opt('requests', 1000));
const TTFT = Number(opt('ttft-ms', 20));
const root = new URL('../..', import.meta.url).pathname;
const bin = opt('bin', process.env.STREAMGATE_BIN || join(root, 'build/release/streamgate'));

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

// POSTs `body` and resolves with ms from sending to the first body bytes that contain `needle`.
function firstToken(port, path, body, needle) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const t0 = process.hrtime.bigint();
    let seen = false;
    let buf = '';
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'content-length': Buffer.byteLength(data) } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d) => {
        if (seen) return;
        buf += d;
        if (buf.includes(needle)) {
          seen = true;
          resolve(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      });
      res.on('end', () => seen || reject(new Error(`no token from ${path}: ${buf.slice(0, 300)}`)));
    });
    req.on('error', reject);
    req.end(data);
  });
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const fake = await startChild('node', [join(root, 'bench/providers/fake-backend.mjs'), '--ttft-ms', String(TTFT), '--exit-with-stdin'], 'stdout', /"port":(\d+)/);
const dir = mkdtempSync(join(tmpdir(), 'sg-bench-backend-ttft-'));
writeFileSync(join(dir, 'sg.toml'), `[providers.mybackend]\ntype = "http"\nurl = "http://127.0.0.1:${fake.port}/generate"\n`);
const sg = await startChild(bin, ['--listen', '127.0.0.1:0', '--data-dir', dir, '--web-root', '', '--config', join(dir, 'sg.toml'),
  '--threads', '1'], 'stderr', /"msg":"listening".*?"port":(\d+)/);

const messages = [{ role: 'user', content: 'Name my blog about rivers' }];
// The direct call sends the body streamgate would send.
const direct = () => firstToken(fake.port, '/generate', { streamId: 'st_direct', requestId: '', projectId: 'bench', userInput: 'Name my blog about rivers',
  chatHistory: [], cards: [], sub: 'anon:bench', connectionId: '' }, '"type":"delta"');
const viaCompletions = () => firstToken(sg.port, '/v1/chat/completions', { model: 'mybackend', stream: true, messages }, '"delta":{"content":"Hello');
const viaStreams = () => firstToken(sg.port, '/v1/streams', { projectId: 'bench', userInput: 'Name my blog about rivers', provider: 'mybackend' }, 'event: stream_chunk');

// Warm-up: connections pooled on both sides.
for (let i = 0; i < 20; i++) {
  await direct();
  await viaCompletions();
  await viaStreams();
}
const rows = { direct: [], completions: [], streams: [] };
for (let i = 0; i < N; i++) {
  rows.direct.push(await direct());
  rows.completions.push(await viaCompletions());
  rows.streams.push(await viaStreams());
}
const diff = (xs) => xs.map((x, i) => x - rows.direct[i]);
const line = (name, xs) => `${name.padEnd(44)} p50 ${pct(xs, 50).toFixed(3).padStart(8)} ms   p99 ${pct(xs, 99).toFixed(3).padStart(8)} ms`;
console.log(`time to first token, ${N} requests each, backend delay ${TTFT} ms, one at a time on 127.0.0.1`);
console.log(line('straight from the backend', rows.direct));
console.log(line('through streamgate /v1/chat/completions', rows.completions));
console.log(line('through streamgate POST /v1/streams (SSE)', rows.streams));
console.log(line('difference, /v1/chat/completions − direct', diff(rows.completions)));
console.log(line('difference, /v1/streams − direct', diff(rows.streams)));

sg.proc.kill('SIGTERM');
fake.proc.stdin.end();
agent.destroy();
rmSync(dir, { recursive: true, force: true });
