// Starts a child process and waits for `pattern` (its first group: a port) on `stream`.
// Once the pattern is seen the listener goes, and both of the child's output streams are drained
// and dropped: this process then does no work per log line while the requests are timed (a
// listener kept would re-scan all the output before each line, a cost that grows through the
// run), and neither pipe can fill and stall the child.
import { spawn } from 'node:child_process';

export function startChild(cmd, argv, stream, pattern) {
  const p = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start: ${out}`)), 15000);
    const onData = (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        p[stream].off('data', onData);
        p.stdout.resume();
        p.stderr.resume();
        resolve({ proc: p, port: Number(m[1]) });
      }
    };
    p[stream].on('data', onData);
    p.on('exit', (c) => reject(new Error(`${cmd} exited ${c}: ${out}`)));
  });
}
