// The fake upstreams on one loopback port: OpenAI, Anthropic, Bedrock (both APIs) and Ollama, plus /_fake controls.
// Run `node server.mjs [--port N] [--ttft-ms N] [--token-delay-ms N] [--slow-ms N] [--exit-with-stdin]`:
// prints {"port":N} on stdout.
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { handleAnthropic } from './lib/anthropic.mjs';
import { handleBedrock } from './lib/bedrock.mjs';
import { json, readBody } from './lib/common.mjs';
import { handleOllama, handleTags } from './lib/ollama.mjs';
import { handleOpenAI } from './lib/openai.mjs';

export const AWS_KEY_ID = 'AKIDFAKEFAKEFAKE';
export const AWS_SECRET = 'fake/secret+key/for+tests';

/**
 * Starts the fakes. `requests` records every model request: {id, kind, path, model, headers, body,
 * aborted (the client closed before the response ended), closedAt}.
 */
export async function startFakes(options = {}) {
  const opts = {
    port: 0,
    ttftMs: 0,
    tokenDelayMs: 0,
    slowMs: 2000,
    awsKeys: { [AWS_KEY_ID]: AWS_SECRET },
    openaiKey: null,
    ...options,
  };
  const seen = new Set();
  const requests = [];
  const waiters = new Set();
  const ctx = {
    opts,
    firstTime(key) {
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    },
  };
  const notify = () => {
    for (const w of [...waiters]) w();
  };

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://fake');
      if (url.pathname.startsWith('/_fake/')) return control(url, req, res);
      const raw = await readBody(req);
      const record = { id: requests.length + 1, kind: null, path: req.url, model: null, headers: req.headers, body: raw.toString('utf8'), aborted: false, closedAt: null, startedAt: Date.now() };
      res.on('close', () => {
        record.aborted = !res.writableFinished;
        record.closedAt = Date.now();
        notify();
      });
      const parse = () => {
        try {
          return JSON.parse(raw.toString('utf8') || '{}');
        } catch {
          return null;
        }
      };
      let m;
      if (req.method === 'POST' && url.pathname === '/v1/chat/completions') {
        const body = parse();
        if (!body) return json(res, 400, { error: { message: 'We could not parse the JSON body of your request.', type: 'invalid_request_error', param: null, code: null } });
        Object.assign(record, { kind: 'openai', model: body.model });
        requests.push(record);
        return await handleOpenAI(ctx, req, res, body);
      }
      if (req.method === 'POST' && url.pathname === '/v1/messages') {
        const body = parse();
        if (!body) return json(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'invalid JSON' } });
        Object.assign(record, { kind: 'anthropic', model: body.model });
        requests.push(record);
        return await handleAnthropic(ctx, req, res, body);
      }
      if (req.method === 'POST' && (m = /^\/model\/([^/]+)\/(invoke-with-response-stream|converse-stream)$/.exec(url.pathname))) {
        const modelId = decodeURIComponent(m[1]);
        const api = m[2] === 'converse-stream' ? 'converse' : 'invoke';
        Object.assign(record, { kind: `bedrock-${api}`, model: modelId });
        requests.push(record);
        return await handleBedrock(ctx, req, res, raw, modelId, api);
      }
      if (req.method === 'POST' && url.pathname === '/api/chat') {
        const body = parse();
        if (!body) return json(res, 400, { error: 'invalid character looking for beginning of value' });
        Object.assign(record, { kind: 'ollama', model: body.model });
        requests.push(record);
        return await handleOllama(ctx, req, res, body);
      }
      if (req.method === 'GET' && url.pathname === '/api/tags') return handleTags(res);
      json(res, 404, { error: 'not found' });
    } catch (e) {
      if (!res.headersSent) json(res, 500, { error: String(e) });
      else res.destroy();
    }
  });

  // GET /_fake/requests                      every recorded request
  // GET /_fake/wait-closed?id=N&timeoutMs=T  waits until request N's response closed; answers its record
  // POST /_fake/reset                        forgets requests and the 429-once memory
  function control(url, req, res) {
    const strip = (r) => ({ ...r, headers: r.headers });
    if (url.pathname === '/_fake/requests') return json(res, 200, requests.map(strip));
    if (url.pathname === '/_fake/reset') {
      requests.length = 0;
      seen.clear();
      return json(res, 200, {});
    }
    if (url.pathname === '/_fake/wait-closed') {
      const id = Number(url.searchParams.get('id'));
      const timeout = Number(url.searchParams.get('timeoutMs') || 5000);
      const done = () => {
        const r = requests.find((x) => x.id === id);
        if (r && r.closedAt) {
          cleanup();
          json(res, 200, strip(r));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        json(res, 408, { error: `request ${id} still open after ${timeout} ms` });
      }, timeout);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(done);
      };
      waiters.add(done);
      return done();
    }
    json(res, 404, { error: 'no such control' });
  }

  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(opts.port, '127.0.0.1', resolve));
  return {
    server,
    port: server.address().port,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const num = (flag, d) => {
    const i = args.indexOf(flag);
    return i >= 0 ? Number(args[i + 1]) : d;
  };
  const fakes = await startFakes({ port: num('--port', 0), ttftMs: num('--ttft-ms', 0), tokenDelayMs: num('--token-delay-ms', 0), slowMs: num('--slow-ms', 2000) });
  process.stdout.write(JSON.stringify({ port: fakes.port }) + '\n');
  if (args.includes('--exit-with-stdin')) {
    // A parent test that owns us holds our stdin: its closing (the parent died) ends the process.
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  }
  process.on('SIGTERM', () => process.exit(0));
}
