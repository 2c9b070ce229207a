// Delivery latency through another node: each stream is started on node A and read at once both
// there (local) and from node B (remote: a resume from seq 1, fed by Redis). Lateness = arrival −
// the chunk's dueUs (the demo provider's schedule), so the difference of the two is what the
// cluster adds.
//   node cross-node.mjs WS_URL_A WS_URL_B STREAMS SECONDS
import { createRequire } from 'node:module';

// The ws package of the Node peer (bench/peers/node-ws), installed by bench/run.sh.
const WebSocket = createRequire(new URL('../peers/node-ws/package.json', import.meta.url))('ws');

const [urlA, urlB, nStr, secStr] = process.argv.slice(2);
const streams = Number(nStr), seconds = Number(secStr);
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const local = [], remote = [];
let completedLocal = 0, completedRemote = 0, errors = 0, measuring = false;
const stopAt = Date.now() + seconds * 1000;
// The first seconds are warm-up: streams start spread over a second, mirrors are created.
setTimeout(() => { measuring = true; }, 2000);

function lateness(list, ev) {
  if (measuring && ev.type === 'stream_chunk' && ev.dueUs) list.push(nowUs() - ev.dueUs);
}

function run(k) {
  if (Date.now() > stopAt) return Promise.resolve();
  return new Promise((resolve) => {
    const a = new WebSocket(urlA);
    let b = null, doneA = false, doneB = false;
    const finish = () => {
      if (!doneA || !doneB) return;
      a.close();
      b?.close();
      resolve(run(k));
    };
    a.on('error', () => { errors++; doneA = doneB = true; finish(); });
    a.on('open', () => a.send(JSON.stringify({ action: 'stream', projectId: 'bench', userInput: `cross ${k}` })));
    a.on('message', (data) => {
      const ev = JSON.parse(data);
      if (ev.type === 'stream_start') {
        b = new WebSocket(urlB);
        b.on('error', () => { errors++; doneB = true; finish(); });
        b.on('open', () => b.send(JSON.stringify({ action: 'resume', streamId: ev.streamId, lastSeq: 1 })));
        b.on('message', (d) => {
          const e = JSON.parse(d);
          lateness(remote, e);
          if (e.type === 'stream_complete' || (e.type === 'error' && e.seq)) { completedRemote++; doneB = true; finish(); }
          else if (e.type === 'error') { errors++; doneB = true; finish(); }
        });
      }
      lateness(local, ev);
      if (ev.type === 'stream_complete' || ev.type === 'error') { completedLocal++; doneA = true; finish(); }
    });
  });
}

function pct(list, p) {
  if (!list.length) return null;
  const s = [...list].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const starts = [];
for (let k = 0; k < streams; k++) starts.push(new Promise((r) => setTimeout(() => r(run(k)), (k * 1000) / streams)));
await Promise.all(starts);
const out = {
  streams, seconds,
  local: { chunks: local.length, p50_us: pct(local, 50), p90_us: pct(local, 90), p99_us: pct(local, 99) },
  remote: { chunks: remote.length, p50_us: pct(remote, 50), p90_us: pct(remote, 90), p99_us: pct(remote, 99) },
  completed_local: completedLocal, completed_remote: completedRemote, errors,
};
console.log(JSON.stringify(out));
