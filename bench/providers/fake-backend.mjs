// A streaming backend for the benchmarks: POST /generate answers SSE deltas after a fixed delay.
//   node bench/providers/fake-backend.mjs [--ttft-ms 20] [--exit-with-stdin]   → prints {"port":N}
import http from 'node:http';

const args = process.argv.slice(2);
const opt = (name, d) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : d;
};
const TTFT = Number(opt('ttft-ms', 20));

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const input = JSON.parse(body || '{}').userInput ?? '';
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    setTimeout(() => {
      for (const w of ['Hello', ' from', ' the', ' backend: ', input])
        res.write(`data: ${JSON.stringify({ type: 'delta', content: w })}\n\n`);
      res.end(`data: ${JSON.stringify({ type: 'usage', inputTokens: 4, outputTokens: 5 })}\n\n`);
    }, TTFT);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
if (args.includes('--exit-with-stdin')) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
