// The state of one project's chat as an external store: history from the server, the live
// answer fed by its stream handle, send and stop. Framework-free so it is testable alone.

import type { StreamClient } from './client.js';
import type { ChatTurn, ServerMetrics } from './protocol.js';
import type { MessageStatus, StoredMessage } from './rest.js';
import { Store } from './store.js';
import type { StreamError, StreamHandle, StreamMetrics, StreamProgress, StreamSnapshot } from './stream-handle.js';

export type ChatMessageStatus = MessageStatus | 'pending';

export interface ChatMessage {
  /** Server message id for history, a local id for messages sent in this page. */
  readonly id: string;
  readonly role: 'user' | 'assistant';
  readonly content: string;
  readonly status: ChatMessageStatus;
  readonly streamId: string | null;
  readonly progress: StreamProgress | null;
  /** Client-measured metrics of a live answer (null for history). */
  readonly metrics: StreamMetrics | null;
  readonly serverMetrics: ServerMetrics | null;
  readonly error: StreamError | null;
  readonly createdAt: number;
  readonly transport: 'websocket' | 'sse' | null;
}

export interface ChatSnapshot {
  readonly projectId: string;
  readonly messages: readonly ChatMessage[];
  /** An answer is being produced (or the request is on its way). */
  readonly isStreaming: boolean;
  readonly historyState: 'idle' | 'loading' | 'loaded' | 'error';
  readonly historyError: string | null;
  /** Older history exists (load it with `loadOlder()`). */
  readonly hasOlder: boolean;
}

const HISTORY_TURNS = 20;
let localIds = 0;

export class ChatSession {
  private readonly store: Store<ChatSnapshot>;
  private current: StreamHandle | null = null;
  private nextBefore: string | number | null = null;
  private readonly watched = new Map<string, () => void>();

  constructor(
    private readonly client: StreamClient,
    readonly projectId: string,
  ) {
    this.store = new Store<ChatSnapshot>({
      projectId,
      messages: [],
      isStreaming: false,
      historyState: 'idle',
      historyError: null,
      hasOlder: false,
    });
  }

  readonly subscribe = (l: () => void): (() => void) => this.store.subscribe(l);
  readonly getSnapshot = (): ChatSnapshot => this.store.getSnapshot();

  /** Loads the latest history once; messages still streaming on the server are resumed. */
  async loadHistory(): Promise<void> {
    const s = this.store.getSnapshot();
    if (s.historyState === 'loading' || s.historyState === 'loaded') return;
    this.store.update((p) => ({ ...p, historyState: 'loading', historyError: null }));
    try {
      const page = await this.client.api.listMessages(this.projectId, { limit: 50 });
      this.nextBefore = page.nextBefore;
      const fromServer = page.items.map(fromStored);
      this.store.update((p) => {
        // Keep what was sent in this page meanwhile; drop history copies of live messages.
        const liveStreamIds = new Set(p.messages.map((m) => m.streamId).filter((x): x is string => !!x));
        const history = fromServer.filter((m) => !(m.streamId && liveStreamIds.has(m.streamId)));
        const localOnly = p.messages.filter((m) => !fromServer.some((h) => h.id === m.id));
        return { ...p, messages: [...history, ...localOnly], historyState: 'loaded', hasOlder: page.nextBefore !== null };
      });
      const msgs = this.store.getSnapshot().messages;
      for (const m of msgs) {
        if (m.role === 'assistant' && m.status === 'streaming' && m.streamId) this.follow(m.id, this.client.resume(m.streamId, 0));
      }
      // A question whose answer is not stored yet may still be streaming on the server (the
      // answer is saved when it ends): follow it from the start.
      const last = msgs[msgs.length - 1];
      if (last && last.role === 'user' && last.streamId && !this.current && !msgs.some((m) => m.role === 'assistant' && m.streamId === last.streamId)) {
        const id = `resume-${last.streamId}`;
        const placeholder: ChatMessage = { ...blank(id, 'assistant', '', 'pending', last.createdAt), streamId: last.streamId };
        this.store.update((p) => ({ ...p, messages: [...p.messages, placeholder] }));
        this.follow(id, this.client.resume(last.streamId, 0), true);
      }
    } catch (err) {
      this.store.update((p) => ({ ...p, historyState: 'error', historyError: err instanceof Error ? err.message : String(err) }));
    }
  }

  /** Loads the page of history before the oldest message shown. */
  async loadOlder(): Promise<void> {
    if (this.nextBefore === null) return;
    const page = await this.client.api.listMessages(this.projectId, { limit: 50, before: this.nextBefore });
    this.nextBefore = page.nextBefore;
    this.store.update((p) => ({ ...p, messages: [...page.items.map(fromStored), ...p.messages], hasOlder: page.nextBefore !== null }));
  }

