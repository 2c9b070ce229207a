// Fake Ollama: POST /api/chat streaming NDJSON, the final line with counts, error lines; GET /api/tags.
import { countInput, faultOf, json, replyText, send, sleep, tokens } from './common.mjs';

const stamp = () => new Date().toISOString().replace('Z', '000Z').replace(/\.(\d{3})000Z$/, '.$1123456Z');

export async function handleOllama(ctx, req, res, body) {
  const model = body.model;
  const fault = faultOf(model);
  if (model === 'missing' || fault === '404') return json(res, 404, { error: `model "${model}" not found, try pulling it first` });
  if (fault === '429' || (fault === '429-once' && ctx.firstTime(`ollama:${model}`)))
    return json(res, 429, { error: 'server busy, please try again.  maximum pending requests exceeded' }, { 'retry-after': fault === '429' ? '1' : '0' });
  if (fault === '500') return json(res, 500, { error: 'llama runner process has terminated: exit status 2' });
  if (fault === 'slow') await sleep(ctx.opts.slowMs);

  const messages = body.messages || [];
  const text = replyText('ollama', messages);
  const toks = tokens(text);
  const final = (content) => ({
    model, created_at: stamp(), message: { role: 'assistant', content }, done_reason: 'stop', done: true,
    total_duration: 512345678, load_duration: 12345678, prompt_eval_count: countInput(messages),
    prompt_eval_duration: 23456789, eval_count: toks.length, eval_duration: 345678901,
  });
  if (body.stream === false) return json(res, 200, final(text));

  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  if (fault === 'garbage') {
    await send(res, '{"model":"x","message":{"role":"assistant","content":"a"},"done":false}\nthis is not json\n');
    return res.end();
  }
  if (ctx.opts.ttftMs) await sleep(ctx.opts.ttftMs);
  for (let i = 0; i < toks.length; i++) {
    const line = JSON.stringify({ model, created_at: stamp(), message: { role: 'assistant', content: toks[i] }, done: false }) + '\n';
    if (!(await send(res, line))) return;
    if (fault === 'cut' && i === 1) return res.socket.destroy();
    if (fault === 'error' && i === 0) {
      await send(res, JSON.stringify({ error: 'an error was encountered while running the model: unexpected EOF' }) + '\n');
      return res.end();
    }
    if (fault === 'stall') return;
    if (ctx.opts.tokenDelayMs) await sleep(ctx.opts.tokenDelayMs);
  }
  await send(res, JSON.stringify(final('')) + '\n');
  res.end();
}

export function handleTags(res) {
  json(res, 200, { models: [{ name: 'llama3.2:latest', model: 'llama3.2:latest', modified_at: '2024-10-01T00:00:00Z', size: 2019393189, digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72', details: { parent_model: '', format: 'gguf', family: 'llama', families: ['llama'], parameter_size: '3.2B', quantization_level: 'Q4_K_M' } }] });
}
