// Time to first token through streamgate versus straight from a fake upstream with a fixed delay.
// Prints p50/p99 of TTFT and of the time outside the upstream, direct and through streamgate; measures only.
//   node bench/providers/ttft.mjs [--requests 1000] [--ttft-ms 20] [--bin build/release/streamgate]
// Requests run one at a time, alternating direct, through streamgate and (when nginx is installed)
// through nginx in front of the same fake, on 127.0.0.1 only.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, d) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : d;
};
const N = Number(opt('requests', 1000));
const TTFT = Number(opt('ttft-ms', 20));
const root = new URL('../..', import.meta.url).pathname;
const bin = opt('bin', process.env.STREAMGATE_BIN || join(root, 'build/release/streamgate'));

function child(cmd, argv, stream, pattern) {
  const p = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start: ${out}`)), 15000);
    p[stream].on('data', (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        p[stream].resume();
        resolve({ proc: p, port: Number(m[1]) });
      }
    });
    p.on('exit', (c) => reject(new Error(`${cmd} exited ${c}: ${out}`)));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

// POSTs `body` and resolves with two figures in ms: `ttft`, from sending to the first token's bytes, and
// `outside`, that time less the upstream's own share (from its request's arrival to its first write,
// both stamped by the fake in the token as "@<µs>|<µs>", CLOCK_MONOTONIC like hrtime here). The
// fake's timer jitter is in `ttft` but not in `outside`.
const STAMPS = /@(\d+)\|(\d+)/;
function firstToken(port, path, body) {
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
        const m = STAMPS.exec(buf);
        if (m) {
          const t1 = process.hrtime.bigint();
          seen = true;
          const upstreamUs = Number(BigInt(m[2]) - BigInt(m[1]));
          const ttft = Number(t1 - t0) / 1e6;
          resolve({ ttft, outside: ttft - upstreamUs / 1e3 });
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

// Three short tokens per answer, so each request's stream ends soon after its first token.
const fake = await child('node', [join(root, 'bench/peers/node-ws/fake-openai.js'), '--ttft-ms', String(TTFT), '--tokens', '3',
  '--tokens-per-second', '1000'], 'stderr', /"port":(\d+)/);
const dir = mkdtempSync(join(tmpdir(), 'sg-bench-ttft-'));
writeFileSync(join(dir, 'sg.toml'), `[providers.openai]\nbase_url = "http://127.0.0.1:${fake.port}/v1"\ndefault_model = "gpt-fake"\nmax_retries = 0\n`);
const sg = await child(bin, ['--listen', '127.0.0.1:0', '--data-dir', dir, '--web-root', '', '--config', join(dir, 'sg.toml'),
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
  const proc = spawn('nginx', ['-p', ngDir, '-c', join(ngDir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
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
const direct = () => firstToken(fake.port, '/v1/chat/completions', { model: 'gpt-fake', stream: true, messages });
const viaCompletions = () => firstToken(sg.port, '/v1/chat/completions', { model: 'openai/gpt-fake', stream: true, messages });
const viaNginx = () => firstToken(nginx.port, '/v1/chat/completions', { model: 'gpt-fake', stream: true, messages });
const viaStreams = () => firstToken(sg.port, '/v1/streams', { projectId: 'bench', userInput: 'Name my blog about rivers', provider: 'openai' });

// Warm-up: connections pooled on both sides.
for (let i = 0; i < 20; i++) {
  await direct();
  await viaCompletions();
  await viaStreams();
  if (nginx) await viaNginx();
}
const rows = { direct: [], completions: [], streams: [], nginx: [] };
for (let i = 0; i < N; i++) {
  rows.direct.push(await direct());
  rows.completions.push(await viaCompletions());
  rows.streams.push(await viaStreams());
  if (nginx) rows.nginx.push(await viaNginx());
}
const col = (name, k) => rows[name].map((r) => r[k]);
const line = (name, xs) => `${name.padEnd(46)} p50 ${pct(xs, 50).toFixed(3).padStart(8)} ms   p99 ${pct(xs, 99).toFixed(3).padStart(8)} ms`;
const added = (name, xs, base) =>
  `${name.padEnd(46)} p50 ${(pct(xs, 50) - pct(base, 50)).toFixed(3).padStart(8)} ms   p99 ${(pct(xs, 99) - pct(base, 99)).toFixed(3).padStart(8)} ms`;
console.log(`time to first token, ${N} requests each, fake upstream delay ${TTFT} ms, one at a time on 127.0.0.1`);
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
agent.destroy();
rmSync(dir, { recursive: true, force: true });
