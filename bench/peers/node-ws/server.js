// The seed protocol on Node and the ws package, written the way most teams would: the benchmark peer.
'use strict';

const http = require('http');
const fs = require('fs');
const crypto = require('crypto');
const { performance } = require('perf_hooks');
const { WebSocketServer } = require('ws');

function parseArgs(argv) {
  const o = { host: '127.0.0.1', port: 0, ttftMs: 200, tps: 20, answerFile: '' };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--host') o.host = v();
    else if (a === '--port') o.port = Number(v());
    else if (a === '--ttft-ms') o.ttftMs = Number(v());
    else if (a === '--tokens-per-second') o.tps = Number(v());
    else if (a === '--answer-file') o.answerFile = v();
    else {
      console.error('usage: node server.js [--host H] [--port P] [--ttft-ms MS] [--tokens-per-second T] [--answer-file F]');
      process.exit(a === '--help' ? 0 : 2);
    }
  }
  return o;
}

const opt = parseArgs(process.argv);

// The same answer streamgate's demo gives (the bench passes its text), split into model-like
// tokens exactly as its tokenizer does: a run of newlines, or a word or one other character,
// with the spaces before it.
const answer = opt.answerFile
  ? fs.readFileSync(opt.answerFile, 'utf8')
  : 'Here are 5 title ideas for "bench":\n\n1. **Bench: A Practical Guide**\n';
const tokens = answer.match(/ *(?:\n+|[\p{L}\p{N}'\u0080-\uffff]+|[^\n])/gu) || [answer];

function startStream(ws, msg) {
  const streamId = 'st_' + crypto.randomBytes(8).toString('base64url');
  const sessionId = String(msg.projectId || '');
  let seq = 0;
  const send = (o) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(o));
  };
  const stream = { timer: null, done: false };
  ws.streams.set(streamId, stream);
  send({ type: 'stream_start', streamId, seq: ++seq, sessionId, requestId: msg.requestId || '' });
  send({ type: 'progress', streamId, seq: ++seq, stage: 'initializing', step: 'Initializing stream...', progress: 5 });
  send({ type: 'progress', streamId, seq: ++seq, stage: 'analyzing', step: 'Analyzing prompt cards...', progress: 20 });
  send({ type: 'progress', streamId, seq: ++seq, stage: 'generating', step: 'Generating with demo...', progress: 40 });
  // Token k is due at start + ttft + k/rate, against absolute time like streamgate's demo, so
  // both are measured against the same schedule.
  const t0 = performance.now();
  const t0Us = Math.round((performance.timeOrigin + t0) * 1000);  // the same instant as t0, in wall-clock µs
  const started = Date.now();
  let k = 0;
  let firstChunkMs = -1;
  const offsetMs = (i) => opt.ttftMs + (opt.tps > 0 ? (i * 1000) / opt.tps : 0);
  const next = () => {
    if (stream.done) return;
    if (k === tokens.length) {
      stream.done = true;
      ws.streams.delete(streamId);
      send({ type: 'progress', streamId, seq: ++seq, stage: 'finalizing', step: 'Saving the answer...', progress: 90 });
      send({
        type: 'stream_complete', streamId, seq: ++seq, fullContent: answer,
        usage: { inputTokens: 11, outputTokens: tokens.length },
        metrics: { firstChunkMs, totalChunks: tokens.length, durationMs: Date.now() - started },
      });
      return;
    }
    const dueUs = t0Us + Math.round(offsetMs(k) * 1000);
    if (firstChunkMs < 0) firstChunkMs = Date.now() - started;
    send({ type: 'stream_chunk', streamId, seq: ++seq, content: tokens[k], sessionId, dueUs });
    k++;
    stream.timer = setTimeout(next, Math.max(0, t0 + offsetMs(k) - performance.now()));
  };
  stream.timer = setTimeout(next, Math.max(0, t0 + offsetMs(0) - performance.now()));
  stream.cancel = () => {
    stream.done = true;
    clearTimeout(stream.timer);
    ws.streams.delete(streamId);
    send({ type: 'stream_cancelled', streamId, seq: ++seq });
  };
}

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"error":"not found"}');
});
const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 128 * 1024, perMessageDeflate: false });

wss.on('connection', (ws) => {
  ws.streams = new Map();
  ws.send(JSON.stringify({ type: 'connected', connectionId: crypto.randomBytes(6).toString('hex'), serverTime: Date.now() }));
  ws.on('message', (data) => {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      ws.send(JSON.stringify({ type: 'error', code: 'bad_request', message: 'invalid JSON', retryable: false }));
      return;
    }
    switch (msg.action) {
      case 'stream':
        startStream(ws, msg);
        break;
      case 'cancel': {
        const s = ws.streams.get(msg.streamId);
        if (s) s.cancel();
        break;
      }
      case 'ping':
        ws.send(JSON.stringify({ type: 'pong' }));
        break;
      default:
        ws.send(JSON.stringify({ type: 'error', code: 'unknown_action', message: 'unknown action', retryable: false }));
    }
  });
  ws.on('close', () => {
    for (const s of ws.streams.values()) {
      s.done = true;
      clearTimeout(s.timer);
    }
    ws.streams.clear();
  });
  ws.on('error', () => {});
});

server.listen(opt.port, opt.host, () => {
  const { address, port } = server.address();
  console.error(JSON.stringify({ msg: 'listening', address, port, tokens: tokens.length }));
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
