// Time to first token through streamgate versus straight from a fake upstream with a fixed delay.
// Prints p50/p99 of TTFT and of the time outside the upstream, direct and through streamgate; measures only.
//   node bench/providers/ttft.mjs [--requests 1000] [--ttft-ms 20] [--bin build/release/streamgate]
//                                 [--sgbench build/release/sgbench] [--layout split|one-core]
// This script starts the fake, streamgate and (when installed) nginx in front of the same fake; the
// requests are made by `sgbench ttft`, a C++ client on blocking sockets, one at a time, direct, through
// streamgate's two paths and through nginx in turn, on 127.0.0.1 only. With two cores or more and
// taskset, streamgate and nginx run on core 0, the fake and the client on core 1, as in the rest of
// `make bench`. (With Node's own HTTP client, used before, the direct path's time outside the upstream
// was 0.63-0.67 ms at p50; with sgbench ttft it is 0.28-0.30 ms.) `--layout one-core` runs every
// process on core 1 instead: no request then waits for the other core to wake, which on a shared VM
// can take milliseconds, so what a proxy adds is its own work and its context switches.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { cpus, tmpdir } from 'node:os';
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
const sgbench = opt('sgbench', join(root, 'build/release/sgbench'));
// [cmd, argv] run on `core` when the machine has two cores and taskset; as given otherwise.
const layout = opt('layout', 'split');
if (layout !== 'split' && layout !== 'one-core') throw new Error(`--layout is split or one-core, not ${layout}`);
const pinned = cpus().length >= 2 && spawnSync('taskset', ['-V']).status === 0;
const on = (core, cmd, argv) =>
  pinned ? ['taskset', ['-c', String(layout === 'one-core' ? 1 : core), cmd, ...argv]] : [cmd, argv];

