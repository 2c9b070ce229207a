// The page the chat render bench drives: N chat views side by side on one StreamClient, each
// counting its renders, and a recorder of animation frames and DOM commits.

import { Profiler, StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { StreamClient } from '../src/sdk/client.js';
import type { Project } from '../src/sdk/rest.js';
import { StreamClientProvider } from '../src/react/context.js';
import { chatSessionFor } from '../src/react/use-chat.js';
import { ChatView } from '../src/app/components/ChatView.js';
import '../src/app/styles.css';

interface Recording {
  /** rAF timestamps while recording, ms. */
  frames: number[];
  /** Renders of the chat views (Profiler onRender calls: one per view per React commit). */
  renders: number;
  /** DOM mutation batches (one per task that changed the DOM). */
  mutationBatches: number;
  /** The most DOM mutation batches seen between two animation frames. */
  maxBatchesPerFrame: number;
  /** The most renders of one chat view between two animation frames. */
  maxRendersPerViewFrame: number;
  /** Frames in which some chat view rendered more than once. */
  framesWithRepeatRenders: number;
  longTasks: number;
  longTaskMs: number;
}

const client = new StreamClient();
let projects: Project[] = [];
let rec: Recording | null = null;
const rendersThisFrame = new Map<string, number>();
let repeatedThisFrame = false;
let batchesThisFrame = 0;

function onRender(id: string): void {
  if (!rec) return;
  rec.renders++;
  const n = (rendersThisFrame.get(id) ?? 0) + 1;
  rendersThisFrame.set(id, n);
  rec.maxRendersPerViewFrame = Math.max(rec.maxRendersPerViewFrame, n);
  if (n > 1 && !repeatedThisFrame) {
    repeatedThisFrame = true;
    rec.framesWithRepeatRenders++;
  }
}

function frame(t: number): void {
  if (!rec) return;
  rec.frames.push(t);
  rendersThisFrame.clear();
  repeatedThisFrame = false;
  batchesThisFrame = 0;
  requestAnimationFrame(frame);
}

new MutationObserver(() => {
  if (!rec) return;
  rec.mutationBatches++;
  batchesThisFrame++;
  rec.maxBatchesPerFrame = Math.max(rec.maxBatchesPerFrame, batchesThisFrame);
}).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });

new PerformanceObserver((list) => {
  if (!rec) return;
  for (const e of list.getEntries()) {
    rec.longTasks++;
    rec.longTaskMs += e.duration;
  }
}).observe({ type: 'longtask' });

const root = createRoot(document.getElementById('root')!);

function render(): void {
  root.render(
    <StrictMode>
      <StreamClientProvider client={client}>
        <div style={{ display: 'grid', gridTemplateColumns: 'repeat(5, 1fr)', gap: 8, height: '100vh' }}>
          {projects.map((p) => (
            <div key={p.id} style={{ minHeight: 0, overflow: 'hidden', display: 'flex', flexDirection: 'column' }} data-testid="bench-cell">
              <Profiler id={p.id} onRender={onRender}>
                <ChatView project={p} cardCount={0} />
              </Profiler>
            </div>
          ))}
        </div>
      </StreamClientProvider>
    </StrictMode>,
  );
}

const bench = {
  /** Creates `n` projects and shows a chat view for each; resolves once every history is in. */
  async setup(n: number): Promise<void> {
    projects = [];
    for (let i = 0; i < n; i++) projects.push(await client.api.createProject({ name: `Bench ${i + 1}` }));
    render();
    const sessions = projects.map((p) => chatSessionFor(client, p.id));
    await Promise.all(sessions.map((s) => s.loadHistory()));
  },
  /** Sends one question to every chat view at once; resolves when every answer has ended. */
  async round(label: string): Promise<string[]> {
    const handles = projects.map((p, i) => chatSessionFor(client, p.id).send(`${label}: a practical guide to topic ${i + 1} and resilient networks`));
    const finals = await Promise.all(handles.map((h) => (h ? h.done : Promise.resolve(null))));
    return finals.map((f) => f?.status ?? 'not sent');
  },
  /** The display's frame period while nothing happens: the median rAF interval over `ms`. */
  async idleFramePeriod(ms: number): Promise<number> {
    const ts: number[] = [];
    await new Promise<void>((resolve) => {
      const tick = (t: number) => {
        ts.push(t);
        if (t - ts[0]! < ms) requestAnimationFrame(tick);
        else resolve();
      };
      requestAnimationFrame(tick);
    });
    const dts = ts.slice(1).map((t, i) => t - ts[i]!).sort((a, b) => a - b);
    return dts[Math.floor(dts.length / 2)] ?? 1000 / 60;
  },
  start(): void {
    rec = { frames: [], renders: 0, mutationBatches: 0, maxBatchesPerFrame: 0, maxRendersPerViewFrame: 0, framesWithRepeatRenders: 0, longTasks: 0, longTaskMs: 0 };
    requestAnimationFrame(frame);
  },
  stop(): Recording | null {
    const r = rec;
    rec = null;
    return r;
  },
};

(window as unknown as { __bench: typeof bench }).__bench = bench;
