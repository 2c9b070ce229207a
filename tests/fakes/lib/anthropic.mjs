// Fake Anthropic Messages API: POST /v1/messages with stream: true, named SSE events.
import { countInput, faultOf, json, randomId, replyText, send, sleep, tokens } from './common.mjs';

const errorBody = (type, message) => ({ type: 'error', error: { type, message } });
const event = (name, data) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

export async function handleAnthropic(ctx, req, res, body) {
  if (!req.headers['anthropic-version']) return json(res, 400, errorBody('invalid_request_error', 'anthropic-version: header is required'));
  // The API takes x-api-key; newer SDKs send the same key as a bearer token.
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization || '');
  const key = req.headers['x-api-key'] || (bearer && bearer[1]);
  if (!key || key === 'sk-ant-bad') return json(res, 401, errorBody('authentication_error', 'invalid x-api-key'));
  const model = body.model;
  const fault = faultOf(model);
  const headers = { 'request-id': randomId('req_'), 'anthropic-organization-id': 'fake-org' };
  if (fault === '429' || (fault === '429-once' && ctx.firstTime(`anthropic:${model}`)))
    return json(res, 429, errorBody('rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit'),
      { ...headers, 'retry-after': fault === '429' ? '1' : '0' });
  if (fault === '500') return json(res, 500, errorBody('api_error', 'Internal server error'), headers);
  if (fault === 'slow') await sleep(ctx.opts.slowMs);

  const messages = body.messages || [];
  const system = typeof body.system === 'string' ? body.system : (body.system || []).map((b) => b.text).join('\n');
  const text = replyText('anthropic', messages);
  const toks = tokens(text);
  const id = randomId('msg_01');
  const inputTokens = countInput(messages, system);
  const message = (content, stop, outTokens) => ({
    id, type: 'message', role: 'assistant', model, content, stop_reason: stop, stop_sequence: null,
    usage: { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: outTokens },
  });

  if (!body.stream) return json(res, 200, message([{ type: 'text', text }], 'end_turn', toks.length), headers);

  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers });
  if (fault === 'garbage') {
    await send(res, 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":\n\n');
    return res.end();
  }
  await send(res, event('message_start', { type: 'message_start', message: message([], null, 1) }));
  if (ctx.opts.ttftMs) await sleep(ctx.opts.ttftMs);
  await send(res, event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
  await send(res, event('ping', { type: 'ping' }));
  for (let i = 0; i < toks.length; i++) {
    const ok = await send(res, event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: toks[i] } }));
    if (!ok) return;
    if (fault === 'cut' && i === 1) return res.socket.destroy();
    if (fault === 'error' && i === 0) {
      await send(res, event('error', errorBody('overloaded_error', 'Overloaded')));
      return res.end();
    }
    if (fault === 'stall') return;
    if (ctx.opts.tokenDelayMs) await sleep(ctx.opts.tokenDelayMs);
  }
  await send(res, event('content_block_stop', { type: 'content_block_stop', index: 0 }));
  await send(res, event('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: toks.length } }));
  await send(res, event('message_stop', { type: 'message_stop' }));
  res.end();
}
