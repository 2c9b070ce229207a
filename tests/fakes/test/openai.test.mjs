// The fake OpenAI checked by the official openai SDK: streaming text and usage, and each fault as the SDK sees it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { replyText, tokens } from '../lib/common.mjs';
import { startFakes } from '../server.mjs';

let fakes, client;
before(async () => {
  fakes = await startFakes({ slowMs: 300 });
  client = new OpenAI({ apiKey: 'sk-fake', baseURL: `http://127.0.0.1:${fakes.port}/v1`, maxRetries: 0, timeout: 5000 });
});
after(() => fakes.close());

const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Name my blog' }];

test('streams chunks and reads usage from the final chunk', async () => {
  const stream = await client.chat.completions.create({ model: 'gpt-fake', messages, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    chunks++;
    if (chunk.choices[0]?.delta?.content) text += chunk.choices[0].delta.content;
    if (chunk.usage) usage = chunk.usage;
  }
  const expected = replyText('openai', messages);
  assert.equal(text, expected);
  assert.equal(chunks, tokens(expected).length + 3); // role, tokens, finish, usage
  assert.equal(usage.completion_tokens, tokens(expected).length);
  assert.equal(usage.prompt_tokens, 5);
});

test('the stream helper accumulates the same message', async () => {
  const runner = client.chat.completions.stream({ model: 'gpt-fake', messages, stream_options: { include_usage: true } });
  const done = await runner.finalChatCompletion();
  assert.equal(done.choices[0].message.content, replyText('openai', messages));
  assert.equal(done.choices[0].finish_reason, 'stop');
});

test('non-streaming completion', async () => {
  const r = await client.chat.completions.create({ model: 'gpt-fake', messages });
  assert.equal(r.choices[0].message.content, replyText('openai', messages));
  assert.ok(r.usage.total_tokens > 0);
});

test('429 is a RateLimitError with Retry-After', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'fault-429', messages, stream: true }), (e) => {
    assert.ok(e instanceof OpenAI.RateLimitError);
    assert.equal(e.status, 429);
    assert.equal(e.headers.get('retry-after'), '1');
    assert.equal(e.code, 'rate_limit_exceeded');
    return true;
  });
});

test('429 once, then the SDK retry succeeds', async () => {
  const retrying = new OpenAI({ apiKey: 'sk-fake', baseURL: `http://127.0.0.1:${fakes.port}/v1`, maxRetries: 1 });
  const r = await retrying.chat.completions.create({ model: 'fault-429-once', messages });
  assert.equal(r.choices[0].message.content, replyText('openai', messages));
});

test('500 is an InternalServerError', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'fault-500', messages, stream: true }), OpenAI.InternalServerError);
});

test('a bad key is an AuthenticationError', async () => {
  const bad = new OpenAI({ apiKey: 'sk-bad', baseURL: `http://127.0.0.1:${fakes.port}/v1`, maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model: 'gpt-fake', messages }), OpenAI.AuthenticationError);
});

test('an error payload mid-stream throws from the iterator', async () => {
  const stream = await client.chat.completions.create({ model: 'fault-error', messages, stream: true });
  let text = '';
  await assert.rejects(async () => {
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  }, (e) => e instanceof OpenAI.APIError && /server had an error/.test(e.message));
  assert.equal(text, 'Hello');
});

test('a mid-stream close throws', async () => {
  const stream = await client.chat.completions.create({ model: 'fault-cut', messages, stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream);
  });
});

test('garbage bytes are not valid chunks', async () => {
  const stream = await client.chat.completions.create({ model: 'fault-garbage', messages, stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream);
  });
});

test('a slow first byte trips the SDK timeout', async () => {
  const impatient = new OpenAI({ apiKey: 'sk-fake', baseURL: `http://127.0.0.1:${fakes.port}/v1`, maxRetries: 0, timeout: 100 });
  await assert.rejects(impatient.chat.completions.create({ model: 'fault-slow', messages, stream: true }), OpenAI.APIConnectionTimeoutError);
});

test('a client that stops reading closes the connection, and the fake records it', async () => {
  const stream = await client.chat.completions.create({ model: 'fault-stall', messages, stream: true });
  const id = fakes.requests.at(-1).id;
  for await (const c of stream) {
    if (c.choices[0]?.delta?.content) break; // leaving the loop aborts the request
  }
  const r = await (await fetch(`http://127.0.0.1:${fakes.port}/_fake/wait-closed?id=${id}&timeoutMs=2000`)).json();
  assert.equal(r.aborted, true);
});
