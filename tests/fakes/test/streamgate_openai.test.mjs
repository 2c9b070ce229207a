// The official openai SDK with streamgate as its base URL: streamed and plain completions, usage, models, errors.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { replyText } from '../lib/common.mjs';
import { startFakes } from '../server.mjs';

const bin = process.env.STREAMGATE_BIN || new URL('../../../build/release/streamgate', import.meta.url).pathname;
const skip = existsSync(bin) ? false : `no streamgate binary at ${bin} (build it, or set STREAMGATE_BIN)`;

let fakes, proc, dir, client;

before(async () => {
  if (skip) return;
  fakes = await startFakes();
  dir = mkdtempSync(join(tmpdir(), 'sg-openai-sdk-'));
  const base = `http://127.0.0.1:${fakes.port}`;
  writeFileSync(join(dir, 'streamgate.toml'), [
    '[providers.openai]', `base_url = "${base}/v1"`, 'default_model = "gpt-fake"', 'max_retries = 0',
    '[providers.anthropic]', `base_url = "${base}"`, 'api_key_env = "SG_FAKE_ANTHROPIC_KEY"', 'default_model = "claude-fake"', 'max_retries = 0',
  ].join('\n'));
  proc = spawn(bin, ['--listen', '127.0.0.1:0', '--data-dir', dir, '--web-root', '', '--config', join(dir, 'streamgate.toml'),
    '--demo-ttft-ms', '5', '--demo-tokens-per-second', '0'], { env: { ...process.env, SG_FAKE_ANTHROPIC_KEY: 'sk-ant-fake' }, stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`streamgate did not start: ${log}`)), 15000);
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /"msg":"listening".*?"port":(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code) => reject(new Error(`streamgate exited (${code}): ${log}`)));
  });
  proc.stderr.resume();
  client = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0, timeout: 10000 });
});

after(async () => {
  if (skip) return;
  proc.kill('SIGKILL');
  await fakes.close();
  rmSync(dir, { recursive: true, force: true });
});

const messages = [{ role: 'user', content: 'Name my blog about rivers' }];

test('streams a completion from the demo provider and reads usage', { skip }, async () => {
  const stream = await client.chat.completions.create({ model: 'demo', messages, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  let first = true;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.model, 'demo');
    if (first) assert.equal(chunk.choices[0].delta.role, 'assistant');
    first = false;
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(text.length > 0);
  assert.ok(usage.completion_tokens > 0);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
});

test('streams through streamgate from an upstream provider', { skip }, async () => {
  const runner = client.chat.completions.stream({ model: 'openai/gpt-fake', messages, stream_options: { include_usage: true } });
  let text = '';
  runner.on('content', (delta) => (text += delta));
  const done = await runner.finalChatCompletion();
  assert.equal(text, replyText('openai', messages));
  assert.equal(done.choices[0].message.content, text);
  assert.equal(done.choices[0].finish_reason, 'stop');
  assert.ok(done.usage.completion_tokens > 0);
});

test('a plain completion from another provider', { skip }, async () => {
  const r = await client.chat.completions.create({ model: 'anthropic/claude-fake', messages });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.content, replyText('anthropic', messages));
  assert.ok(r.usage.prompt_tokens > 0);
});

test('models.list names the providers', { skip }, async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('demo'));
  assert.ok(ids.includes('openai/gpt-fake'));
  assert.ok(ids.includes('anthropic/claude-fake'));
});

test('upstream failures reach the SDK as API errors', { skip }, async () => {
  await assert.rejects(client.chat.completions.create({ model: 'openai/fault-429', messages }), (e) => {
    assert.ok(e instanceof OpenAI.APIError);
    assert.equal(e.status, 503);
    assert.equal(e.code, 'upstream_rate_limited');
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages }), OpenAI.NotFoundError);
  const stream = await client.chat.completions.create({ model: 'anthropic/fault-error', messages, stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream);
    // The upstream's own words ("Overloaded") stay in streamgate's log; the SDK sees the fixed text.
  }, (e) => e instanceof OpenAI.APIError && !/overloaded/i.test(e.message) && /model provider/.test(e.message));
});
