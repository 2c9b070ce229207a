// useChat: one project's conversation, read through useSyncExternalStore so callbacks never
// see stale state.

import { useCallback, useEffect, useMemo, useSyncExternalStore } from 'react';
import type { StreamClient } from '../sdk/client.js';
import type { StreamHandle } from '../sdk/stream-handle.js';
import { ChatSession, type ChatSnapshot } from './chat-session.js';
import { useOptionalStreamClient } from './context.js';

const sessions = new WeakMap<StreamClient, Map<string, ChatSession>>();

/** The chat session of a project; one per client and project, kept across remounts. */
export function chatSessionFor(client: StreamClient, projectId: string): ChatSession {
  let byProject = sessions.get(client);
  if (!byProject) {
    byProject = new Map();
    sessions.set(client, byProject);
  }
  let s = byProject.get(projectId);
  if (!s) {
    s = new ChatSession(client, projectId);
    byProject.set(projectId, s);
  }
  return s;
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
  const snap = useSyncExternalStore(session.subscribe, session.getSnapshot, session.getSnapshot);
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
