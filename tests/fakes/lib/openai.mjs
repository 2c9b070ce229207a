// Fake OpenAI Chat Completions: POST /v1/chat/completions, streamed as chat.completion.chunk events.
import { countInput, faultOf, json, randomId, replyText, send, sleep, tokens } from './common.mjs';

const errorBody = (message, type, code = null) => ({ error: { message, type, param: null, code } });

export async function handleOpenAI(ctx, req, res, body) {
  const auth = req.headers.authorization || '';
  if (auth === 'Bearer sk-bad' || (ctx.opts.openaiKey && auth !== `Bearer ${ctx.opts.openaiKey}`)) {
    return json(res, 401, errorBody('Incorrect API key provided: sk-bad. You can find your API key at https://platform.openai.com/account/api-keys.', 'invalid_request_error', 'invalid_api_key'));
  }
  const model = body.model;
  const fault = faultOf(model);
  const headers = { 'x-request-id': randomId('req_'), 'openai-processing-ms': '12' };
  if (fault === '429' || (fault === '429-once' && ctx.firstTime(`openai:${model}`))) {
    const retry = fault === '429' ? '1' : '0';
    return json(res, 429, errorBody('Rate limit reached for gpt-fake in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1.', 'requests', 'rate_limit_exceeded'),
      { ...headers, 'retry-after': retry, 'retry-after-ms': String(Number(retry) * 1000) });
  }
  if (fault === '500') return json(res, 500, errorBody('The server had an error while processing your request. Sorry about that!', 'server_error'), headers);
  if (fault === 'slow') await sleep(ctx.opts.slowMs);

  const text = replyText('openai', body.messages || []);
  const toks = tokens(text);
  const id = randomId('chatcmpl-', 29);
  const created = Math.floor(Date.now() / 1000);
  const usage = {
    prompt_tokens: countInput(body.messages || []),
    completion_tokens: toks.length,
    total_tokens: countInput(body.messages || []) + toks.length,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };

  if (!body.stream) {
    return json(res, 200, {
      id, object: 'chat.completion', created, model,
      choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
      usage, service_tier: 'default', system_fingerprint: 'fp_fake',
    }, headers);
  }

  const includeUsage = !!(body.stream_options && body.stream_options.include_usage);
  const chunk = (choices, extra = {}) => {
    const o = { id, object: 'chat.completion.chunk', created, model, service_tier: 'default', system_fingerprint: 'fp_fake', choices };
    if (includeUsage) o.usage = null;
    Object.assign(o, extra);
    return `data: ${JSON.stringify(o)}\n\n`;
  };
  const delta = (d, finish = null) => chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);

  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers });
  if (fault === 'garbage') {
    await send(res, 'data: {"id":"chatcmpl-x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"\u0000\u00ff}}\n\n');
    return res.end();
  }
  if (ctx.opts.ttftMs) await sleep(ctx.opts.ttftMs);
  await send(res, delta({ role: 'assistant', content: '', refusal: null }));
  for (let i = 0; i < toks.length; i++) {
    if (!(await send(res, delta({ content: toks[i] })))) return;
    if (fault === 'cut' && i === 1) return res.socket.destroy();
    if (fault === 'error' && i === 0) {
      await send(res, `data: ${JSON.stringify(errorBody('The server had an error processing your request.', 'server_error'))}\n\n`);
      return res.end();
    }
    if (fault === 'stall') return; // the client's close is recorded by the server
    if (ctx.opts.tokenDelayMs) await sleep(ctx.opts.tokenDelayMs);
  }
  await send(res, delta({}, 'stop'));
  if (includeUsage) await send(res, chunk([], { usage }));
  await send(res, 'data: [DONE]\n\n');
  res.end();
}
