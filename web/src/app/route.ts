// Hash routing: #/p/<projectId>[/cards]. Kept in an external store so every reader is current.

import { useSyncExternalStore } from 'react';

export interface Route {
  projectId: string | null;
  tab: 'chat' | 'cards';
}

function parse(hash: string): Route {
  const m = /^#\/p\/([^/]+)(?:\/(cards))?/.exec(hash);
  if (!m) return { projectId: null, tab: 'chat' };
  return { projectId: decodeURIComponent(m[1]!), tab: m[2] === 'cards' ? 'cards' : 'chat' };
}

let current: Route = parse(window.location.hash);
const listeners = new Set<() => void>();
window.addEventListener('hashchange', () => {
  current = parse(window.location.hash);
  for (const l of listeners) l();
});

function subscribe(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useRoute(): Route {
  return useSyncExternalStore(subscribe, () => current);
}

export function navigate(r: Route): void {
  const hash = r.projectId ? `#/p/${encodeURIComponent(r.projectId)}${r.tab === 'cards' ? '/cards' : ''}` : '#/';
  if (window.location.hash !== hash) window.location.hash = hash;
}