  /** Sends a question; returns the stream handle of the answer (null if one is running). */
  send(text: string): StreamHandle | null {
    const input = text.trim();
    if (!input || this.current) return null;
    const history: ChatTurn[] = this.store
      .getSnapshot()
      .messages.filter((m) => m.status === 'complete' && m.content)
      .slice(-HISTORY_TURNS)
      .map((m) => ({ role: m.role, content: m.content }));
    const now = Date.now();
    const userMsg: ChatMessage = blank(`local-u-${++localIds}`, 'user', input, 'complete', now);
    const answerId = `local-a-${localIds}`;
    const answer: ChatMessage = { ...blank(answerId, 'assistant', '', 'pending', now), progress: { stage: 'initializing', step: 'Sending request...', progress: 0 } };
    this.store.update((p) => ({ ...p, messages: [...p.messages, userMsg, answer], isStreaming: true }));
    const req: { projectId: string; userInput: string; chat_history?: ChatTurn[] } = { projectId: this.projectId, userInput: input };
    if (history.length > 0) req.chat_history = history;
    const h = this.client.stream(req);
    this.follow(answerId, h);
    return h;
  }

  /** Asks again the question that a failed or stopped answer belonged to. */
  retry(answerId: string): StreamHandle | null {
    const msgs = this.store.getSnapshot().messages;
    const i = msgs.findIndex((m) => m.id === answerId);
    for (let j = i - 1; j >= 0; j--) {
      const m = msgs[j]!;
      if (m.role === 'user') return this.send(m.content);
    }
    return null;
  }

  /** Stops the running answer (the server is told to cancel). */
  async stop(): Promise<void> {
    const h = this.current;
    if (h) await h.cancel();
  }

  /** The handle of the running answer, if any. */
  get currentStream(): StreamHandle | null {
    return this.current;
  }

  /** Someone watches this chat, or an answer is running: dropping it would lose state. */
  get inUse(): boolean {
    return this.current !== null || this.watched.size > 0 || this.store.listenerCount > 0;
  }

  private follow(messageId: string, h: StreamHandle, dropIfUnknown = false): void {
    this.watched.get(messageId)?.();
    this.current = h;
    this.store.update((p) => ({ ...p, isStreaming: true }));
    const apply = (snap: StreamSnapshot) => {
      this.store.update((p) => ({
        ...p,
        messages: p.messages.map((m) => (m.id === messageId ? merge(m, snap) : m)),
      }));
    };
    apply(h.getSnapshot());
    const off = h.subscribe(() => apply(h.getSnapshot()));
    this.watched.set(messageId, off);
    void h.done.then((final) => {
      off();
      this.watched.delete(messageId);
      if (this.current === h) this.current = null;
      // A stream the server no longer knows left no answer to show.
      const gone = dropIfUnknown && final.status === 'error' && final.error?.code === 'not_found';
      this.store.update((p) => ({
        ...p,
        messages: gone ? p.messages.filter((m) => m.id !== messageId) : p.messages,
        isStreaming: this.current !== null,
      }));
    });
  }
}

function blank(id: string, role: 'user' | 'assistant', content: string, status: ChatMessageStatus, createdAt: number): ChatMessage {
  return { id, role, content, status, streamId: null, progress: null, metrics: null, serverMetrics: null, error: null, createdAt, transport: null };
}

function fromStored(m: StoredMessage): ChatMessage {
  // Message ids may come as numbers (SQLite row ids); the UI keys on strings.
  return { ...blank(String(m.id), m.role, m.content, m.status, m.createdAt), streamId: m.streamId ?? null };
}

function statusOf(s: StreamSnapshot): ChatMessageStatus {
  switch (s.status) {
    case 'pending':
      return 'pending';
    case 'streaming':
      return 'streaming';
    case 'complete':
      return 'complete';
    case 'cancelled':
      return 'cancelled';
    case 'error':
      return 'failed';
  }
}

function merge(m: ChatMessage, s: StreamSnapshot): ChatMessage {
  // A resumed answer starts from the stored partial text until its own text arrives.
  const content = s.fullContent ?? (s.text.length > 0 ? s.text : m.content);
  return {
    ...m,
    content,
    status: statusOf(s),
    streamId: s.streamId ?? m.streamId,
    progress: s.progress ?? m.progress,
    metrics: s.metrics,
    serverMetrics: s.serverMetrics,
    error: s.error,
    transport: s.transport,
  };
}