function child(core, cmd0, argv0, stream, pattern) {
  const [cmd, argv] = on(core, cmd0, argv0);
  return startChild(cmd, argv, stream, pattern);
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

// Three short tokens per answer, so each request's stream ends soon after its first token.
const fake = await child(1, 'node', [join(root, 'bench/peers/node-ws/fake-openai.js'), '--ttft-ms', String(TTFT), '--tokens', '3',
  '--tokens-per-second', '1000'], 'stderr', /"port":(\d+)/);
const dir = mkdtempSync(join(tmpdir(), 'sg-bench-ttft-'));
writeFileSync(join(dir, 'sg.toml'), `[providers.openai]\nbase_url = "http://127.0.0.1:${fake.port}/v1"\ndefault_model = "gpt-fake"\nmax_retries = 0\n`);
const sg = await child(0, bin, ['--listen', '127.0.0.1:0', '--data-dir', dir, '--web-root', '', '--config', join(dir, 'sg.toml'),
  '--threads', '1'], 'stderr', /"msg":"listening".*?"port":(\d+)/);

// The peer: nginx proxying to the same fake, unbuffered, with pooled upstream connections.
let nginx = null;
if (spawnSync('nginx', ['-v']).status === 0) {
  const ngDir = join(dir, 'nginx');
  const port = await new Promise((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  mkdirSync(ngDir);
  writeFileSync(join(ngDir, 'nginx.conf'), `worker_processes 1; daemon off; pid ${ngDir}/nginx.pid; error_log stderr warn;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${ngDir}/b; proxy_temp_path ${ngDir}/p; fastcgi_temp_path ${ngDir}/f;
  uwsgi_temp_path ${ngDir}/u; scgi_temp_path ${ngDir}/s;
  upstream up { server 127.0.0.1:${fake.port}; keepalive 64; }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://up; proxy_http_version 1.1;
    proxy_set_header Connection ""; proxy_buffering off; proxy_cache off; } } }
`);
  const [ngCmd, ngArgv] = on(0, 'nginx', ['-p', ngDir, '-c', join(ngDir, 'nginx.conf')]);
  const proc = spawn(ngCmd, ngArgv, { stdio: ['ignore', 'ignore', 'pipe'] });
  for (let i = 0; i < 200 && !nginx; i++) {
    await new Promise((r) => setTimeout(r, 25));  // polling for the port to open, not ordering events
    const up = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (up) nginx = { proc, port };
  }
  if (!nginx) proc.kill('SIGTERM');
}

const messages = [{ role: 'user', content: 'Name my blog about rivers' }];
const targets = [
  ['direct', fake.port, '/v1/chat/completions', { model: 'gpt-fake', stream: true, messages }],
  ['completions', sg.port, '/v1/chat/completions', { model: 'openai/gpt-fake', stream: true, messages }],
  ['streams', sg.port, '/v1/streams', { projectId: 'bench', userInput: 'Name my blog about rivers', provider: 'openai' }],
];
if (nginx) targets.push(['nginx', nginx.port, '/v1/chat/completions', { model: 'gpt-fake', stream: true, messages }]);
const [benchCmd, benchArgv] = on(1, sgbench, ['ttft', '--requests', String(N), '--warmup', '20',
  ...targets.flatMap(([name, port, path, body]) => ['--target', name, String(port), path, JSON.stringify(body)])]);
// Asynchronously: this process keeps draining streamgate's log pipe while the client runs.
const run = await new Promise((resolve) => {
  const p = spawn(benchCmd, benchArgv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  p.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  p.on('close', (status) => resolve({ status, stdout, stderr }));
});
if (run.status !== 0) {
  sg.proc.kill('SIGTERM');
  fake.proc.kill('SIGTERM');
  if (nginx) nginx.proc.kill('SIGTERM');
  throw new Error(`sgbench ttft failed (${run.status}): ${run.stderr}`);
}
const samples = JSON.parse(run.stdout).targets;
const rows = {};
for (const [name, s] of Object.entries(samples)) rows[name] = s.ttft_ms.map((ttft, i) => ({ ttft, outside: s.outside_ms[i] }));
const col = (name, k) => rows[name].map((r) => r[k]);
const line = (name, xs) => `${name.padEnd(46)} p50 ${pct(xs, 50).toFixed(3).padStart(8)} ms   p99 ${pct(xs, 99).toFixed(3).padStart(8)} ms`;
const added = (name, xs, base) =>
  `${name.padEnd(46)} p50 ${(pct(xs, 50) - pct(base, 50)).toFixed(3).padStart(8)} ms   p99 ${(pct(xs, 99) - pct(base, 99)).toFixed(3).padStart(8)} ms`;
const where = !pinned ? '' : layout === 'one-core' ? '; every process on core 1' : '; streamgate and nginx on core 0, the fake and the client on core 1';
console.log(`time to first token, ${N} requests each, fake upstream delay ${TTFT} ms, one at a time on 127.0.0.1 (sgbench ttft${where})`);
console.log(line('straight from the fake', col('direct', 'ttft')));
console.log(line('through streamgate /v1/chat/completions', col('completions', 'ttft')));
console.log(line('through streamgate POST /v1/streams (SSE)', col('streams', 'ttft')));
if (nginx) console.log(line('through nginx /v1/chat/completions', col('nginx', 'ttft')));
console.log('time outside the upstream (TTFT less the fake\'s own time from request to first write)');
console.log(line('straight from the fake', col('direct', 'outside')));
console.log(line('through streamgate /v1/chat/completions', col('completions', 'outside')));
console.log(line('through streamgate POST /v1/streams (SSE)', col('streams', 'outside')));
if (nginx) console.log(line('through nginx /v1/chat/completions', col('nginx', 'outside')));
console.log(added('added by streamgate, /v1/chat/completions', col('completions', 'outside'), col('direct', 'outside')));
console.log(added('added by streamgate, /v1/streams', col('streams', 'outside'), col('direct', 'outside')));
if (nginx) console.log(added('added by nginx, /v1/chat/completions', col('nginx', 'outside'), col('direct', 'outside')));

sg.proc.kill('SIGTERM');
fake.proc.kill('SIGTERM');
if (nginx) nginx.proc.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });
