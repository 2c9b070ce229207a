// The fake Bedrock Runtime checked by @aws-sdk/client-bedrock-runtime: both streaming APIs, SigV4, exceptions, CRCs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  BedrockRuntimeClient,
  ConverseStreamCommand,
  InvokeModelWithResponseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { replyText, tokens } from '../lib/common.mjs';
import { AWS_KEY_ID, AWS_SECRET, startFakes } from '../server.mjs';

let fakes, client;
const clientFor = (secret = AWS_SECRET) =>
  new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${fakes.port}`,
    credentials: { accessKeyId: AWS_KEY_ID, secretAccessKey: secret, sessionToken: 'fake-session' },
    maxAttempts: 1,
    // The SDK defaults to HTTP/2 for these streams; Bedrock and streamgate's client speak HTTP/1.1 too.
    requestHandler: new NodeHttpHandler(),
  });
before(async () => {
  fakes = await startFakes();
  client = clientFor();
});
after(() => fakes.close());

const claude = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const prompt = 'Name my blog';
const invokeBody = (extra = {}) =>
  JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 100, messages: [{ role: 'user', content: prompt }], ...extra });

test('InvokeModelWithResponseStream: base64 bytes carry Anthropic events', async () => {
  const r = await client.send(new InvokeModelWithResponseStreamCommand({ modelId: claude, contentType: 'application/json', accept: 'application/json', body: invokeBody({ system: 'Be brief.' }) }));
  let text = '';
  let types = [];
  let metrics;
  for await (const ev of r.body) {
    assert.ok(ev.chunk, `unexpected member ${Object.keys(ev)}`);
    const a = JSON.parse(Buffer.from(ev.chunk.bytes).toString('utf8'));
    types.push(a.type);
    if (a.type === 'content_block_delta') text += a.delta.text;
    if (a.type === 'message_stop') metrics = a['amazon-bedrock-invocationMetrics'];
  }
  const expected = replyText('bedrock', [{ role: 'user', content: prompt }]);
  assert.equal(text, expected);
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-1), 'message_stop');
  assert.equal(metrics.outputTokenCount, tokens(expected).length);
  // The model id went on the wire percent-encoded once.
  assert.match(fakes.requests.at(-1).path, /^\/model\/anthropic\.claude-3-5-haiku-20241022-v1%3A0\/invoke-with-response-stream$/);
});

test('ConverseStream: deltas, stop and metadata usage', async () => {
  const r = await client.send(new ConverseStreamCommand({
    modelId: 'meta.llama3-1-8b-instruct-v1:0',
    system: [{ text: 'Be brief.' }],
    messages: [{ role: 'user', content: [{ text: prompt }] }],
    inferenceConfig: { maxTokens: 100 },
  }));
  let text = '';
  const kinds = [];
  let usage, stop;
  for await (const ev of r.stream) {
    const k = Object.keys(ev)[0];
    kinds.push(k);
    if (ev.contentBlockDelta) text += ev.contentBlockDelta.delta.text;
    if (ev.messageStop) stop = ev.messageStop.stopReason;
    if (ev.metadata) usage = ev.metadata.usage;
  }
  const expected = replyText('bedrock', [{ role: 'user', content: [{ text: prompt }] }]);
  assert.equal(text, expected);
  assert.equal(stop, 'end_turn');
  assert.equal(usage.outputTokens, tokens(expected).length);
  assert.equal(usage.inputTokens, 5);
  assert.deepEqual([kinds[0], ...kinds.slice(-3)], ['messageStart', 'contentBlockStop', 'messageStop', 'metadata']);
});

test('the fake verifies SigV4: a wrong secret is refused', async () => {
  await assert.rejects(clientFor('wrong-secret').send(new InvokeModelWithResponseStreamCommand({ modelId: claude, body: invokeBody() })), (e) => {
    assert.equal(e.name, 'InvalidSignatureException');
    assert.equal(e.$metadata.httpStatusCode, 403);
    return true;
  });
});

test('an exception frame mid-stream throws throttlingException', async () => {
  const r = await client.send(new InvokeModelWithResponseStreamCommand({ modelId: 'anthropic.claude-fault-error', body: invokeBody() }));
  await assert.rejects(async () => {
    for await (const _ of r.body);
  }, (e) => e.name === 'ThrottlingException' || e.name === 'throttlingException');
});

test('HTTP 429 is a ThrottlingException', async () => {
  await assert.rejects(client.send(new ConverseStreamCommand({ modelId: 'fault-429', messages: [{ role: 'user', content: [{ text: prompt }] }] })), (e) => {
    assert.equal(e.name, 'ThrottlingException');
    assert.equal(e.$metadata.httpStatusCode, 429);
    return true;
  });
});

test('HTTP 500 is an InternalServerException', async () => {
  await assert.rejects(client.send(new ConverseStreamCommand({ modelId: 'fault-500', messages: [{ role: 'user', content: [{ text: prompt }] }] })), (e) => e.name === 'InternalServerException');
});

test('a bad message CRC fails the stream', async () => {
  const r = await client.send(new ConverseStreamCommand({ modelId: 'fault-badcrc', messages: [{ role: 'user', content: [{ text: prompt }] }] }));
  await assert.rejects(async () => {
    for await (const _ of r.stream);
  }, /checksum|CRC/i);
});

test('garbage bytes fail the stream', async () => {
  // The SDK reads the first frame before send() resolves, so the failure may come from either.
  await assert.rejects(async () => {
    const r = await client.send(new ConverseStreamCommand({ modelId: 'fault-garbage', messages: [{ role: 'user', content: [{ text: prompt }] }] }));
    for await (const _ of r.stream);
  }, /checksum/);
});
