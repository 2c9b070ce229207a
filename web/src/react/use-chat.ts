// useChat: one project's conversation, read through useSyncExternalStore so callbacks never
// see stale state, and re-rendered at most once per animation frame however fast tokens come.

import { useCallback, useEffect, useMemo, useSyncExternalStore } from 'react';
import { ChatSessionCache } from '../sdk/chat-session-cache.js';
import type { ChatSession, ChatSnapshot } from '../sdk/chat-session.js';
import type { StreamClient } from '../sdk/client.js';
import type { StreamHandle } from '../sdk/stream-handle.js';
import { useOptionalStreamClient } from './context.js';
import { animationFrameBatch, FrameBatchedStore } from './frame-batch.js';

/** Chat sessions kept per client; past this many, idle ones are dropped (least recently used first). */
export const MAX_CHAT_SESSIONS = 16;

const caches = new WeakMap<StreamClient, ChatSessionCache>();
const frameViews = new WeakMap<ChatSession, FrameBatchedStore<ChatSnapshot>>();

/** The chat session of a project; one per client and project, kept across remounts. */
export function chatSessionFor(client: StreamClient, projectId: string): ChatSession {
  let cache = caches.get(client);
  if (!cache) {
    cache = new ChatSessionCache(client, MAX_CHAT_SESSIONS);
    caches.set(client, cache);
  }
  return cache.get(projectId);
}

/** The session's snapshot as of the last animation frame (one view per session). */
export function frameViewOf(session: ChatSession): FrameBatchedStore<ChatSnapshot> {
  let v = frameViews.get(session);
  if (!v) {
    v = new FrameBatchedStore(session, animationFrameBatch);
    frameViews.set(session, v);
  }
  return v;
}

export interface UseChat extends ChatSnapshot {
  send: (text: string) => StreamHandle | null;
  stop: () => Promise<void>;
  retry: (answerId: string) => StreamHandle | null;
  loadOlder: () => Promise<void>;
  session: ChatSession;
}

export function useChat(projectId: string, client?: StreamClient): UseChat {
  const ctxClient = useOptionalStreamClient();
  const c = client ?? ctxClient;
  if (!c) throw new Error('useChat needs a client or a <StreamClientProvider>');
  const session = useMemo(() => chatSessionFor(c, projectId), [c, projectId]);
  const view = frameViewOf(session);
  const snap = useSyncExternalStore(view.subscribe, view.getSnapshot, view.getSnapshot);
  useEffect(() => {
    void session.loadHistory();
  }, [session]);
  // The callbacks read the session, never a captured snapshot, so they are never stale.
  const send = useCallback((text: string) => session.send(text), [session]);
  const stop = useCallback(() => session.stop(), [session]);
  const loadOlder = useCallback(() => session.loadOlder(), [session]);
  const retry = useCallback((answerId: string) => session.retry(answerId), [session]);
  return { ...snap, send, stop, retry, loadOlder, session };
}
