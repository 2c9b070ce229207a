// The fake Ollama checked by the ollama SDK: NDJSON parts, the final counts, error lines and statuses.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Ollama } from 'ollama';
import { replyText, tokens } from '../lib/common.mjs';
import { startFakes } from '../server.mjs';

let fakes, client;
before(async () => {
  fakes = await startFakes();
  client = new Ollama({ host: `http://127.0.0.1:${fakes.port}` });
});
after(() => fakes.close());

const messages = [{ role: 'user', content: 'Name my blog' }];

test('streams parts and ends with the counts', async () => {
  const stream = await client.chat({ model: 'llama3.2', messages, stream: true });
  let text = '';
  let last;
  for await (const part of stream) {
    text += part.message.content;
    last = part;
  }
  const expected = replyText('ollama', messages);
  assert.equal(text, expected);
  assert.equal(last.done, true);
  assert.equal(last.done_reason, 'stop');
  assert.equal(last.eval_count, tokens(expected).length);
  assert.equal(last.prompt_eval_count, 3);
});

test('non-streaming chat', async () => {
  const r = await client.chat({ model: 'llama3.2', messages, stream: false });
  assert.equal(r.message.content, replyText('ollama', messages));
});

test('an error line mid-stream throws', async () => {
  const stream = await client.chat({ model: 'fault-error', messages, stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream);
  }, /unexpected EOF/);
});

test('an unknown model is a 404 ResponseError', async () => {
  await assert.rejects(client.chat({ model: 'missing', messages, stream: true }), (e) => e.status_code === 404 && /not found/.test(e.error));
});

test('500 surfaces the runner error', async () => {
  await assert.rejects(client.chat({ model: 'fault-500', messages, stream: true }), (e) => e.status_code === 500);
});

test('the model list', async () => {
  const r = await client.list();
  assert.equal(r.models[0].name, 'llama3.2:latest');
});
