// A fake OpenAI upstream for the proxy comparison: streamed chat completions whose tokens carry their send time.
'use strict';

// Tokens are paced against absolute time (token k at start + ttft + k/rate) and each one's content
// is "|<µs>", the CLOCK_MONOTONIC microsecond it was written (system-wide, unlike Node's wall clock,
// whose performance.timeOrigin drifts from the system's by up to milliseconds). Whatever proxies it (nginx, streamgate's
// /v1/chat/completions) passes the text through, so the client reads from the last stamp in each
// chunk how long it took from this upstream's write to its own read: read directly, that is the
// transport's share; through a proxy, the difference is what the proxy adds. (The write time, not
// the due time: Node's millisecond timers would bury a proxy's microseconds.) The first token also
// carries "@<µs>" before its stamp, the microsecond the request's body had arrived, so a client can
// tell the time spent outside this upstream from the upstream's own (jittery) delay.
const http = require('http');
const { performance } = require('perf_hooks');

const opt = { host: '127.0.0.1', port: 0, ttftMs: 200, tps: 20, tokens: 143 };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const v = () => process.argv[++i];
  if (a === '--port') opt.port = Number(v());
  else if (a === '--ttft-ms') opt.ttftMs = Number(v());
  else if (a === '--tokens-per-second') opt.tps = Number(v());
  else if (a === '--tokens') opt.tokens = Number(v());
  else {
    console.error('usage: node fake-openai.js [--port P] [--ttft-ms MS] [--tokens-per-second T] [--tokens N]');
    process.exit(a === '--help' ? 0 : 2);
  }
}

let nextId = 0;
function stream(req, res, body, receivedUs) {
  const id = 'chatcmpl-' + (++nextId);
  const model = body.model || 'fake';
  const created = Math.floor(Date.now() / 1000);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
  const chunk = (delta, finish) =>
    'data: ' + JSON.stringify({ id, object: 'chat.completion.chunk', created, model,
      choices: [{ index: 0, delta, finish_reason: finish }] }) + '\n\n';
  res.write(chunk({ role: 'assistant', content: '' }, null));
  const t0 = performance.now();
  const offsetMs = (k) => opt.ttftMs + (opt.tps > 0 ? (k * 1000) / opt.tps : 0);
  let k = 0;
  let timer = null;
  const next = () => {
    if (k === opt.tokens) {
      res.write(chunk({}, 'stop'));
      if (body.stream_options && body.stream_options.include_usage)
        res.write('data: ' + JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [],
          usage: { prompt_tokens: 11, completion_tokens: opt.tokens, total_tokens: 11 + opt.tokens } }) + '\n\n');
      res.end('data: [DONE]\n\n');
      return;
    }
    const arrived = k === 0 ? '@' + receivedUs.toString() : '';
    res.write(chunk({ content: arrived + '|' + (process.hrtime.bigint() / 1000n).toString() }, null));
    k++;
    timer = setTimeout(next, Math.max(0, t0 + offsetMs(k) - performance.now()));
  };
  timer = setTimeout(next, Math.max(0, t0 + offsetMs(0) - performance.now()));
  res.on('close', () => clearTimeout(timer));
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url.endsWith('/models')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data: [{ id: 'fake', object: 'model', owned_by: 'bench' }] }));
    return;
  }
  if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"not found","type":"invalid_request_error"}}');
    return;
  }
  let data = '';
  req.on('data', (d) => (data += d));
  req.on('end', () => {
    const receivedUs = process.hrtime.bigint() / 1000n;
    let body = {};
    try {
      body = JSON.parse(data || '{}');
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"bad JSON","type":"invalid_request_error"}}');
      return;
    }
    if (body.stream) return stream(req, res, body, receivedUs);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion', created: Math.floor(Date.now() / 1000),
      model: body.model || 'fake', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
  });
});
server.keepAliveTimeout = 120000;
server.listen(opt.port, opt.host, () => {
  const { address, port } = server.address();
  console.error(JSON.stringify({ msg: 'listening', address, port }));
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
