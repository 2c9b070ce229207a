// The fake Anthropic Messages API checked by @anthropic-ai/sdk: events, text, cumulative usage and faults.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { replyText, tokens } from '../lib/common.mjs';
import { startFakes } from '../server.mjs';

let fakes, client;
before(async () => {
  fakes = await startFakes();
  client = new Anthropic({ apiKey: 'sk-ant-fake', baseURL: `http://127.0.0.1:${fakes.port}`, maxRetries: 0, timeout: 5000 });
});
after(() => fakes.close());

const messages = [{ role: 'user', content: 'Name my blog' }];

test('raw stream events in order, with text deltas and cumulative usage', async () => {
  const stream = await client.messages.create({ model: 'claude-fake', max_tokens: 100, system: 'Be brief.', messages, stream: true });
  const types = [];
  let text = '';
  let output = 0;
  let input = 0;
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'message_start') input = ev.message.usage.input_tokens;
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    if (ev.type === 'message_delta') output = ev.usage.output_tokens;
  }
  const expected = replyText('anthropic', messages);
  assert.equal(text, expected);
  assert.equal(output, tokens(expected).length);
  assert.equal(input, 5);
  assert.deepEqual(types.slice(0, 2), ['message_start', 'content_block_start']);
  assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  assert.ok(!types.includes('ping'), 'the SDK drops ping');
});

test('the stream helper builds the final message', async () => {
  const stream = client.messages.stream({ model: 'claude-fake', max_tokens: 100, messages });
  let text = '';
  stream.on('text', (t) => (text += t));
  const msg = await stream.finalMessage();
  assert.equal(text, replyText('anthropic', messages));
  assert.equal(msg.content[0].text, text);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.usage.output_tokens, tokens(text).length);
});

test('an error event mid-stream throws overloaded_error', async () => {
  const stream = await client.messages.create({ model: 'fault-error', max_tokens: 100, messages, stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream);
  }, (e) => /overloaded_error|Overloaded/.test(String(e.message)));
});

test('429 is a RateLimitError', async () => {
  await assert.rejects(client.messages.create({ model: 'fault-429', max_tokens: 10, messages, stream: true }), (e) => {
    assert.ok(e instanceof Anthropic.RateLimitError);
    assert.equal(e.headers.get('retry-after'), '1');
    return true;
  });
});

test('500 is an InternalServerError', async () => {
  await assert.rejects(client.messages.create({ model: 'fault-500', max_tokens: 10, messages, stream: true }), Anthropic.InternalServerError);
});

test('a bad key is an AuthenticationError', async () => {
  const bad = new Anthropic({ apiKey: 'sk-ant-bad', baseURL: `http://127.0.0.1:${fakes.port}`, maxRetries: 0 });
  await assert.rejects(bad.messages.create({ model: 'claude-fake', max_tokens: 10, messages }), Anthropic.AuthenticationError);
});

test('a mid-stream close throws', async () => {
  const stream = await client.messages.create({ model: 'fault-cut', max_tokens: 100, messages, stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream);
  });
});

test('garbage data is not an event', async () => {
  const stream = await client.messages.create({ model: 'fault-garbage', max_tokens: 100, messages, stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream);
  });
});
