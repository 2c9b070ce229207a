// React access to a StreamClient: a provider that keeps the socket open while mounted, and
// hooks that read connection and stream state through useSyncExternalStore.

import { createContext, useContext, useEffect, useRef, useSyncExternalStore, type ReactNode } from 'react';
import { StreamClient, type ConnectionSnapshot, type StreamClientOptions } from '../sdk/client.js';
import type { StreamHandle, StreamSnapshot } from '../sdk/stream-handle.js';

const ClientContext = createContext<StreamClient | null>(null);

/**
 * Makes `client` available to `useStreamClient()` and holds it connected while mounted.
 * Create the client outside render (module scope) or with `useCreateStreamClient`.
 */
export function StreamClientProvider({ client, children }: { client: StreamClient; children: ReactNode }) {
  useRetain(client);
  return <ClientContext.Provider value={client}>{children}</ClientContext.Provider>;
}

/** The client from the nearest StreamClientProvider, or null outside one. */
export function useOptionalStreamClient(): StreamClient | null {
  return useContext(ClientContext);
}

/** The client from the nearest StreamClientProvider. */
export function useStreamClient(): StreamClient {
  const c = useContext(ClientContext);
  if (!c) throw new Error('useStreamClient must be used inside <StreamClientProvider>');
  return c;
}

/**
 * Creates one client for the component's lifetime (lazily, in a ref) and keeps it connected
 * while mounted. The constructor opens nothing, so React's double render costs no socket; the
 * ref-counted retain survives StrictMode's unmount/remount without reconnecting.
 */
export function useCreateStreamClient(opts?: StreamClientOptions): StreamClient {
  const ref = useRef<StreamClient | null>(null);
  if (ref.current === null) ref.current = new StreamClient(opts);
  useRetain(ref.current);
  return ref.current;
}

function useRetain(client: StreamClient): void {
  useEffect(() => client.retain(), [client]);
}

/** The connection state (`connecting` / `connected` / `fallback` / `offline`) and details. */
export function useConnection(client?: StreamClient): ConnectionSnapshot {
  const ctx = useContext(ClientContext);
  const c = client ?? ctx;
  if (!c) throw new Error('useConnection needs a client or a <StreamClientProvider>');
  return useSyncExternalStore(c.subscribe, c.getSnapshot, c.getSnapshot);
}

const noSubscribe = () => () => {};
const nullSnapshot = () => null;

/** The live snapshot of one stream (null while there is no handle). */
export function useStreamSnapshot(handle: StreamHandle | null): StreamSnapshot | null {
  return useSyncExternalStore(handle ? handle.subscribe : noSubscribe, handle ? handle.getSnapshot : nullSnapshot, handle ? handle.getSnapshot : nullSnapshot);
}
