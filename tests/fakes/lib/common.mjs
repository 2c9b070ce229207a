// Shared pieces of the fakes: the deterministic answer, token counts, request bookkeeping, fault names.

/** The answer every fake gives: deterministic, so tests can assert it exactly. */
export function replyText(kind, messages) {
  const last = [...messages].reverse().find((m) => m.role === 'user');
  let said = '';
  if (last) said = typeof last.content === 'string' ? last.content : (last.content || []).map((c) => c.text || '').join('');
  return `Hello from the fake ${kind}! You said: ${said}`;
}

/** The answer split the way models stream: words with their leading space. */
export function tokens(text) {
  return text.match(/\s*\S+/g) || [];
}

/** Whitespace-separated words of every message and the system prompt: the fakes' "input tokens". */
export function countInput(messages, system = '') {
  const texts = [system];
  for (const m of messages) {
    if (typeof m.content === 'string') texts.push(m.content);
    else for (const c of m.content || []) texts.push(c.text || '');
  }
  return texts.join(' ').split(/\s+/).filter(Boolean).length;
}

/**
 * Fault modes, chosen by the model name so any client can ask for one:
 *   fault-429        429 with Retry-After
 *   fault-429-once   429 on the first request with this model, then a normal answer
 *   fault-500        500 with the service's error body
 *   fault-slow       the response head comes only after `slowMs`
 *   fault-cut        two deltas, then the connection is destroyed mid-stream
 *   fault-garbage    a 200 whose body is not the wire format
 *   fault-badcrc     (Bedrock) a frame whose message CRC is wrong
 *   fault-error      an error event inside the stream, after one delta
 *   fault-stall      one delta, then silence until the client goes away
 */
export function faultOf(model) {
  const m = /(?:^|[/.-])fault-([a-z0-9-]+)$/.exec(model || '');
  return m ? m[1] : null;
}

export function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Writes and waits until the bytes are handed to the socket, so each delta leaves as its own chunk. */
export function send(res, data) {
  return new Promise((resolve) => {
    if (res.destroyed || res.writableEnded) return resolve(false);
    res.write(data, () => resolve(true));
  });
}

export function json(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function randomId(prefix, n = 24) {
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let s = prefix;
  for (let i = 0; i < n; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}
