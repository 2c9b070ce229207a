// A minimal backend behind streamgate, in plain Node (no packages): a streaming /generate (SSE),
// a $connect that checks a header, a $disconnect, and a custom `subscribe` action that answers and
// then pushes a message to the client through streamgate's @connections API.
//   PORT=9000 STREAMGATE_URL=http://127.0.0.1:8080 STREAMGATE_ADMIN_KEY=dev-admin-key node server.mjs
import http from 'node:http';

const PORT = Number(process.env.PORT ?? 9000);
const STREAMGATE_URL = process.env.STREAMGATE_URL ?? 'http://127.0.0.1:8080';
const ADMIN_KEY = process.env.STREAMGATE_ADMIN_KEY ?? 'dev-admin-key';
const DEMO_TOKEN = process.env.DEMO_TOKEN ?? 'letmein';
const TOKEN_DELAY_MS = Number(process.env.TOKEN_DELAY_MS ?? 40);

const readJson = (req) =>
  new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (data += d));
    req.on('end', () => {
      try {
        resolve(data ? JSON.parse(data) : {});
      } catch (e) {
        reject(e);
      }
    });
    req.on('error', reject);
  });

const send = (res, status, body) => {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// POST /generate: streamgate's streaming backend contract, answered as SSE.
async function generate(req, res) {
  const body = await readJson(req);
  let open = true;
  res.on('close', () => (open = false)); // a client's cancel closes this request at once
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const event = (o) => open && res.write(`data: ${JSON.stringify(o)}\n\n`);
  event({ type: 'progress', stage: 'generating', step: 'Looking things up...', progress: 50 });
  const words = `You asked: "${body.userInput}". Here is a streamed answer from the Node backend.`.split(/(?<= )/);
  for (const w of words) {
    if (!open) return;
    event({ type: 'delta', content: w });
    if (TOKEN_DELAY_MS) await sleep(TOKEN_DELAY_MS);
  }
  event({ type: 'usage', inputTokens: String(body.userInput ?? '').split(/\s+/).length, outputTokens: words.length });
  res.end(); // the end of the body ends the stream
}

// POST /connect: let in only clients that send the demo header; keep who they are as the context.
async function connect(req, res) {
  const body = await readJson(req);
  if (body.headers?.['x-demo-token'] !== DEMO_TOKEN) return send(res, 401, { message: 'send X-Demo-Token' });
  send(res, 200, { context: { user: body.query?.user ?? 'guest', connectedVia: 'node' } });
}

async function disconnect(req, res) {
  const body = await readJson(req);
  console.error(`disconnected ${body.connectionId} with close code ${body.closeCode}`);
  send(res, 204);
}

// POST /subscribe: the custom action. The answer goes back to the client as one frame; a moment
// later the backend pushes on its own through POST /@connections/{id}.
async function subscribe(req, res) {
  const msg = await readJson(req);
  const connectionId = req.headers['x-streamgate-connection-id'];
  const context = JSON.parse(req.headers['x-streamgate-context'] ?? '{}');
  send(res, 200, { type: 'subscribed', room: msg.room ?? 'lobby', user: context.user });
  setTimeout(() => {
    const push = JSON.stringify({ type: 'room_message', room: msg.room ?? 'lobby', text: `welcome, ${context.user}` });
    const r = http.request(`${STREAMGATE_URL}/@connections/${encodeURIComponent(connectionId)}`, {
      method: 'POST',
      headers: { 'x-admin-key': ADMIN_KEY, 'content-type': 'application/json', 'content-length': Buffer.byteLength(push) },
    });
    r.on('response', (pr) => pr.resume());
    r.on('error', (e) => console.error(`push failed: ${e.message}`));
    r.end(push);
  }, 50);
}

const routes = { '/generate': generate, '/connect': connect, '/disconnect': disconnect, '/subscribe': subscribe };

const server = http.createServer((req, res) => {
  const handler = req.method === 'POST' && routes[new URL(req.url, 'http://x').pathname];
  if (!handler) return send(res, 404, { message: 'not found' });
  handler(req, res).catch((e) => {
    if (!res.headersSent) send(res, 400, { message: e.message });
    else res.destroy();
  });
});
server.listen(PORT, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
  console.error(`backend-node listening on http://127.0.0.1:${server.address().port}`);
});
// Tests start it with --exit-with-stdin: it stops when its parent goes away.
if (process.argv.includes('--exit-with-stdin')) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
