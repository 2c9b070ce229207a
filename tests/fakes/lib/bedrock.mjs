// Fake Bedrock Runtime: InvokeModelWithResponseStream and ConverseStream over the AWS event stream, SigV4-checked.
import { encodeFrame, eventFrame, exceptionFrame } from './eventstream.mjs';
import { countInput, faultOf, randomId, replyText, send, sleep, tokens } from './common.mjs';
import { verifySigV4 } from './sigv4.mjs';

const P = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ'; // Bedrock pads events with a random-length "p" field

function awsError(res, status, type, message, requestId) {
  const text = JSON.stringify({ message });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId,
    'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
  });
  res.end(text);
}

export async function handleBedrock(ctx, req, res, rawBody, modelId, api) {
  const requestId = randomId('', 8) + '-' + randomId('', 4) + '-' + randomId('', 4) + '-' + randomId('', 12);
  const bad = verifySigV4({
    method: req.method, url: req.url, rawHeaders: req.rawHeaders, body: rawBody, service: 'bedrock',
    secretFor: (id) => ctx.opts.awsKeys[id],
  });
  if (bad) return awsError(res, 403, bad.startsWith('Signature expired') ? 'InvalidSignatureException' : bad.startsWith('unknown access key') ? 'UnrecognizedClientException' : 'InvalidSignatureException', bad, requestId);
  let body;
  try {
    body = JSON.parse(rawBody.toString('utf8'));
  } catch {
    return awsError(res, 400, 'ValidationException', 'Malformed input request, please reformat your input and try again.', requestId);
  }
  const fault = faultOf(modelId);
  if (fault === '429' || (fault === '429-once' && ctx.firstTime(`bedrock:${api}:${modelId}`)))
    return awsError(res, 429, 'ThrottlingException', 'Too many requests, please wait before trying again.', requestId);
  if (fault === '500') return awsError(res, 500, 'InternalServerException', 'The server encountered an internal error while processing the request.', requestId);
  if (api === 'invoke' && !/anthropic\.claude/.test(modelId) && !fault)
    return awsError(res, 400, 'ValidationException', 'This fake serves InvokeModelWithResponseStream for anthropic.claude-* only.', requestId);
  if (api === 'invoke' && body.anthropic_version !== 'bedrock-2023-05-31')
    return awsError(res, 400, 'ValidationException', 'Malformed input request: #: required key [anthropic_version] not found', requestId);
  if (fault === 'slow') await sleep(ctx.opts.slowMs);

  const messages = body.messages || [];
  const system = api === 'invoke' ? body.system || '' : (body.system || []).map((b) => b.text).join('\n');
  const text = replyText('bedrock', messages);
  const toks = tokens(text);
  const inputTokens = countInput(messages, system);

  const headers = { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': requestId };
  if (api === 'invoke') headers['x-amzn-bedrock-content-type'] = 'application/json';
  res.writeHead(200, headers);
  if (fault === 'garbage') {
    // A plausible 32-byte prelude whose CRC is wrong, then junk: what a corrupting proxy would deliver.
    const junk = Buffer.alloc(32, 0x41);
    junk.writeUInt32BE(32, 0);
    junk.writeUInt32BE(0, 4);
    junk.writeUInt32BE(0xdeadbeef, 8);
    await send(res, junk);
    return res.end();
  }

  const p = () => P.slice(0, 1 + Math.floor(Math.random() * P.length));
  const chunk = (ev) => eventFrame('chunk', { bytes: Buffer.from(JSON.stringify(ev)).toString('base64'), p: p() });
  const frames = { start: [], deltas: [], end: [] };
  if (api === 'invoke') {
    const id = randomId('msg_bdrk_01');
    frames.start.push(chunk({ type: 'message_start', message: { id, type: 'message', role: 'assistant', model: modelId, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: 1 } } }));
    frames.start.push(chunk({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
    for (const t of toks) frames.deltas.push(chunk({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } }));
    frames.end.push(chunk({ type: 'content_block_stop', index: 0 }));
    frames.end.push(chunk({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: toks.length } }));
    frames.end.push(chunk({ type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: inputTokens, outputTokenCount: toks.length, invocationLatency: 120, firstByteLatency: 40 } }));
  } else {
    frames.start.push(eventFrame('messageStart', { p: p(), role: 'assistant' }));
    for (const t of toks) frames.deltas.push(eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: t }, p: p() }));
    frames.end.push(eventFrame('contentBlockStop', { contentBlockIndex: 0, p: p() }));
    frames.end.push(eventFrame('messageStop', { p: p(), stopReason: 'end_turn' }));
    frames.end.push(eventFrame('metadata', { metrics: { latencyMs: 120 }, p: p(), usage: { inputTokens, outputTokens: toks.length, totalTokens: inputTokens + toks.length } }));
  }

  for (const f of frames.start) await send(res, f);
  if (ctx.opts.ttftMs) await sleep(ctx.opts.ttftMs);
  for (let i = 0; i < frames.deltas.length; i++) {
    let f = frames.deltas[i];
    if (fault === 'badcrc' && i === 1) {
      f = Buffer.from(f);
      f[f.length - 1] ^= 0xff;
    }
    if (!(await send(res, f))) return;
    if (fault === 'badcrc' && i === 1) return res.end();
    if (fault === 'cut' && i === 1) return res.socket.destroy();
    if (fault === 'error' && i === 0) {
      await send(res, exceptionFrame('throttlingException', 'Too many tokens, please wait before trying again.'));
      return res.end();
    }
    if (fault === 'stall') return;
    if (ctx.opts.tokenDelayMs) await sleep(ctx.opts.tokenDelayMs);
  }
  for (const f of frames.end) await send(res, f);
  res.end();
}

export { encodeFrame };
